/* CMOS RTC interrupts on IRQ 8 (IOAPIC pin 8, edge, active high): the
 * periodic interrupt (status A rate, B.PIE), the update-ended interrupt
 * (B.UIE), the alarm (B.AIE, with "don't care" fields) and status C
 * read-and-clear. Each handler reads C, which acknowledges the chip; the
 * guest counts interrupts per flag and prints
 *   "rtc_irq: periodic N", "rtc_irq: update N", "rtc_irq: alarm N"
 * Command line "only=periodic|update|alarm" runs one part; "only=reset"
 * resets the machine (i8042) while the RTC interrupts at 8 kHz and checks,
 * on the second boot, that reset cleared the interrupt enables and flags. */
#include "lib/guest.h"

#define RTC_VECTOR 0x38
#define PM_HZ      3579545u

static volatile unsigned irqs, pf, uf, af, bad_c;

static void rtc_handler(unsigned v)
{
    uint8_t c = cmos_read(0x0c);
    irqs++;
    if (!(c & 0x80))
        bad_c++;                        /* an interrupt must report IRQF */
    if (c & 0x40) pf++;
    if (c & 0x10) uf++;
    if (c & 0x20) af++;
    lapic_eoi();
}

static uint16_t pm_tmr;

/* Wait with interrupts on until *count reaches want or `secs` seconds of
 * PM timer time pass (generous: the host may be busy); returns the PM
 * ticks waited. */
static uint32_t wait_count(volatile unsigned *count, unsigned want, unsigned secs)
{
    uint32_t start = inl(pm_tmr), now = start;
    while (*count < want && (now = inl(pm_tmr)) - start < secs * PM_HZ) {
        sti();
        for (int i = 0; i < 100; i++)
            cpu_relax();
    }
    cli();
    return now - start;
}

static void reset_counts(void)
{
    pf = uf = af = 0;          /* irqs and bad_c count the whole run */
}

static unsigned bcd(uint8_t v) { return (v >> 4) * 10 + (v & 15); }
static uint8_t to_bcd(unsigned v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }

static bool periodic(void)
{
    reset_counts();
    cmos_write(0x0a, 0x2a);             /* 32.768 kHz base, rate 10: 64 Hz */
    cmos_read(0x0c);
    cmos_write(0x0b, 0x02 | 0x40);      /* 24h BCD, PIE */
    uint32_t waited = wait_count(&pf, 16, 10);
    cmos_write(0x0b, 0x02);
    cmos_write(0x0a, 0x26);
    unsigned got = pf;
    /* 16 ticks at 64 Hz take at least 15 periods (234 ms); allow half of
     * it, so only an interrupt that fires far too often fails. */
    uint32_t min_ticks = 15u * PM_HZ / 64 / 2;
    gprintf("rtc_irq: periodic %u (%u ms)\n", got, waited / (PM_HZ / 1000));
    if (got < 16)
        return gprintf("rtc_irq: periodic interrupts missing\n"), false;
    if (waited < min_ticks)
        return gprintf("rtc_irq: periodic interrupts too fast\n"), false;
    return true;
}

static bool update(void)
{
    reset_counts();
    cmos_read(0x0c);
    cmos_write(0x0b, 0x02 | 0x10);      /* UIE */
    wait_count(&uf, 2, 10);
    cmos_write(0x0b, 0x02);
    gprintf("rtc_irq: update %u\n", uf);
    return uf >= 2;   /* (PF shows too: the rate keeps running without PIE) */
}

static bool alarm(void)
{
    reset_counts();
    while (cmos_read(0x0a) & 0x80)
        cpu_relax();
    unsigned s = bcd(cmos_read(0x00));
    cmos_write(0x01, to_bcd((s + 2) % 60));  /* two seconds from now */
    cmos_write(0x03, 0xc0);                  /* any minute */
    cmos_write(0x05, 0xff);                  /* any hour */
    cmos_read(0x0c);
    cmos_write(0x0b, 0x02 | 0x20);           /* AIE */
    wait_count(&af, 1, 10);
    unsigned first = af;
    /* every field "don't care": the alarm fires each second */
    cmos_write(0x01, 0xff);
    cmos_write(0x03, 0xff);
    wait_count(&af, first + 2, 10);
    cmos_write(0x0b, 0x02);
    gprintf("rtc_irq: alarm %u (first after %u)\n", af, first);
    return first >= 1 && af >= first + 2;
}

/* Status C is read-and-clear: with updates running and no interrupt
 * enabled, UF shows once per second and a second read returns 0. */
static bool status_c(void)
{
    cmos_write(0x0b, 0x02);
    cmos_read(0x0c);
    uint32_t start = inl(pm_tmr);
    uint8_t c = 0;
    while (!(c & 0x10) && inl(pm_tmr) - start < 3 * PM_HZ)
        c = cmos_read(0x0c);
    uint8_t again = cmos_read(0x0c);
    gprintf("rtc_irq: status C 0x%02x then 0x%02x\n", c, again);
    return (c & 0x90) == 0x10 && (again & 0x10) == 0;
}

#define MARKER_ADDR 0x800000u
#define MARKER      0x52544352u

/* First boot: interrupts at 8192 Hz (and UIE), then reset mid-stream.
 * Second boot (RAM survives): B must have PIE/AIE/UIE clear and no
 * interrupt may arrive; the mode bits (24h) stay. */
static bool reset_part(void)
{
    volatile uint32_t *marker = (volatile uint32_t *)MARKER_ADDR;
    if (*marker != MARKER) {
        *marker = MARKER;
        cmos_write(0x0a, 0x23);            /* rate 3: 8192 Hz */
        cmos_read(0x0c);
        cmos_write(0x0b, 0x02 | 0x40 | 0x10);
        wait_count(&pf, 64, 10);
        gprintf("rtc_irq: resetting with %u periodic interrupts seen\n", pf);
        outb(0x64, 0xfe);
        for (int i = 0; i < 1000000; i++)
            cpu_relax();
        gprintf("rtc_irq: still running after the reset request\n");
        return false;
    }
    *marker = 0;
    uint8_t b = cmos_read(0x0b);
    reset_counts();
    wait_count(&pf, 1, 1);                 /* a second with interrupts on */
    gprintf("rtc_irq: after reset B=0x%02x, %u interrupts\n", b, irqs);
    cmos_write(0x0a, 0x26);
    return (b & 0x70) == 0 && (b & 0x02) && irqs == 0;
}

int guest_main(const char *cmdline)
{
    struct acpi_pm_info pm;
    char only[16] = "";
    bool ok = true;

    if (!acpi_pm_info(&pm))
        return gprintf("rtc_irq: no ACPI\n"), 1;
    pm_tmr = pm.pm_tmr;
    cmdline_get(cmdline, "only", only, sizeof(only));
    idt_init();
    pic_disable();
    lapic_enable();
    idt_set_handler(RTC_VECTOR, rtc_handler);
    ioapic_route(8, RTC_VECTOR, false, false, lapic_id());

    if (!strncmp(only, "reset", 6))
        ok &= reset_part();
    if (!only[0] || !strncmp(only, "periodic", 9))
        ok &= periodic();
    if (!only[0] || !strncmp(only, "update", 7))
        ok &= update();
    if (!only[0] || !strncmp(only, "alarm", 6))
        ok &= alarm();
    if (!only[0])
        ok &= status_c();
    ioapic_mask(8);
    if (bad_c)
        return gprintf("rtc_irq: %u interrupts without IRQF\n", bad_c), 1;
    gprintf("rtc_irq: %u interrupts\n", irqs);
    return ok ? 0 : 1;
}
