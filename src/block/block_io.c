/* Block layer core: request checks and dispatch, backing reads, block
 * status over the chain, O_DIRECT-safe file I/O. */
#include "block_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_range(struct blk *b, uint64_t off, uint64_t len, const char *what,
                       struct vk_err *err)
{
    if (!vk_range_ok(off, len, blk_getlength(b)))
        return vk_err_set(err, -EINVAL, "%s of %llu bytes at offset %llu is past the end of "
                          "%s (%llu bytes)", what, (unsigned long long)len,
                          (unsigned long long)off, b->filename,
                          (unsigned long long)blk_getlength(b));
    return 0;
}

static int check_write(struct blk *b, uint64_t off, uint64_t len, const char *what,
                       struct vk_err *err)
{
    if (!(b->flags & BLK_O_RDWR))
        return vk_err_set(err, -EROFS, "%s: %s is opened read-only", what, b->filename);
    return check_range(b, off, len, what, err);
}

uint64_t blk_getlength(struct blk *b)
{
    return b->drv->getlength(b);
}

int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err)
{
    int r = check_range(b, off, len, "read", err);
    if (r < 0 || !len)
        return r;
    return b->drv->pread(b, off, buf, len, err);
}

int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len, struct vk_err *err)
{
    int r = check_write(b, off, len, "write", err);
    if (r < 0 || !len)
        return r;
    return b->drv->pwrite(b, off, buf, len, err);
}

int blk_pwrite_zeroes(struct blk *b, uint64_t off, uint64_t len, unsigned flags,
                      struct vk_err *err)
{
    int r = check_write(b, off, len, "write zeroes", err);
    if (r < 0 || !len)
        return r;
    if (b->drv->pwrite_zeroes)
        return b->drv->pwrite_zeroes(b, off, len, flags, err);
    size_t chunk = (size_t)VK_MIN(len, (uint64_t)1 << 20);
    void *z = blk_alloc_aligned(chunk);
    if (!z)
        return vk_err_set(err, -ENOMEM, "out of memory");
    memset(z, 0, chunk);
    while (len && r == 0) {
        size_t n = (size_t)VK_MIN(len, (uint64_t)chunk);
        r = b->drv->pwrite(b, off, z, n, err);
        off += n;
        len -= n;
    }
    free(z);
    return r;
}

int blk_discard(struct blk *b, uint64_t off, uint64_t len, struct vk_err *err)
{
    int r = check_write(b, off, len, "discard", err);
    if (r < 0 || !len || !b->drv->discard)
        return r;
    return b->drv->discard(b, off, len, err);
}

int blk_make_empty(struct blk *b, struct vk_err *err)
{
    if (!(b->flags & BLK_O_RDWR))
        return vk_err_set(err, -EROFS, "%s is opened read-only", b->filename);
    if (!b->drv->make_empty)
        return vk_err_set(err, -ENOTSUP, "Image format '%s' cannot be emptied", b->drv->name);
    return b->drv->make_empty(b, err);
}

int blk_flush(struct blk *b, struct vk_err *err)
{
    if (!(b->flags & BLK_O_RDWR))
        return 0;
    if (b->drv->flush)
        return b->drv->flush(b, err);
    if (b->flags & BLK_O_NO_FLUSH)
        return 0;
    if (fdatasync(b->fd) < 0)
        return vk_err_errno(err, -errno, "flush of %s failed", b->filename);
    return 0;
}

int blk_truncate(struct blk *b, uint64_t size, bool shrink_ok, enum blk_prealloc prealloc,
                 struct vk_err *err)
{
    if (!(b->flags & BLK_O_RDWR))
        return vk_err_set(err, -EROFS, "resize: %s is opened read-only", b->filename);
    if (!b->drv->truncate)
        return vk_err_set(err, -ENOTSUP, "Image format driver does not support resize");
    uint64_t cur = blk_getlength(b);
    if (size < cur && !shrink_ok)
        return vk_err_set(err, -EINVAL, "Use the --shrink option to perform a shrink operation.");
    return b->drv->truncate(b, size, shrink_ok, prealloc, err);
}

int blk_read_backing(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err)
{
    struct blk *bk = b->backing;
    if (!bk) {
        memset(buf, 0, len);
        return 0;
    }
    uint64_t bl = blk_getlength(bk);
    size_t n = 0;
    if (off < bl)
        n = (size_t)VK_MIN((uint64_t)len, bl - off);
    if (n) {
        int r = bk->drv->pread(bk, off, buf, n, err);
        if (r < 0)
            return r;
    }
    memset((char *)buf + n, 0, len - n);
    return 0;
}

int blk_block_status(struct blk *b, uint64_t off, uint64_t len, bool whole_chain,
                     struct blk_status *st, struct vk_err *err)
{
    memset(st, 0, sizeof(*st));
    int r = check_range(b, off, len, "block status", err);
    if (r < 0)
        return r;
    if (!len)
        return vk_err_set(err, -EINVAL, "block status of an empty range");
    struct blk *cur = b;
    int depth = 0;
    for (;;) {
        struct blk_status s = { 0 };
        if (cur->drv->block_status) {
            r = cur->drv->block_status(cur, off, len, &s, err);
            if (r < 0)
                return r;
        } else {
            s.len = len;
            s.flags = BLK_ST_DATA | BLK_ST_ALLOCATED | BLK_ST_OFFSET_VALID;
            s.host_offset = off;
        }
        if (!s.len || s.len > len)
            s.len = len;
        if (!s.filename)
            s.filename = cur->filename;
        s.depth = depth;
        if ((s.flags & BLK_ST_ALLOCATED) || !cur->backing_name) {
            if (!(s.flags & BLK_ST_ALLOCATED))
                s.flags = BLK_ST_ZERO;
            *st = s;
            return 0;
        }
        if (!whole_chain || !cur->backing) {
            s.flags = 0;
            *st = s;
            return 0;
        }
        len = s.len;
        cur = cur->backing;
        depth++;
        uint64_t bl = blk_getlength(cur);
        if (off >= bl) {
            st->len = len;
            st->flags = BLK_ST_ZERO | BLK_ST_EOF;
            st->depth = depth;
            st->filename = cur->filename;
            return 0;
        }
        len = VK_MIN(len, bl - off);
    }
}

/* ---- compressed writes --------------------------------------------------------- */

long blk_compress_cluster(struct blk *b, const void *in, size_t len, void *out,
                          size_t out_cap, struct vk_err *err)
{
    if (!b->drv->compress_cluster)
        return vk_err_set(err, -ENOTSUP, "Format '%s' does not support compression",
                          b->drv->name);
    return b->drv->compress_cluster(b, in, len, out, out_cap, err);
}

int blk_pwrite_precompressed(struct blk *b, uint64_t off, const void *cbuf, size_t clen,
                             struct vk_err *err)
{
    if (!b->drv->write_compressed)
        return vk_err_set(err, -ENOTSUP, "Format '%s' does not support compression",
                          b->drv->name);
    uint32_t cs = blk_cluster_size(b);
    if (!cs || off % cs)
        return vk_err_set(err, -EINVAL, "compressed write at %llu is not cluster-aligned",
                          (unsigned long long)off);
    int r = check_write(b, off, 1, "compressed write", err);
    if (r < 0)
        return r;
    return b->drv->write_compressed(b, off, cbuf, clen, err);
}

int blk_pwrite_compressed(struct blk *b, uint64_t off, const void *buf, size_t len,
                          struct vk_err *err)
{
    if (!b->drv->write_compressed)
        return vk_err_set(err, -ENOTSUP, "Format '%s' does not support compression",
                          b->drv->name);
    uint32_t cs = blk_cluster_size(b);
    int r = check_write(b, off, len, "compressed write", err);
    if (r < 0)
        return r;
    if (off % cs || (len != cs && off + len != blk_getlength(b)) || len > cs)
        return vk_err_set(err, -EINVAL, "compressed write of %zu bytes at %llu is not one "
                          "whole cluster", len, (unsigned long long)off);
    void *tmp = NULL;
    if (len < cs) {
        /* Tail cluster: pad with zeroes (the image reads zeroes there anyway). */
        tmp = calloc(1, cs);
        if (!tmp)
            return vk_err_set(err, -ENOMEM, "out of memory");
        memcpy(tmp, buf, len);
        buf = tmp;
    }
    void *out = malloc(cs);
    if (!out) {
        free(tmp);
        return vk_err_set(err, -ENOMEM, "out of memory");
    }
    long cl = b->drv->compress_cluster(b, buf, cs, out, cs, err);
    if (cl == -ENOSPC)
        r = b->drv->pwrite(b, off, buf, len, err);
    else if (cl < 0)
        r = (int)cl;
    else
        r = b->drv->write_compressed(b, off, out, (size_t)cl, err);
    free(out);
    free(tmp);
    return r;
}

/* ---- file I/O --------------------------------------------------------------------- */

static pthread_mutex_t rmw_lock = PTHREAD_MUTEX_INITIALIZER;

static bool is_aligned(struct blk *b, uint64_t off, const void *buf, size_t len)
{
    uint32_t a = b->align;
    return a <= 1 || (off % a == 0 && len % a == 0 && (uintptr_t)buf % a == 0);
}

int blk_file_pread(struct blk *b, int fd, uint64_t off, void *buf, size_t len)
{
    if (is_aligned(b, off, buf, len) || fd != b->fd) {
        /* Short read at EOF: zero-fill (files may end before a cluster does). */
        char *p = buf;
        while (len) {
            ssize_t n = pread(fd, p, len, (off_t)off);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            if (n == 0) {
                memset(p, 0, len);
                return 0;
            }
            p += n;
            len -= (size_t)n;
            off += (uint64_t)n;
        }
        return 0;
    }
    uint32_t a = b->align;
    uint64_t s = VK_ALIGN_DOWN(off, (uint64_t)a);
    uint64_t e = VK_ALIGN_UP(off + len, (uint64_t)a);
    char *bounce = blk_alloc_aligned(e - s);
    if (!bounce)
        return -ENOMEM;
    int r = blk_file_pread(b, fd, s, bounce, e - s);
    if (r == 0)
        memcpy(buf, bounce + (off - s), len);
    free(bounce);
    return r;
}

int blk_file_pwrite(struct blk *b, int fd, uint64_t off, const void *buf, size_t len)
{
    if (is_aligned(b, off, buf, len) || fd != b->fd)
        return vk_pwrite_full(fd, buf, len, (off_t)off);
    uint32_t a = b->align;
    uint64_t s = VK_ALIGN_DOWN(off, (uint64_t)a);
    uint64_t e = VK_ALIGN_UP(off + len, (uint64_t)a);
    char *bounce = blk_alloc_aligned(e - s);
    if (!bounce)
        return -ENOMEM;
    /* Read-modify-write of the partial blocks, serialised so two unaligned
     * writers of the same block don't lose each other's bytes. */
    pthread_mutex_lock(&rmw_lock);
    int r = 0;
    if (s != off || e != off + len)
        r = blk_file_pread(b, fd, s, bounce, e - s);
    if (r == 0) {
        memcpy(bounce + (off - s), buf, len);
        r = vk_pwrite_full(fd, bounce, e - s, (off_t)s);
    }
    pthread_mutex_unlock(&rmw_lock);
    free(bounce);
    return r;
}
