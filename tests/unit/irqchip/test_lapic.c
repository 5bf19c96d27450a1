/* Local APIC: reset state, priorities (TPR/PPR/ISR), EOI, IPIs (fixed,
 * shorthands, NMI, INIT/SIPI), ESR, logical destinations, the timer in
 * one-shot, periodic and TSC-deadline modes on a fake clock, x2APIC MSRs,
 * CR8, MSIs, and a real-time check of the timer thread. */
#include "fake.h"

#include <pthread.h>

#define T0 1000000000LL

enum { ID = 0x20, VER = 0x30, TPR = 0x80, PPR = 0xa0, EOI = 0xb0, LDR = 0xd0, DFR = 0xe0,
       SVR = 0xf0, ISR = 0x100, IRR = 0x200, ESR = 0x280, ICR = 0x300, ICR2 = 0x310,
       LVTT = 0x320, LINT0 = 0x350, LINT1 = 0x360, LVTERR = 0x370, TMICT = 0x380,
       TMCCT = 0x390, TDCR = 0x3e0 };

static bool has_irr(struct irqchip *ic, unsigned cpu, unsigned v)
{
    return apic_rd(ic, cpu, IRR + (v >> 5) * 0x10) & (1u << (v & 31));
}

static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rt_cond = PTHREAD_COND_INITIALIZER;
static unsigned rt_kicks;
static void rt_kick(void *o, unsigned cpu)
{
    pthread_mutex_lock(&rt_lock);
    rt_kicks++;
    pthread_cond_broadcast(&rt_cond);
    pthread_mutex_unlock(&rt_lock);
}

static void test_timer_thread(void)
{
    struct irqchip_hooks h = { .kick = rt_kick };
    struct irqchip *ic;
    if (irqchip_create(1, &h, &ic, NULL) < 0 || irqchip_start_timers(ic, NULL) < 0) {
        tap_ok(0, "timer thread starts");
        return;
    }
    apic_wr(ic, 0, SVR, 0x1ff);
    apic_wr(ic, 0, TDCR, 0xb);
    apic_wr(ic, 0, LVTT, 0x20031);          /* periodic, vector 0x31 */
    apic_wr(ic, 0, TMICT, 1000000);         /* 1 ms */
    /* Liveness only: wait (up to 30 s) for the thread to fire the timer. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30;
    pthread_mutex_lock(&rt_lock);
    while (rt_kicks == 0 && pthread_cond_timedwait(&rt_cond, &rt_lock, &ts) == 0)
        ;
    pthread_mutex_unlock(&rt_lock);
    tap_is_int(lapic_ack(ic, 0), 0x31, "timer thread fires the LAPIC timer from host time");
    irqchip_destroy(ic);
    tap_ok(1, "timer thread stops on destroy");
}

int main(void)
{
    struct irqchip *ic = fake_irqchip(3);

    /* reset state */
    tap_is_int(apic_rd(ic, 0, ID), 0, "BSP APIC ID 0");
    tap_is_int(apic_rd(ic, 2, ID), 2u << 24, "CPU 2 APIC ID 2");
    tap_is_int(apic_rd(ic, 0, VER), 0x50014, "version 0x14, 6 LVT entries");
    tap_is_int(apic_rd(ic, 1, SVR), 0xff, "software disabled at reset");
    tap_is_int(apic_rd(ic, 1, LVTT), 0x10000, "LVT timer masked at reset");
    tap_is_int(apic_rd(ic, 0, LINT0), 0x700, "BSP LINT0 ExtINT (virtual wire)");
    tap_is_int(lapic_get_base(ic, 0), 0xfee00900, "BSP APIC base: enabled, BSP bit");
    tap_is_int(lapic_get_base(ic, 1), 0xfee00800, "AP APIC base");
    tap_ok(lapic_is_mmio(ic, 0, 0xfee00300), "xAPIC page decoded");
    tap_ok(!lapic_is_mmio(ic, 0, 0xfee01000), "next page is not");
    tap_ok(!lapic_waiting_for_sipi(ic, 0) && lapic_waiting_for_sipi(ic, 1), "APs wait for SIPI");
    for (unsigned c = 0; c < 3; c++)
        apic_wr(ic, c, SVR, 0x1ff);

    /* self IPI, nesting, PPR */
    apic_wr(ic, 0, ICR, 0x40040);           /* shorthand self, fixed 0x40 */
    tap_ok(has_irr(ic, 0, 0x40), "self IPI lands in IRR");
    tap_is_int(lapic_ack(ic, 0), 0x40, "ack 0x40");
    tap_is_int(apic_rd(ic, 0, PPR), 0x40, "PPR follows ISR");
    tap_is_int(apic_rd(ic, 0, ISR + 0x20), 1, "ISR bit 0x40");
    apic_wr(ic, 0, ICR, 0x40041);
    tap_is_int(lapic_ack(ic, 0), -1, "same class 0x41 blocked");
    apic_wr(ic, 0, ICR, 0x40050);
    tap_is_int(lapic_ack(ic, 0), 0x50, "higher class 0x50 nests");
    apic_wr(ic, 0, EOI, 0);
    apic_wr(ic, 0, EOI, 0);
    tap_is_int(lapic_ack(ic, 0), 0x41, "0x41 after both EOIs");
    apic_wr(ic, 0, EOI, 0);
    tap_is_int(apic_rd(ic, 0, PPR), 0, "PPR back to 0");

    /* TPR */
    apic_wr(ic, 0, TPR, 0x50);
    apic_wr(ic, 0, ICR, 0x40045);
    tap_ok(!(lapic_pending(ic, 0) & LAPIC_EV_INTR), "TPR 0x50 holds back 0x45");
    tap_is_int(lapic_get_cr8(ic, 0), 5, "CR8 = TPR >> 4");
    lapic_set_cr8(ic, 0, 0);
    tap_ok(lapic_pending(ic, 0) & LAPIC_EV_INTR, "CR8 0 releases it");
    tap_is_int(lapic_ack(ic, 0), 0x45, "0x45");
    apic_wr(ic, 0, EOI, 0);

    /* IPI to another CPU */
    unsigned kicks = fake_kicks[2];
    apic_wr(ic, 0, ICR2, 2u << 24);
    apic_wr(ic, 0, ICR, 0x60);
    tap_ok(fake_kicks[2] > kicks, "target CPU kicked");
    tap_is_int(lapic_ack(ic, 2), 0x60, "physical IPI to CPU 2");
    tap_is_int(apic_rd(ic, 0, ICR) & 0x1000, 0, "delivery status idle");
    apic_wr(ic, 2, EOI, 0);

    apic_wr(ic, 1, ICR, 0xc0061);           /* all excluding self */
    tap_is_int(lapic_ack(ic, 0), 0x61, "all-but-self reaches CPU 0");
    tap_is_int(lapic_ack(ic, 2), 0x61, "and CPU 2");
    tap_is_int(lapic_ack(ic, 1), -1, "not the sender");
    apic_wr(ic, 0, EOI, 0); apic_wr(ic, 2, EOI, 0);
    apic_wr(ic, 1, ICR, 0x80062);           /* all including self */
    tap_is_int(lapic_ack(ic, 1), 0x62, "all-including-self reaches the sender");
    apic_wr(ic, 1, EOI, 0);
    (void)lapic_ack(ic, 0); apic_wr(ic, 0, EOI, 0);
    (void)lapic_ack(ic, 2); apic_wr(ic, 2, EOI, 0);

    /* NMI, INIT, SIPI as Linux starts an AP */
    apic_wr(ic, 0, ICR2, 1u << 24);
    apic_wr(ic, 0, ICR, 0x400);
    tap_ok(lapic_pending(ic, 1) & LAPIC_EV_NMI, "NMI IPI pending");
    tap_ok(lapic_take_nmi(ic, 1), "NMI taken");
    tap_ok(!lapic_take_nmi(ic, 1), "once");
    apic_wr(ic, 1, TPR, 0x30);
    apic_wr(ic, 0, ICR, 0xc500);            /* INIT assert, level */
    apic_wr(ic, 0, ICR, 0x8500);            /* INIT de-assert: no-op */
    tap_ok(lapic_pending(ic, 1) & LAPIC_EV_INIT, "INIT pending");
    tap_ok(lapic_take_init(ic, 1), "INIT taken");
    tap_is_int(apic_rd(ic, 1, TPR), 0, "INIT resets the APIC registers");
    tap_is_int(apic_rd(ic, 1, ID), 1u << 24, "but keeps the ID");
    tap_ok(lapic_waiting_for_sipi(ic, 1), "waiting for SIPI");
    apic_wr(ic, 0, ICR, 0x4608);
    tap_ok(lapic_pending(ic, 1) & LAPIC_EV_SIPI, "SIPI pending");
    tap_is_int(lapic_take_sipi(ic, 1), 0x08, "SIPI vector 8");
    apic_wr(ic, 0, ICR, 0x4608);
    tap_is_int(lapic_take_sipi(ic, 1), -1, "second SIPI ignored by a running CPU");
    apic_wr(ic, 1, SVR, 0x1ff);

    /* INIT and SIPI sent back to back, before the AP looked: SIPI survives */
    apic_wr(ic, 0, ICR2, 2u << 24);
    apic_wr(ic, 0, ICR, 0xc500);
    apic_wr(ic, 0, ICR, 0x4609);
    tap_ok(lapic_take_init(ic, 2), "back-to-back INIT taken");
    tap_is_int(lapic_take_sipi(ic, 2), 0x09, "the SIPI that followed it is kept");
    apic_wr(ic, 2, SVR, 0x1ff);

    /* ESR: illegal vector */
    apic_wr(ic, 0, ICR, 0x40005);
    apic_wr(ic, 0, ESR, 0);
    tap_is_int(apic_rd(ic, 0, ESR), 0x20, "send illegal vector in ESR");
    apic_wr(ic, 0, ESR, 0);
    tap_is_int(apic_rd(ic, 0, ESR), 0, "ESR cleared by the next write");
    apic_wr(ic, 0, LVTERR, 0xfe);
    apic_wr(ic, 0, ICR, 0x40003);
    tap_is_int(lapic_ack(ic, 0), 0xfe, "error LVT interrupt");
    apic_wr(ic, 0, EOI, 0);
    apic_wr(ic, 0, 0x3f0, 0x1);             /* SELF IPI register: x2APIC only */
    apic_wr(ic, 0, ESR, 0);
    tap_is_int(apic_rd(ic, 0, ESR) & 0x80, 0x80, "illegal register address");
    (void)lapic_ack(ic, 0); apic_wr(ic, 0, EOI, 0);
    apic_wr(ic, 0, LVTERR, 0x10000);

    /* logical cluster mode */
    for (unsigned c = 0; c < 3; c++)
        apic_wr(ic, c, DFR, 0x0fffffff);
    apic_wr(ic, 0, LDR, 0x11000000);        /* cluster 1, bit 0 */
    apic_wr(ic, 1, LDR, 0x12000000);        /* cluster 1, bit 1 */
    apic_wr(ic, 2, LDR, 0x21000000);        /* cluster 2, bit 0 */
    apic_wr(ic, 0, ICR2, 0x13000000);
    apic_wr(ic, 0, ICR, 0x870);             /* logical, fixed 0x70 */
    tap_is_int(lapic_ack(ic, 0) + lapic_ack(ic, 1) * 1000, 0x70 + 0x70 * 1000,
               "cluster 1 mask 3 reaches CPUs 0 and 1");
    tap_is_int(lapic_ack(ic, 2), -1, "not cluster 2");
    apic_wr(ic, 0, EOI, 0); apic_wr(ic, 1, EOI, 0);

    /* timer: one-shot, divide by 1 */
    fake_clock = T0;
    apic_wr(ic, 0, TDCR, 0xb);
    apic_wr(ic, 0, LVTT, 0x30);
    apic_wr(ic, 0, TMICT, 1000);
    fake_clock = T0 + 400;
    tap_is_int(apic_rd(ic, 0, TMCCT), 600, "one-shot current count");
    tap_is_int(irqchip_poll_timers(ic, T0 + 999), T0 + 1000, "deadline at 1000 ticks");
    irqchip_poll_timers(ic, T0 + 1000);
    tap_ok(has_irr(ic, 0, 0x30), "one-shot fired");
    fake_clock = T0 + 2000;
    tap_is_int(apic_rd(ic, 0, TMCCT), 0, "count stays 0 after expiry");
    tap_is_int(irqchip_poll_timers(ic, T0 + 5000), INT64_MAX, "no rearm");
    (void)lapic_ack(ic, 0); apic_wr(ic, 0, EOI, 0);

    /* divide by 16 */
    fake_clock = T0;
    apic_wr(ic, 0, TDCR, 0x3);
    apic_wr(ic, 0, TMICT, 100);
    tap_is_int(irqchip_poll_timers(ic, T0), T0 + 1600, "divide by 16");
    apic_wr(ic, 0, TMICT, 0);
    tap_is_int(irqchip_poll_timers(ic, T0), INT64_MAX, "initial count 0 stops it");

    /* a 1 MHz APIC clock (what a CPUID 0x15 crystal may say) */
    irqchip_set_apic_hz(ic, 1000000);
    fake_clock = T0;
    apic_wr(ic, 0, TDCR, 0x3);              /* divide by 16: 16 us per count */
    apic_wr(ic, 0, TMICT, 100);
    tap_is_int(irqchip_poll_timers(ic, T0), T0 + 1600000, "1 MHz clock: 100 counts / 16 = 1.6 ms");
    fake_clock = T0 + 800000;
    tap_is_int(apic_rd(ic, 0, TMCCT), 50, "current count at the 1 MHz rate");
    apic_wr(ic, 0, TMICT, 0);
    irqchip_set_apic_hz(ic, IRQCHIP_APIC_BUS_HZ);

    /* periodic with coalescing */
    fake_clock = T0;
    apic_wr(ic, 0, TDCR, 0xb);
    apic_wr(ic, 0, LVTT, 0x20031);
    apic_wr(ic, 0, TMICT, 100000);
    irqchip_poll_timers(ic, T0 + 100000);
    tap_is_int(lapic_ack(ic, 0), 0x31, "periodic tick 1");
    apic_wr(ic, 0, EOI, 0);
    fake_clock = T0 + 150000;
    tap_is_int(apic_rd(ic, 0, TMCCT), 50000, "periodic current count");
    tap_is_int(irqchip_poll_timers(ic, T0 + 1050000), T0 + 1100000, "late poll: next on the grid");
    tap_is_int(lapic_ack(ic, 0), 0x31, "one tick for the missed ones");
    tap_is_int(lapic_ack(ic, 0), -1, "only one");
    apic_wr(ic, 0, EOI, 0);
    apic_wr(ic, 0, LVTT, 0x30031);          /* masked: keeps counting silently */
    irqchip_poll_timers(ic, T0 + 1100000);
    tap_ok(!has_irr(ic, 0, 0x31), "masked timer delivers nothing");

    /* TSC deadline */
    uint64_t v = 1;
    apic_wr(ic, 0, LVTT, 0x40032);
    tap_is_int(irqchip_poll_timers(ic, T0), INT64_MAX, "mode change disarms");
    tap_is_int(lapic_msr_write(ic, 0, 0x6e0, T0 + 5000), 0, "wrmsr TSC_DEADLINE");
    tap_ok(lapic_msr_read(ic, 0, 0x6e0, &v) == 0 && v == T0 + 5000, "reads back");
    tap_is_int(irqchip_poll_timers(ic, T0), T0 + 5000, "armed at the deadline");
    irqchip_poll_timers(ic, T0 + 5000);
    tap_is_int(lapic_ack(ic, 0), 0x32, "TSC deadline fired");
    apic_wr(ic, 0, EOI, 0);
    tap_ok(lapic_msr_read(ic, 0, 0x6e0, &v) == 0 && v == 0, "deadline MSR cleared");
    lapic_msr_write(ic, 0, 0x6e0, T0 - 10);
    irqchip_poll_timers(ic, T0);
    tap_is_int(lapic_ack(ic, 0), 0x32, "a past deadline fires at once");
    apic_wr(ic, 0, EOI, 0);
    apic_wr(ic, 0, TMICT, 5);
    tap_is_int(irqchip_poll_timers(ic, T0), INT64_MAX, "TMICT ignored in TSC-deadline mode");
    apic_wr(ic, 0, LVTT, 0x10000);

    /* MSI */
    tap_is_int(irqchip_msi(ic, 0xfee02000, 0x0053), 0, "MSI accepted");
    tap_is_int(lapic_ack(ic, 2), 0x53, "MSI to APIC ID 2");
    apic_wr(ic, 2, EOI, 0);
    tap_is_int(irqchip_msi(ic, 0xfec00000, 0x53), -EINVAL, "MSI outside the window refused");
    irqchip_msi(ic, 0xfee00000, 0x0400);
    tap_ok(lapic_take_nmi(ic, 0), "MSI NMI");

    /* x2APIC */
    tap_is_int(lapic_msr_read(ic, 1, 0x802, &v), -EINVAL, "x2APIC MSRs #GP in xAPIC mode");
    tap_is_int(lapic_msr_write(ic, 1, 0x1b, 0xfee00400), -EINVAL, "EXTD without EN refused");
    tap_is_int(lapic_msr_write(ic, 1, 0x1b, 0xfee00c00), 0, "enable x2APIC");
    tap_ok(!lapic_is_mmio(ic, 1, 0xfee00300), "MMIO page gone in x2APIC mode");
    tap_ok(lapic_msr_read(ic, 1, 0x802, &v) == 0 && v == 1, "x2APIC ID is 32-bit");
    tap_ok(lapic_msr_read(ic, 1, 0x80d, &v) == 0 && v == 0x2, "LDR derived from ID");
    tap_is_int(lapic_msr_write(ic, 1, 0x802, 5), -EINVAL, "ID read-only");
    tap_is_int(lapic_msr_write(ic, 1, 0x830, (2ULL << 32) | 0x64), 0, "ICR as one MSR");
    tap_is_int(lapic_ack(ic, 2), 0x64, "x2APIC IPI to ID 2");
    apic_wr(ic, 2, EOI, 0);
    lapic_msr_write(ic, 1, 0x83f, 0x65);
    tap_is_int(lapic_ack(ic, 1), 0x65, "SELF IPI MSR");
    tap_is_int(lapic_msr_write(ic, 1, 0x80b, 0), 0, "EOI MSR");
    tap_is_int(lapic_msr_read(ic, 1, 0x80b, &v), -EINVAL, "EOI MSR is write-only");
    tap_is_int(lapic_msr_write(ic, 1, 0x1b, 0xfee00800), -EINVAL, "x2APIC -> xAPIC refused");
    tap_is_int(lapic_msr_write(ic, 1, 0x1b, 0xfee00000), 0, "disable");
    tap_is_int(lapic_msr_write(ic, 1, 0x1b, 0xfee00800), 0, "then xAPIC");
    tap_is_int(lapic_msr_read(ic, 1, 0x10, &v), -ENOENT, "other MSRs are not ours");

    /* APIC base relocation */
    tap_is_int(lapic_msr_write(ic, 2, 0x1b, 0xfed00800), 0, "relocate the page");
    tap_ok(lapic_is_mmio(ic, 2, 0xfed00020) && !lapic_is_mmio(ic, 2, 0xfee00020),
           "decoded at the new base");

    /* hostile MMIO and MSR traffic */
    for (unsigned i = 0; i < 50000; i++) {
        unsigned cpu = i % 3;
        uint64_t off = (i * 2654435761u) & 0xfff;
        lapic_mmio_write(ic, cpu, off & ~0xfULL, i * 40503u, 4);
        (void)lapic_mmio_read(ic, cpu, off, 1 + (i & 7));
        lapic_msr_write(ic, cpu, 0x800 + (i & 0xff), i);
        (void)lapic_ack(ic, cpu);
        (void)lapic_take_init(ic, cpu);
        (void)lapic_take_sipi(ic, cpu);
        fake_clock += 333;
        irqchip_poll_timers(ic, fake_clock);
    }
    (void)lapic_mmio_read(ic, 7, 0, 4);
    lapic_mmio_write(ic, 0, 0x5000, 1, 4);
    tap_ok(1, "random LAPIC programming survives");
    irqchip_destroy(ic);

    test_timer_thread();
    return tap_done();
}
