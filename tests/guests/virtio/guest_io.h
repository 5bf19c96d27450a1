/* vdrv I/O for the freestanding guests: config space through 0xCF8/0xCFC,
 * BARs as plain memory accesses (32-bit guests run with paging off, so
 * guest-physical = virtual), buffers from a static pool. */
#ifndef GUEST_VIRTIO_IO_H
#define GUEST_VIRTIO_IO_H

#include "../lib/guest.h"
#include "vdrv.h"

static uint8_t pool[256 * 1024] __attribute__((aligned(4096)));
static size_t pool_used;

static uint32_t g_cfg_read(void *o, unsigned slot, unsigned off, unsigned size)
{
    outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
    switch (size) {
    case 1: return inb((uint16_t)(0xcfc + (off & 3)));
    case 2: return inw((uint16_t)(0xcfc + (off & 2)));
    default: return inl(0xcfc);
    }
}

static void g_cfg_write(void *o, unsigned slot, unsigned off, uint32_t val, unsigned size)
{
    outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
    switch (size) {
    case 1: outb((uint16_t)(0xcfc + (off & 3)), (uint8_t)val); break;
    case 2: outw((uint16_t)(0xcfc + (off & 2)), (uint16_t)val); break;
    default: outl(0xcfc, val); break;
    }
}

static uint64_t g_mmio_read(void *o, uint64_t a, unsigned size)
{
    uintptr_t p = (uintptr_t)a;
    switch (size) {
    case 1: return *(volatile uint8_t *)p;
    case 2: return *(volatile uint16_t *)p;
    default: return *(volatile uint32_t *)p;
    }
}

static void g_mmio_write(void *o, uint64_t a, uint64_t v, unsigned size)
{
    uintptr_t p = (uintptr_t)a;
    switch (size) {
    case 1: *(volatile uint8_t *)p = (uint8_t)v; break;
    case 2: *(volatile uint16_t *)p = (uint16_t)v; break;
    default: *(volatile uint32_t *)p = (uint32_t)v; break;
    }
}

static void *g_alloc(void *o, size_t len, uint64_t *gpa)
{
    size_t at = (pool_used + 4095) & ~(size_t)4095;
    if (at + len > sizeof(pool))
        guest_fail("virtio: out of guest buffer memory");
    pool_used = at + len;
    memset(pool + at, 0, len);
    *gpa = (uintptr_t)(pool + at);
    return pool + at;
}

static void g_relax(void *o) { cpu_relax(); }

static const struct vdrv_io guest_vio = {
    g_cfg_read, g_cfg_write, g_mmio_read, g_mmio_write, g_alloc, g_relax, 0,
};

#define SPINS 20000000ul

#endif
