/* qcow2 format: stub until the driver lands. */
#include "block_int.h"

#include <errno.h>
#include <string.h>

static int qcow2_probe(const uint8_t *buf, size_t len, const char *filename)
{
    if (len >= 8 && !memcmp(buf, "QFI\xfb", 4) && buf[7] >= 2)
        return 100;
    return 0;
}

static int qcow2_open(struct blk *b, struct vk_err *err)
{
    return vk_err_set(err, -ENOTSUP, "qcow2: not implemented yet");
}

static void qcow2_close(struct blk *b) { }
static uint64_t qcow2_getlength(struct blk *b) { return 0; }
static int qcow2_pread(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err)
{ return -ENOTSUP; }
static int qcow2_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len, struct vk_err *err)
{ return -ENOTSUP; }

const struct blk_driver blk_qcow2_driver = {
    .name = "qcow2",
    .probe = qcow2_probe,
    .open = qcow2_open,
    .close = qcow2_close,
    .getlength = qcow2_getlength,
    .pread = qcow2_pread,
    .pwrite = qcow2_pwrite,
};
