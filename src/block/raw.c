/* raw format: the file (or block device) is the disk. Sparse files keep
 * holes (SEEK_DATA/SEEK_HOLE for block status, punch-hole for discard). */
#include "block_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct raw_state {
    uint64_t size;
    bool is_bdev;
};

static int raw_probe(const uint8_t *buf, size_t len, const char *filename)
{
    return 1;
}

static int raw_stat_size(int fd, uint64_t *size, bool *is_bdev)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *is_bdev = S_ISBLK(st.st_mode);
    if (*is_bdev) {
        uint64_t s = 0;
        if (ioctl(fd, BLKGETSIZE64, &s) < 0)
            return -errno;
        *size = s;
    } else {
        *size = (uint64_t)st.st_size;
    }
    return 0;
}

static int raw_open(struct blk *b, struct vk_err *err)
{
    struct raw_state *s = b->opaque;
    int r = raw_stat_size(b->fd, &s->size, &s->is_bdev);
    if (r < 0)
        return vk_err_errno(err, r, "cannot get the size of %s", b->filename);
    return 0;
}

static void raw_close(struct blk *b) { }

static uint64_t raw_getlength(struct blk *b)
{
    struct raw_state *s = b->opaque;
    return __atomic_load_n(&s->size, __ATOMIC_RELAXED);
}

static int raw_pread(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err)
{
    int r = blk_file_pread(b, b->fd, off, buf, len);
    if (r < 0)
        return vk_err_errno(err, r, "read of %s at %llu failed", b->filename,
                            (unsigned long long)off);
    return 0;
}

static int raw_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len, struct vk_err *err)
{
    int r = blk_file_pwrite(b, b->fd, off, buf, len);
    if (r < 0)
        return vk_err_errno(err, r, "write of %s at %llu failed", b->filename,
                            (unsigned long long)off);
    return 0;
}

static int raw_pwrite_zeroes(struct blk *b, uint64_t off, uint64_t len, unsigned flags,
                             struct vk_err *err)
{
    struct raw_state *s = b->opaque;
    if (s->is_bdev) {
        uint64_t range[2] = { off, len };
        if (off % 512 == 0 && len % 512 == 0 && ioctl(b->fd, BLKZEROOUT, range) == 0)
            return 0;
    } else {
        if ((flags & BLK_ZERO_MAY_UNMAP) &&
            fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                      (off_t)len) == 0)
            return 0;
        if (fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                      (off_t)len) == 0)
            return 0;
    }
    /* Fallback: write a zero buffer. */
    size_t chunk = (size_t)VK_MIN(len, (uint64_t)1 << 20);
    void *z = blk_alloc_aligned(chunk);
    if (!z)
        return vk_err_set(err, -ENOMEM, "out of memory");
    memset(z, 0, chunk);
    int r = 0;
    while (len && r == 0) {
        size_t n = (size_t)VK_MIN(len, (uint64_t)chunk);
        r = raw_pwrite(b, off, z, n, err);
        off += n;
        len -= n;
    }
    free(z);
    return r;
}

static int raw_discard(struct blk *b, uint64_t off, uint64_t len, struct vk_err *err)
{
    struct raw_state *s = b->opaque;
    if (s->is_bdev) {
        uint64_t range[2] = { off, len };
        if (off % 512 == 0 && len % 512 == 0)
            (void)ioctl(b->fd, BLKDISCARD, range);
        return 0;
    }
    /* Best effort: a discard that the file system can't do is not an error. */
    (void)fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
    return 0;
}

static int raw_block_status(struct blk *b, uint64_t off, uint64_t len, struct blk_status *st,
                            struct vk_err *err)
{
    struct raw_state *s = b->opaque;
    st->host_offset = off;
    st->len = len;
    st->flags = BLK_ST_ALLOCATED | BLK_ST_OFFSET_VALID | BLK_ST_DATA;
    if (s->is_bdev)
        return 0;
    off_t d = lseek(b->fd, (off_t)off, SEEK_DATA);
    if (d < 0) {
        if (errno == ENXIO) { /* trailing hole */
            st->flags = BLK_ST_ALLOCATED | BLK_ST_OFFSET_VALID | BLK_ST_ZERO;
        }
        return 0; /* other errors: report data, which is always safe */
    }
    if ((uint64_t)d > off) {
        st->flags = BLK_ST_ALLOCATED | BLK_ST_OFFSET_VALID | BLK_ST_ZERO;
        st->len = VK_MIN(len, (uint64_t)d - off);
        return 0;
    }
    off_t h = lseek(b->fd, (off_t)off, SEEK_HOLE);
    if (h > (off_t)off)
        st->len = VK_MIN(len, (uint64_t)h - off);
    return 0;
}

static int raw_fill(int fd, uint64_t from, uint64_t to, enum blk_prealloc p, struct vk_err *err)
{
    if (to <= from || p == BLK_PREALLOC_OFF)
        return 0;
    if (p == BLK_PREALLOC_METADATA)
        return vk_err_set(err, -ENOTSUP, "Unsupported preallocation mode 'metadata' for raw");
    if (p == BLK_PREALLOC_FALLOC) {
        int r = posix_fallocate(fd, (off_t)from, (off_t)(to - from));
        if (r)
            return vk_err_errno(err, -r, "Could not preallocate data for the new file");
        return 0;
    }
    size_t chunk = 1 << 20;
    char *z = calloc(1, chunk);
    if (!z)
        return vk_err_set(err, -ENOMEM, "out of memory");
    int r = 0;
    for (uint64_t o = from; o < to && r == 0; o += chunk) {
        size_t n = (size_t)VK_MIN((uint64_t)chunk, to - o);
        r = vk_pwrite_full(fd, z, n, (off_t)o);
    }
    free(z);
    if (r < 0)
        return vk_err_errno(err, r, "Could not write zeroes for preallocation");
    return 0;
}

static int raw_truncate(struct blk *b, uint64_t size, bool shrink_ok, enum blk_prealloc prealloc,
                        struct vk_err *err)
{
    struct raw_state *s = b->opaque;
    if (s->is_bdev) {
        if (size > s->size)
            return vk_err_set(err, -EINVAL, "Cannot grow device files");
        return vk_err_set(err, -ENOTSUP, "Cannot shrink device files");
    }
    if (size > INT64_MAX)
        return vk_err_set(err, -EFBIG, "size %llu is too large", (unsigned long long)size);
    uint64_t old = s->size;
    if (ftruncate(b->fd, (off_t)size) < 0)
        return vk_err_errno(err, -errno, "Failed to resize %s", b->filename);
    int r = raw_fill(b->fd, old, size, prealloc, err);
    if (r < 0) {
        (void)!ftruncate(b->fd, (off_t)old);
        return r;
    }
    __atomic_store_n(&s->size, size, __ATOMIC_RELAXED);
    return 0;
}

static int raw_create(const char *path, uint64_t size, const struct blk_create_opts *o,
                      struct vk_err *err)
{
    if (size > INT64_MAX)
        return vk_err_set(err, -EFBIG, "Image size %llu is too large", (unsigned long long)size);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return vk_err_errno(err, -errno, "Could not create '%s'", path);
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
        close(fd);
        return 0; /* a block device: nothing to create */
    }
    /* Growing first refuses a size the file system can't hold (EFBIG)
     * before an existing file loses its content. */
    if ((uint64_t)st.st_size < size && ftruncate(fd, (off_t)size) < 0)
        r = vk_err_errno(err, -errno, "Could not resize file '%s'", path);
    else if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
        r = vk_err_errno(err, -errno, "Could not resize file '%s'", path);
    if (r == 0)
        r = raw_fill(fd, 0, size, o->preallocation, err);
    if (close(fd) < 0 && r == 0)
        r = vk_err_errno(err, -errno, "Could not close '%s'", path);
    return r;
}

/* A raw file holds the whole disk whatever the source allocates (as
 * qemu-img measure -O raw reports it): the source's length, or the requested
 * size, in whole 512-byte sectors. */
static int raw_measure(const struct blk_create_opts *opts, uint64_t size, struct blk *src,
                       uint64_t *required, uint64_t *fully, struct vk_err *err)
{
    uint64_t n = src ? blk_getlength(src) : size;
    if (n > UINT64_MAX - 511)
        return vk_err_set(err, -EFBIG, "Image size is too large");
    *required = *fully = VK_ALIGN_UP(n, 512);
    return 0;
}

const struct blk_driver blk_raw_driver = {
    .name = "raw",
    .instance_size = sizeof(struct raw_state),
    .probe = raw_probe,
    .open = raw_open,
    .close = raw_close,
    .getlength = raw_getlength,
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .pwrite_zeroes = raw_pwrite_zeroes,
    .discard = raw_discard,
    .block_status = raw_block_status,
    .truncate = raw_truncate,
    .create = raw_create,
    .measure = raw_measure,
};
