/* Block layer core: driver table, probing, open/close, backing chains,
 * create, info, and the dispatch of optional driver features. */
#include "block_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Probe order does not matter: the highest score wins. */
const struct blk_driver *const blk_drivers[] = {
    &blk_qcow2_driver,
    &blk_raw_driver,
    NULL,
};

const struct blk_driver *blk_find_driver(const char *name)
{
    for (size_t i = 0; blk_drivers[i]; i++)
        if (!strcmp(blk_drivers[i]->name, name))
            return blk_drivers[i];
    return NULL;
}

static const struct blk_driver *probe_buf(const uint8_t *buf, size_t len, const char *path)
{
    const struct blk_driver *best = NULL;
    int best_score = 0;
    for (size_t i = 0; blk_drivers[i]; i++) {
        if (!blk_drivers[i]->probe)
            continue;
        int s = blk_drivers[i]->probe(buf, len, path);
        if (s > best_score) {
            best_score = s;
            best = blk_drivers[i];
        }
    }
    return best;
}

static int probe_fd(int fd, const char *path, const struct blk_driver **out, struct vk_err *err)
{
    uint8_t buf[4096];
    ssize_t n;
    do {
        n = pread(fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return vk_err_errno(err, -errno, "cannot read %s", path);
    *out = probe_buf(buf, (size_t)n, path);
    if (!*out)
        return vk_err_set(err, -EINVAL, "%s: unknown image format", path);
    return 0;
}

int blk_probe_format(const char *path, const char **fmt, struct vk_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vk_err_errno(err, -errno, "Could not open '%s'", path);
    const struct blk_driver *d;
    int r = probe_fd(fd, path, &d, err);
    close(fd);
    if (r == 0)
        *fmt = d->name;
    return r;
}

void *blk_alloc_aligned(size_t len)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, len ? len : 1))
        return NULL;
    return p;
}

char *blk_resolve_backing(const char *image, const char *backing)
{
    if (!backing)
        return NULL;
    if (backing[0] == '/' || !strchr(image, '/'))
        return strdup(backing);
    /* Some images carry "json:" or protocol prefixes: taken literally. */
    char *dup = strdup(image);
    if (!dup)
        return NULL;
    char *dir = dirname(dup);
    char *res = NULL;
    if (asprintf(&res, "%s/%s", dir, backing) < 0)
        res = NULL;
    free(dup);
    return res;
}

struct chain_ids {
    dev_t dev[BLK_MAX_CHAIN + 1];
    ino_t ino[BLK_MAX_CHAIN + 1];
    int n;
};

static void blk_free(struct blk *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    free(b->opaque);
    free(b->filename);
    free(b->backing_name);
    free(b->backing_fmt);
    free(b->backing_path);
    free(b);
}

static int open_one(const char *path, const char *fmt, unsigned flags,
                    const struct blk_open_opts *opts, struct chain_ids *ids, int depth,
                    struct blk **out, struct vk_err *err)
{
    if (depth > BLK_MAX_CHAIN)
        return vk_err_set(err, -ELOOP, "backing chain of %s is deeper than %d",
                          path, BLK_MAX_CHAIN);
    struct blk *b = calloc(1, sizeof(*b));
    if (!b)
        return vk_err_set(err, -ENOMEM, "out of memory");
    b->fd = -1;
    b->flags = flags;
    b->depth = depth;
    b->align = 1;
    b->filename = strdup(path);
    if (!b->filename) {
        free(b);
        return vk_err_set(err, -ENOMEM, "out of memory");
    }
    if (opts)
        b->opts = *opts;
    b->cache_size = b->opts.cache_size ? b->opts.cache_size : 32u << 20;

    int oflags = (flags & BLK_O_RDWR) ? O_RDWR : O_RDONLY;
    oflags |= O_CLOEXEC;
    int r;
    b->fd = open(path, oflags);
    if (b->fd < 0) {
        r = vk_err_errno(err, -errno, "Could not open '%s'", path);
        goto fail;
    }
    struct stat st;
    if (fstat(b->fd, &st) < 0) {
        r = vk_err_errno(err, -errno, "cannot stat %s", path);
        goto fail;
    }
    for (int i = 0; i < ids->n; i++) {
        if (ids->dev[i] == st.st_dev && ids->ino[i] == st.st_ino) {
            r = vk_err_set(err, -ELOOP, "backing chain loops: %s is already in the chain", path);
            goto fail;
        }
    }
    ids->dev[ids->n] = st.st_dev;
    ids->ino[ids->n] = st.st_ino;
    ids->n++;

    if (fmt) {
        b->drv = blk_find_driver(fmt);
        if (!b->drv) {
            r = vk_err_set(err, -EINVAL, "Unknown driver '%s'", fmt);
            goto fail;
        }
    } else {
        r = probe_fd(b->fd, path, &b->drv, err);
        if (r < 0)
            goto fail;
    }
    if (flags & BLK_O_DIRECT) {
        /* Re-open with O_DIRECT after probing (probe used buffered I/O). */
        int dfd = open(path, oflags | O_DIRECT);
        if (dfd < 0) {
            r = vk_err_errno(err, -errno, "Could not open '%s' with O_DIRECT", path);
            goto fail;
        }
        close(b->fd);
        b->fd = dfd;
        b->align = 4096;
    }
    if (b->drv->instance_size) {
        b->opaque = calloc(1, b->drv->instance_size);
        if (!b->opaque) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
    }
    r = b->drv->open(b, err);
    if (r < 0)
        goto fail;

    const char *bname = b->backing_name;
    const char *bfmt = b->backing_fmt;
    if (depth == 0 && b->opts.backing_file) {
        bname = b->opts.backing_file;
        bfmt = b->opts.backing_fmt;
    } else if (depth == 0 && b->opts.backing_fmt && bname) {
        bfmt = b->opts.backing_fmt;
    }
    if (bname && !(flags & BLK_O_NO_BACKING)) {
        b->backing_path = (depth == 0 && b->opts.backing_file) ? strdup(bname)
                                                               : blk_resolve_backing(path, bname);
        if (!b->backing_path) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
            goto fail_drv;
        }
        unsigned bflags = (flags & ~(BLK_O_RDWR)) | b->opts.backing_flags;
        bflags &= ~BLK_O_RDWR;
        struct blk_open_opts bo = { .cache_size = b->opts.cache_size,
                                    .backing_flags = b->opts.backing_flags };
        r = open_one(b->backing_path, bfmt, bflags, &bo, ids, depth + 1, &b->backing, err);
        if (r < 0) {
            if (r != -ELOOP || depth == 0)
                vk_err_prefix(err, "Could not open backing file '%s'", b->backing_path);
            goto fail_drv;
        }
    }
    memset(&b->opts, 0, sizeof(b->opts));
    b->opts.cache_size = b->cache_size;
    *out = b;
    return 0;

fail_drv:
    b->drv->close(b);
fail:
    blk_free(b);
    return r;
}

int blk_open(const char *path, const char *fmt, unsigned flags,
             const struct blk_open_opts *opts, struct blk **out, struct vk_err *err)
{
    struct chain_ids *ids = calloc(1, sizeof(*ids));
    if (!ids)
        return vk_err_set(err, -ENOMEM, "out of memory");
    *out = NULL;
    int r = open_one(path, fmt, flags, opts, ids, 0, out, err);
    free(ids);
    return r;
}

int blk_close(struct blk *b)
{
    if (!b)
        return 0;
    int r = 0;
    if (b->flags & BLK_O_RDWR)
        r = blk_flush(b, NULL);
    b->drv->close(b);
    blk_close(b->backing);
    blk_free(b);
    return r;
}

const char *blk_format_name(struct blk *b) { return b->drv->name; }
const char *blk_filename(struct blk *b) { return b->filename; }
bool blk_is_writable(struct blk *b) { return b->flags & BLK_O_RDWR; }
struct blk *blk_backing(struct blk *b) { return b->backing; }
const char *blk_backing_filename(struct blk *b) { return b->backing_name; }
const char *blk_backing_format(struct blk *b) { return b->backing_fmt; }

uint32_t blk_cluster_size(struct blk *b)
{
    return b->drv->cluster_size ? b->drv->cluster_size(b) : 0;
}

/* ---- create --------------------------------------------------------------- */

int blk_prealloc_parse(const char *s, enum blk_prealloc *out)
{
    static const char *const names[] = { "off", "metadata", "falloc", "full" };
    for (size_t i = 0; i < VK_ARRAY_SIZE(names); i++) {
        if (!strcmp(s, names[i])) {
            *out = (enum blk_prealloc)i;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_bool_opt(const char *key, const char *v, bool *out, struct vk_err *err)
{
    int b = vk_parse_bool(v);
    if (b < 0)
        return vk_err_set(err, -EINVAL, "Parameter '%s' expects 'on' or 'off'", key);
    *out = b;
    return 0;
}

int blk_create_opts_parse(const struct vk_kvlist *kv, const char *fmt,
                          struct blk_create_opts *o, uint64_t *size, struct vk_err *err)
{
    memset(o, 0, sizeof(*o));
    bool is_raw = fmt && !strcmp(fmt, "raw");
    for (size_t i = 0; i < kv->n; i++) {
        const char *k = kv->items[i].key, *v = kv->items[i].val ? kv->items[i].val : "";
        uint64_t n;
        int r = 0;
        if (!strcmp(k, "size")) {
            if (vk_parse_size(v, &n) < 0)
                return vk_err_set(err, -EINVAL, "Parameter 'size' expects a size");
            if (size)
                *size = n;
        } else if (!strcmp(k, "preallocation")) {
            if (blk_prealloc_parse(v, &o->preallocation) < 0)
                return vk_err_set(err, -EINVAL, "Invalid preallocation mode: '%s'", v);
        } else if (is_raw) {
            return vk_err_set(err, -EINVAL, "Invalid parameter '%s'", k);
        } else if (!strcmp(k, "cluster_size")) {
            if (vk_parse_size(v, &n) < 0 || n > UINT32_MAX)
                return vk_err_set(err, -EINVAL, "Parameter 'cluster_size' expects a size");
            o->cluster_size = (uint32_t)n;
        } else if (!strcmp(k, "compat")) {
            o->compat = v;
        } else if (!strcmp(k, "backing_file")) {
            o->backing_file = v;
        } else if (!strcmp(k, "backing_fmt")) {
            o->backing_fmt = v;
        } else if (!strcmp(k, "compression_type")) {
            o->compression_type = v;
        } else if (!strcmp(k, "lazy_refcounts")) {
            r = parse_bool_opt(k, v, &o->lazy_refcounts, err);
        } else if (!strcmp(k, "refcount_bits")) {
            if (vk_parse_u64(v, &n) < 0 || n > 64)
                return vk_err_set(err, -EINVAL, "Parameter 'refcount_bits' expects a number");
            o->refcount_bits = (uint32_t)n;
        } else if (!strcmp(k, "extended_l2")) {
            r = parse_bool_opt(k, v, &o->extended_l2, err);
        } else if (!strcmp(k, "data_file")) {
            o->data_file = v;
        } else if (!strcmp(k, "data_file_raw")) {
            r = parse_bool_opt(k, v, &o->data_file_raw, err);
        } else if (!strcmp(k, "nocow")) {
            r = parse_bool_opt(k, v, &o->nocow, err);
        } else {
            return vk_err_set(err, -EINVAL, "Invalid parameter '%s'", k);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

int blk_create(const char *path, const char *fmt, uint64_t size,
               const struct blk_create_opts *opts, struct vk_err *err)
{
    const struct blk_driver *d = blk_find_driver(fmt ? fmt : "raw");
    if (!d)
        return vk_err_set(err, -EINVAL, "Unknown file format '%s'", fmt);
    if (!d->create)
        return vk_err_set(err, -ENOTSUP, "Format driver '%s' does not support image creation",
                          d->name);
    struct blk_create_opts o = { 0 };
    if (opts)
        o = *opts;
    if (o.backing_file && (!o.backing_fmt || !size)) {
        /* Probe the backing file for its format and size. */
        char *bpath = blk_resolve_backing(path, o.backing_file);
        if (!bpath)
            return vk_err_set(err, -ENOMEM, "out of memory");
        struct blk *bb;
        int r = blk_open(bpath, o.backing_fmt, BLK_O_NO_BACKING, NULL, &bb, err);
        free(bpath);
        if (r < 0) {
            vk_err_prefix(err, "Could not open backing file '%s'", o.backing_file);
            return r;
        }
        if (!size)
            size = blk_getlength(bb);
        if (!o.backing_fmt)
            o.backing_fmt = bb->drv->name; /* static string */
        blk_close(bb);
    }
    /* A failed create leaves no file behind, unless the file was there
     * before (drivers refuse bad options and sizes before touching it). */
    struct stat st;
    bool existed = stat(path, &st) == 0 || errno != ENOENT;
    int r = d->create(path, size, &o, err);
    if (r < 0 && !existed)
        unlink(path);
    return r;
}

/* ---- info ------------------------------------------------------------------ */

int blk_get_info(struct blk *b, struct blk_info *info, struct vk_err *err)
{
    memset(info, 0, sizeof(*info));
    snprintf(info->format, sizeof(info->format), "%s", b->drv->name);
    info->filename = strdup(b->filename);
    info->virtual_size = blk_getlength(b);
    struct stat st;
    if (fstat(b->fd, &st) == 0)
        info->actual_size = (uint64_t)st.st_blocks * 512;
    info->cluster_size = blk_cluster_size(b);
    if (b->backing_name) {
        info->backing_filename = strdup(b->backing_name);
        info->full_backing_filename = b->backing_path ? strdup(b->backing_path)
                                                      : blk_resolve_backing(b->filename,
                                                                            b->backing_name);
    }
    if (b->backing_fmt)
        info->backing_fmt = strdup(b->backing_fmt);
    if (b->drv->get_info) {
        int r = b->drv->get_info(b, info, err);
        if (r < 0) {
            blk_info_free(info);
            return r;
        }
    }
    return 0;
}

void blk_info_free(struct blk_info *info)
{
    if (!info)
        return;
    free(info->filename);
    free(info->backing_filename);
    free(info->full_backing_filename);
    free(info->backing_fmt);
    free(info->qcow2.data_file);
    free(info->snapshots);
    memset(info, 0, sizeof(*info));
}

/* ---- optional features -------------------------------------------------------- */

#define NEED_RW(b, what) do {                                                   \
        if (!((b)->flags & BLK_O_RDWR))                                         \
            return vk_err_set(err, -EROFS, "%s: image is opened read-only", what); \
    } while (0)

int blk_check(struct blk *b, unsigned fix, struct blk_check_result *res, struct vk_err *err)
{
    memset(res, 0, sizeof(*res));
    if (!b->drv->check)
        return vk_err_set(err, -ENOTSUP, "This image format does not support checks");
    if (fix)
        NEED_RW(b, "check -r");
    return b->drv->check(b, fix, res, err);
}

int blk_snapshot_create(struct blk *b, const char *name, const struct blk_snapshot_info *meta,
                        struct vk_err *err)
{
    if (!b->drv->snapshot_create)
        return vk_err_set(err, -ENOTSUP, "Format '%s' does not support snapshots", b->drv->name);
    NEED_RW(b, "snapshot create");
    return b->drv->snapshot_create(b, name, meta, err);
}

int blk_snapshot_list(struct blk *b, struct blk_snapshot_info **out, size_t *n,
                      struct vk_err *err)
{
    *out = NULL;
    *n = 0;
    if (!b->drv->snapshot_list)
        return 0;
    return b->drv->snapshot_list(b, out, n, err);
}

int blk_snapshot_apply(struct blk *b, const char *id_or_name, struct vk_err *err)
{
    if (!b->drv->snapshot_apply)
        return vk_err_set(err, -ENOTSUP, "Format '%s' does not support snapshots", b->drv->name);
    NEED_RW(b, "snapshot apply");
    return b->drv->snapshot_apply(b, id_or_name, err);
}

int blk_snapshot_delete(struct blk *b, const char *id_or_name, struct vk_err *err)
{
    if (!b->drv->snapshot_delete)
        return vk_err_set(err, -ENOTSUP, "Format '%s' does not support snapshots", b->drv->name);
    NEED_RW(b, "snapshot delete");
    return b->drv->snapshot_delete(b, id_or_name, err);
}

int blk_change_backing_file(struct blk *b, const char *file, const char *fmt,
                            struct vk_err *err)
{
    if (!b->drv->change_backing)
        return vk_err_set(err, -ENOTSUP, "Format '%s' does not support backing files",
                          b->drv->name);
    NEED_RW(b, "changing the backing file");
    if (file && !*file)
        file = NULL;
    if (!file)
        fmt = NULL;
    int r = b->drv->change_backing(b, file, fmt, err);
    if (r < 0)
        return r;
    char *nn = file ? strdup(file) : NULL, *nf = fmt ? strdup(fmt) : NULL;
    free(b->backing_name);
    free(b->backing_fmt);
    b->backing_name = nn;
    b->backing_fmt = nf;
    return 0;
}

int blk_amend_opts_parse(const struct vk_kvlist *kv, struct blk_amend_opts *o,
                         struct vk_err *err)
{
    memset(o, 0, sizeof(*o));
    o->lazy_refcounts = -1;
    for (size_t i = 0; i < kv->n; i++) {
        const char *k = kv->items[i].key, *v = kv->items[i].val ? kv->items[i].val : "";
        uint64_t n;
        if (!strcmp(k, "compat")) {
            o->compat = v;
        } else if (!strcmp(k, "lazy_refcounts")) {
            int bv = vk_parse_bool(v);
            if (bv < 0)
                return vk_err_set(err, -EINVAL, "Parameter 'lazy_refcounts' expects 'on' or 'off'");
            o->lazy_refcounts = bv;
        } else if (!strcmp(k, "refcount_bits")) {
            if (vk_parse_u64(v, &n) < 0 || n > 64)
                return vk_err_set(err, -EINVAL, "Parameter 'refcount_bits' expects a number");
            o->refcount_bits = (uint32_t)n;
        } else if (!strcmp(k, "size")) {
            if (vk_parse_size(v, &n) < 0)
                return vk_err_set(err, -EINVAL, "Parameter 'size' expects a size");
            o->size = n;
        } else if (!strcmp(k, "backing_file")) {
            o->backing_file = v;
        } else if (!strcmp(k, "backing_fmt")) {
            o->backing_fmt = v;
        } else if (!strcmp(k, "cluster_size") || !strcmp(k, "preallocation") ||
                   !strcmp(k, "compression_type") || !strcmp(k, "extended_l2") ||
                   !strcmp(k, "data_file") || !strcmp(k, "data_file_raw") ||
                   !strcmp(k, "encryption")) {
            return vk_err_set(err, -ENOTSUP, "Changing the option '%s' is not supported", k);
        } else {
            return vk_err_set(err, -EINVAL, "Invalid parameter '%s'", k);
        }
    }
    return 0;
}

int blk_amend(struct blk *b, const struct blk_amend_opts *o, struct vk_err *err)
{
    if (!b->drv->amend)
        return vk_err_set(err, -ENOTSUP, "Format driver '%s' does not support option amendment",
                          b->drv->name);
    NEED_RW(b, "amend");
    return b->drv->amend(b, o, err);
}

int blk_measure(const char *fmt, const struct blk_create_opts *opts, uint64_t size,
                struct blk *src, uint64_t *required, uint64_t *fully_allocated,
                struct vk_err *err)
{
    const struct blk_driver *d = blk_find_driver(fmt ? fmt : "raw");
    if (!d)
        return vk_err_set(err, -EINVAL, "Unknown file format '%s'", fmt);
    if (!d->measure)
        return vk_err_set(err, -ENOTSUP, "Format driver '%s' does not support measure", d->name);
    struct blk_create_opts o = { 0 };
    if (opts)
        o = *opts;
    if (src && !size)
        size = blk_getlength(src);
    return d->measure(&o, size, src, required, fully_allocated, err);
}
