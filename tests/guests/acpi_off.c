/* ACPI soft-off: find the FADT through the RSDP, \_S5 in the DSDT, write
 * SLP_TYP | SLP_EN. The VM must power off (exit status 0). */
#include "lib/guest.h"

int guest_main(const char *cmdline)
{
    struct acpi_pm_info pm;
    const uint8_t *xsdt_rsdp = NULL;

    if (!acpi_pm_info(&pm))
        return gprintf("acpi: no valid FADT/DSDT\n"), 1;
    for (uintptr_t a = 0xe0000; a < 0x100000 && !xsdt_rsdp; a += 16)
        if (!memcmp((const void *)a, "RSD PTR ", 8))
            xsdt_rsdp = (const uint8_t *)a;
    if (!xsdt_rsdp || xsdt_rsdp[15] < 2 || !acpi_checksum_ok(xsdt_rsdp, 36))
        return gprintf("acpi: RSDP extended checksum or revision wrong\n"), 1;
    gprintf("acpi: pm1a_evt=0x%x pm1a_cnt=0x%x pm_tmr=0x%x sci=%u s5=%u\n", pm.pm1a_evt,
            pm.pm1a_cnt, pm.pm_tmr, pm.sci, pm.s5_typ);
    if (!(inw(pm.pm1a_cnt) & 1))
        return gprintf("acpi: SCI_EN is clear\n"), 1;
    gprintf("acpi: powering off\n");
    acpi_poweroff(&pm);
    return gprintf("acpi: still running after S5\n"), 1;
}
