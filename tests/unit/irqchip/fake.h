/* Test harness for the irqchip: a fake clock, a kick recorder and a fake
 * bus (the chips' bus_register calls land here, so tests reach the port
 * and MMIO handlers exactly as the machine's buses would). Include once per
 * test program. */
#ifndef VK_TEST_IRQCHIP_FAKE_H
#define VK_TEST_IRQCHIP_FAKE_H

#include <errno.h>
#include <string.h>

#include "bus.h"
#include "irqchip/irqchip.h"
#include "tap.h"

static __attribute__((unused)) int64_t fake_clock;
static __attribute__((unused)) unsigned fake_kicks[IRQCHIP_MAX_CPUS];
static __attribute__((unused)) struct bus fake_pio, fake_mmio;

static __attribute__((unused)) struct fake_range {
    struct bus *bus;
    uint64_t base, len;
    const struct bus_ops *ops;
    void *opaque;
} fake_ranges[32];
static __attribute__((unused)) unsigned fake_nranges;

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
                 void *opaque, const char *name, struct vk_err *err)
{
    if (fake_nranges == 32)
        return -ENOSPC;
    fake_ranges[fake_nranges++] = (struct fake_range){ b, base, len, ops, opaque };
    return 0;
}

int bus_unregister(struct bus *b, uint64_t base, void *opaque)
{
    for (unsigned i = 0; i < fake_nranges; i++)
        if (fake_ranges[i].bus == b && fake_ranges[i].base == base) {
            fake_ranges[i] = fake_ranges[--fake_nranges];
            return 0;
        }
    return -ENOENT;
}

static __attribute__((unused)) const struct fake_range *fake_find(struct bus *b, uint64_t addr)
{
    for (unsigned i = 0; i < fake_nranges; i++)
        if (fake_ranges[i].bus == b && addr >= fake_ranges[i].base &&
            addr - fake_ranges[i].base < fake_ranges[i].len)
            return &fake_ranges[i];
    return NULL;
}

static __attribute__((unused)) uint64_t fake_read(struct bus *b, uint64_t addr, unsigned size)
{
    const struct fake_range *r = fake_find(b, addr);
    return r ? r->ops->read(r->opaque, addr - r->base, size) : ~0ULL;
}

static __attribute__((unused)) void fake_write(struct bus *b, uint64_t addr, uint64_t v, unsigned size)
{
    const struct fake_range *r = fake_find(b, addr);
    if (r)
        r->ops->write(r->opaque, addr - r->base, v, size);
}

static __attribute__((unused)) uint8_t inb(uint16_t port) { return (uint8_t)fake_read(&fake_pio, port, 1); }
static __attribute__((unused)) void outb(uint16_t port, uint8_t v) { fake_write(&fake_pio, port, v, 1); }
static __attribute__((unused)) uint32_t mmio_rd(uint64_t a) { return (uint32_t)fake_read(&fake_mmio, a, 4); }
static __attribute__((unused)) void mmio_wr(uint64_t a, uint32_t v) { fake_write(&fake_mmio, a, v, 4); }

static __attribute__((unused)) int64_t fake_now(void *o) { return fake_clock; }
static __attribute__((unused)) void fake_kick(void *o, unsigned cpu) { fake_kicks[cpu]++; }

static __attribute__((unused)) struct irqchip *fake_irqchip(unsigned ncpus)
{
    struct irqchip_hooks h = { .now_ns = fake_now, .kick = fake_kick };
    struct irqchip *ic = NULL;
    struct vk_err err = { 0 };
    fake_nranges = 0;
    fake_clock = 1000000000;
    memset(fake_kicks, 0, sizeof(fake_kicks));
    if (irqchip_create(ncpus, &h, &ic, &err) < 0 ||
        irqchip_attach(ic, &fake_pio, &fake_mmio, &err) < 0) {
        printf("Bail out! irqchip: %s\n", err.msg);
        exit(1);
    }
    return ic;
}

/* Local APIC register access by offset for `cpu`. */
static __attribute__((unused)) uint32_t apic_rd(struct irqchip *ic, unsigned cpu, unsigned reg)
{ return (uint32_t)lapic_mmio_read(ic, cpu, reg, 4); }
static __attribute__((unused)) void apic_wr(struct irqchip *ic, unsigned cpu, unsigned reg, uint32_t v)
{ lapic_mmio_write(ic, cpu, reg, v, 4); }

/* Program the PIC pair as Linux and BIOSes do: vectors 0x20/0x28. */
static __attribute__((unused)) void pic_init_pc(void)
{
    outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, 0x01);
    outb(0xa0, 0x11); outb(0xa1, 0x28); outb(0xa1, 0x02); outb(0xa1, 0x01);
    outb(0x21, 0x00); outb(0xa1, 0x00);
}

#endif
