/* The 8254 PIT (ports 0x40-0x43) and the PC's system control port B (0x61:
 * channel 2 gate, speaker data, OUT2 and the refresh toggle).
 *
 * Counters are not ticked: each channel remembers when it was loaded and its
 * value and OUT pin are computed from host time at 1.193182 MHz when read.
 * Channel 0 drives IRQ0: pit_poll() (run by the timer thread) raises an edge
 * at each OUT rising edge; periodic ticks that were missed are caught up
 * (see pit_poll). Channels 0 and 1
 * have their gates tied high; channel 2's gate is port 0x61 bit 0, which is
 * what Linux uses (with OUT2 on bit 5 and the counter MSB) to calibrate the
 * TSC against the PIT. */
#include "irqchip_int.h"

#include <string.h>

#define NS_PER_S 1000000000ULL
/* IRQ0 periods below this are stretched so a guest cannot make the timer
 * thread spin (the counter itself keeps the programmed rate). */
#define PIT_MIN_IRQ_PERIOD_NS 20000
/* Catching up missed periodic ticks: spacing, and the largest backlog kept. */
#define PIT_CATCHUP_GAP_NS    250000
#define PIT_MAX_BACKLOG_NS    200000000

static void irq0_pulse(struct irqchip *ic)
{
    pic_set_irq(ic, 0, 1);
    ioapic_set_irq(ic, 2, 1);
    pic_set_irq(ic, 0, 0);
    ioapic_set_irq(ic, 2, 0);
}

static int64_t ticks_of(int64_t ns)
{
    if (ns <= 0)
        return 0;
    return (int64_t)((unsigned __int128)ns * IRQCHIP_PIT_HZ / NS_PER_S);
}

static int64_t ns_of(int64_t ticks)
{
    return (int64_t)(((unsigned __int128)ticks * NS_PER_S + IRQCHIP_PIT_HZ - 1) / IRQCHIP_PIT_HZ);
}

static int64_t elapsed(const struct pit_channel *c, int64_t now)
{
    if (c->frozen_ticks >= 0)
        return c->frozen_ticks;
    return ticks_of(now - c->load_ns);
}

static bool counts_while_gate_low(unsigned mode)
{
    return mode == 1 || mode == 5;
}

static uint32_t pit_value(const struct pit_channel *c, int64_t now)
{
    if (!c->armed)
        return c->count & 0xffff;
    int64_t d = elapsed(c, now);
    uint32_t n = c->count;
    switch (c->mode) {
    case 2:
        return (n - (uint32_t)(d % n)) & 0xffff;
    case 3:
        return (n - (uint32_t)((2 * d) % n)) & 0xfffe;
    default:                               /* 0, 1, 4, 5: count down, wrap */
        return (uint32_t)(n - (uint64_t)d) & 0xffff;
    }
}

static bool pit_out(const struct pit_channel *c, int64_t now)
{
    if (!c->armed)
        return c->mode != 0;
    int64_t d = elapsed(c, now);
    int64_t n = c->count;
    switch (c->mode) {
    case 0:
    case 1:
        return d >= n;
    case 2:
        return n < 2 || d % n != n - 1;
    case 3:
        return d % n < (n + 1) / 2;
    default:                               /* 4, 5 */
        return d != n;
    }
}

static uint16_t to_bcd(uint32_t v)
{
    v %= 10000;
    return (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

static uint32_t from_bcd(uint16_t v)
{
    return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}

static int64_t irq_period_ns(const struct pit_channel *c)
{
    int64_t p = ns_of(c->count);
    return p < PIT_MIN_IRQ_PERIOD_NS ? PIT_MIN_IRQ_PERIOD_NS : p;
}

/* Channel 0 after a (re)load: when OUT first rises (the IRQ0 edge). */
static void pit_schedule(struct irqchip *ic, int64_t now)
{
    struct pit_channel *c = &ic->pit.ch[0];
    int64_t next = INT64_MAX;
    if (c->armed && c->frozen_ticks < 0) {
        switch (c->mode) {
        case 0: next = c->load_ns + ns_of(c->count); break;
        case 4: next = c->load_ns + ns_of((int64_t)c->count + 1); break;
        case 2: case 3: next = c->load_ns + irq_period_ns(c); break;
        default: break;
        }
    }
    c->grid_ns = c->next_irq_ns = next;
    ic_timers_changed(ic);
}

int64_t pit_poll(struct irqchip *ic, int64_t now)
{
    struct pit_channel *c = &ic->pit.ch[0];
    if (c->next_irq_ns > now)
        return c->next_irq_ns;
    /* Catching up: a tick the guest has not taken yet would merge with
     * this one, so wait for it to be acknowledged. */
    if (c->grid_ns < c->next_irq_ns && (c->mode == 2 || c->mode == 3) &&
        (pic_irq_pending(ic, 0) || ioapic_pin_pending(ic, 2))) {
        c->next_irq_ns = now + PIT_CATCHUP_GAP_NS;
        return c->next_irq_ns;
    }
    irq0_pulse(ic);
    if (c->mode != 2 && c->mode != 3) {
        c->grid_ns = c->next_irq_ns = INT64_MAX;
        return INT64_MAX;
    }
    /* Periodic: deliver every tick on the grid. When the guest fell behind
     * (a slow software CPU, a descheduled host thread), catch up with ticks
     * spaced PIT_CATCHUP_GAP_NS apart, so the guest's jiffies keep pace with
     * the TSC; a backlog beyond PIT_MAX_BACKLOG_NS is dropped. */
    int64_t period = irq_period_ns(c);
    c->grid_ns += period;
    if (now - c->grid_ns > PIT_MAX_BACKLOG_NS)
        c->grid_ns = now + period;
    c->next_irq_ns = c->grid_ns > now ? c->grid_ns : now + PIT_CATCHUP_GAP_NS;
    return c->next_irq_ns;
}

void pit_reset(struct irqchip *ic)
{
    memset(&ic->pit, 0, sizeof(ic->pit));
    for (unsigned i = 0; i < 3; i++) {
        struct pit_channel *c = &ic->pit.ch[i];
        c->count = 0x10000;
        c->frozen_ticks = -1;
        c->gate = i != 2;
        c->rw = 3;
        c->next_irq_ns = INT64_MAX;
    }
    ic_timers_changed(ic);
}

static void pit_load(struct irqchip *ic, unsigned idx, uint32_t raw, int64_t now)
{
    struct pit_channel *c = &ic->pit.ch[idx];
    uint32_t n = c->bcd ? from_bcd((uint16_t)raw) : raw & 0xffff;
    if (n == 0)
        n = c->bcd ? 10000 : 0x10000;
    c->count = n;
    c->armed = true;
    c->load_ns = now;
    /* Modes 1 and 5 wait for a gate edge; the others wait for gate high. */
    c->frozen_ticks = (counts_while_gate_low(c->mode) || !c->gate) ? 0 : -1;
    if (idx == 0)
        pit_schedule(ic, now);
}

static void pit_latch_count(struct pit_channel *c, int64_t now)
{
    if (c->latched)
        return;
    uint32_t v = pit_value(c, now);
    c->latch = c->bcd ? to_bcd(v) : (uint16_t)v;
    c->latched = true;
    c->latch_msb_next = c->rw == 2;
}

static void pit_control(struct irqchip *ic, uint8_t v, int64_t now)
{
    unsigned sc = v >> 6;
    if (sc == 3) {                             /* read-back */
        for (unsigned i = 0; i < 3; i++) {
            struct pit_channel *c = &ic->pit.ch[i];
            if (!(v & (2u << i)))
                continue;
            if (!(v & 0x20))
                pit_latch_count(c, now);
            if (!(v & 0x10) && !c->status_latched) {
                c->status = (uint8_t)(pit_out(c, now) << 7 | (!c->armed) << 6 |
                                      c->rw << 4 | c->mode << 1 | c->bcd);
                c->status_latched = true;
            }
        }
        return;
    }
    struct pit_channel *c = &ic->pit.ch[sc];
    unsigned rw = (v >> 4) & 3;
    if (rw == 0) {
        pit_latch_count(c, now);
        return;
    }
    c->rw = (uint8_t)rw;
    c->mode = (v >> 1) & 7;
    if (c->mode >= 6)
        c->mode -= 4;
    c->bcd = v & 1;
    c->armed = false;
    c->latched = c->status_latched = false;
    c->read_msb_next = c->write_msb_next = false;
    c->frozen_ticks = -1;
    if (sc == 0) {
        c->next_irq_ns = INT64_MAX;
        ic_timers_changed(ic);
    }
}

uint8_t pit_io_read(struct irqchip *ic, unsigned port, int64_t now)
{
    if (port == 3)
        return 0xff;                           /* control word is write-only */
    struct pit_channel *c = &ic->pit.ch[port];
    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    if (c->latched) {
        uint8_t b;
        if (c->latch_msb_next) {
            b = c->latch >> 8;
            c->latched = false;
        } else {
            b = c->latch & 0xff;
            if (c->rw == 3)
                c->latch_msb_next = true;
            else
                c->latched = false;
        }
        return b;
    }
    uint32_t v = pit_value(c, now);
    uint16_t val = c->bcd ? to_bcd(v) : (uint16_t)v;
    switch (c->rw) {
    case 1: return val & 0xff;
    case 2: return val >> 8;
    default:
        c->read_msb_next = !c->read_msb_next;
        return c->read_msb_next ? (val & 0xff) : (val >> 8);
    }
}

void pit_io_write(struct irqchip *ic, unsigned port, uint8_t v, int64_t now)
{
    if (port == 3) {
        pit_control(ic, v, now);
        return;
    }
    struct pit_channel *c = &ic->pit.ch[port];
    switch (c->rw) {
    case 1:
        pit_load(ic, port, v, now);
        break;
    case 2:
        pit_load(ic, port, (uint32_t)v << 8, now);
        break;
    default:
        if (!c->write_msb_next) {
            c->write_lsb = v;
            c->write_msb_next = true;
        } else {
            c->write_msb_next = false;
            pit_load(ic, port, c->write_lsb | (uint32_t)v << 8, now);
        }
        break;
    }
}

uint8_t pit_port61_read(struct irqchip *ic, int64_t now)
{
    struct pit8254 *p = &ic->pit;
    /* Refresh request toggles every 15.085 us on a PC. */
    bool refresh = (now / 15085) & 1;
    return (uint8_t)(p->ch[2].gate | p->speaker_data << 1 | p->port61_low << 2 |
                     refresh << 4 | pit_out(&p->ch[2], now) << 5);
}

void pit_port61_write(struct irqchip *ic, uint8_t v, int64_t now)
{
    struct pit8254 *p = &ic->pit;
    struct pit_channel *c = &p->ch[2];
    bool gate = v & 1;
    p->speaker_data = (v >> 1) & 1;
    p->port61_low = (v >> 2) & 3;
    if (gate == c->gate)
        return;
    c->gate = gate;
    if (!c->armed)
        return;
    if (!gate) {
        if (!counts_while_gate_low(c->mode) && c->frozen_ticks < 0)
            c->frozen_ticks = ticks_of(now - c->load_ns);
        return;
    }
    switch (c->mode) {
    case 0:
    case 4:                                    /* resume where it stopped */
        if (c->frozen_ticks >= 0) {
            c->load_ns = now - ns_of(c->frozen_ticks);
            c->frozen_ticks = -1;
        }
        break;
    default:                                   /* 1, 5 trigger; 2, 3 reload */
        c->load_ns = now;
        c->frozen_ticks = -1;
        break;
    }
}
