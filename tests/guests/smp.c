/* SMP start-up: every AP listed in the MADT gets INIT, SIPI, SIPI and
 * reports in from the trampoline; the count must match fw_cfg's. */
#include "lib/guest.h"

#define AP_TRAMPOLINE 0x8000u
extern const char ap_trampoline_start[], ap_trampoline_end[];

static volatile uint32_t up;
static volatile uint8_t seen[256];
static struct spinlock print_lock;

void ap_main(void)
{
    unsigned id = lapic_id();

    spin_lock(&print_lock);
    gprintf("smp: cpu apic-id %u up\n", id);
    spin_unlock(&print_lock);
    seen[id & 0xff] = 1;
    atomic_inc(&up);
}

int guest_main(const char *cmdline)
{
    uint16_t nb = 0;
    uint8_t ids[64];
    unsigned n = acpi_madt_cpus(ids, 64), self = lapic_id();

    fwcfg_read(FWCFG_NB_CPUS, &nb, 2);
    gprintf("smp: fw_cfg says %u cpus, MADT lists %u, BSP apic-id %u\n", nb, n, self);
    if (nb != n)
        return gprintf("smp: fw_cfg and MADT disagree\n"), 1;
    memcpy((void *)AP_TRAMPOLINE, ap_trampoline_start,
           (size_t)(ap_trampoline_end - ap_trampoline_start));
    lapic_enable();
    for (unsigned i = 0; i < n; i++) {
        if (ids[i] == self)
            continue;
        lapic_send_ipi(ids[i], 0x00004500);                     /* INIT, assert */
        for (int k = 0; k < 10000; k++)
            cpu_relax();
        lapic_send_ipi(ids[i], 0x00004600 | (AP_TRAMPOLINE >> 12));   /* SIPI */
        for (int k = 0; k < 1000; k++)
            cpu_relax();
        if (!seen[ids[i]])
            lapic_send_ipi(ids[i], 0x00004600 | (AP_TRAMPOLINE >> 12));
    }
    for (unsigned long spin = 0; up < n - 1 && spin < 400000000ul; spin++)
        cpu_relax();
    spin_lock(&print_lock);
    gprintf("smp: %u of %u cpus up\n", up + 1, n);
    spin_unlock(&print_lock);
    return up == n - 1 ? 0 : 1;
}
