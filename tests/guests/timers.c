/* Timer interrupts: the 8254 PIT through IOAPIC GSI 2 (ISA IRQ 0, per the
 * MADT override), the LAPIC timer in periodic mode, and the ACPI PM timer
 * counting. */
#include "lib/guest.h"

#define PIT_VECTOR   0x30
#define LAPIC_VECTOR 0x31
#define TICKS        10

static volatile unsigned pit_ticks, lapic_ticks;

static void pit_handler(unsigned v) { pit_ticks++; lapic_eoi(); }
static void lapic_handler(unsigned v) { lapic_ticks++; lapic_eoi(); }

/* Wait with interrupts enabled until *ticks reaches TICKS or ten seconds
 * of PM timer time pass (generous: the host may be busy). */
static bool wait_ticks(volatile unsigned *ticks, uint16_t pm_tmr)
{
    uint32_t start = inl(pm_tmr);

    while (*ticks < TICKS && inl(pm_tmr) - start < 10 * 3579545u) {
        sti();
        for (int i = 0; i < 100; i++)
            cpu_relax();
    }
    cli();
    return *ticks >= TICKS;
}

int guest_main(const char *cmdline)
{
    struct acpi_pm_info pm;
    bool pit_ok, lapic_ok;

    if (!acpi_pm_info(&pm))
        return gprintf("timers: no ACPI\n"), 1;
    idt_init();
    pic_disable();
    lapic_enable();
    idt_set_handler(PIT_VECTOR, pit_handler);
    idt_set_handler(LAPIC_VECTOR, lapic_handler);

    ioapic_route(2, PIT_VECTOR, false, false, lapic_id());
    pit_periodic(1000);
    pit_ok = wait_ticks(&pit_ticks, pm.pm_tmr);
    pit_stop();
    ioapic_mask(2);
    gprintf("timers: pit %u ticks\n", pit_ticks);

    /* The LAPIC clock differs between hosts and accelerators (1 GHz on
     * KVM, CPUID 0x15's crystal on tcg): a short count at divide-by-1 is
     * a sensible period on all of them (the accelerators clamp it). */
    lapic_write(0x3e0, 0xb);                    /* divide by 1 */
    lapic_write(0x320, LAPIC_VECTOR | (1u << 17));   /* periodic */
    lapic_write(0x380, 20000);
    lapic_ok = wait_ticks(&lapic_ticks, pm.pm_tmr);
    lapic_write(0x320, 1u << 16);               /* masked */
    gprintf("timers: lapic %u ticks\n", lapic_ticks);

    uint32_t t0 = inl(pm.pm_tmr), t1 = t0;
    for (int i = 0; i < 1000000 && t1 == t0; i++)
        t1 = inl(pm.pm_tmr);
    gprintf("timers: pm timer %s\n", t1 != t0 ? "counts" : "stuck");
    return t1 != t0 && pit_ok && lapic_ok ? 0 : 1;
}
