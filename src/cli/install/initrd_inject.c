/* --initrd-inject: put files at the root of the installer's initrd (a
 * preseed.cfg or kickstart file for an unattended install). The files go
 * into an uncompressed cpio archive ("newc") appended to the initrd: the
 * kernel unpacks every archive of the initramfs in turn, the later one
 * winning, and wants an uncompressed one to start on a 4-byte boundary. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "install/install.h"

static const char zeros[4];

static int put(int fd, const void *buf, size_t len, const char *path, struct vk_err *err)
{
    int r = vk_write_full(fd, buf, len);
    return r < 0 ? vk_err_errno(err, r, "writing '%s'", path) : 0;
}

/* One newc header + name, padded to 4 bytes. */
static int header(int fd, off_t *pos, unsigned ino, unsigned mode, uint64_t size, const char *name,
                  const char *path, struct vk_err *err)
{
    char hdr[111];
    size_t namesize = strlen(name) + 1;
    snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
             ino, mode, 0u, 0u, 1u, 0u, (unsigned)size, 0u, 0u, 0u, 0u, (unsigned)namesize, 0u);
    int r;
    if ((r = put(fd, hdr, 110, path, err)) < 0 || (r = put(fd, name, namesize, path, err)) < 0)
        return r;
    *pos += 110 + (off_t)namesize;
    size_t pad = (size_t)(-*pos & 3);
    *pos += (off_t)pad;
    return put(fd, zeros, pad, path, err);
}

/* Exactly `size` bytes of src (the size its header announced). */
static int copy_in(int fd, off_t *pos, const char *src, uint64_t size, const char *path,
                   struct vk_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return vk_err_errno(err, -errno, "--initrd-inject '%s'", src);
    char buf[65536];
    int r = 0;
    for (uint64_t left = size; left > 0;) {
        ssize_t n = read(in, buf, (size_t)VK_MIN(left, (uint64_t)sizeof(buf)));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = vk_err_errno(err, -errno, "reading '%s'", src);
            break;
        }
        if (n == 0) {
            r = vk_err_set(err, -EIO, "--initrd-inject '%s': the file shrank while being read", src);
            break;
        }
        if ((r = put(fd, buf, (size_t)n, path, err)) < 0)
            break;
        *pos += n;
        left -= (uint64_t)n;
    }
    close(in);
    if (r == 0) {
        size_t pad = (size_t)(-*pos & 3);
        *pos += (off_t)pad;
        r = put(fd, zeros, pad, path, err);
    }
    return r;
}

int inst_check_inject(const char *file, struct vk_err *err)
{
    struct stat st;
    if (stat(file, &st) < 0)
        return vk_err_errno(err, -errno, "--initrd-inject '%s'", file);
    if (!S_ISREG(st.st_mode))
        return vk_err_set(err, -EINVAL, "--initrd-inject '%s': not a regular file", file);
    if (st.st_size > 0x7fffffff)
        return vk_err_set(err, -EFBIG, "--initrd-inject '%s': too large for a cpio archive", file);
    if (access(file, R_OK) < 0)
        return vk_err_errno(err, -errno, "--initrd-inject '%s'", file);
    return 0;
}

int initrd_inject(const char *initrd, const char *const *files, int n, struct vk_err *err)
{
    if (!n)
        return 0;
    for (int i = 0; i < n; i++) {
        int r = inst_check_inject(files[i], err);
        if (r < 0)
            return r;
    }
    int fd = open(initrd, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return vk_err_errno(err, -errno, "opening '%s'", initrd);
    struct stat st;
    off_t orig = -1;
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = vk_err_errno(err, -errno, "stat '%s'", initrd);
        goto out;
    }
    off_t pos = orig = st.st_size;
    size_t pad = (size_t)(-pos & 3);    /* the archive starts 4-byte aligned */
    if ((r = put(fd, zeros, pad, initrd, err)) < 0)
        goto out;
    pos += (off_t)pad;
    for (int i = 0; i < n; i++) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s", files[i]);
        const char *name = basename(tmp);
        struct stat fs;
        if (stat(files[i], &fs) < 0) {
            r = vk_err_errno(err, -errno, "--initrd-inject '%s'", files[i]);
            goto out;
        }
        unsigned mode = S_IFREG | (fs.st_mode & 07777);
        if ((r = header(fd, &pos, 0x7ff00000u + (unsigned)i, mode, (uint64_t)fs.st_size, name, initrd, err)) < 0 ||
            (r = copy_in(fd, &pos, files[i], (uint64_t)fs.st_size, initrd, err)) < 0)
            goto out;
    }
    r = header(fd, &pos, 0, 0, 0, "TRAILER!!!", initrd, err);
out:
    if (r < 0 && orig >= 0 && ftruncate(fd, orig) < 0)     /* leave the initrd as it was */
        vk_err_prefix(err, "(and '%s' could not be restored)", initrd);
    if (close(fd) < 0 && r == 0)
        r = vk_err_errno(err, -errno, "writing '%s'", initrd);
    return r;
}
