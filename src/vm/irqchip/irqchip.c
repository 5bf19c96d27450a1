/* The irqchip as a whole: creation, PC wiring of interrupt lines and MSIs,
 * bus registration of the PIC/PIT/IOAPIC, and the timer thread.
 *
 * The timer thread sleeps on a condition variable (CLOCK_MONOTONIC) until
 * the earliest PIT/LAPIC deadline, fires what is due under the irqchip lock
 * and goes back to sleep; register writes that move a deadline signal it.
 * Firing a timer only sets IRR bits and kicks vCPUs, so the thread never
 * runs guest code and never blocks on a vCPU. */
#include "irqchip_int.h"
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ic_timers_changed(struct irqchip *ic)
{
    if (ic->timer_running)
        pthread_cond_signal(&ic->timer_cond);
}

int irqchip_create(unsigned ncpus, const struct irqchip_hooks *hooks,
                   struct irqchip **out, struct vk_err *err)
{
    if (ncpus == 0 || ncpus > IRQCHIP_MAX_CPUS)
        return vk_err_set(err, -EINVAL, "irqchip: %u CPUs (1..%u supported)", ncpus,
                          IRQCHIP_MAX_CPUS);
    struct irqchip *ic = calloc(1, sizeof(*ic));
    struct lapic *lapics = calloc(ncpus, sizeof(*lapics));
    if (!ic || !lapics) {
        free(ic);
        free(lapics);
        return vk_err_set(err, -ENOMEM, "irqchip: out of memory");
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ic->timer_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&ic->lock, NULL);
    if (hooks)
        ic->hooks = *hooks;
    ic->ncpus = ncpus;
    ic->apic_hz = IRQCHIP_APIC_BUS_HZ;
    ic->lapics = lapics;
    for (unsigned i = 0; i < ncpus; i++) {
        lapics[i].ic = ic;
        lapics[i].index = i;
    }
    irqchip_reset(ic);
    *out = ic;
    return 0;
}

void irqchip_reset(struct irqchip *ic)
{
    pthread_mutex_lock(&ic->lock);
    ioapic_reset(ic);
    pit_reset(ic);
    pic_reset(ic);
    for (unsigned i = 0; i < ic->ncpus; i++)
        lapic_reset(&ic->lapics[i], true);
    pthread_mutex_unlock(&ic->lock);
}

void irqchip_set_apic_hz(struct irqchip *ic, uint64_t hz)
{
    if (hz == 0)
        return;
    pthread_mutex_lock(&ic->lock);
    ic->apic_hz = hz;
    pthread_mutex_unlock(&ic->lock);
}

void irqchip_quiesce(struct irqchip *ic)
{
    pthread_mutex_lock(&ic->lock);
    pthread_mutex_unlock(&ic->lock);
}

void irqchip_destroy(struct irqchip *ic)
{
    if (!ic)
        return;
    if (ic->timer_running) {
        pthread_mutex_lock(&ic->lock);
        ic->timer_stop = true;
        pthread_cond_signal(&ic->timer_cond);
        pthread_mutex_unlock(&ic->lock);
        pthread_join(ic->timer_thread, NULL);
    }
    pthread_cond_destroy(&ic->timer_cond);
    pthread_mutex_destroy(&ic->lock);
    free(ic->lapics);
    free(ic);
}

/* ---- lines --------------------------------------------------------------- */

void irqchip_set_irq(struct irqchip *ic, unsigned gsi, int level)
{
    if (gsi >= IRQCHIP_IOAPIC_PINS)
        return;
    pthread_mutex_lock(&ic->lock);
    if (gsi < 16)
        pic_set_irq(ic, gsi, level);
    ioapic_set_irq(ic, gsi == 0 ? 2 : gsi, level);
    pthread_mutex_unlock(&ic->lock);
}

int irqchip_msi(struct irqchip *ic, uint64_t addr, uint32_t data)
{
    if ((addr & 0xfff00000ULL) != IRQCHIP_LAPIC_BASE)
        return -EINVAL;
    uint32_t dest = (addr >> 12) & 0xff;
    bool logical = addr & (1u << 2);
    unsigned dm = (data >> 8) & 7;
    pthread_mutex_lock(&ic->lock);
    apic_bus_deliver(ic, dest, logical, dm, data & 0xff, false);
    pthread_mutex_unlock(&ic->lock);
    return 0;
}

/* ---- timers -------------------------------------------------------------- */

static int64_t poll_locked(struct irqchip *ic, int64_t now)
{
    int64_t next = pit_poll(ic, now);
    for (unsigned i = 0; i < ic->ncpus; i++) {
        int64_t n = lapic_poll(&ic->lapics[i], now);
        if (n < next)
            next = n;
    }
    return next;
}

int64_t irqchip_poll_timers(struct irqchip *ic, int64_t now)
{
    pthread_mutex_lock(&ic->lock);
    int64_t next = poll_locked(ic, now);
    pthread_mutex_unlock(&ic->lock);
    return next;
}

static void *timer_main(void *arg)
{
    struct irqchip *ic = arg;
    pthread_mutex_lock(&ic->lock);
    while (!ic->timer_stop) {
        int64_t next = poll_locked(ic, ic_now(ic));
        if (next == INT64_MAX) {
            pthread_cond_wait(&ic->timer_cond, &ic->lock);
        } else {
            struct timespec ts = { .tv_sec = next / 1000000000, .tv_nsec = next % 1000000000 };
            pthread_cond_timedwait(&ic->timer_cond, &ic->lock, &ts);
        }
    }
    pthread_mutex_unlock(&ic->lock);
    return NULL;
}

int irqchip_start_timers(struct irqchip *ic, struct vk_err *err)
{
    if (ic->timer_running)
        return 0;
    pthread_mutex_lock(&ic->lock);
    ic->timer_running = true;
    ic->timer_stop = false;
    pthread_mutex_unlock(&ic->lock);
    int rc = pthread_create(&ic->timer_thread, NULL, timer_main, ic);
    if (rc) {
        ic->timer_running = false;
        return vk_err_errno(err, -rc, "irqchip: starting the timer thread");
    }
    return 0;
}

/* ---- bus glue ------------------------------------------------------------ */

/* Port accesses wider than a byte are split into byte accesses, as the ISA
 * bus does for these 8-bit chips. */
typedef uint8_t (*byte_read_fn)(struct irqchip *ic, unsigned off, int64_t now);
typedef void (*byte_write_fn)(struct irqchip *ic, unsigned off, uint8_t v, int64_t now);

static uint64_t split_read(struct irqchip *ic, uint64_t off, unsigned size, unsigned len,
                           byte_read_fn fn)
{
    uint64_t r = 0;
    pthread_mutex_lock(&ic->lock);
    int64_t now = ic_now(ic);
    for (unsigned i = 0; i < size && i < 8; i++)
        r |= (uint64_t)(off + i < len ? fn(ic, (unsigned)(off + i), now) : 0xff) << (8 * i);
    pthread_mutex_unlock(&ic->lock);
    return r;
}

static void split_write(struct irqchip *ic, uint64_t off, uint64_t v, unsigned size,
                        unsigned len, byte_write_fn fn)
{
    pthread_mutex_lock(&ic->lock);
    int64_t now = ic_now(ic);
    for (unsigned i = 0; i < size && i < 8; i++)
        if (off + i < len)
            fn(ic, (unsigned)(off + i), (uint8_t)(v >> (8 * i)), now);
    pthread_mutex_unlock(&ic->lock);
}

static uint8_t pic0_rd(struct irqchip *ic, unsigned off, int64_t now) { return (uint8_t)pic_io_read(ic, 0, off); }
static uint8_t pic1_rd(struct irqchip *ic, unsigned off, int64_t now) { return (uint8_t)pic_io_read(ic, 1, off); }
static void pic0_wr(struct irqchip *ic, unsigned off, uint8_t v, int64_t now) { pic_io_write(ic, 0, off, v); }
static void pic1_wr(struct irqchip *ic, unsigned off, uint8_t v, int64_t now) { pic_io_write(ic, 1, off, v); }
static uint8_t elcr_rd(struct irqchip *ic, unsigned off, int64_t now) { return pic_elcr_read(ic, off); }
static void elcr_wr(struct irqchip *ic, unsigned off, uint8_t v, int64_t now) { pic_elcr_write(ic, off, v); }
static uint8_t p61_rd(struct irqchip *ic, unsigned off, int64_t now) { return pit_port61_read(ic, now); }
static void p61_wr(struct irqchip *ic, unsigned off, uint8_t v, int64_t now) { pit_port61_write(ic, v, now); }

#define BYTE_DEVICE(name, len, rd, wr)                                                   \
    static uint64_t name##_read(void *o, uint64_t off, unsigned size)                    \
    { return split_read(o, off, size, len, rd); }                                        \
    static void name##_write(void *o, uint64_t off, uint64_t v, unsigned size)           \
    { split_write(o, off, v, size, len, wr); }                                           \
    static const struct bus_ops name##_ops = { name##_read, name##_write };

BYTE_DEVICE(pic0, 2, pic0_rd, pic0_wr)
BYTE_DEVICE(pic1, 2, pic1_rd, pic1_wr)
BYTE_DEVICE(elcr, 2, elcr_rd, elcr_wr)
BYTE_DEVICE(pit, 4, pit_io_read, pit_io_write)
BYTE_DEVICE(port61, 1, p61_rd, p61_wr)

static uint64_t ioapic_bus_read(void *o, uint64_t off, unsigned size)
{
    struct irqchip *ic = o;
    pthread_mutex_lock(&ic->lock);
    uint64_t v = ioapic_mmio_read(ic, off & ~3ULL) >> (8 * (off & 3));
    pthread_mutex_unlock(&ic->lock);
    return size < 8 ? v & ((1ULL << (8 * size)) - 1) : v;
}

static void ioapic_bus_write(void *o, uint64_t off, uint64_t v, unsigned size)
{
    struct irqchip *ic = o;
    pthread_mutex_lock(&ic->lock);
    if (off & 3)
        vk_warn_ratelimited("ioapic: ignoring unaligned write at 0x%llx", (unsigned long long)off);
    else
        ioapic_mmio_write(ic, off, (uint32_t)v);
    pthread_mutex_unlock(&ic->lock);
}

static const struct bus_ops ioapic_ops = { ioapic_bus_read, ioapic_bus_write };

static const struct {
    bool mmio;
    uint64_t base, len;
    const struct bus_ops *ops;
    const char *name;
} ranges[] = {
    { false, 0x20, 2, &pic0_ops, "pic-master" },
    { false, 0xa0, 2, &pic1_ops, "pic-slave" },
    { false, 0x4d0, 2, &elcr_ops, "elcr" },
    { false, 0x40, 4, &pit_ops, "pit" },
    { false, 0x61, 1, &port61_ops, "port61" },
    { true, IRQCHIP_IOAPIC_BASE, 0x1000, &ioapic_ops, "ioapic" },
};

int irqchip_attach(struct irqchip *ic, struct bus *pio, struct bus *mmio, struct vk_err *err)
{
    for (unsigned i = 0; i < VK_ARRAY_SIZE(ranges); i++) {
        int rc = bus_register(ranges[i].mmio ? mmio : pio, ranges[i].base, ranges[i].len,
                              ranges[i].ops, ic, ranges[i].name, err);
        if (rc < 0) {
            while (i-- > 0)
                bus_unregister(ranges[i].mmio ? mmio : pio, ranges[i].base, ic);
            return rc;
        }
    }
    return 0;
}

void irqchip_detach(struct irqchip *ic, struct bus *pio, struct bus *mmio)
{
    for (unsigned i = 0; i < VK_ARRAY_SIZE(ranges); i++)
        bus_unregister(ranges[i].mmio ? mmio : pio, ranges[i].base, ic);
}
