/* The guest side of the CPU-less device tests: config space through
 * 0xCF8/0xCFC, BARs through the MMIO bus, memory from the fake RAM. */
#ifndef VK_TEST_VTEST_IO_H
#define VK_TEST_VTEST_IO_H

#include <time.h>

#include "fake_machine.h"
#include "vdrv.h"

static struct machine *M;
static uint64_t next_gpa = 1 << 20;

static uint32_t cfg_read(void *o, unsigned slot, unsigned off, unsigned size)
{
    uint64_t v = 0;
    bus_write(&M->pio, 0xcf8, 4, 0x80000000u | slot << 11 | (off & 0xfc));
    bus_read(&M->pio, 0xcfc + (off & 3), size, &v);
    return (uint32_t)v;
}

static void cfg_write(void *o, unsigned slot, unsigned off, uint32_t val, unsigned size)
{
    bus_write(&M->pio, 0xcf8, 4, 0x80000000u | slot << 11 | (off & 0xfc));
    bus_write(&M->pio, 0xcfc + (off & 3), size, val);
}

static uint64_t mmio_read(void *o, uint64_t a, unsigned size)
{
    uint64_t v = ~0ULL;
    bus_read(&M->mmio, a, size, &v);
    return v;
}

static void mmio_write(void *o, uint64_t a, uint64_t v, unsigned size)
{
    bus_write(&M->mmio, a, size, v);
}

static void *alloc(void *o, size_t len, uint64_t *gpa)
{
    *gpa = next_gpa;
    next_gpa = VK_ALIGN_UP(next_gpa + len, 4096);
    return M->ram[0].hva + *gpa;
}

static void relax(void *o)
{
    struct timespec ts = { 0, 50000 };
    nanosleep(&ts, NULL);
}

static const struct vdrv_io io = { cfg_read, cfg_write, mmio_read, mmio_write, alloc, relax, NULL };

#endif
