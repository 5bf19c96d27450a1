/* qcow2 internal snapshots: the snapshot table, create / list / apply /
 * delete. A snapshot is a copy of the L1 table; every cluster it reaches
 * gets one more reference, and the active tables lose their COPIED flags
 * so the next write to a shared cluster copies it.
 *
 * Ordering: increments are written before the tables that depend on them;
 * the new snapshot table is written and synced before the header points at
 * it; decrements happen last. A crash leaves leaks at worst. */
#include "qcow2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define SN_FIXED 40
#define SN_MAX_EXTRA 1024
#define SN_TABLE_MAX (64u << 20)

void qcow2_free_snapshots(struct qcow2_state *s)
{
    if (!s->snapshots)
        return;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        free(s->snapshots[i].id);
        free(s->snapshots[i].name);
        free(s->snapshots[i].extra);
    }
    free(s->snapshots);
    s->snapshots = NULL;
}

int qcow2_read_snapshots(struct qcow2_state *s, struct vk_err *err)
{
    if (!s->nb_snapshots)
        return 0;
    s->snapshots = calloc(s->nb_snapshots, sizeof(*s->snapshots));
    if (!s->snapshots)
        return vk_err_set(err, -ENOMEM, "out of memory");
    uint64_t off = s->snapshots_offset;
    int r;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        struct qcow2_snapshot *sn = &s->snapshots[i];
        uint8_t h[SN_FIXED];
        if (off - s->snapshots_offset > SN_TABLE_MAX) {
            r = vk_err_set(err, -EFBIG, "qcow2: snapshot table is larger than %u bytes",
                           SN_TABLE_MAX);
            goto fail;
        }
        r = blk_file_pread(s->b, s->b->fd, off, h, SN_FIXED);
        if (r < 0) {
            vk_err_errno(err, r, "qcow2: reading snapshot %u at 0x%llx", i,
                         (unsigned long long)off);
            goto fail;
        }
        sn->l1_offset = ld64(h);
        sn->l1_size = ld32(h + 8);
        uint16_t id_len = ld16(h + 12), name_len = ld16(h + 14);
        sn->date_sec = ld32(h + 16);
        sn->date_nsec = ld32(h + 20);
        sn->vm_clock_nsec = ld64(h + 24);
        sn->vm_state_size = ld32(h + 32);
        uint32_t extra = ld32(h + 36);
        sn->disk_size = UINT64_MAX;
        sn->icount = UINT64_MAX;
        if (extra > SN_MAX_EXTRA) {
            r = vk_err_set(err, -EINVAL, "qcow2: snapshot %u at 0x%llx: extra_data_size %u is "
                           "too large", i, (unsigned long long)off, extra);
            goto fail;
        }
        if ((uint64_t)sn->l1_size * 8 > QCOW2_MAX_L1_BYTES ||
            (sn->l1_offset & (s->cluster_size - 1)) || (sn->l1_size && !sn->l1_offset)) {
            r = vk_err_set(err, -EINVAL, "qcow2: snapshot %u at 0x%llx: invalid L1 table "
                           "(offset 0x%llx, %u entries)", i, (unsigned long long)off,
                           (unsigned long long)sn->l1_offset, sn->l1_size);
            goto fail;
        }
        struct stat fst;
        if (sn->l1_size && fstat(s->b->fd, &fst) == 0 &&
            !vk_range_ok(sn->l1_offset, (uint64_t)sn->l1_size * 8, (uint64_t)fst.st_size)) {
            r = vk_err_set(err, -EINVAL, "qcow2: snapshot %u at 0x%llx: L1 table 0x%llx + %u "
                           "entries is past the end of the file", i, (unsigned long long)off,
                           (unsigned long long)sn->l1_offset, sn->l1_size);
            goto fail;
        }
        size_t var = (size_t)extra + id_len + name_len;
        uint8_t *v = malloc(var + 1);
        if (!v) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
        r = blk_file_pread(s->b, s->b->fd, off + SN_FIXED, v, var);
        if (r < 0) {
            free(v);
            vk_err_errno(err, r, "qcow2: reading snapshot %u", i);
            goto fail;
        }
        if (extra >= 8)
            sn->vm_state_size = ld64(v);
        if (extra >= 16)
            sn->disk_size = ld64(v + 8);
        if (extra >= 24)
            sn->icount = ld64(v + 16);
        if (extra > 24) {
            sn->extra_size = extra - 24;
            sn->extra = malloc(sn->extra_size);
            if (sn->extra)
                memcpy(sn->extra, v + 24, sn->extra_size);
            else
                sn->extra_size = 0;
        }
        sn->id = strndup((char *)v + extra, id_len);
        sn->name = strndup((char *)v + extra + id_len, name_len);
        free(v);
        if (!sn->id || !sn->name) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
        off += VK_ALIGN_UP(SN_FIXED + var, (size_t)8);
    }
    s->snapshots_size = off - s->snapshots_offset;
    return 0;
fail:
    qcow2_free_snapshots(s);
    return r;
}

/* Serialise the table, store it in new clusters, point the header at it,
 * free the old one. Lock held. */
static int write_snapshot_table(struct qcow2_state *s, struct qcow2_snapshot *sns, uint32_t n,
                                struct vk_err *err)
{
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += VK_ALIGN_UP(SN_FIXED + 24 + sns[i].extra_size + strlen(sns[i].id) +
                             strlen(sns[i].name), (size_t)8);
    uint64_t clusters = n ? qcow2_size_to_clusters(s, total) : 0;
    uint8_t *buf = clusters ? blk_alloc_aligned(clusters << s->cluster_bits) : NULL;
    if (clusters && !buf)
        return vk_err_set(err, -ENOMEM, "out of memory");
    if (buf)
        memset(buf, 0, clusters << s->cluster_bits);
    size_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct qcow2_snapshot *sn = &sns[i];
        uint8_t *p = buf + pos;
        size_t il = strlen(sn->id), nl = strlen(sn->name);
        uint32_t extra = 24 + sn->extra_size;
        st64(p, sn->l1_offset);
        st32(p + 8, sn->l1_size);
        st16(p + 12, (uint16_t)il);
        st16(p + 14, (uint16_t)nl);
        st32(p + 16, sn->date_sec);
        st32(p + 20, sn->date_nsec);
        st64(p + 24, sn->vm_clock_nsec);
        st32(p + 32, sn->vm_state_size > UINT32_MAX ? 0 : (uint32_t)sn->vm_state_size);
        st32(p + 36, extra);
        st64(p + 40, sn->vm_state_size);
        st64(p + 48, sn->disk_size == UINT64_MAX ? s->size : sn->disk_size);
        st64(p + 56, sn->icount);
        if (sn->extra_size)
            memcpy(p + 64, sn->extra, sn->extra_size);
        memcpy(p + SN_FIXED + extra, sn->id, il);
        memcpy(p + SN_FIXED + extra + il, sn->name, nl);
        pos += VK_ALIGN_UP(SN_FIXED + extra + il + nl, (size_t)8);
    }
    uint64_t noff = 0;
    int r = 0;
    if (clusters) {
        r = qcow2_alloc_clusters(s, clusters, &noff, err);
        if (r == 0) {
            r = blk_file_pwrite(s->b, s->b->fd, noff, buf, clusters << s->cluster_bits);
            if (r < 0)
                vk_err_errno(err, r, "qcow2: writing the snapshot table");
        }
    }
    free(buf);
    if (r == 0)
        r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r < 0)
        return r;
    uint64_t old_off = s->snapshots_offset, old_n = s->nb_snapshots;
    uint64_t old_size = s->snapshots_size;
    s->snapshots_offset = noff;
    s->nb_snapshots = n;
    s->snapshots_size = pos;
    r = qcow2_write_header(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r == 0 && old_off && old_n)
        r = qcow2_update_refcount(s, old_off >> s->cluster_bits,
                                  qcow2_size_to_clusters(s, old_size), -1, err);
    return r;
}

static struct qcow2_snapshot *find_sn(struct qcow2_state *s, const char *key)
{
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (!strcmp(s->snapshots[i].id, key))
            return &s->snapshots[i];
    for (uint32_t i = 0; i < s->nb_snapshots; i++)
        if (!strcmp(s->snapshots[i].name, key))
            return &s->snapshots[i];
    return NULL;
}

static int read_l1(struct qcow2_state *s, uint64_t off, uint32_t n, uint64_t **out,
                   struct vk_err *err)
{
    uint64_t *l1 = calloc(VK_MAX(n, 1u), 8);
    if (!l1)
        return vk_err_set(err, -ENOMEM, "out of memory");
    if (n) {
        int r = blk_file_pread(s->b, s->b->fd, off, l1, (size_t)n * 8);
        if (r < 0) {
            free(l1);
            return vk_err_errno(err, r, "qcow2: reading a snapshot L1 table at 0x%llx",
                                (unsigned long long)off);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        l1[i] = be64toh(l1[i]);
    *out = l1;
    return 0;
}

/* Would one more reference to every cluster of a tree overflow? */
static int check_headroom(struct qcow2_state *s, const uint64_t *l1, uint32_t l1_size,
                          struct vk_err *err)
{
    int r = 0;
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2off = l1[i] & L1E_OFFSET_MASK, rc;
        if (!l2off)
            continue;
        r = qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc, err);
        if (r == 0 && rc >= s->refcount_max)
            r = -ERANGE;
        uint64_t *l2;
        if (r == 0)
            r = qcache_get(s, &s->l2_cache, l2off, false, (void **)&l2, err);
        if (r < 0)
            goto fail;
        for (uint64_t j = 0; j < s->l2_entries && r == 0; j++) {
            struct qcow2_map m;
            uint64_t e = l2_get(s, l2, j, NULL), off, len;
            qcow2_entry_decode(s, e, 0, &m);
            if (m.type == QC_COMPRESSED) {
                qcow2_compressed_range(s, e, &off, &len);
                for (uint64_t c = off >> s->cluster_bits; c <= (off + len - 1) >> s->cluster_bits && r == 0; c++)
                    if ((r = qcow2_get_refcount(s, c, &rc, err)) == 0 && rc >= s->refcount_max)
                        r = -ERANGE;
            } else if (m.type == QC_NORMAL || m.type == QC_ZERO_ALLOC) {
                if ((r = qcow2_get_refcount(s, m.host >> s->cluster_bits, &rc, err)) == 0 &&
                    rc >= s->refcount_max)
                    r = -ERANGE;
            }
        }
        qcache_put(&s->l2_cache, l2off);
        if (r < 0)
            goto fail;
    }
    return 0;
fail:
    if (r == -ERANGE)
        return vk_err_set(err, -ERANGE, "qcow2: a snapshot would overflow the refcounts "
                          "(refcount_bits=%u)", s->refcount_bits);
    return r;
}

static int begin(struct qcow2_state *s, struct vk_err *err)
{
    if (s->corrupt)
        return vk_err_set(err, -EIO, "qcow2: image is corrupt");
    if (s->data_fd != s->b->fd)
        return vk_err_set(err, -ENOTSUP, "qcow2: snapshots of images with a data file are not "
                          "supported");
    int r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    return r;
}

int qcow2_snapshot_create(struct blk *b, const char *name, const struct blk_snapshot_info *meta,
                          struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    if (!name || !*name || strlen(name) > 65535)
        return vk_err_set(err, -EINVAL, "qcow2: invalid snapshot name");
    pthread_mutex_lock(&s->lock);
    int r = begin(s, err);
    if (r < 0)
        goto out;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        if (!strcmp(s->snapshots[i].name, name)) {
            r = vk_err_set(err, -EEXIST, "Snapshot with name '%s' already exists", name);
            goto out;
        }
    }
    if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS) {
        r = vk_err_set(err, -EFBIG, "qcow2: too many snapshots");
        goto out;
    }
    r = check_headroom(s, s->l1, s->l1_size, err);
    if (r < 0)
        goto out;
    unsigned long maxid = 0;
    for (uint32_t i = 0; i < s->nb_snapshots; i++) {
        unsigned long v = strtoul(s->snapshots[i].id, NULL, 10);
        if (v > maxid)
            maxid = v;
    }
    /* Copy the active L1 into new clusters. */
    uint64_t bytes = (uint64_t)s->l1_size * 8, l1off = 0;
    if (bytes) {
        uint64_t alloc = VK_ALIGN_UP(bytes, (uint64_t)s->cluster_size);
        uint8_t *buf = blk_alloc_aligned(alloc);
        if (!buf) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        memset(buf, 0, alloc);
        for (uint32_t i = 0; i < s->l1_size; i++)
            st64(buf + 8 * i, s->l1[i] & ~QCOW_OFLAG_COPIED);
        r = qcow2_alloc_clusters(s, alloc >> s->cluster_bits, &l1off, err);
        if (r == 0) {
            r = blk_file_pwrite(b, b->fd, l1off, buf, alloc);
            if (r < 0)
                vk_err_errno(err, r, "qcow2: writing the snapshot L1 table");
        }
        free(buf);
        if (r < 0)
            goto out;
    }
    r = qcow2_update_tree_refcounts(s, s->l1, s->l1_size, 1, err);
    if (r == 0)
        r = qcow2_fix_copied(s, err);
    if (r < 0)
        goto out;
    struct qcow2_snapshot *ns = calloc(s->nb_snapshots + 1, sizeof(*ns));
    if (!ns) {
        r = vk_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    if (s->nb_snapshots)
        memcpy(ns, s->snapshots, s->nb_snapshots * sizeof(*ns));
    struct qcow2_snapshot *sn = &ns[s->nb_snapshots];
    char idbuf[32];
    snprintf(idbuf, sizeof(idbuf), "%lu", maxid + 1);
    sn->id = strdup(idbuf);
    sn->name = strdup(name);
    sn->l1_offset = l1off;
    sn->l1_size = s->l1_size;
    sn->disk_size = s->size;
    sn->icount = UINT64_MAX;
    if (meta) {
        sn->date_sec = meta->date_sec;
        sn->date_nsec = meta->date_nsec;
        sn->vm_clock_nsec = meta->vm_clock_nsec;
        sn->vm_state_size = meta->vm_state_size;
        sn->icount = meta->icount;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sn->date_sec = (uint32_t)ts.tv_sec;
        sn->date_nsec = (uint32_t)ts.tv_nsec;
    }
    if (!sn->id || !sn->name) {
        free(sn->id);
        free(sn->name);
        free(ns);
        r = vk_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    r = write_snapshot_table(s, ns, s->nb_snapshots + 1, err);
    if (r < 0) {
        free(sn->id);
        free(sn->name);
        free(ns);
        goto out;
    }
    free(s->snapshots);
    s->snapshots = ns;
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}

int qcow2_snapshot_list(struct blk *b, struct blk_snapshot_info **out, size_t *n,
                        struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    pthread_mutex_lock(&s->lock);
    *out = NULL;
    *n = 0;
    if (s->nb_snapshots) {
        *out = calloc(s->nb_snapshots, sizeof(**out));
        if (!*out) {
            pthread_mutex_unlock(&s->lock);
            return vk_err_set(err, -ENOMEM, "out of memory");
        }
        for (uint32_t i = 0; i < s->nb_snapshots; i++) {
            struct blk_snapshot_info *o = &(*out)[i];
            struct qcow2_snapshot *sn = &s->snapshots[i];
            snprintf(o->id, sizeof(o->id), "%s", sn->id);
            snprintf(o->name, sizeof(o->name), "%s", sn->name);
            o->vm_state_size = sn->vm_state_size;
            o->date_sec = sn->date_sec;
            o->date_nsec = sn->date_nsec;
            o->vm_clock_nsec = sn->vm_clock_nsec;
            o->icount = sn->icount;
        }
        *n = s->nb_snapshots;
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int qcow2_snapshot_apply(struct blk *b, const char *key, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    pthread_mutex_lock(&s->lock);
    uint64_t *snl1 = NULL, *old = NULL;
    int r = begin(s, err);
    if (r < 0)
        goto out;
    struct qcow2_snapshot *sn = find_sn(s, key);
    if (!sn) {
        r = vk_err_set(err, -ENOENT, "Could not find snapshot '%s'", key);
        goto out;
    }
    r = read_l1(s, sn->l1_offset, sn->l1_size, &snl1, err);
    if (r < 0)
        goto out;
    if (sn->l1_size > s->l1_size) {
        r = qcow2_grow_l1(s, sn->l1_size, err);
        if (r < 0)
            goto out;
    }
    /* 1. The snapshot's tree gains the active reference. */
    r = check_headroom(s, snl1, sn->l1_size, err);
    if (r == 0)
        r = qcow2_update_tree_refcounts(s, snl1, sn->l1_size, 1, err);
    if (r < 0)
        goto out;
    old = malloc((size_t)s->l1_size * 8);
    if (!old) {
        r = vk_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    memcpy(old, s->l1, (size_t)s->l1_size * 8);
    uint32_t old_n = s->l1_size;
    /* 2. The active L1 becomes the snapshot's (refcounts written first). */
    for (uint32_t i = 0; i < s->l1_size; i++)
        s->l1[i] = i < sn->l1_size ? (snl1[i] & ~QCOW_OFLAG_COPIED) : 0;
    s->l1_dirty = true;
    if (sn->disk_size != UINT64_MAX && sn->disk_size != s->size) {
        s->size = sn->disk_size;
        s->header_dirty = true;
    }
    r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r == 0 && s->header_dirty) {
        r = qcow2_write_header(s, err);
        s->header_dirty = false;
    }
    /* 3. The old active tree loses its reference. */
    if (r == 0)
        r = qcow2_update_tree_refcounts(s, old, old_n, -1, err);
    if (r == 0)
        r = qcow2_fix_copied(s, err);
    if (r == 0)
        r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
out:
    free(snl1);
    free(old);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int qcow2_snapshot_delete(struct blk *b, const char *key, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    pthread_mutex_lock(&s->lock);
    uint64_t *snl1 = NULL;
    int r = begin(s, err);
    if (r < 0)
        goto out;
    struct qcow2_snapshot *sn = find_sn(s, key);
    if (!sn) {
        r = vk_err_set(err, -ENOENT, "Could not find snapshot '%s'", key);
        goto out;
    }
    struct qcow2_snapshot gone = *sn;
    r = read_l1(s, gone.l1_offset, gone.l1_size, &snl1, err);
    if (r < 0)
        goto out;
    uint32_t idx = (uint32_t)(sn - s->snapshots), n = s->nb_snapshots - 1;
    struct qcow2_snapshot *ns = n ? calloc(n, sizeof(*ns)) : NULL;
    if (n && !ns) {
        r = vk_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0, j = 0; i < s->nb_snapshots; i++)
        if (i != idx)
            ns[j++] = s->snapshots[i];
    r = write_snapshot_table(s, ns, n, err);
    if (r < 0) {
        free(ns);
        goto out;
    }
    free(s->snapshots);
    s->snapshots = ns;
    r = qcow2_update_tree_refcounts(s, snl1, gone.l1_size, -1, err);
    if (r == 0 && gone.l1_size)
        r = qcow2_update_refcount(s, gone.l1_offset >> s->cluster_bits,
                                  qcow2_size_to_clusters(s, (uint64_t)gone.l1_size * 8), -1, err);
    free(gone.id);
    free(gone.name);
    free(gone.extra);
    if (r == 0)
        r = qcow2_fix_copied(s, err);
    if (r == 0)
        r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
out:
    free(snl1);
    pthread_mutex_unlock(&s->lock);
    return r;
}
