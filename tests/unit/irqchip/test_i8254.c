/* 8254 PIT on a fake clock: IRQ0 timing in modes 2 and 4, coalescing,
 * counter latch and read-back, channel 2 gate and OUT on port 0x61 (Linux's
 * TSC calibration), BCD, and the IRQ rate clamp. */
#include "fake.h"

#define T0 1000000000LL

static bool irq0_pending(struct irqchip *ic)
{
    return (inb(0x20) & 1) != 0;           /* OCW3 default: IRR */
}

static void take_irq0(struct irqchip *ic)
{
    (void)lapic_ack(ic, 0);
    outb(0x20, 0x20);
}

static unsigned read_count(uint16_t port)
{
    unsigned lo = inb(port);
    return lo | (unsigned)inb(port) << 8;
}

int main(void)
{
    struct irqchip *ic = fake_irqchip(1);
    pic_init_pc();

    /* channel 0, mode 2, 1193 ticks (~1 ms) */
    fake_clock = T0;
    outb(0x43, 0x34); outb(0x40, 0xa9); outb(0x40, 0x04);
    tap_is_int(irqchip_poll_timers(ic, T0 + 999000), T0 + 999848, "first IRQ0 edge after 1193 ticks");
    tap_ok(!irq0_pending(ic), "no IRQ0 before the period ends");
    int64_t next = irqchip_poll_timers(ic, T0 + 1000000);
    tap_ok(irq0_pending(ic), "IRQ0 at the end of the period");
    tap_is_int(next, T0 + 2 * 999848, "next edge one period later");
    tap_is_int(lapic_ack(ic, 0), 0x20, "delivered as vector 0x20");
    outb(0x20, 0x20);

    fake_clock = T0 + 500000;
    outb(0x43, 0x00);                       /* latch channel 0 */
    fake_clock = T0 + 700000;               /* latched value must not move */
    tap_is_int(read_count(0x40), 597, "latched count (1193 - 596 ticks)");

    outb(0x43, 0xe2);                       /* read-back: status of channel 0 */
    tap_is_int(inb(0x40) & 0x7f, 0x34, "read-back status: rw=3, mode 2, binary");

    /* a few ticks late: caught up one by one, 250 us apart */
    next = irqchip_poll_timers(ic, T0 + 5500000);
    tap_ok(irq0_pending(ic), "late poll fires");
    take_irq0(ic);
    tap_is_int(next, T0 + 5500000 + 250000, "backlog: next tick after the catch-up gap");
    unsigned caught = 1;
    for (int64_t t = T0 + 5500000; t < T0 + 7600000; t += 50000) {
        irqchip_poll_timers(ic, t);
        if (irq0_pending(ic)) {
            caught++;
            take_irq0(ic);
        }
    }
    tap_is_int(caught, 6, "every tick from 2 ms to 7 ms delivered");

    /* catch-up ticks never merge with one the guest has not taken yet */
    fake_clock = T0;
    outb(0x43, 0x34); outb(0x40, 0xa9); outb(0x40, 0x04);
    irqchip_poll_timers(ic, T0 + 3500000);              /* tick 1 of 3 due */
    irqchip_poll_timers(ic, T0 + 3750000);              /* guest still busy */
    caught = 0;
    for (int64_t t = T0 + 3750000; t <= T0 + 4500000; t += 250000) {
        if (irq0_pending(ic)) {
            caught++;
            take_irq0(ic);
        }
        irqchip_poll_timers(ic, t + 250000);
    }
    tap_is_int(caught, 4, "ticks 1-4 each delivered once the previous was taken");
    if (irq0_pending(ic))
        take_irq0(ic);

    /* far behind (timer thread starved): the backlog is dropped */
    next = irqchip_poll_timers(ic, T0 + 10 * 1000000000LL);
    tap_ok(irq0_pending(ic), "very late poll fires once");
    take_irq0(ic);
    irqchip_poll_timers(ic, T0 + 10 * 1000000000LL);
    tap_ok(!irq0_pending(ic), "old backlog dropped");
    tap_ok(next > T0 + 10 * 1000000000LL && next <= T0 + 10 * 1000000000LL + 1000000,
           "rescheduled within one period of now");

    /* mode 4: one strobe */
    fake_clock = T0;
    outb(0x43, 0x38); outb(0x40, 100); outb(0x40, 0);
    irqchip_poll_timers(ic, T0 + 84000);
    tap_ok(!irq0_pending(ic), "mode 4: not before N+1 ticks");
    tap_is_int(irqchip_poll_timers(ic, T0 + 84648), INT64_MAX, "mode 4: fires once, nothing after");
    tap_ok(irq0_pending(ic), "mode 4 strobe raised IRQ0");
    take_irq0(ic);
    irqchip_poll_timers(ic, T0 + 5000000);
    tap_ok(!irq0_pending(ic), "mode 4: no second IRQ");

    /* shut down the way Linux does: mode 0, count 0 -> one IRQ after 65536 ticks */
    outb(0x43, 0x30); outb(0x40, 0); outb(0x40, 0);
    tap_ok(irqchip_poll_timers(ic, T0) > T0 + 54000000, "mode 0 count 0 counts 65536");

    /* IRQ rate clamp */
    fake_clock = T0;
    outb(0x43, 0x34); outb(0x40, 2); outb(0x40, 0);
    next = irqchip_poll_timers(ic, T0 + 20000);
    take_irq0(ic);
    tap_ok(next >= T0 + 40000, "tiny periods are stretched to 20 us for IRQ0");

    /* channel 2 and port 0x61, as Linux's pit_calibrate_tsc uses them */
    fake_clock = T0;
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);
    outb(0x43, 0xb0); outb(0x42, 0xe8); outb(0x42, 0x03);   /* mode 0, 1000 */
    tap_is_int(inb(0x61) & 0x21, 0x01, "gate high, OUT2 low after load");
    fake_clock = T0 + 838000;
    tap_is_int(inb(0x61) & 0x20, 0, "OUT2 low at tick 999");
    fake_clock = T0 + 838097;
    tap_is_int(inb(0x61) & 0x20, 0x20, "OUT2 high at terminal count");
    fake_clock = T0 + 100000;
    tap_is_int(read_count(0x42), 1000 - 119, "live LSB/MSB read of channel 2");

    /* gate low pauses mode 0 */
    fake_clock = T0;
    outb(0x43, 0xb0); outb(0x42, 0xe8); outb(0x42, 0x03);
    fake_clock = T0 + 400000;
    outb(0x61, 0x00);
    fake_clock = T0 + 5000000000LL;
    tap_is_int(read_count(0x42), 1000 - 477, "count frozen while the gate is low");
    tap_is_int(inb(0x61) & 0x20, 0, "OUT2 still low");
    outb(0x61, 0x01);
    fake_clock += 430000;
    tap_is_int(inb(0x61) & 0x20, 0, "resumed, not yet at terminal count");
    fake_clock += 20000;
    tap_is_int(inb(0x61) & 0x20, 0x20, "terminal count after the remaining ticks");

    /* gate held low from the start: counting starts at the rising edge */
    outb(0x61, 0x00);
    outb(0x43, 0xb0); outb(0x42, 10); outb(0x42, 0);
    fake_clock += 1000000;
    tap_is_int(inb(0x61) & 0x20, 0, "mode 0 waits for the gate");
    outb(0x61, 0x01);
    fake_clock += 9000;
    tap_is_int(inb(0x61) & 0x20, 0x20, "counts after the gate rises");

    /* port 0x61 speaker bits read back; refresh bit toggles with time */
    outb(0x61, 0x03);
    tap_is_int(inb(0x61) & 0x03, 0x03, "gate and speaker bits read back");
    fake_clock = 0;
    uint8_t a = inb(0x61) & 0x10;
    fake_clock = 15085;
    uint8_t b = inb(0x61) & 0x10;
    tap_ok(a != b, "refresh bit toggles");

    /* BCD on channel 1 */
    fake_clock = T0;
    outb(0x43, 0x71); outb(0x41, 0x00); outb(0x41, 0x10);     /* 1000 in BCD */
    fake_clock = T0 + 209525;                                  /* 250 ticks */
    outb(0x43, 0x40);
    tap_is_int(read_count(0x41), 0x0750, "BCD count 1000 - 250 = 0750");

    /* LSB-only and MSB-only access modes */
    outb(0x43, 0x50); outb(0x41, 0x40);                        /* LSB only: 64 */
    tap_is_int(inb(0x41), 64, "LSB-only mode");
    outb(0x43, 0x60); outb(0x41, 0x02);                        /* MSB only: 512 */
    tap_is_int(inb(0x41), 2, "MSB-only mode");

    /* hostile programming */
    for (unsigned i = 0; i < 20000; i++) {
        outb(0x40 + (i & 3), (uint8_t)(i * 131 + (i >> 2)));
        (void)inb(0x40 + ((i >> 2) & 3));
        if ((i & 63) == 0)
            outb(0x61, (uint8_t)i);
        fake_clock += 997;
        irqchip_poll_timers(ic, fake_clock);
        (void)lapic_ack(ic, 0);
        outb(0x20, 0x20);
    }
    tap_ok(1, "random PIT programming survives");
    irqchip_destroy(ic);
    return tap_done();
}
