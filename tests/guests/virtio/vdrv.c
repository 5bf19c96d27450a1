/* Minimal virtio 1.x modern PCI driver (see vdrv.h). */
#include "vdrv.h"

#define CFG_VENDOR 0x00
#define CFG_DEVICE 0x02
#define CFG_COMMAND 0x04
#define CFG_CAP_PTR 0x34
#define CFG_BAR0 0x10

static uint64_t bar_addr(struct vdrv *d, unsigned bar)
{
    const struct vdrv_io *io = d->io;
    uint32_t lo = io->cfg_read(io->opaque, d->slot, CFG_BAR0 + 4 * bar, 4);
    uint64_t a = lo & ~0xfu;
    if ((lo & 6) == 4)
        a |= (uint64_t)io->cfg_read(io->opaque, d->slot, CFG_BAR0 + 4 * bar + 4, 4) << 32;
    return a;
}

int vdrv_find(struct vdrv *d, const struct vdrv_io *io, unsigned type, int after_slot)
{
    for (int s = after_slot + 1; s < 32; s++) {
        uint32_t id = io->cfg_read(io->opaque, (unsigned)s, CFG_VENDOR, 4);
        if ((id & 0xffff) != 0x1af4 || (id >> 16) != 0x1040 + type)
            continue;
        for (unsigned i = 0; i < sizeof(*d); i++)
            ((uint8_t *)d)[i] = 0;
        d->io = io;
        d->slot = s;
        /* walk the capability list for the four virtio regions */
        unsigned p = io->cfg_read(io->opaque, (unsigned)s, CFG_CAP_PTR, 1);
        for (unsigned guard = 0; p && guard < 48; guard++) {
            unsigned id8 = io->cfg_read(io->opaque, (unsigned)s, p, 1);
            unsigned next = io->cfg_read(io->opaque, (unsigned)s, p + 1, 1);
            if (id8 == 0x09) {
                unsigned cfg_type = io->cfg_read(io->opaque, (unsigned)s, p + 3, 1);
                unsigned bar = io->cfg_read(io->opaque, (unsigned)s, p + 4, 1);
                uint32_t off = io->cfg_read(io->opaque, (unsigned)s, p + 8, 4);
                uint64_t base = bar_addr(d, bar) + off;
                if (cfg_type == 1) d->common = base;
                if (cfg_type == 2) {
                    d->notify = base;
                    d->notify_mult = io->cfg_read(io->opaque, (unsigned)s, p + 16, 4);
                }
                if (cfg_type == 3) d->isr = base;
                if (cfg_type == 4) d->device = base;
            }
            p = next;
        }
        /* memory decoding and bus mastering on */
        uint32_t cmd = io->cfg_read(io->opaque, (unsigned)s, CFG_COMMAND, 2);
        io->cfg_write(io->opaque, (unsigned)s, CFG_COMMAND, cmd | 0x6, 2);
        return d->common && d->notify && d->isr ? s : -1;
    }
    return -1;
}

static uint64_t rd(struct vdrv *d, unsigned off, unsigned size)
{
    return d->io->mmio_read(d->io->opaque, d->common + off, size);
}

static void wrr(struct vdrv *d, unsigned off, uint64_t v, unsigned size)
{
    d->io->mmio_write(d->io->opaque, d->common + off, v, size);
}

uint8_t vdrv_status(struct vdrv *d) { return (uint8_t)rd(d, 0x14, 1); }

uint64_t vdrv_offered(struct vdrv *d)
{
    wrr(d, 0x00, 0, 4);
    uint64_t f = rd(d, 0x04, 4);
    wrr(d, 0x00, 1, 4);
    return f | rd(d, 0x04, 4) << 32;
}

int vdrv_init(struct vdrv *d, uint64_t wanted)
{
    wrr(d, 0x14, 0, 1);                 /* reset */
    wrr(d, 0x14, 1 | 2, 1);             /* ACKNOWLEDGE | DRIVER */
    uint64_t f = (vdrv_offered(d) & wanted) | 1ULL << 32;
    wrr(d, 0x08, 0, 4);
    wrr(d, 0x0c, (uint32_t)f, 4);
    wrr(d, 0x08, 1, 4);
    wrr(d, 0x0c, (uint32_t)(f >> 32), 4);
    wrr(d, 0x14, 1 | 2 | 8, 1);         /* FEATURES_OK */
    if (!(vdrv_status(d) & 8))
        return -1;
    d->features = f;
    return 0;
}

int vdrv_setup_queue(struct vdrv *d, unsigned q, uint16_t size)
{
    if (q >= VDRV_MAX_Q)
        return -1;
    wrr(d, 0x16, q, 2);
    uint16_t max = (uint16_t)rd(d, 0x18, 2);
    if (!max)
        return -1;
    if (size > max)
        size = max;
    wrr(d, 0x18, size, 2);
    struct vdrv_queue *vq = &d->q[q];
    for (unsigned i = 0; i < sizeof(*vq); i++)
        ((uint8_t *)vq)[i] = 0;
    vq->size = size;
    vq->desc = d->io->alloc(d->io->opaque, 16u * size, &vq->desc_gpa);
    vq->avail = d->io->alloc(d->io->opaque, 6u + 2u * size, &vq->avail_gpa);
    vq->used = d->io->alloc(d->io->opaque, 6u + 8u * size, &vq->used_gpa);
    wrr(d, 0x20, vq->desc_gpa, 4);  wrr(d, 0x24, vq->desc_gpa >> 32, 4);
    wrr(d, 0x28, vq->avail_gpa, 4); wrr(d, 0x2c, vq->avail_gpa >> 32, 4);
    wrr(d, 0x30, vq->used_gpa, 4);  wrr(d, 0x34, vq->used_gpa >> 32, 4);
    wrr(d, 0x1a, 0xffff, 2);            /* no MSI-X vector: INTx / polling */
    vq->notify_addr = d->notify + rd(d, 0x1e, 2) * d->notify_mult;
    wrr(d, 0x1c, 1, 2);                 /* enable */
    return 0;
}

void vdrv_driver_ok(struct vdrv *d) { wrr(d, 0x14, 1 | 2 | 8 | 4, 1); }

struct vdrv_queue *vdrv_queue(struct vdrv *d, unsigned q) { return &d->q[q]; }

void vdrv_kick(struct vdrv *d, unsigned q)
{
    d->io->mmio_write(d->io->opaque, d->q[q].notify_addr, q, 2);
}

static inline void barrier(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

void vdrv_post(struct vdrv *d, unsigned q, const struct vdrv_seg *segs, unsigned n)
{
    vdrv_post_quiet(d, q, segs, n);
    vdrv_kick(d, q);
}

void vdrv_post_quiet(struct vdrv *d, unsigned q, const struct vdrv_seg *segs, unsigned n)
{
    struct vdrv_queue *vq = &d->q[q];
    uint16_t head = vq->next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((head + i) % vq->size);
        uint8_t *e = vq->desc + 16 * idx;
        uint64_t a = segs[i].gpa;
        uint16_t flags = (uint16_t)((i + 1 < n ? 1 : 0) | (segs[i].write ? 2 : 0));
        uint16_t next = (uint16_t)((idx + 1) % vq->size);
        for (int b = 0; b < 8; b++) e[b] = (uint8_t)(a >> (8 * b));
        for (int b = 0; b < 4; b++) e[8 + b] = (uint8_t)(segs[i].len >> (8 * b));
        e[12] = (uint8_t)flags; e[13] = (uint8_t)(flags >> 8);
        e[14] = (uint8_t)next; e[15] = (uint8_t)(next >> 8);
    }
    vq->next_desc = (uint16_t)((head + n) % vq->size);
    uint16_t *ring = (uint16_t *)(vq->avail + 4);
    ring[vq->avail_idx % vq->size] = head;
    barrier();
    vq->avail_idx++;
    __atomic_store_n((uint16_t *)(vq->avail + 2), vq->avail_idx, __ATOMIC_RELEASE);
    barrier();
}

long vdrv_wait(struct vdrv *d, unsigned q, unsigned long spins)
{
    struct vdrv_queue *vq = &d->q[q];
    for (unsigned long i = 0; i < spins; i++) {
        uint16_t used = __atomic_load_n((uint16_t *)(vq->used + 2), __ATOMIC_ACQUIRE);
        if (used != vq->last_used) {
            uint32_t *elem = (uint32_t *)(vq->used + 4 + 8 * (vq->last_used % vq->size));
            vq->last_used++;
            return elem[1];
        }
        if (d->io->relax)
            d->io->relax(d->io->opaque);
    }
    return -1;
}

long vdrv_transfer(struct vdrv *d, unsigned q, const struct vdrv_seg *segs, unsigned n,
                   unsigned long spins)
{
    vdrv_post(d, q, segs, n);
    return vdrv_wait(d, q, spins);
}

uint32_t vdrv_dev_cfg32(struct vdrv *d, unsigned off)
{
    return (uint32_t)d->io->mmio_read(d->io->opaque, d->device + off, 4);
}

uint64_t vdrv_dev_cfg64(struct vdrv *d, unsigned off)
{
    return vdrv_dev_cfg32(d, off) | (uint64_t)vdrv_dev_cfg32(d, off + 4) << 32;
}
