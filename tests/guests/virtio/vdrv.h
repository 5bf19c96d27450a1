/* A minimal virtio 1.x PCI driver, written once and used twice: by the
 * freestanding test guests (port I/O and real guest memory) and by the host
 * unit tests (bus calls into a CPU-less machine). No libc: only the I/O
 * callbacks below touch the outside world. */
#ifndef VDRV_H
#define VDRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vdrv_io {
    uint32_t (*cfg_read)(void *o, unsigned slot, unsigned off, unsigned size);
    void (*cfg_write)(void *o, unsigned slot, unsigned off, uint32_t val, unsigned size);
    uint64_t (*mmio_read)(void *o, uint64_t addr, unsigned size);
    void (*mmio_write)(void *o, uint64_t addr, uint64_t val, unsigned size);
    /* zeroed, 4 KiB-aligned guest memory: host pointer + guest address */
    void *(*alloc)(void *o, size_t len, uint64_t *gpa);
    void (*relax)(void *o);     /* called while polling */
    void *opaque;
};

#define VDRV_MAX_Q 8
struct vdrv_queue {
    uint16_t size, last_used, next_desc, avail_idx;
    uint8_t *desc, *avail, *used;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint64_t notify_addr;
};

struct vdrv {
    const struct vdrv_io *io;
    int slot;
    uint64_t common, isr, device, notify;   /* guest addresses of the regions */
    uint32_t notify_mult;
    uint64_t features;                      /* negotiated */
    struct vdrv_queue q[VDRV_MAX_Q];
};

/* Find the first function with PCI device ID 0x1040 + type; -1 if none. */
int vdrv_find(struct vdrv *d, const struct vdrv_io *io, unsigned type, int after_slot);
/* Reset, negotiate (VERSION_1 | wanted & offered); returns 0 or -1. */
int vdrv_init(struct vdrv *d, uint64_t wanted);
uint64_t vdrv_offered(struct vdrv *d);
int vdrv_setup_queue(struct vdrv *d, unsigned q, uint16_t size);
void vdrv_driver_ok(struct vdrv *d);
uint8_t vdrv_status(struct vdrv *d);

struct vdrv_seg { uint64_t gpa; uint32_t len; bool write; };
/* Post a chain and wait for the device to use it; returns the used length
 * or -1 on timeout (the device stopped answering). */
long vdrv_transfer(struct vdrv *d, unsigned q, const struct vdrv_seg *segs, unsigned n,
                   unsigned long spins);
/* Post a chain without waiting; vdrv_poll returns the used length or -1. */
void vdrv_post(struct vdrv *d, unsigned q, const struct vdrv_seg *segs, unsigned n);
/* The same without the kick (several chains, then one vdrv_kick). */
void vdrv_post_quiet(struct vdrv *d, unsigned q, const struct vdrv_seg *segs, unsigned n);
long vdrv_wait(struct vdrv *d, unsigned q, unsigned long spins);
/* Raw ring access for hostile tests. */
struct vdrv_queue *vdrv_queue(struct vdrv *d, unsigned q);
void vdrv_kick(struct vdrv *d, unsigned q);
uint32_t vdrv_dev_cfg32(struct vdrv *d, unsigned off);
uint64_t vdrv_dev_cfg64(struct vdrv *d, unsigned off);

#endif
