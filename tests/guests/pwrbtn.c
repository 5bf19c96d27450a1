/* The ACPI power button: enable PWRBTN_EN, route the SCI through the
 * IOAPIC (level, active-high, from the MADT), wait for the press (QMP
 * system_powerdown), acknowledge it, then power off through \_S5. */
#include "lib/guest.h"

#define SCI_VECTOR 0x39

static struct acpi_pm_info pm;
static volatile int pressed;

static void sci_handler(unsigned vector)
{
    uint16_t sts = inw(pm.pm1a_evt);

    if (sts & (1u << 8)) {
        outw(pm.pm1a_evt, 1u << 8);     /* write 1 to clear PWRBTN_STS */
        pressed = 1;
    }
    lapic_eoi();
}

int guest_main(const char *cmdline)
{
    if (!acpi_pm_info(&pm))
        return gprintf("pwrbtn: no ACPI\n"), 1;
    idt_init();
    pic_disable();
    lapic_enable();
    idt_set_handler(SCI_VECTOR, sci_handler);
    outw(pm.pm1a_evt, 0xffff);          /* clear stale status */
    outw(pm.pm1a_evt + 2, 1u << 8);     /* PWRBTN_EN */
    ioapic_route(pm.sci, SCI_VECTOR, true, false, lapic_id());
    gprintf("pwrbtn: armed (sci %u)\n", pm.sci);
    while (!pressed)
        sti_hlt();
    cli();
    gprintf("pwrbtn: pressed, powering off\n");
    acpi_poweroff(&pm);
    return gprintf("pwrbtn: still running after S5\n"), 1;
}
