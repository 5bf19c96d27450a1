/* ACPI fixed hardware: PM1a event and control blocks, PM timer, GPE0 block
 * and the reset register, in one I/O range (docs/acpi-fwcfg.md).
 *
 * The FADT built by acpi_build.c points at these offsets from the device's
 * base port (the board table places it, 0x600 by default). The SCI is the
 * device's IRQ (9 by default), level-triggered active-high: the line is
 * high while any enabled status bit is set.
 */
#ifndef VK_VM_ACPI_PM_H
#define VK_VM_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_PM_PORT_BASE   0x600
#define ACPI_PM_SCI_IRQ     9

/* Offsets from the base port */
#define ACPI_PM1_STS        0x00    /* 2 bytes, write 1 to clear */
#define ACPI_PM1_EN         0x02    /* 2 bytes */
#define ACPI_PM1_CNT        0x04    /* 2 bytes */
#define ACPI_PM_TMR         0x08    /* 4 bytes, read-only, 32-bit counter */
#define ACPI_RESET_REG      0x0c    /* 1 byte: write ACPI_RESET_VALUE */
#define ACPI_GPE0_BLK       0x20    /* 4 status bytes, then 4 enable bytes */
#define ACPI_GPE0_BLK_LEN   8
#define ACPI_PM_LEN         0x30

#define ACPI_RESET_VALUE    0x06
#define ACPI_PM_TIMER_HZ    3579545ULL

/* PM1 status / enable bits */
#define ACPI_PM1_TMR        (1u << 0)
#define ACPI_PM1_GBL        (1u << 5)
#define ACPI_PM1_PWRBTN     (1u << 8)
#define ACPI_PM1_SLPBTN     (1u << 9)
#define ACPI_PM1_RTC        (1u << 10)
#define ACPI_PM1_WAK        (1u << 15)   /* status only */

/* PM1 control bits */
#define ACPI_PM1_SCI_EN     (1u << 0)
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK  (7u << ACPI_PM1_SLP_TYP_SHIFT)
#define ACPI_PM1_SLP_EN     (1u << 13)

/* SLP_TYP value of \_S5 (soft off) in the DSDT; the only sleep state. */
#define ACPI_S5_SLP_TYP     5

struct acpi_pm;
struct machine;
struct device_ops;
struct bus_ops;

extern const struct device_ops acpi_pm_device;    /* board table entry */
extern const struct bus_ops acpi_pm_pio_ops;

/* The machine's ACPI PM device, or NULL. */
struct acpi_pm *acpi_pm_find(struct machine *m);
uint16_t acpi_pm_base(const struct acpi_pm *pm);
unsigned acpi_pm_sci(const struct acpi_pm *pm);

/* Press the (fixed-feature) power button: latch PWRBTN_STS and raise the
 * SCI if the guest enabled PWRBTN_EN. Returns true when the guest had the
 * button enabled (it may then shut down on its own). Any thread. */
bool acpi_pm_press_power_button(struct acpi_pm *pm);
/* Latch a general-purpose event (GPE0 bit 0..31), for hotplug devices. */
void acpi_pm_set_gpe(struct acpi_pm *pm, unsigned bit);

#endif
