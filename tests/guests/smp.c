/* SMP start-up: every AP listed in the MADT gets INIT, SIPI, SIPI and
 * reports in from the trampoline; the count must match fw_cfg's. */
#include "lib/guest.h"

#define AP_TRAMPOLINE 0x8000u
extern const char ap_trampoline_start[], ap_trampoline_end[];

static volatile uint32_t up;
static struct spinlock print_lock;

void ap_main(void)
{
    unsigned id = lapic_id();

    spin_lock(&print_lock);
    gprintf("smp: cpu apic-id %u up\n", id);
    spin_unlock(&print_lock);
    atomic_inc(&up);
}

/* Enabled processors in the MP table ("_MP_" in the F-segment), or -1. */
static int mptable_cpus(void)
{
    for (uintptr_t a = 0xf0000; a < 0x100000; a += 16) {
        const uint8_t *fp = (const uint8_t *)a;
        if (memcmp(fp, "_MP_", 4) || !acpi_checksum_ok(fp, 16))
            continue;
        const uint8_t *t = (const uint8_t *)(uintptr_t)rd32(fp + 4);
        if (memcmp(t, "PCMP", 4) || !acpi_checksum_ok(t, rd16(t + 4)))
            return -1;
        int cpus = 0;
        for (unsigned o = 44, e = 0; e < rd16(t + 34) && o < rd16(t + 4); e++) {
            if (t[o] == 0) {
                cpus += t[o + 3] & 1;
                o += 20;
            } else {
                o += 8;
            }
        }
        return cpus;
    }
    return -1;
}

/* Busy-wait `us` microseconds on the ACPI PM timer (3.579545 MHz). */
static void udelay(uint16_t pm_tmr, uint32_t us)
{
    uint32_t start = inl(pm_tmr), ticks = (uint32_t)((uint64_t)us * 3579545u / 1000000u);

    while (inl(pm_tmr) - start < ticks)
        cpu_relax();
}

int guest_main(const char *cmdline)
{
    uint16_t nb = 0;
    uint8_t ids[64];
    unsigned n = acpi_madt_cpus(ids, 64), self = lapic_id();
    struct acpi_pm_info pm;

    if (!acpi_pm_info(&pm))
        return gprintf("smp: no ACPI PM timer\n"), 1;
    fwcfg_read(FWCFG_NB_CPUS, &nb, 2);
    gprintf("smp: fw_cfg says %u cpus, MADT lists %u, BSP apic-id %u\n", nb, n, self);
    if (nb != n)
        return gprintf("smp: fw_cfg and MADT disagree\n"), 1;
    int mp = mptable_cpus();
    gprintf("smp: MP table lists %d cpus\n", mp);
    if (mp != (int)n)
        return 1;
    memcpy((void *)AP_TRAMPOLINE, ap_trampoline_start,
           (size_t)(ap_trampoline_end - ap_trampoline_start));
    lapic_enable();
    /* The MP specification's sequence: INIT, 10 ms, SIPI, 200 us, SIPI. */
    for (unsigned i = 0; i < n; i++) {
        if (ids[i] == self)
            continue;
        lapic_send_ipi(ids[i], 0x00004500);                     /* INIT, assert */
        udelay(pm.pm_tmr, 10000);
        for (int k = 0; k < 2; k++) {
            lapic_send_ipi(ids[i], 0x00004600 | (AP_TRAMPOLINE >> 12));   /* SIPI */
            udelay(pm.pm_tmr, 200);
        }
    }
    /* Give them up to 10 s of PM-timer time to report. */
    for (unsigned t = 0; up < n - 1 && t < 1000; t++)
        udelay(pm.pm_tmr, 10000);
    spin_lock(&print_lock);
    gprintf("smp: %u of %u cpus up\n", up + 1, n);
    spin_unlock(&print_lock);
    return up == n - 1 ? 0 : 1;
}
