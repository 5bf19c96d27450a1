/* virtio-blk backed by src/block (virtio spec 5.2): read, write, flush,
 * discard, write-zeroes, get-id, read-only, several queues.
 *
 *   --disk path=FILE[,format=raw|qcow2|...][,readonly=on][,cache=none|writeback]
 *          [,serial=ID][,queues=N][,aio=io_uring|threads]
 *
 * Each queue's requests run on its I/O thread. With aio=io_uring, reads and
 * writes whose range lies plainly in the image file (blk_map_direct: raw
 * images; qcow2 data reads of allocated clusters) go to the kernel through
 * one io_uring per queue, several in flight, completions reaped on the same
 * thread (the ring signals the queue's eventfd). With the page cache
 * (cache=writeback) a request is first tried with RWF_NOWAIT, which costs one
 * system call when the data is cached; only one that would block goes to
 * the ring. Everything else (metadata-changing writes, flush, discard, ...)
 * runs synchronously through src/block; flush, discard and write-zeroes
 * first wait for the requests in flight.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "block.h"
#include "virtio.h"
#include "virtio_blk_uring.h"

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

#define URING_DEPTH 64

/* A request being served: popped into a slot, which stays taken while the
 * request is in flight on the ring. */
struct vblk_slot {
    struct virtq_req req;
    struct iovec iov[VIRTQ_MAX_SEGS];   /* data segments only */
    uint32_t len;                       /* data bytes */
    bool write;
    struct vblk_slot *next_free;
};

struct vblk_queue {
    pthread_mutex_t lock;       /* the ring and slots (I/O thread vs reset) */
    struct blk_uring *u;        /* NULL: aio=threads */
    struct vblk_slot *slots, *free;
    unsigned done;              /* pushed since the last interrupt */
};

enum vblk_aio { VBLK_AIO_THREADS, VBLK_AIO_URING };

struct vblk {
    struct blk *img;
    bool readonly;
    bool direct;                /* cache=none (O_DIRECT) */
    enum vblk_aio aio;
    char serial[21];
    struct blk_config cfg;
    struct virtio_dev *vd;
    struct vblk_queue *queues;
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

static struct vblk_slot *slot_get(struct vblk_queue *bq)
{
    struct vblk_slot *sl = bq->free;
    if (sl)
        bq->free = sl->next_free;
    return sl;
}

static void slot_put(struct vblk_queue *bq, struct vblk_slot *sl)
{
    sl->next_free = bq->free;
    bq->free = sl;
}

static void finish(struct virtq *vq, struct vblk_slot *sl, uint8_t status, uint32_t written)
{
    const struct iovec *last = &sl->req.in[sl->req.nr_in - 1];
    ((uint8_t *)last->iov_base)[last->iov_len - 1] = status;
    virtq_push(vq, &sl->req, written + 1);
}

struct reap_ctx { struct vblk *b; struct vblk_queue *bq; struct virtq *vq; bool discard; };

/* A ring request finished; anything but the full length is redone through
 * src/block (which reports the error, if there is one). vq->lock held. */
static void uring_done(void *opaque, void *tag, int res)
{
    struct reap_ctx *c = opaque;
    struct vblk_slot *sl = tag;
    if (!c->discard) {
        uint32_t written = 0;
        uint8_t status = VIRTIO_BLK_S_OK;
        if (res >= 0 && (uint32_t)res == sl->len)
            written = sl->write ? 0 : sl->len;
        else
            status = handle(c->b, &sl->req, &written);
        finish(c->vq, sl, status, written);
        c->bq->done++;
    }
    slot_put(c->bq, sl);
}

/* Whether an IN/OUT request maps straight onto the image file; if so it is
 * done now (RWF_NOWAIT hit in the page cache) or queued on the ring. */
static bool try_direct(struct vblk *b, struct vblk_queue *bq, struct virtq *vq,
                       struct vblk_slot *sl)
{
    const struct virtq_req *req = &sl->req;
    struct { uint32_t type, reserved; uint64_t sector; } hdr;
    if (iov_to_buf(req->out, req->nr_out, 0, &hdr, sizeof(hdr)) != sizeof(hdr) ||
        (hdr.type != VIRTIO_BLK_T_IN && hdr.type != VIRTIO_BLK_T_OUT) ||
        req->out[0].iov_len != 16)
        return false;
    bool write = hdr.type == VIRTIO_BLK_T_OUT;
    if (write ? req->nr_in != 1 : req->nr_out != 1)
        return false;
    if (write && b->readonly)
        return false;
    /* the data segments: out[1..] for writes; in[..] minus the status byte */
    const struct iovec *src = write ? req->out + 1 : req->in;
    unsigned n = write ? req->nr_out - 1 : req->nr_in, k = 0;
    uint64_t len = 0, want = write ? req->out_len - 16 : req->in_len - 1;
    for (unsigned i = 0; i < n && len < want; i++) {
        size_t c = VK_MIN(src[i].iov_len, want - len);
        sl->iov[k++] = (struct iovec){ src[i].iov_base, c };
        len += c;
    }
    uint64_t off;
    struct blk_direct m;
    if (!len || len % SECTOR || len > UINT32_MAX || !range_ok(b, hdr.sector, len, &off) ||
        blk_map_direct(b->img, off, len, write, &m) != 1 || m.len != len)
        return false;
    if (m.align > 1) {   /* O_DIRECT: every piece aligned, or src/block bounces */
        bool ok = m.host_off % m.align == 0;
        for (unsigned i = 0; i < k && ok; i++)
            ok = (uintptr_t)sl->iov[i].iov_base % m.align == 0 && sl->iov[i].iov_len % m.align == 0;
        if (!ok)
            return false;
    } else {
        ssize_t got = write ? pwritev2(m.fd, sl->iov, (int)k, (off_t)m.host_off, RWF_NOWAIT)
                            : preadv2(m.fd, sl->iov, (int)k, (off_t)m.host_off, RWF_NOWAIT);
        if (got == (ssize_t)len) {
            finish(vq, sl, VIRTIO_BLK_S_OK, write ? 0 : (uint32_t)len);
            bq->done++;
            slot_put(bq, sl);
            return true;
        }
        /* would block (or partly done: the ring redoes all of it) */
    }
    sl->len = (uint32_t)len;
    sl->write = write;
    return blk_uring_rw(bq->u, write, m.fd, sl->iov, k, m.host_off, sl);
}

/* Requests that must not overtake writes in flight. */
static bool is_barrier(const struct virtq_req *req)
{
    uint32_t type;
    return iov_to_buf(req->out, req->nr_out, 0, &type, 4) == 4 &&
           (type == VIRTIO_BLK_T_FLUSH || type == VIRTIO_BLK_T_DISCARD ||
            type == VIRTIO_BLK_T_WRITE_ZEROES);
}

static void vblk_notify(struct virtio_dev *vd, unsigned q)
{
    struct vblk *b = vd->priv;
    struct vblk_queue *bq = &b->queues[q];
    struct virtq *vq = &vd->vqs[q];
    struct reap_ctx rc = { b, bq, vq, false };
    int r = 0;
    pthread_mutex_lock(&bq->lock);
    pthread_mutex_lock(&vq->lock);
    if (bq->u)
        blk_uring_reap(bq->u, false, uring_done, &rc);
    for (;;) {
        struct vblk_slot *sl = slot_get(bq);
        if (!sl)
            break;   /* all in flight: a completion wakes this thread again */
        if ((r = virtq_pop(vq, &sl->req)) <= 0) {
            slot_put(bq, sl);
            break;
        }
        struct virtq_req *req = &sl->req;
        /* status byte: the last byte of the last device-writable buffer */
        if (req->nr_out < 1 || req->nr_in < 1 || req->in[req->nr_in - 1].iov_len < 1) {
            slot_put(bq, sl);
            r = -EINVAL;
            break;
        }
        /* The ring pays when requests overlap: one alone (nothing in flight,
         * nothing more posted) is cheaper served right here, measured with
         * bench/virtio.py (docs/virtio.md). */
        if (bq->u && (blk_uring_inflight(bq->u) || virtq_has_avail(vq)) &&
            try_direct(b, bq, vq, sl))
            continue;
        if (bq->u && blk_uring_inflight(bq->u) && is_barrier(req))
            blk_uring_reap(bq->u, true, uring_done, &rc);
        uint32_t written = 0;
        uint8_t status = handle(b, req, &written);
        finish(vq, sl, status, written);
        slot_put(bq, sl);
        bq->done++;
        if (!bq->u) {   /* synchronous: let the guest see each one at once */
            pthread_mutex_unlock(&vq->lock);
            virtio_notify(vd, q);
            bq->done = 0;
            pthread_mutex_lock(&vq->lock);
        }
    }
    if (bq->u)
        blk_uring_reap(bq->u, false, uring_done, &rc);
    unsigned done = bq->done;
    bq->done = 0;
    pthread_mutex_unlock(&vq->lock);
    pthread_mutex_unlock(&bq->lock);
    if (r < 0)
        virtio_mark_broken(vd, "malformed request on queue %u (%d)", q, r);
    else if (done)
        virtio_notify(vd, q);
}

/* Device reset: wait for requests in flight and drop them (the rings they
 * belong to are going away); the guest's buffers may still be written. */
static void vblk_reset(struct virtio_dev *vd)
{
    struct vblk *b = vd->priv;
    if (!b->queues)
        return;
    for (unsigned q = 0; q < vd->nr_queues; q++) {
        struct vblk_queue *bq = &b->queues[q];
        struct reap_ctx rc = { b, bq, &vd->vqs[q], true };
        pthread_mutex_lock(&bq->lock);
        if (bq->u)
            blk_uring_reap(bq->u, true, uring_done, &rc);
        bq->done = 0;
        /* An I/O thread already past its "live" check must not pop from
         * these rings before the transport resets them. */
        pthread_mutex_lock(&vd->vqs[q].lock);
        vd->vqs[q].ready = false;
        pthread_mutex_unlock(&vd->vqs[q].lock);
        pthread_mutex_unlock(&bq->lock);
    }
}

static void queues_free(struct vblk *b, unsigned n)
{
    if (!b->queues)
        return;
    for (unsigned q = 0; q < n; q++) {
        struct vblk_queue *bq = &b->queues[q];
        if (bq->u) {
            struct reap_ctx rc = { b, bq, NULL, true };
            blk_uring_reap(bq->u, true, uring_done, &rc);
            blk_uring_free(bq->u);
        }
        free(bq->slots);
        pthread_mutex_destroy(&bq->lock);
    }
    free(b->queues);
    b->queues = NULL;
}

/* Per-queue state, once the transport (and its eventfds) exist. */
static int queues_init(struct vblk *b, struct virtio_dev *vd, struct vk_err *err)
{
    b->queues = calloc(vd->nr_queues, sizeof(*b->queues));
    if (!b->queues)
        return vk_err_set(err, -ENOMEM, "virtio-blk: out of memory");
    for (unsigned q = 0; q < vd->nr_queues; q++) {
        struct vblk_queue *bq = &b->queues[q];
        pthread_mutex_init(&bq->lock, NULL);
        unsigned nslots = b->aio == VBLK_AIO_URING ? URING_DEPTH : 1;
        bq->slots = calloc(nslots, sizeof(*bq->slots));
        if (!bq->slots) {
            queues_free(b, q + 1);
            return vk_err_set(err, -ENOMEM, "virtio-blk: out of memory");
        }
        for (unsigned i = 0; i < nslots; i++)
            slot_put(bq, &bq->slots[i]);
        int r;
        if (b->aio == VBLK_AIO_URING &&
            (r = blk_uring_new(URING_DEPTH, virtio_pci_queue_eventfd(vd, q), &bq->u, err)) < 0) {
            queues_free(b, q + 1);
            vk_err_prefix(err, "virtio-blk");
            return r;
        }
    }
    return 0;
}

static void vblk_destroy(struct virtio_dev *vd)
{
    struct vblk *b = vd->priv;
    queues_free(b, vd->nr_queues);
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
    .reset = vblk_reset,
    .destroy = vblk_destroy,
};

/* aio=: io_uring asked for must work; the default is measured (see
 * docs/virtio.md): io_uring with cache=none, where it keeps several
 * requests in flight; the synchronous thread with the page cache. */
static int pick_aio(struct vblk *b, const char *aio, struct vk_err *err)
{
    bool want = aio ? !strcmp(aio, "io_uring") : b->direct;
    b->aio = VBLK_AIO_THREADS;
    if (!want)
        return 0;
    struct vk_err e = { 0 };
    if (blk_uring_probe(&e) < 0) {
        if (aio)
            return vk_err_set(err, -ENOTSUP, "--disk: aio=io_uring: %s", e.msg);
        vk_debug("virtio-blk: %s; using aio=threads", e.msg);
        return 0;
    }
    b->aio = VBLK_AIO_URING;
    return 0;
}

int virtio_blk_create(struct machine *m, const char *spec, struct vk_err *err)
{
    struct vk_kvlist kv;
    int r = vk_kv_parse(spec, "path", &kv, err);
    if (r)
        return r;
    static const char *const known[] = { "path", "format", "readonly", "cache", "serial",
                                         "queues", "discard", "id", "aio" };
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
    const char *aio = vk_kv_get(&kv, "aio");
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
    if (cache && !strcmp(cache, "none")) {
        flags |= BLK_O_DIRECT;
        b->direct = true;
    }
    else if (cache && strcmp(cache, "writeback")) {
        r = vk_err_set(err, -EINVAL, "--disk: cache=%s: expected none or writeback", cache);
        goto fail;
    }
    if (aio && strcmp(aio, "io_uring") && strcmp(aio, "threads")) {
        r = vk_err_set(err, -EINVAL, "--disk: aio=%s: expected io_uring or threads", aio);
        goto fail;
    }
    if ((r = pick_aio(b, aio, err)) < 0)
        goto fail;
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
    b->vd = vd;
    vk_kv_free(&kv);
    if ((r = virtio_pci_create(m, vd, (unsigned)nq, 256, err))) {
        blk_close(b->img);
        free(b);
        free(vd);
        return r;
    }
    if (id[0])
        virtio_pci_set_id(vd, id);
    /* From here the bus owns the device (and frees it on teardown). */
    return queues_init(b, vd, err);
fail:
    vk_kv_free(&kv);
    free(b);
    free(vd);
    return r;
}
