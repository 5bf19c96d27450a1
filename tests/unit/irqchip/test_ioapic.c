/* IOAPIC: registers, edge and level delivery with Remote IRR and the EOI
 * broadcast from the local APIC, masking, logical and lowest-priority
 * destinations, the EOI register, and the PIT on pin 2. */
#include "fake.h"

#define IOAPIC IRQCHIP_IOAPIC_BASE

static uint32_t io_rd(unsigned reg) { mmio_wr(IOAPIC, reg); return mmio_rd(IOAPIC + 0x10); }
static void io_wr(unsigned reg, uint32_t v) { mmio_wr(IOAPIC, reg); mmio_wr(IOAPIC + 0x10, v); }
static void rte(unsigned pin, uint32_t lo, uint32_t hi) { io_wr(0x11 + 2 * pin, hi); io_wr(0x10 + 2 * pin, lo); }

int main(void)
{
    struct irqchip *ic = fake_irqchip(2);
    outb(0x21, 0xff); outb(0xa1, 0xff);     /* PIC fully masked, as Linux does */
    apic_wr(ic, 0, 0xf0, 0x1ff);
    apic_wr(ic, 1, 0xf0, 0x1ff);

    tap_is_int(io_rd(1), 0x00170020, "version 0x20, 24 pins");
    tap_is_int(io_rd(0x10) & 0x10000, 0x10000, "pins masked at reset");
    io_wr(0, 0x0f000000);
    tap_is_int(io_rd(0), 0x0f000000, "ID writable");
    io_wr(0, 0);
    tap_is_int(mmio_rd(IOAPIC), 0, "IOREGSEL reads back");

    /* edge, physical destination CPU 0 */
    rte(4, 0x31, 0);
    tap_is_int(io_rd(0x18), 0x31, "redirection entry reads back");
    irqchip_set_irq(ic, 4, 1);
    tap_ok(lapic_pending(ic, 0) & LAPIC_EV_INTR, "edge pin delivered to CPU 0");
    tap_is_int(lapic_ack(ic, 0), 0x31, "vector 0x31");
    apic_wr(ic, 0, 0xb0, 0);
    irqchip_set_irq(ic, 4, 1);
    tap_is_int(lapic_ack(ic, 0), -1, "no new edge while held");
    irqchip_set_irq(ic, 4, 0);

    /* masked edge is lost */
    rte(4, 0x10031, 0);
    irqchip_set_irq(ic, 4, 1);
    irqchip_set_irq(ic, 4, 0);
    rte(4, 0x31, 0);
    tap_is_int(lapic_ack(ic, 0), -1, "edge on a masked pin is lost");

    /* level pin to CPU 1 */
    rte(16, 0x8041, 1u << 24);
    irqchip_set_irq(ic, 16, 1);
    tap_ok(io_rd(0x30) & (1u << 14), "Remote IRR set on delivery");
    tap_ok(!(lapic_pending(ic, 0) & LAPIC_EV_INTR), "not for CPU 0");
    tap_is_int(lapic_ack(ic, 1), 0x41, "CPU 1 takes vector 0x41");
    tap_ok(apic_rd(ic, 1, 0x180 + 0x20) & 0x2, "TMR bit set for a level vector");
    irqchip_set_irq(ic, 16, 1);
    tap_is_int(lapic_ack(ic, 1), -1, "no redelivery while Remote IRR is set");
    apic_wr(ic, 1, 0xb0, 0);                /* EOI: broadcast, still asserted */
    tap_ok(io_rd(0x30) & (1u << 14), "still asserted: delivered again at EOI");
    tap_is_int(lapic_ack(ic, 1), 0x41, "second delivery");
    irqchip_set_irq(ic, 16, 0);
    apic_wr(ic, 1, 0xb0, 0);
    tap_ok(!(io_rd(0x30) & (1u << 14)), "Remote IRR clear after EOI of a deasserted line");
    tap_is_int(lapic_ack(ic, 1), -1, "nothing pending");

    /* EOI register (version 0x20) */
    irqchip_set_irq(ic, 16, 1);
    tap_is_int(lapic_ack(ic, 1), 0x41, "level again");
    irqchip_set_irq(ic, 16, 0);
    mmio_wr(IOAPIC + 0x40, 0x41);
    tap_ok(!(io_rd(0x30) & (1u << 14)), "EOI register clears Remote IRR");
    apic_wr(ic, 1, 0xb0, 0);

    /* unmasking an asserted level pin delivers */
    rte(17, 0x18042, 0);
    irqchip_set_irq(ic, 17, 1);
    tap_is_int(lapic_ack(ic, 0), -1, "masked level pin waits");
    rte(17, 0x8042, 0);
    tap_is_int(lapic_ack(ic, 0), 0x42, "delivered on unmask");
    irqchip_set_irq(ic, 17, 0);
    rte(17, 0x0042, 0);                     /* to edge: stale Remote IRR cleared */
    tap_ok(!(io_rd(0x32) & (1u << 14)), "switching to edge clears Remote IRR");
    apic_wr(ic, 0, 0xb0, 0);

    /* logical flat destination */
    apic_wr(ic, 0, 0xe0, 0xffffffff);
    apic_wr(ic, 1, 0xe0, 0xffffffff);
    apic_wr(ic, 0, 0xd0, 0x01000000);
    apic_wr(ic, 1, 0xd0, 0x02000000);
    rte(5, 0x850, 0x02000000);              /* logical, dest 0x02 */
    irqchip_set_irq(ic, 5, 1);
    irqchip_set_irq(ic, 5, 0);
    tap_is_int(lapic_ack(ic, 0), -1, "logical 0x02: not CPU 0");
    tap_is_int(lapic_ack(ic, 1), 0x50, "logical 0x02: CPU 1");
    apic_wr(ic, 1, 0xb0, 0);

    /* lowest priority among both: CPU 0 has the higher TPR */
    apic_wr(ic, 0, 0x80, 0x20);
    apic_wr(ic, 1, 0x80, 0x10);
    rte(6, 0x951, 0x03000000);              /* lowest priority, logical 0x03 */
    irqchip_set_irq(ic, 6, 1);
    irqchip_set_irq(ic, 6, 0);
    tap_is_int(lapic_ack(ic, 1), 0x51, "lowest priority picks the CPU with the lower TPR");
    tap_is_int(lapic_ack(ic, 0), -1, "and only that one");
    apic_wr(ic, 1, 0xb0, 0);
    apic_wr(ic, 0, 0x80, 0);
    apic_wr(ic, 1, 0x80, 0);

    /* NMI delivery mode */
    rte(7, 0x400, 0);
    irqchip_set_irq(ic, 7, 1);
    tap_ok(lapic_take_nmi(ic, 0), "NMI delivery mode");
    irqchip_set_irq(ic, 7, 0);

    /* PIT IRQ0 arrives on pin 2 */
    rte(2, 0x30, 0);
    fake_clock = 0;
    outb(0x43, 0x34); outb(0x40, 0xa9); outb(0x40, 0x04);
    irqchip_poll_timers(ic, 2000000);
    tap_is_int(lapic_ack(ic, 0), 0x30, "PIT IRQ0 through IOAPIC pin 2");
    apic_wr(ic, 0, 0xb0, 0);

    /* broadcast destination 0xff */
    rte(8, 0x60, 0xff000000);
    irqchip_set_irq(ic, 8, 1);
    tap_is_int(lapic_ack(ic, 0), 0x60, "broadcast reaches CPU 0");
    tap_is_int(lapic_ack(ic, 1), 0x60, "and CPU 1");

    /* hostile register traffic */
    for (unsigned i = 0; i < 20000; i++) {
        mmio_wr(IOAPIC, i * 7);
        mmio_wr(IOAPIC + 0x10, i * 2654435761u);
        (void)mmio_rd(IOAPIC + ((i & 0xff) << 2));
        mmio_wr(IOAPIC + 0x40, i);
        irqchip_set_irq(ic, i % 30, (i >> 1) & 1);
        (void)lapic_ack(ic, i & 1);
        apic_wr(ic, i & 1, 0xb0, 0);
    }
    fake_write(&fake_mmio, IOAPIC + 3, 0x1234, 2);
    (void)fake_read(&fake_mmio, IOAPIC + 0x11, 1);
    tap_ok(1, "random IOAPIC programming survives");
    irqchip_destroy(ic);
    return tap_done();
}
