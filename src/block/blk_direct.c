/* Where a range of the virtual disk lies plainly in a host file, for callers
 * that submit their own file I/O (virtio-blk through io_uring). See
 * blk_map_direct() in block.h.
 *
 * Only layouts where the bytes are the disk's bytes at a known file offset
 * qualify: a raw image (reads and writes), and for qcow2 a range of
 * normal (not compressed, not zero) clusters allocated in the top layer of
 * the image file itself (reads only: a write may need copy-on-write or an
 * allocation, which only the format driver may do). Anything else returns
 * 0 and the caller goes through blk_pread/blk_pwrite.
 */
#include <errno.h>
#include <string.h>

#include "block_int.h"

int blk_map_direct(struct blk *b, uint64_t off, uint64_t len, bool write,
                   struct blk_direct *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t size = b->drv->getlength(b);
    if (!len || !vk_range_ok(off, len, size))
        return -EINVAL;
    out->fd = b->fd;
    out->align = b->align;
    if (write && !(b->flags & BLK_O_RDWR))
        return 0;
    if (b->drv == &blk_raw_driver) {
        out->host_off = off;
        out->len = len;
        return 1;
    }
    if (b->drv != &blk_qcow2_driver || write || !b->drv->block_status)
        return 0;
    struct blk_status st = { 0 };
    if (b->drv->block_status(b, off, len, &st, NULL) < 0)
        return 0;
    unsigned want = BLK_ST_DATA | BLK_ST_ALLOCATED | BLK_ST_OFFSET_VALID;
    if ((st.flags & (want | BLK_ST_COMPRESSED | BLK_ST_ZERO)) != want || !st.len ||
        (st.filename && strcmp(st.filename, b->filename)))
        return 0;   /* elsewhere: backing file, external data file, ... */
    out->host_off = st.host_offset;
    out->len = VK_MIN(st.len, len);
    return 1;
}
