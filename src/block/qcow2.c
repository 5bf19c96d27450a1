/* qcow2 format: header parsing and validation, header rewrite (keeping
 * unknown extensions), flush ordering, open/close, info, resize, create,
 * backing file changes, amend, measure. The driver table is at the end. */
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int qcow2_probe(const uint8_t *buf, size_t len, const char *filename)
{
    if (len >= 8 && ld32(buf) == QCOW2_MAGIC && ld32(buf + 4) >= 2)
        return 100;
    return 0;
}

int qcow2_sync(struct qcow2_state *s, struct vk_err *err)
{
    if (s->b->flags & BLK_O_NO_FLUSH)
        return 0;
    if (s->data_fd != s->b->fd && fdatasync(s->data_fd) < 0)
        return vk_err_errno(err, -errno, "qcow2: flush of the data file of %s failed",
                            s->b->filename);
    if (fdatasync(s->b->fd) < 0)
        return vk_err_errno(err, -errno, "qcow2: flush of %s failed", s->b->filename);
    s->unsynced = false;
    return 0;
}

int qcow2_barrier(struct qcow2_state *s, struct vk_err *err)
{
    return s->unsynced ? qcow2_sync(s, err) : 0;
}

int qcow2_signal_corruption(struct qcow2_state *s, struct vk_err *err, const char *fmt, ...)
{
    va_list ap;
    char msg[400];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if ((s->b->flags & BLK_O_RDWR) && !(s->b->flags & BLK_O_UNSAFE) && !s->corrupt) {
        /* As the spec asks: mark the image so nobody writes to it until repaired. */
        s->corrupt = true;
        s->incompat |= QCOW2_INCOMPAT_CORRUPT;
        (void)qcow2_write_header(s, NULL);
        (void)qcow2_sync(s, NULL);
        vk_warn("%s: %s; image marked as corrupt", s->b->filename, msg);
    }
    return vk_err_set(err, -EIO, "%s", msg);
}

/* ---- header ------------------------------------------------------------------- */

static const struct { uint8_t type, bit; const char *name; } feature_names[] = {
    { 0, 0, "dirty bit" },
    { 0, 1, "corrupt bit" },
    { 0, 2, "external data file" },
    { 0, 3, "compression type" },
    { 0, 4, "extended L2 entries" },
    { 1, 0, "lazy refcounts" },
    { 2, 0, "bitmaps" },
    { 2, 1, "raw external data" },
};

static size_t put_ext(uint8_t *p, size_t pos, size_t cap, uint32_t type, const void *data,
                      uint32_t len, bool *ok)
{
    size_t need = 8 + VK_ALIGN_UP((size_t)len, 8);
    if (pos + need > cap) {
        *ok = false;
        return pos;
    }
    st32(p + pos, type);
    st32(p + pos + 4, len);
    if (len)
        memcpy(p + pos + 8, data, len);
    memset(p + pos + 8 + len, 0, need - 8 - len);
    return pos + need;
}

static int build_header(struct qcow2_state *s, uint8_t *p, size_t cap, bool with_features,
                        size_t *used)
{
    memset(p, 0, cap);
    st32(p, QCOW2_MAGIC);
    st32(p + 4, s->version);
    st32(p + 20, s->cluster_bits);
    st64(p + 24, s->size);
    st32(p + 32, 0);
    st32(p + 36, s->l1_size);
    st64(p + 40, s->l1_offset);
    st64(p + 48, s->reftable_offset);
    st32(p + 56, s->reftable_clusters);
    st32(p + 60, s->nb_snapshots);
    st64(p + 64, s->snapshots_offset);
    size_t pos = 72;
    if (s->version >= 3) {
        st64(p + 72, s->incompat);
        st64(p + 80, s->compat);
        /* Autoclear bits we don't know must be cleared by anyone who writes
         * the image; bitmaps and raw data file are known (kept). */
        st64(p + 88, s->autoclear & (QCOW2_AUTOCLEAR_BITMAPS | QCOW2_AUTOCLEAR_DATA_RAW));
        st32(p + 96, s->refcount_order);
        st32(p + 100, 112);
        p[104] = s->compression_type;
        pos = 112;
    }
    bool ok = true;
    if (s->backing_fmt)
        pos = put_ext(p, pos, cap, QCOW2_EXT_BACKING_FMT, s->backing_fmt,
                      (uint32_t)strlen(s->backing_fmt), &ok);
    if (s->data_file_name)
        pos = put_ext(p, pos, cap, QCOW2_EXT_DATA_FILE, s->data_file_name,
                      (uint32_t)strlen(s->data_file_name), &ok);
    if (with_features && s->version >= 3) {
        uint8_t ft[VK_ARRAY_SIZE(feature_names) * 48];
        memset(ft, 0, sizeof(ft));
        for (size_t i = 0; i < VK_ARRAY_SIZE(feature_names); i++) {
            ft[48 * i] = feature_names[i].type;
            ft[48 * i + 1] = feature_names[i].bit;
            memcpy(ft + 48 * i + 2, feature_names[i].name, strlen(feature_names[i].name));
        }
        pos = put_ext(p, pos, cap, QCOW2_EXT_FEATURES, ft, sizeof(ft), &ok);
    }
    for (int i = 0; i < s->nb_unknown; i++)
        pos = put_ext(p, pos, cap, s->unknown[i].type, s->unknown[i].data, s->unknown[i].len, &ok);
    pos = put_ext(p, pos, cap, QCOW2_EXT_END, NULL, 0, &ok);
    if (s->backing_name) {
        size_t n = strlen(s->backing_name);
        if (pos + n > cap) {
            ok = false;
        } else {
            st64(p + 8, pos);
            st32(p + 16, (uint32_t)n);
            memcpy(p + pos, s->backing_name, n);
            pos += n;
        }
    }
    *used = pos;
    return ok ? 0 : -ENOSPC;
}

int qcow2_write_header(struct qcow2_state *s, struct vk_err *err)
{
    size_t cap = s->cluster_size, used;
    uint8_t *p = blk_alloc_aligned(cap);
    if (!p)
        return vk_err_set(err, -ENOMEM, "out of memory");
    int r = build_header(s, p, cap, true, &used);
    if (r == -ENOSPC)
        r = build_header(s, p, cap, false, &used);  /* small clusters: drop the name table */
    if (r < 0) {
        free(p);
        return vk_err_set(err, -ENOSPC, "qcow2: header, extensions and backing file name do "
                          "not fit in one %u-byte cluster", s->cluster_size);
    }
    r = blk_file_pwrite(s->b, s->b->fd, 0, p, VK_ALIGN_UP(used, (size_t)512));
    free(p);
    if (r < 0)
        return vk_err_errno(err, r, "qcow2: writing the header of %s", s->b->filename);
    return 0;
}

static int hdr_err(struct qcow2_state *s, struct vk_err *err, int code, const char *fmt, ...)
    VK_PRINTF(4, 5);
static int hdr_err(struct qcow2_state *s, struct vk_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    char msg[400];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vk_err_set(err, code, "%s: qcow2 header: %s", s->b->filename, msg);
}

static const char *feature_name(struct qcow2_state *s, int type, int bit)
{
    for (uint32_t i = 0; i + 48 <= s->feature_table_len; i += 48) {
        if (s->feature_table[i] == type && s->feature_table[i + 1] == bit) {
            static __thread char nm[47];
            memcpy(nm, s->feature_table + i + 2, 46);
            nm[46] = 0;
            return nm;
        }
    }
    return "unknown";
}

static int read_extensions(struct qcow2_state *s, const uint8_t *h, uint64_t start, uint64_t end,
                           struct vk_err *err)
{
    uint64_t off = start;
    while (off + 8 <= end) {
        uint32_t type = ld32(h + off), len = ld32(h + off + 4);
        if (type == QCOW2_EXT_END)
            return 0;
        if (off + 8 + len > end)
            return hdr_err(s, err, -EINVAL, "extension 0x%x at offset %llu: length %u runs "
                           "past the end of the header area", type, (unsigned long long)off, len);
        const uint8_t *d = h + off + 8;
        switch (type) {
        case QCOW2_EXT_BACKING_FMT:
            free(s->backing_fmt);
            s->backing_fmt = strndup((const char *)d, len);
            break;
        case QCOW2_EXT_DATA_FILE:
            free(s->data_file_name);
            s->data_file_name = strndup((const char *)d, len);
            break;
        case QCOW2_EXT_FEATURES:
            free(s->feature_table);
            s->feature_table = malloc(len ? len : 1);
            if (s->feature_table)
                memcpy(s->feature_table, d, len);
            s->feature_table_len = s->feature_table ? len : 0;
            break;
        case QCOW2_EXT_CRYPTO:
            return hdr_err(s, err, -ENOTSUP, "encryption extension at offset %llu: encrypted "
                           "images are not supported", (unsigned long long)off);
        default: {
            /* Unknown (e.g. bitmaps): kept byte for byte on header rewrite. */
            struct qcow2_unknown_ext *nu = realloc(s->unknown, sizeof(*nu) * (size_t)(s->nb_unknown + 1));
            if (!nu)
                return vk_err_set(err, -ENOMEM, "out of memory");
            s->unknown = nu;
            nu[s->nb_unknown].type = type;
            nu[s->nb_unknown].len = len;
            nu[s->nb_unknown].data = malloc(len ? len : 1);
            if (!nu[s->nb_unknown].data)
                return vk_err_set(err, -ENOMEM, "out of memory");
            memcpy(nu[s->nb_unknown].data, d, len);
            s->nb_unknown++;
        }
        }
        off += 8 + VK_ALIGN_UP((uint64_t)len, 8);
    }
    return 0;
}

/* A table at [off, off + len) must be cluster-aligned and inside the file. */
static int check_table(struct qcow2_state *s, uint64_t off, uint64_t len, uint64_t file_size,
                       const char *name, int hoff, struct vk_err *err)
{
    if (off & (s->cluster_size - 1))
        return hdr_err(s, err, -EINVAL, "%s 0x%llx (at header offset %d) is not "
                       "cluster-aligned", name, (unsigned long long)off, hoff);
    if (off < s->cluster_size)
        return hdr_err(s, err, -EINVAL, "%s 0x%llx (at header offset %d) overlaps the header",
                       name, (unsigned long long)off, hoff);
    if (!vk_range_ok(off, len, file_size))
        return hdr_err(s, err, -EINVAL, "%s 0x%llx + %llu bytes (at header offset %d) is past "
                       "the end of the file (%llu bytes)", name, (unsigned long long)off,
                       (unsigned long long)len, hoff, (unsigned long long)file_size);
    return 0;
}

static void free_state(struct qcow2_state *s)
{
    qcache_destroy(&s->l2_cache);
    qcache_destroy(&s->rb_cache);
    qcow2_free_snapshots(s);
    free(s->l1);
    free(s->reftable);
    free(s->backing_name);
    free(s->backing_fmt);
    free(s->feature_table);
    free(s->data_file_name);
    for (int i = 0; i < s->nb_unknown; i++)
        free(s->unknown[i].data);
    free(s->unknown);
    free(s->freed);
    if (s->data_fd >= 0 && s->b && s->data_fd != s->b->fd)
        close(s->data_fd);
    s->data_fd = -1;
}

static int qcow2_open(struct blk *b, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    s->b = b;
    s->data_fd = b->fd;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->alloc_cond, NULL);
    struct stat st;
    if (fstat(b->fd, &st) < 0)
        return vk_err_errno(err, -errno, "cannot stat %s", b->filename);
    uint64_t fsize = (uint64_t)st.st_size;
    uint8_t h0[112];
    int r = blk_file_pread(b, b->fd, 0, h0, sizeof(h0));
    if (r < 0)
        return vk_err_errno(err, r, "cannot read the header of %s", b->filename);
    if (fsize < 72)
        return hdr_err(s, err, -EINVAL, "file is only %llu bytes, shorter than a header",
                       (unsigned long long)fsize);
    if (ld32(h0) != QCOW2_MAGIC)
        return hdr_err(s, err, -EINVAL, "bad magic 0x%08x at offset 0", ld32(h0));
    s->version = ld32(h0 + 4);
    if (s->version < 2 || s->version > 3)
        return hdr_err(s, err, -ENOTSUP, "unsupported version %u at offset 4", s->version);
    s->cluster_bits = ld32(h0 + 20);
    if (s->cluster_bits < QCOW2_MIN_CLUSTER_BITS || s->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return hdr_err(s, err, -EINVAL, "cluster_bits %u at offset 20 is out of range (%d-%d)",
                       s->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
    s->cluster_size = 1u << s->cluster_bits;
    uint8_t *h = blk_alloc_aligned(s->cluster_size);
    if (!h)
        return vk_err_set(err, -ENOMEM, "out of memory");
    r = blk_file_pread(b, b->fd, 0, h, s->cluster_size);
    if (r < 0) {
        free(h);
        return vk_err_errno(err, r, "cannot read the header of %s", b->filename);
    }
    uint64_t backing_off = ld64(h + 8);
    uint32_t backing_len = ld32(h + 16);
    s->size = ld64(h + 24);
    uint32_t crypt = ld32(h + 32);
    s->l1_size = ld32(h + 36);
    s->l1_offset = ld64(h + 40);
    s->reftable_offset = ld64(h + 48);
    s->reftable_clusters = ld32(h + 56);
    s->nb_snapshots = ld32(h + 60);
    s->snapshots_offset = ld64(h + 64);
    s->refcount_order = 4;
    s->header_length = 72;
    if (s->version >= 3) {
        if (fsize < 104) {
            r = hdr_err(s, err, -EINVAL, "file is only %llu bytes, shorter than a version 3 "
                        "header", (unsigned long long)fsize);
            goto fail;
        }
        s->incompat = ld64(h + 72);
        s->compat = ld64(h + 80);
        s->autoclear = ld64(h + 88);
        s->refcount_order = ld32(h + 96);
        s->header_length = ld32(h + 100);
        if (s->header_length < 104 || s->header_length > s->cluster_size) {
            r = hdr_err(s, err, -EINVAL, "header_length %u at offset 100 is invalid",
                        s->header_length);
            goto fail;
        }
        if (s->header_length > 104)
            s->compression_type = h[104];
    }
    if (crypt) {
        r = hdr_err(s, err, -ENOTSUP, "crypt_method %u at offset 32: encrypted images are not "
                    "supported", crypt);
        goto fail;
    }
    if (s->refcount_order > 6) {
        r = hdr_err(s, err, -EINVAL, "refcount_order %u at offset 96 is out of range (0-6)",
                    s->refcount_order);
        goto fail;
    }
    r = read_extensions(s, h, s->header_length,
                        backing_off > s->header_length && backing_off < s->cluster_size
                            ? backing_off : s->cluster_size, err);
    if (r < 0)
        goto fail;
    uint64_t unknown_incompat = s->incompat & ~QCOW2_INCOMPAT_KNOWN;
    if (unknown_incompat) {
        int bit = __builtin_ctzll(unknown_incompat);
        r = hdr_err(s, err, -ENOTSUP, "unsupported incompatible feature bit %d (%s) in "
                    "incompatible_features 0x%llx at offset 72", bit, feature_name(s, 0, bit),
                    (unsigned long long)s->incompat);
        goto fail;
    }
    if (s->compression_type > 1) {
        r = hdr_err(s, err, -ENOTSUP, "unknown compression_type %u at offset 104",
                    s->compression_type);
        goto fail;
    }
    if (s->compression_type && !(s->incompat & QCOW2_INCOMPAT_COMPRESSION)) {
        r = hdr_err(s, err, -EINVAL, "compression_type %u at offset 104 without the compression "
                    "type incompatible bit", s->compression_type);
        goto fail;
    }
    s->extl2 = s->incompat & QCOW2_INCOMPAT_EXTL2;
    if (s->extl2 && s->cluster_bits < 14) {
        r = hdr_err(s, err, -EINVAL, "extended L2 entries need clusters of at least 16 KiB "
                    "(cluster_bits %u)", s->cluster_bits);
        goto fail;
    }
    s->corrupt = s->incompat & QCOW2_INCOMPAT_CORRUPT;
    if (s->corrupt && (b->flags & BLK_O_RDWR) && !(b->flags & BLK_O_UNSAFE)) {
        r = vk_err_set(err, -EACCES, "qcow2: %s is corrupt (corrupt bit set); it cannot be "
                       "opened read/write (repair it with 'check -r all')", b->filename);
        goto fail;
    }
    /* Geometry. */
    s->refcount_bits = 1u << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX : (UINT64_C(1) << s->refcount_bits) - 1;
    s->rb_entries = ((uint64_t)s->cluster_size * 8) >> s->refcount_order;
    s->l2_entry_bytes = s->extl2 ? 16 : 8;
    s->l2_entries = s->cluster_size / s->l2_entry_bytes;
    s->l2_bits = (uint32_t)__builtin_ctzll(s->l2_entries);
    s->subcluster_size = s->extl2 ? s->cluster_size / 32 : s->cluster_size;
    s->csize_shift = 62 - (s->cluster_bits - 8);
    s->csize_mask = (UINT64_C(1) << (s->cluster_bits - 8)) - 1;

    if (s->size > (UINT64_C(1) << 62)) {
        r = hdr_err(s, err, -EFBIG, "size %llu at offset 24 is too large",
                    (unsigned long long)s->size);
        goto fail;
    }
    uint64_t l2_span = s->l2_entries << s->cluster_bits;
    uint64_t l1_need = (s->size + l2_span - 1) / l2_span;
    if ((uint64_t)s->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        r = hdr_err(s, err, -EFBIG, "l1_size %u at offset 36 is too large", s->l1_size);
        goto fail;
    }
    if (s->l1_size < l1_need) {
        r = hdr_err(s, err, -EINVAL, "l1_size %u at offset 36 is too small for the image size "
                    "%llu (needs %llu)", s->l1_size, (unsigned long long)s->size,
                    (unsigned long long)l1_need);
        goto fail;
    }
    if (s->l1_size) {
        r = check_table(s, s->l1_offset, (uint64_t)s->l1_size * 8, fsize, "l1_table_offset", 40, err);
        if (r < 0)
            goto fail;
    }
    if ((uint64_t)s->reftable_clusters * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES ||
        s->reftable_clusters == 0) {
        r = hdr_err(s, err, -EINVAL, "refcount_table_clusters %u at offset 56 is invalid",
                    s->reftable_clusters);
        goto fail;
    }
    r = check_table(s, s->reftable_offset, (uint64_t)s->reftable_clusters * s->cluster_size,
                    fsize, "refcount_table_offset", 48, err);
    if (r < 0)
        goto fail;
    if (s->l1_size && s->l1_offset < s->reftable_offset +
                          (uint64_t)s->reftable_clusters * s->cluster_size &&
        s->reftable_offset < s->l1_offset + (uint64_t)s->l1_size * 8) {
        r = hdr_err(s, err, -EINVAL, "l1_table_offset 0x%llx (at header offset 40) overlaps the "
                    "refcount table at 0x%llx", (unsigned long long)s->l1_offset,
                    (unsigned long long)s->reftable_offset);
        goto fail;
    }
    if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS) {
        r = hdr_err(s, err, -EINVAL, "nb_snapshots %u at offset 60 is too large", s->nb_snapshots);
        goto fail;
    }
    if (s->nb_snapshots) {
        r = check_table(s, s->snapshots_offset, 40ull * s->nb_snapshots, fsize,
                        "snapshots_offset", 64, err);
        if (r < 0)
            goto fail;
    }
    if (backing_off) {
        if (backing_len > QCOW2_MAX_BACKING_NAME || backing_len == 0 ||
            !vk_range_ok(backing_off, backing_len, VK_MIN(fsize, (uint64_t)s->cluster_size))) {
            r = hdr_err(s, err, -EINVAL, "backing_file_offset %llu / backing_file_size %u (at "
                        "offsets 8/16) are invalid", (unsigned long long)backing_off, backing_len);
            goto fail;
        }
        s->backing_name = strndup((const char *)h + backing_off, backing_len);
        if (!s->backing_name) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
    }
    free(h);
    h = NULL;

    /* Tables. */
    s->l1 = calloc(VK_MAX(s->l1_size, 1u), 8);
    s->reftable_size = (uint64_t)s->reftable_clusters * s->cluster_size / 8;
    s->reftable = calloc(s->reftable_size, 8);
    if (!s->l1 || !s->reftable) {
        r = vk_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if (s->l1_size) {
        r = blk_file_pread(b, b->fd, s->l1_offset, s->l1, (size_t)s->l1_size * 8);
        if (r < 0) {
            vk_err_errno(err, r, "qcow2: reading the L1 table");
            goto fail;
        }
        for (uint32_t i = 0; i < s->l1_size; i++)
            s->l1[i] = be64toh(s->l1[i]);
    }
    r = blk_file_pread(b, b->fd, s->reftable_offset, s->reftable, s->reftable_size * 8);
    if (r < 0) {
        vk_err_errno(err, r, "qcow2: reading the refcount table");
        goto fail;
    }
    for (uint64_t i = 0; i < s->reftable_size; i++)
        s->reftable[i] = be64toh(s->reftable[i]);

    uint64_t cache = b->cache_size;
    uint64_t nl2 = VK_MIN(VK_MAX(cache * 3 / 4 / s->cluster_size, 16), 8192);
    uint64_t nrb = VK_MIN(VK_MAX(cache / 4 / s->cluster_size, 8), 4096);
    if (qcache_init(&s->l2_cache, (int)nl2, "L2") < 0 ||
        qcache_init(&s->rb_cache, (int)nrb, "refcount")) {
        r = vk_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    r = qcow2_read_snapshots(s, err);
    if (r < 0)
        goto fail;

    if (s->incompat & QCOW2_INCOMPAT_DATA_FILE) {
        if (!s->data_file_name) {
            r = hdr_err(s, err, -EINVAL, "external data file bit set but no data file name "
                        "extension");
            goto fail;
        }
        /* As qemu does: the name is used as given (not image-relative). */
        char *p = strdup(s->data_file_name);
        s->data_fd = p ? open(p, ((b->flags & BLK_O_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC) : -1;
        if (s->data_fd < 0) {
            r = vk_err_errno(err, p ? -errno : -ENOMEM, "Could not open data file '%s'",
                             p ? p : s->data_file_name);
            free(p);
            s->data_fd = b->fd;
            goto fail;
        }
        free(p);
        s->data_raw = s->autoclear & QCOW2_AUTOCLEAR_DATA_RAW;
    }
    if (s->backing_name) {
        b->backing_name = strdup(s->backing_name);
        if (s->backing_fmt)
            b->backing_fmt = strdup(s->backing_fmt);
    }
    if ((s->incompat & QCOW2_INCOMPAT_DIRTY) && (b->flags & BLK_O_RDWR) &&
        !(b->flags & BLK_O_UNSAFE)) {
        /* Lazy refcounts left dirty by a crash: rebuild them before use. */
        struct blk_check_result res;
        r = qcow2_check(b, BLK_CHECK_FIX_ALL | QCOW2_CHECK_QUIET, &res, err);
        if (r < 0) {
            vk_err_prefix(err, "repairing the refcounts of dirty image %s", b->filename);
            goto fail;
        }
        s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
        r = qcow2_write_header(s, err);
        if (r == 0)
            r = qcow2_sync(s, err);
        if (r < 0)
            goto fail;
    }
    return 0;
fail:
    free(h);
    free_state(s);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->alloc_cond);
    return r;
}

int qcow2_meta_flush(struct qcow2_state *s, struct vk_err *err)
{
    /* 1. refcount blocks (increments), 2. barrier, 3. L2 tables, 4. barrier,
     * 5. L1 table, 6. barrier, 7. deferred decrements. Each barrier syncs
     * only when something was written since the last sync (a data write to
     * new clusters counts: it must be durable before the L2 entry). */
    int r = qcache_flush(s, &s->rb_cache, NULL, err);
    if (r < 0)
        return r;
    if (qcache_has_dirty(&s->l2_cache) || s->l1_dirty) {
        r = qcow2_barrier(s, err);
        if (r < 0)
            return r;
    }
    r = qcache_flush(s, &s->l2_cache, NULL, err);
    if (r < 0)
        return r;
    if (s->l1_dirty && s->l1_size) {
        r = qcow2_barrier(s, err);
        if (r < 0)
            return r;
        size_t bytes = (size_t)s->l1_size * 8;
        uint8_t *buf = blk_alloc_aligned(bytes);
        if (!buf)
            return vk_err_set(err, -ENOMEM, "out of memory");
        for (uint32_t i = 0; i < s->l1_size; i++)
            st64(buf + 8 * i, s->l1[i]);
        r = blk_file_pwrite(s->b, s->b->fd, s->l1_offset, buf, bytes);
        free(buf);
        if (r < 0)
            return vk_err_errno(err, r, "qcow2: writing the L1 table");
        s->l1_dirty = false;
        s->unsynced = true;
    }
    if (s->nb_freed) {
        /* The tables no longer referencing these clusters must be durable
         * before their refcounts drop. */
        r = qcow2_barrier(s, err);
        if (r < 0)
            return r;
        r = qcow2_apply_deferred(s, err);
        if (r == 0)
            r = qcache_flush(s, &s->rb_cache, NULL, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int qcow2_flush(struct blk *b, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    pthread_mutex_lock(&s->lock);
    int r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    pthread_mutex_unlock(&s->lock);
    return r;
}

static void qcow2_close(struct blk *b)
{
    struct qcow2_state *s = Q(b);
    if ((b->flags & BLK_O_RDWR) && s->dirty_marked && !s->corrupt) {
        pthread_mutex_lock(&s->lock);
        if (qcow2_meta_flush(s, NULL) == 0 && qcow2_sync(s, NULL) == 0) {
            s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
            if (qcow2_write_header(s, NULL) == 0)
                (void)qcow2_sync(s, NULL);
        }
        pthread_mutex_unlock(&s->lock);
    }
    free_state(s);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->alloc_cond);
}

static uint64_t qcow2_getlength(struct blk *b)
{
    return __atomic_load_n(&Q(b)->size, __ATOMIC_RELAXED);
}

static uint32_t qcow2_cluster_size(struct blk *b)
{
    return Q(b)->cluster_size;
}

static int qcow2_get_info(struct blk *b, struct blk_info *info, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    pthread_mutex_lock(&s->lock);
    info->has_qcow2 = true;
    info->dirty_flag = s->incompat & QCOW2_INCOMPAT_DIRTY;
    snprintf(info->qcow2.compat, sizeof(info->qcow2.compat), "%s", s->version >= 3 ? "1.1" : "0.10");
    snprintf(info->qcow2.compression_type, sizeof(info->qcow2.compression_type), "%s",
             s->compression_type ? "zstd" : "zlib");
    info->qcow2.lazy_refcounts = s->compat & QCOW2_COMPAT_LAZY;
    info->qcow2.refcount_bits = s->refcount_bits;
    info->qcow2.corrupt = s->incompat & QCOW2_INCOMPAT_CORRUPT;
    info->qcow2.extended_l2 = s->extl2;
    if (s->data_file_name)
        info->qcow2.data_file = strdup(s->data_file_name);
    info->qcow2.data_file_raw = s->data_raw;
    for (int i = 0; i < s->nb_unknown; i++)
        if (s->unknown[i].type == QCOW2_EXT_BITMAPS)
            info->qcow2.has_bitmaps = true;
    pthread_mutex_unlock(&s->lock);
    return qcow2_snapshot_list(b, &info->snapshots, &info->nb_snapshots, err);
}

/* ---- resize ------------------------------------------------------------------------ */

int qcow2_truncate(struct blk *b, uint64_t size, bool shrink_ok, enum blk_prealloc prealloc,
                   struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    if (size % 512)
        return vk_err_set(err, -EINVAL, "qcow2: the image size must be a multiple of 512 bytes");
    if (size > (UINT64_C(1) << 62))
        return vk_err_set(err, -EFBIG, "qcow2: image size %llu is too large",
                          (unsigned long long)size);
    pthread_mutex_lock(&s->lock);
    int r = 0;
    uint64_t old = s->size;
    if (s->corrupt) {
        r = vk_err_set(err, -EIO, "qcow2: image is corrupt");
        goto out;
    }
    if (s->data_fd != b->fd && size > old && ftruncate(s->data_fd, (off_t)size) < 0) {
        r = vk_err_errno(err, -errno, "qcow2: growing the data file");
        goto out;
    }
    if (size < old && s->nb_snapshots) {
        r = vk_err_set(err, -ENOTSUP, "Can't resize an image which has snapshots");
        goto out;
    }
    uint64_t l2_span = s->l2_entries << s->cluster_bits;
    if (size > old) {
        r = qcow2_grow_l1(s, (size + l2_span - 1) / l2_span, err);
        if (r < 0)
            goto out;
        /* Data past the old end inside its last cluster must read as zeroes. */
        uint64_t tail = VK_ALIGN_UP(old, (uint64_t)s->cluster_size);
        if (tail > old) {
            s->size = VK_MIN(tail, size);
            pthread_mutex_unlock(&s->lock);
            r = qcow2_pwrite_zeroes(b, old, s->size - old, 0, err);
            pthread_mutex_lock(&s->lock);
            if (r < 0)
                goto out;
        }
    } else if (size < old) {
        /* Drop whole clusters past the new end, then whole L2 tables. */
        uint64_t a = VK_ALIGN_UP(size, (uint64_t)s->cluster_size);
        for (uint64_t off = a; off < old;) {
            uint64_t l1i = off / l2_span;
            uint64_t n = VK_MIN(old - off, l2_span - off % l2_span);
            if (l1i < s->l1_size && (s->l1[l1i] & L1E_OFFSET_MASK)) {
                uint64_t *l2, l2off, idx;
                r = qcow2_get_l2_for_write(s, off, &l2, &l2off, &idx, err);
                if (r < 0)
                    goto out;
                for (uint64_t k = 0; k < (n + s->cluster_size - 1) >> s->cluster_bits; k++) {
                    qcow2_free_entry(s, l2_get(s, l2, idx + k, NULL));
                    l2_set(s, l2, idx + k, 0, 0);
                }
                qcache_mark_dirty(&s->l2_cache, l2off);
                qcache_put(&s->l2_cache, l2off);
                if (off % l2_span == 0) {
                    s->l1[l1i] = 0;
                    s->l1_dirty = true;
                    qcow2_free_deferred(s, l2off, s->cluster_size);
                }
            }
            off += n;
        }
    }
    s->size = size;
    r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r == 0)
        r = qcow2_write_header(s, err);
    if (r == 0 && size > old && prealloc != BLK_PREALLOC_OFF)
        r = qcow2_preallocate(s, old, size, prealloc, err);
    if (r == 0)
        r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* ---- create --------------------------------------------------------------------------- */

static int parse_compat(const char *c, uint32_t *version)
{
    if (!c || !strcmp(c, "1.1") || !strcmp(c, "v3"))
        *version = 3;
    else if (!strcmp(c, "0.10") || !strcmp(c, "v2"))
        *version = 2;
    else
        return -EINVAL;
    return 0;
}

static int create_image(const char *path, uint64_t size, const struct blk_create_opts *o,
                        uint32_t version, uint32_t rbits, uint8_t ctype, struct vk_err *err);

int qcow2_create(const char *path, uint64_t size, const struct blk_create_opts *o,
                 struct vk_err *err)
{
    uint32_t cs = o->cluster_size ? o->cluster_size : 65536;
    uint32_t version, rbits = o->refcount_bits ? o->refcount_bits : 16;
    if (!VK_IS_POW2(cs) || cs < 512 || cs > (2u << 20))
        return vk_err_set(err, -EINVAL, "Cluster size must be a power of two between 512 and "
                          "2048k");
    if (parse_compat(o->compat, &version) < 0)
        return vk_err_set(err, -EINVAL, "Invalid compatibility level: '%s'", o->compat);
    if (!VK_IS_POW2(rbits) || rbits > 64)
        return vk_err_set(err, -EINVAL, "Refcount width must be a power of two and may not "
                          "exceed 64 bits");
    if (version < 3 && rbits != 16)
        return vk_err_set(err, -EINVAL, "Different refcount widths than 16 bits require "
                          "compatibility level 1.1 or above (use compat=1.1 or greater)");
    if (version < 3 && o->lazy_refcounts)
        return vk_err_set(err, -EINVAL, "Lazy refcounts only supported with compatibility "
                          "level 1.1 and above (use compat=1.1 or greater)");
    uint8_t ctype = 0;
    if (o->compression_type && !strcmp(o->compression_type, "zstd"))
        ctype = 1;
    else if (o->compression_type && strcmp(o->compression_type, "zlib"))
        return vk_err_set(err, -EINVAL, "Invalid parameter '%s' for compression_type",
                          o->compression_type);
    if (ctype && version < 3)
        return vk_err_set(err, -EINVAL, "Non-zlib compression type is only supported with "
                          "compatibility level 1.1 and above (use compat=1.1 or greater)");
    if (o->extended_l2 && version < 3)
        return vk_err_set(err, -EINVAL, "Extended L2 entries are only supported with "
                          "compatibility level 1.1 and above (use compat=1.1 or greater)");
    if (o->extended_l2 && cs < 16384)
        return vk_err_set(err, -EINVAL, "Extended L2 entries are only supported with cluster "
                          "sizes of at least 16384 bytes");
    if (o->data_file && version < 3)
        return vk_err_set(err, -EINVAL, "data-file is only supported with compatibility level "
                          "1.1 and above (use compat=1.1 or greater)");
    if (o->data_file && o->backing_file && o->data_file_raw)
        return vk_err_set(err, -EINVAL, "Backing file and data-file-raw cannot be used at "
                          "the same time");
    if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME)
        return vk_err_set(err, -EINVAL, "Backing file name too long");
    if (size % 512)
        return vk_err_set(err, -EINVAL, "Image size must be a multiple of 512 bytes");
    if (o->preallocation != BLK_PREALLOC_OFF && o->backing_file)
        return vk_err_set(err, -EINVAL, "Backing file and preallocation can only be used at "
                          "the same time if the backing file is not a qcow2 image");
    /* Everything that can be refused is refused before any file is touched. */
    uint64_t l2_span = (uint64_t)cs / (o->extended_l2 ? 16 : 8) * cs;
    if (size > (UINT64_C(1) << 62) || (size + l2_span - 1) / l2_span * 8 > QCOW2_MAX_L1_BYTES)
        return vk_err_set(err, -EFBIG, "The image size is too large for file format 'qcow2' "
                          "(try using a larger cluster size)");
    bool data_created = false;
    if (o->data_file) {
        /* The data file holds the guest's bytes at their guest offsets. */
        struct stat dst;
        data_created = stat(o->data_file, &dst) < 0 && errno == ENOENT;
        int dfd = open(o->data_file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (dfd < 0)   /* like qemu: the name as given, not image-relative */
            return vk_err_errno(err, -errno, "Could not create data file '%s'", o->data_file);
        /* It grows to the disk size: find out now (EFBIG) whether it can. */
        int dr = 0;
        if (fstat(dfd, &dst) < 0 ||
            ((uint64_t)dst.st_size < size && ftruncate(dfd, (off_t)size) < 0) ||
            ftruncate(dfd, 0) < 0)
            dr = vk_err_errno(err, -errno, "Could not create data file '%s'", o->data_file);
        close(dfd);
        if (dr < 0) {
            if (data_created)
                unlink(o->data_file);
            return dr;
        }
    }
    int r = create_image(path, size, o, version, rbits, ctype, err);
    if (r < 0 && data_created)
        unlink(o->data_file);
    return r;
}

static int create_image(const char *path, uint64_t size, const struct blk_create_opts *o,
                        uint32_t version, uint32_t rbits, uint8_t ctype, struct vk_err *err)
{
    uint32_t cs = o->cluster_size ? o->cluster_size : 65536;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return vk_err_errno(err, -errno, "Could not create '%s'", path);
    /* A minimal empty image: header, refcount table, one refcount block.
     * The L1 table is then made by growing it like any resize. */
    struct blk fake = { .fd = fd, .align = 1, .filename = (char *)path, .flags = BLK_O_RDWR };
    struct qcow2_state *s = calloc(1, sizeof(*s));
    int r = 0;
    if (!s) {
        close(fd);
        return vk_err_set(err, -ENOMEM, "out of memory");
    }
    s->b = &fake;
    s->version = version;
    s->cluster_bits = (uint32_t)__builtin_ctz(cs);
    s->cluster_size = cs;
    s->reftable_offset = cs;
    s->reftable_clusters = 1;
    s->refcount_order = (uint32_t)__builtin_ctz(rbits);
    s->refcount_bits = rbits;
    s->compression_type = ctype;
    if (ctype)
        s->incompat |= QCOW2_INCOMPAT_COMPRESSION;
    if (o->extended_l2)
        s->incompat |= QCOW2_INCOMPAT_EXTL2;
    if (o->lazy_refcounts)
        s->compat |= QCOW2_COMPAT_LAZY;
    if (o->data_file) {
        s->incompat |= QCOW2_INCOMPAT_DATA_FILE;
        s->data_file_name = strdup(o->data_file);
        if (o->data_file_raw)
            s->autoclear |= QCOW2_AUTOCLEAR_DATA_RAW;
    }
    s->backing_name = o->backing_file ? strdup(o->backing_file) : NULL;
    s->backing_fmt = o->backing_file && o->backing_fmt ? strdup(o->backing_fmt) : NULL;
    r = qcow2_write_header(s, err);
    uint8_t *blk = calloc(1, cs);
    if (!blk && r == 0)
        r = vk_err_set(err, -ENOMEM, "out of memory");
    if (r == 0) {
        st64(blk, 2ull * cs);
        r = vk_pwrite_full(fd, blk, cs, cs);
        memset(blk, 0, cs);
        for (int i = 0; i < 3; i++)
            rb_set(s, blk, (uint64_t)i, 1);
        if (r == 0)
            r = vk_pwrite_full(fd, blk, cs, 2ull * cs);
        if (r < 0)
            vk_err_errno(err, r, "Could not write the qcow2 metadata of '%s'", path);
    }
    free(blk);
    free(s->backing_name);
    free(s->backing_fmt);
    free(s->data_file_name);
    free(s);
    if (close(fd) < 0 && r == 0)
        r = vk_err_errno(err, -errno, "Could not close '%s'", path);
    if (r < 0)
        return r;
    struct blk *b;
    r = blk_open(path, "qcow2", BLK_O_RDWR | BLK_O_NO_BACKING, NULL, &b, err);
    if (r < 0)
        return r;
    r = qcow2_truncate(b, size, false, o->preallocation, err);
    int cr = blk_close(b);
    return r < 0 ? r : cr;
}

/* ---- backing file, amend, measure --------------------------------------------------------- */

static int qcow2_change_backing(struct blk *b, const char *file, const char *fmt,
                                struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    if (file && strlen(file) > QCOW2_MAX_BACKING_NAME)
        return vk_err_set(err, -EINVAL, "Backing file name too long");
    pthread_mutex_lock(&s->lock);
    char *on = s->backing_name, *of = s->backing_fmt;
    s->backing_name = file ? strdup(file) : NULL;
    s->backing_fmt = fmt ? strdup(fmt) : NULL;
    int r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r == 0)
        r = qcow2_write_header(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r < 0) {
        free(s->backing_name);
        free(s->backing_fmt);
        s->backing_name = on;
        s->backing_fmt = of;
    } else {
        free(on);
        free(of);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* v3 -> v2: zero clusters have no v2 encoding; write real zeroes instead. */
static int downgrade_zero_clusters(struct blk *b, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    uint64_t cs = s->cluster_size;
    uint8_t *z = calloc(1, cs);
    if (!z)
        return vk_err_set(err, -ENOMEM, "out of memory");
    int r = 0;
    for (uint64_t off = 0; off < s->size && r == 0; off += cs) {
        struct qcow2_map m;
        uint64_t run;
        pthread_mutex_lock(&s->lock);
        r = qcow2_get_mapping(s, off, cs, &m, &run, NULL, err);
        if (r == 0 && (m.type == QC_ZERO_PLAIN || m.type == QC_ZERO_ALLOC)) {
            if (!b->backing_name && m.type == QC_ZERO_PLAIN) {
                uint64_t *l2, l2off, idx;
                r = qcow2_get_l2_for_write(s, off, &l2, &l2off, &idx, err);
                if (r == 0) {
                    l2_set(s, l2, idx, 0, 0);
                    qcache_mark_dirty(&s->l2_cache, l2off);
                    qcache_put(&s->l2_cache, l2off);
                }
                pthread_mutex_unlock(&s->lock);
                continue;
            }
            r = qcow2_cow_write(s, off, z, VK_MIN(cs, s->size - off), err);
        }
        pthread_mutex_unlock(&s->lock);
    }
    free(z);
    return r;
}

int qcow2_amend(struct blk *b, const struct blk_amend_opts *o, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    int r;
    uint32_t version = s->version;
    if (o->compat && parse_compat(o->compat, &version) < 0)
        return vk_err_set(err, -EINVAL, "Invalid compatibility level: '%s'", o->compat);
    if (o->refcount_bits && (!VK_IS_POW2(o->refcount_bits) || o->refcount_bits > 64))
        return vk_err_set(err, -EINVAL, "Refcount width must be a power of two and may not "
                          "exceed 64 bits");
    if (o->refcount_bits && o->refcount_bits != 16 && version < 3)
        return vk_err_set(err, -EINVAL, "Different refcount widths than 16 bits require "
                          "compatibility level 1.1 or above (use compat=1.1 or greater)");
    if (s->corrupt)
        return vk_err_set(err, -EIO, "qcow2: image is corrupt");
    if (o->size && o->size != s->size) {
        if (o->size < s->size)
            return vk_err_set(err, -ENOTSUP, "qcow2: shrinking through amend is not supported; "
                              "use resize --shrink");
        r = qcow2_truncate(b, o->size, false, BLK_PREALLOC_OFF, err);
        if (r < 0)
            return r;
    }
    if (o->backing_file || o->backing_fmt) {
        r = blk_change_backing_file(b, o->backing_file ? o->backing_file : b->backing_name,
                                    o->backing_fmt ? o->backing_fmt : b->backing_fmt, err);
        if (r < 0)
            return r;
    }
    int lazy = o->lazy_refcounts;
    if (version < 3 && lazy == 1)
        return vk_err_set(err, -EINVAL, "Lazy refcounts only supported with compatibility "
                          "level 1.1 and above (use compat=1.1 or greater)");
    if (o->refcount_bits && o->refcount_bits != s->refcount_bits) {
        pthread_mutex_lock(&s->lock);
        r = qcow2_change_refcount_order(s, (uint32_t)__builtin_ctz(o->refcount_bits), err);
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
            return r;
    }
    if (version < s->version) {
        if (s->refcount_bits != 16 || s->compression_type || s->extl2 ||
            s->data_fd != b->fd)
            return vk_err_set(err, -ENOTSUP, "qcow2: cannot downgrade to compat=0.10: the "
                              "image uses refcount_bits != 16, zstd, extended L2 or a data file");
        if (s->nb_snapshots)
            return vk_err_set(err, -ENOTSUP, "qcow2: cannot downgrade an image with snapshots "
                              "to compat=0.10");
        r = downgrade_zero_clusters(b, err);
        if (r < 0)
            return r;
        lazy = 0;
    }
    pthread_mutex_lock(&s->lock);
    if (lazy == 0 && (s->compat & QCOW2_COMPAT_LAZY)) {
        s->compat &= ~QCOW2_COMPAT_LAZY;
        s->incompat &= ~QCOW2_INCOMPAT_DIRTY;
        s->dirty_marked = false;
    } else if (lazy == 1) {
        s->compat |= QCOW2_COMPAT_LAZY;
    }
    if (version != s->version) {
        s->version = version;
        if (version < 3) {
            s->incompat = s->compat = s->autoclear = 0;
            s->header_length = 72;
        } else {
            s->header_length = 112;
        }
    }
    r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r == 0)
        r = qcow2_write_header(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    pthread_mutex_unlock(&s->lock);
    return r;
}

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

int qcow2_measure(const struct blk_create_opts *opts, uint64_t size, struct blk *src,
                  uint64_t *required, uint64_t *fully, struct vk_err *err)
{
    uint64_t cs = opts->cluster_size ? opts->cluster_size : 65536;
    uint64_t rbits = opts->refcount_bits ? opts->refcount_bits : 16;
    if (!VK_IS_POW2(cs) || cs < 512 || cs > (2u << 20))
        return vk_err_set(err, -EINVAL, "Cluster size must be a power of two between 512 and "
                          "2048k");
    uint64_t l2e = opts->extended_l2 ? 16 : 8;
    uint64_t vsize = VK_ALIGN_UP(size, cs);
    uint64_t data = 0;
    if (src) {
        uint64_t off = 0, len = blk_getlength(src);
        uint64_t last_end = 0;
        while (off < len) {
            struct blk_status st;
            int r = blk_block_status(src, off, len - off, true, &st, err);
            if (r < 0)
                return r;
            if (st.flags & BLK_ST_DATA) {
                uint64_t a = VK_MAX(VK_ALIGN_DOWN(off, cs), last_end);
                uint64_t e = VK_ALIGN_UP(off + st.len, cs);
                if (e > a)
                    data += e - a;
                last_end = VK_MAX(last_end, e);
            }
            off += st.len;
        }
    } else if (opts->preallocation == BLK_PREALLOC_FULL ||
               opts->preallocation == BLK_PREALLOC_FALLOC) {
        data = vsize;
    }
    /* Metadata for a fully allocated image of this size. */
    uint64_t meta = cs;                                   /* header */
    uint64_t nl2e = VK_ALIGN_UP(vsize / cs, cs / l2e);
    meta += nl2e * l2e;                                   /* L2 tables */
    uint64_t nl1e = VK_ALIGN_UP(nl2e * l2e / cs, cs / 8);
    meta += nl1e * 8;                                     /* L1 table */
    uint64_t clusters = div_up(vsize + meta, cs);
    uint64_t rb_entries = cs * 8 / rbits;
    uint64_t blocks = 0, table = 0, last;
    do {
        last = table;
        blocks = div_up(clusters + table + blocks, rb_entries);
        table = div_up(blocks, cs / 8);
    } while (table != last);
    meta += (blocks + table) * cs;
    *fully = vsize + meta;
    *required = meta + data;
    return 0;
}

const struct blk_driver blk_qcow2_driver = {
    .name = "qcow2",
    .instance_size = sizeof(struct qcow2_state),
    .probe = qcow2_probe,
    .open = qcow2_open,
    .close = qcow2_close,
    .getlength = qcow2_getlength,
    .pread = qcow2_pread,
    .pwrite = qcow2_pwrite,
    .pwrite_zeroes = qcow2_pwrite_zeroes,
    .discard = qcow2_discard,
    .make_empty = qcow2_make_empty,
    .flush = qcow2_flush,
    .block_status = qcow2_block_status,
    .truncate = qcow2_truncate,
    .create = qcow2_create,
    .get_info = qcow2_get_info,
    .check = qcow2_check,
    .change_backing = qcow2_change_backing,
    .amend = qcow2_amend,
    .measure = qcow2_measure,
    .cluster_size = qcow2_cluster_size,
    .compress_cluster = qcow2_compress,
    .write_compressed = qcow2_write_compressed,
    .snapshot_create = qcow2_snapshot_create,
    .snapshot_list = qcow2_snapshot_list,
    .snapshot_apply = qcow2_snapshot_apply,
    .snapshot_delete = qcow2_snapshot_delete,
};
