/* virtio-blk backed by src/block (virtio spec 5.2): read, write, flush,
 * discard, write-zeroes, get-id, read-only, several queues.
 *
 *   --disk path=FILE[,format=raw|qcow2|...][,readonly=on][,cache=none|writeback]
 *          [,serial=ID][,queues=N]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "virtio.h"

#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR 512ULL
#define MAX_DISCARD_SECTORS (1u << 22)   /* 2 GiB per segment */
#define MAX_DISCARD_SEGS 32

struct blk_config {
    uint64_t capacity;
    uint32_t size_max, seg_max;
    uint16_t cylinders; uint8_t heads, sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp, alignment_offset; uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback, unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap, unused1[3];
} __attribute__((packed));

struct vblk {
    struct blk *img;
    bool readonly;
    char serial[21];
    struct blk_config cfg;
};

static uint64_t vblk_features(struct virtio_dev *vd)
{
    struct vblk *b = vd->priv;
    uint64_t f = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
                 1ULL << VIRTIO_BLK_F_FLUSH;
    if (vd->nr_queues > 1)
        f |= 1ULL << VIRTIO_BLK_F_MQ;
    if (b->readonly)
        f |= 1ULL << VIRTIO_BLK_F_RO;
    else
        f |= 1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
    return f;
}

static void vblk_config_read(struct virtio_dev *vd, unsigned off, void *buf, unsigned len)
{
    struct vblk *b = vd->priv;
    memcpy(buf, (uint8_t *)&b->cfg + off, len);
}

/* [sector, sector+n) inside the disk? Returns the byte range. */
static bool range_ok(struct vblk *b, uint64_t sector, uint64_t bytes, uint64_t *off)
{
    uint64_t o;
    if (vk_mul_overflow_u64(sector, SECTOR, &o))
        return false;
    *off = o;
    return vk_range_ok(o, bytes, b->cfg.capacity * SECTOR);
}

static uint8_t do_rw(struct vblk *b, const struct virtq_req *req, bool write, uint64_t sector,
                     uint32_t *written)
{
    uint64_t off, len = 0;
    unsigned first = write ? 1 : 0;                  /* out[0] is the header */
    unsigned n = write ? req->nr_out : req->nr_in;   /* in: last byte is status */
    const struct iovec *iov = write ? req->out : req->in;
    for (unsigned i = first; i < n; i++)
        len += iov[i].iov_len;
    if (!write)
        len -= 1;
    if (write && b->readonly)
        return VIRTIO_BLK_S_IOERR;
    if (len % SECTOR || !range_ok(b, sector, len, &off))
        return VIRTIO_BLK_S_IOERR;
    struct vk_err err = { 0 };
    uint64_t done = 0;
    for (unsigned i = first; i < n && done < len; i++) {
        size_t c = VK_MIN(iov[i].iov_len, len - done);
        int r = write ? blk_pwrite(b->img, off + done, iov[i].iov_base, c, &err)
                      : blk_pread(b->img, off + done, iov[i].iov_base, c, &err);
        if (r < 0) {
            vk_warn_ratelimited("virtio-blk: %s at %llu: %s", write ? "write" : "read",
                                (unsigned long long)(off + done), err.msg);
            return VIRTIO_BLK_S_IOERR;
        }
        done += c;
    }
    if (!write)
        *written = (uint32_t)len;
    return VIRTIO_BLK_S_OK;
}

static uint8_t do_discard(struct vblk *b, const struct virtq_req *req, bool zeroes)
{
    if (b->readonly)
        return VIRTIO_BLK_S_IOERR;
    struct { uint64_t sector; uint32_t num, flags; } seg;
    uint64_t total = req->out_len - 16;
    if (total == 0 || total % sizeof(seg) || total / sizeof(seg) > MAX_DISCARD_SEGS)
        return VIRTIO_BLK_S_UNSUPP;
    for (uint64_t pos = 0; pos < total; pos += sizeof(seg)) {
        iov_to_buf(req->out, req->nr_out, 16 + pos, &seg, sizeof(seg));
        uint64_t off;
        if (seg.num > MAX_DISCARD_SECTORS || (seg.flags & ~1u) || (!zeroes && seg.flags) ||
            !range_ok(b, seg.sector, seg.num * SECTOR, &off))
            return VIRTIO_BLK_S_UNSUPP;
        struct vk_err err = { 0 };
        int r = zeroes ? blk_pwrite_zeroes(b->img, off, seg.num * SECTOR,
                                           seg.flags & 1 ? BLK_ZERO_MAY_UNMAP : 0, &err)
                       : blk_discard(b->img, off, seg.num * SECTOR, &err);
        if (r < 0 && !(r == -ENOTSUP && !zeroes))   /* discard is a hint */
            return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t handle(struct vblk *b, const struct virtq_req *req, uint32_t *written)
{
    struct { uint32_t type, reserved; uint64_t sector; } hdr;
    if (iov_to_buf(req->out, req->nr_out, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
        return VIRTIO_BLK_S_IOERR;
    struct vk_err err = { 0 };
    switch (hdr.type) {
    case VIRTIO_BLK_T_IN:
        /* the header is its own descriptor and the data is device-writable */
        if (req->out[0].iov_len != 16 || req->nr_out != 1)
            return VIRTIO_BLK_S_IOERR;
        return do_rw(b, req, false, hdr.sector, written);
    case VIRTIO_BLK_T_OUT:
        if (req->out[0].iov_len != 16 || req->nr_in != 1)
            return VIRTIO_BLK_S_IOERR;
        return do_rw(b, req, true, hdr.sector, written);
    case VIRTIO_BLK_T_FLUSH:
        return blk_flush(b->img, &err) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_GET_ID: {
        char id[20] = { 0 };
        memcpy(id, b->serial, strnlen(b->serial, sizeof(id)));
        *written = (uint32_t)iov_from_buf(req->in, req->nr_in, 0, id,
                                          VK_MIN(sizeof(id), req->in_len - 1));
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_DISCARD:
        return do_discard(b, req, false);
    case VIRTIO_BLK_T_WRITE_ZEROES:
        return do_discard(b, req, true);
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}

static void vblk_notify(struct virtio_dev *vd, unsigned q)
{
    struct vblk *b = vd->priv;
    struct virtq *vq = &vd->vqs[q];
    struct virtq_req *req = malloc(sizeof(*req));   /* ~8 KiB: not on the stack */
    if (!req)
        return;
    int r;
    pthread_mutex_lock(&vq->lock);
    while ((r = virtq_pop(vq, req)) > 0) {
        /* status byte: the last byte of the last device-writable buffer */
        if (req->nr_out < 1 || req->nr_in < 1 || req->in[req->nr_in - 1].iov_len < 1) {
            r = -EINVAL;
            break;
        }
        uint32_t written = 0;
        uint8_t status = handle(b, req, &written);
        const struct iovec *last = &req->in[req->nr_in - 1];
        ((uint8_t *)last->iov_base)[last->iov_len - 1] = status;
        virtq_push(vq, req, written + 1);
        pthread_mutex_unlock(&vq->lock);
        virtio_notify(vd, q);
        pthread_mutex_lock(&vq->lock);
    }
    pthread_mutex_unlock(&vq->lock);
    free(req);
    if (r < 0)
        virtio_mark_broken(vd, "malformed request on queue %u (%d)", q, r);
}

static void vblk_destroy(struct virtio_dev *vd)
{
    struct vblk *b = vd->priv;
    if (b->img)
        blk_close(b->img);
    free(b);
}

static const struct virtio_device_ops virtio_blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .pci_class = 0x018000,   /* mass storage, other */
    .features = vblk_features,
    .config_read = vblk_config_read,
    .config_size = sizeof(struct blk_config),
    .queue_notify = vblk_notify,
    .destroy = vblk_destroy,
};

int virtio_blk_create(struct machine *m, const char *spec, struct vk_err *err)
{
    struct vk_kvlist kv;
    int r = vk_kv_parse(spec, "path", &kv, err);
    if (r)
        return r;
    static const char *const known[] = { "path", "format", "readonly", "cache", "serial",
                                         "queues", "discard", "id" };
    for (size_t i = 0; i < kv.n; i++) {
        bool ok = false;
        for (size_t k = 0; k < VK_ARRAY_SIZE(known); k++)
            ok |= !strcmp(kv.items[i].key, known[k]);
        if (!ok) {
            r = vk_err_set(err, -EINVAL, "--disk: unknown option '%s'", kv.items[i].key);
            vk_kv_free(&kv);
            return r;
        }
    }
    const char *path = vk_kv_get(&kv, "path"), *fmt = vk_kv_get(&kv, "format");
    const char *cache = vk_kv_get(&kv, "cache"), *serial = vk_kv_get(&kv, "serial");
    const char *ro = vk_kv_get(&kv, "readonly"), *queues = vk_kv_get(&kv, "queues");
    char id[64] = "";
    int readonly = ro ? vk_parse_bool(ro) : 0, nq = 1;
    struct vblk *b = calloc(1, sizeof(*b));
    struct virtio_dev *vd = calloc(1, sizeof(*vd));
    unsigned flags = 0;
    if (!b || !vd) {
        r = vk_err_set(err, -ENOMEM, "virtio-blk: out of memory");
        goto fail;
    }
    if (!path) {
        r = vk_err_set(err, -EINVAL, "--disk: path= is required");
        goto fail;
    }
    if (readonly < 0) {
        r = vk_err_set(err, -EINVAL, "--disk: readonly=%s is not on/off", ro);
        goto fail;
    }
    if (queues && (vk_parse_int(queues, 1, 16, &nq) < 0)) {
        r = vk_err_set(err, -EINVAL, "--disk: queues=%s must be 1..16", queues);
        goto fail;
    }
    if (cache && !strcmp(cache, "none"))
        flags |= BLK_O_DIRECT;
    else if (cache && strcmp(cache, "writeback")) {
        r = vk_err_set(err, -EINVAL, "--disk: cache=%s: expected none or writeback", cache);
        goto fail;
    }
    if (vk_kv_get(&kv, "id")) {
        if ((r = virtio_pci_check_id(m, vk_kv_get(&kv, "id"), err)) < 0) {
            vk_err_prefix(err, "--disk");
            goto fail;
        }
        snprintf(id, sizeof(id), "%s", vk_kv_get(&kv, "id"));
    }
    if (serial && strlen(serial) > 20) {
        r = vk_err_set(err, -EINVAL, "--disk: serial '%s' is longer than 20 characters", serial);
        goto fail;
    }
    if (!readonly)
        flags |= BLK_O_RDWR;
    if ((r = blk_open(path, fmt, flags, NULL, &b->img, err)) < 0) {
        vk_err_prefix(err, "--disk %s", path);
        goto fail;
    }
    b->readonly = readonly;
    snprintf(b->serial, sizeof(b->serial), "%s", serial ? serial : "");
    uint64_t size = blk_getlength(b->img);
    b->cfg = (struct blk_config){
        .capacity = size / SECTOR,
        .seg_max = VIRTQ_MAX_SEGS - 2,
        .blk_size = 512,
        .num_queues = (uint16_t)nq,
        .max_discard_sectors = MAX_DISCARD_SECTORS,
        .max_discard_seg = MAX_DISCARD_SEGS,
        .discard_sector_alignment = 8,
        .max_write_zeroes_sectors = MAX_DISCARD_SECTORS,
        .max_write_zeroes_seg = MAX_DISCARD_SEGS,
        .write_zeroes_may_unmap = 1,
        .writeback = 1,
    };
    vd->ops = &virtio_blk_ops;
    vd->priv = b;
    vk_kv_free(&kv);
    if ((r = virtio_pci_create(m, vd, (unsigned)nq, 256, err))) {
        blk_close(b->img);
        free(b);
        free(vd);
    } else if (id[0]) {
        virtio_pci_set_id(vd, id);
    }
    return r;
fail:
    vk_kv_free(&kv);
    free(b);
    free(vd);
    return r;
}
