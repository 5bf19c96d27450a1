/* 8259A pair: ICW programming, priorities, EOI, cascade, ELCR level mode,
 * poll, AEOI, spurious IRQ7, and delivery through the BSP's LINT0. */
#include "fake.h"

static bool intr(struct irqchip *ic) { return lapic_pending(ic, 0) & LAPIC_EV_INTR; }
static uint8_t isr_master(void) { outb(0x20, 0x0b); uint8_t v = inb(0x20); outb(0x20, 0x0a); return v; }

int main(void)
{
    struct irqchip *ic = fake_irqchip(2);
    pic_init_pc();
    tap_ok(!intr(ic), "nothing pending after init");

    irqchip_set_irq(ic, 4, 1);
    tap_ok(intr(ic), "IRQ4 raises INTR on the BSP (LINT0 virtual wire)");
    tap_ok(!(lapic_pending(ic, 1) & LAPIC_EV_INTR), "AP's LINT0 is masked");
    tap_ok(fake_kicks[0] > 0, "BSP kicked");
    tap_is_int(inb(0x20), 0x10, "IRR shows IRQ4");
    tap_is_int(lapic_ack(ic, 0), 0x24, "INTA gives vector base + 4");
    tap_is_int(isr_master(), 0x10, "ISR bit 4 set");
    tap_ok(!intr(ic), "edge request consumed");
    irqchip_set_irq(ic, 4, 0);
    outb(0x20, 0x20);
    tap_is_int(isr_master(), 0, "non-specific EOI clears ISR");

    irqchip_set_irq(ic, 4, 1);
    irqchip_set_irq(ic, 4, 1);
    tap_is_int(lapic_ack(ic, 0), 0x24, "edge once");
    outb(0x20, 0x20);
    tap_ok(!intr(ic), "held line is not a second edge");
    irqchip_set_irq(ic, 4, 0);

    /* priorities: IRQ3 beats IRQ5; IRQ5 waits for EOI of IRQ3 */
    irqchip_set_irq(ic, 5, 1);
    irqchip_set_irq(ic, 3, 1);
    tap_is_int(lapic_ack(ic, 0), 0x23, "IRQ3 first");
    tap_ok(!intr(ic), "IRQ5 blocked while IRQ3 in service");
    outb(0x20, 0x63);                       /* specific EOI for IR3 */
    tap_ok(intr(ic), "IRQ5 after specific EOI");
    tap_is_int(lapic_ack(ic, 0), 0x25, "then IRQ5");
    outb(0x20, 0x20);
    irqchip_set_irq(ic, 3, 0);
    irqchip_set_irq(ic, 5, 0);

    /* masking */
    outb(0x21, 0x08);
    irqchip_set_irq(ic, 3, 1);
    tap_ok(!intr(ic), "masked IRQ3 does not interrupt");
    tap_is_int(inb(0x21), 0x08, "IMR reads back");
    outb(0x21, 0x00);
    tap_ok(intr(ic), "unmasking delivers the latched request");
    tap_is_int(lapic_ack(ic, 0), 0x23, "IRQ3");
    outb(0x20, 0x20);
    irqchip_set_irq(ic, 3, 0);

    /* cascade */
    irqchip_set_irq(ic, 12, 1);
    tap_is_int(lapic_ack(ic, 0), 0x2c, "IRQ12 through the slave");
    tap_is_int(isr_master(), 0x04, "master ISR shows the cascade input");
    outb(0xa0, 0x0b);
    tap_is_int(inb(0xa0), 0x10, "slave ISR bit 4");
    outb(0xa0, 0x20);
    outb(0x20, 0x20);
    irqchip_set_irq(ic, 12, 0);
    tap_ok(!intr(ic), "quiet after cascade EOI");

    /* ELCR: level-triggered IRQ10 */
    outb(0x4d1, 0xff);
    tap_is_int(inb(0x4d1), 0xde, "slave ELCR keeps only level-capable bits");
    outb(0x4d0, 0xff);
    tap_is_int(inb(0x4d0), 0xf8, "master ELCR mask");
    outb(0x4d0, 0x00);
    outb(0x4d1, 0x04);
    irqchip_set_irq(ic, 10, 1);
    tap_is_int(lapic_ack(ic, 0), 0x2a, "level IRQ10");
    outb(0xa0, 0x20);
    outb(0x20, 0x20);
    tap_ok(intr(ic), "still asserted: requests again after EOI");
    irqchip_set_irq(ic, 10, 0);
    tap_ok(!intr(ic), "deasserted: request withdrawn");
    outb(0x4d1, 0x00);

    /* poll command */
    irqchip_set_irq(ic, 6, 1);
    outb(0x20, 0x0c);
    tap_is_int(inb(0x20), 0x86, "poll returns 0x80 | IR6");
    tap_is_int(isr_master(), 0x40, "poll acknowledged it");
    outb(0x20, 0x20);
    irqchip_set_irq(ic, 6, 0);
    outb(0x20, 0x0c);
    tap_is_int(inb(0x20), 0x00, "poll with nothing pending");

    /* spurious: the request vanished before INTA */
    tap_is_int(lapic_ack(ic, 0), -1, "no INTA when the LAPIC sees no INTR");

    /* rotation: set priority so IR7 is lowest, then IR0 highest */
    outb(0x20, 0xc7);
    irqchip_set_irq(ic, 7, 1);
    irqchip_set_irq(ic, 1, 1);
    tap_is_int(lapic_ack(ic, 0), 0x21, "IR1 beats IR7 in default order");
    outb(0x20, 0x20);
    outb(0x20, 0xc1);                       /* IR1 lowest: IR2 highest ... IR7 above IR1 */
    irqchip_set_irq(ic, 1, 0);
    irqchip_set_irq(ic, 1, 1);
    tap_is_int(lapic_ack(ic, 0), 0x27, "after rotation IR7 beats IR1");
    outb(0x20, 0x20);
    tap_is_int(lapic_ack(ic, 0), 0x21, "then IR1");
    outb(0x20, 0x20);
    outb(0x20, 0xc7);
    irqchip_set_irq(ic, 1, 0);
    irqchip_set_irq(ic, 7, 0);

    /* AEOI */
    outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, 0x03);
    outb(0x21, 0x00);
    irqchip_set_irq(ic, 4, 1);
    tap_is_int(lapic_ack(ic, 0), 0x24, "AEOI: delivered");
    tap_is_int(isr_master(), 0, "AEOI: ISR never set");
    irqchip_set_irq(ic, 4, 0);

    /* re-init clears edge state and masks */
    outb(0x21, 0xff);
    irqchip_set_irq(ic, 4, 1);
    pic_init_pc();
    tap_ok(!intr(ic), "ICW1 forgets an old edge");
    irqchip_set_irq(ic, 4, 0);

    /* LINT0 masked: PIC output no longer reaches the BSP */
    apic_wr(ic, 0, 0xf0, 0x1ff);
    apic_wr(ic, 0, 0x350, 0x10700);
    irqchip_set_irq(ic, 4, 1);
    tap_ok(!intr(ic), "LINT0 masked blocks ExtINT");
    apic_wr(ic, 0, 0x350, 0x00700);
    tap_ok(intr(ic), "unmasked LINT0 passes it");
    tap_is_int(lapic_ack(ic, 0), 0x24, "ExtINT ack");

    /* hostile port writes do not crash */
    for (unsigned i = 0; i < 4096; i++) {
        uint16_t ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1 };
        outb(ports[i % 6], (uint8_t)(i * 37 + (i >> 3)));
        (void)inb(ports[(i / 6) % 6]);
        irqchip_set_irq(ic, i % 16, i & 1);
        (void)lapic_ack(ic, 0);
    }
    tap_ok(1, "random PIC programming survives");
    irqchip_destroy(ic);
    return tap_done();
}
