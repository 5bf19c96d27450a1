/* The PC board: every platform device, where it sits and when it exists.
 * One line per device; machine.c walks this table (see machine.h for the
 * meaning of the columns). Add your device here with one line. */
#include <stdio.h>
#include <string.h>

#include "machine.h"

extern const struct device_ops ns16550_ops, i8042_ops, port92_ops, port80_ops,
    mc146818_ops, debug_exit_ops, pc_testdev_ops;
/* Devices from other files that may not be built yet: weak, so an entry
 * whose ops is NULL is skipped. */
#define WEAK __attribute__((weak))
extern const struct device_ops fw_cfg_device WEAK, acpi_pm_device WEAK;
extern const struct device_ops pci_host_device WEAK, virtio_disks_device WEAK,
    virtio_rng_create_device WEAK, virtio_console_create_device WEAK,
    virtio_balloon_create_device WEAK;
extern const struct device_ops acpi_tables_device WEAK, mptable_device WEAK, control_device WEAK;
extern const struct device_ops pci_hotplug_device WEAK;
extern const struct device_ops pci_testdev_device WEAK;

const struct board_entry board_pc[] = {
    /* ops               base   size  irq level              when            index */
    { &fw_cfg_device,    0x510, 0xc,  0,  BOARD_LEVEL_CORE,  BOARD_ALWAYS,   0 },
    { &acpi_pm_device,   0x600, 0x30, 9,  BOARD_LEVEL_DEV,   BOARD_ALWAYS,   0 },
    { &ns16550_ops,      0x3f8, 8,    4,  BOARD_LEVEL_DEV,   BOARD_SERIAL,   0 },
    { &ns16550_ops,      0x2f8, 8,    3,  BOARD_LEVEL_DEV,   BOARD_SERIAL,   1 },
    { &ns16550_ops,      0x3e8, 8,    4,  BOARD_LEVEL_DEV,   BOARD_SERIAL,   2 },
    { &ns16550_ops,      0x2e8, 8,    3,  BOARD_LEVEL_DEV,   BOARD_SERIAL,   3 },
    { &i8042_ops,        0x60,  5,    1,  BOARD_LEVEL_DEV,   BOARD_ALWAYS,   0 },
    { &port92_ops,       0x92,  1,    0,  BOARD_LEVEL_DEV,   BOARD_ALWAYS,   0 },
    { &port80_ops,       0x80,  1,    0,  BOARD_LEVEL_DEV,   BOARD_ALWAYS,   0 },
    { &mc146818_ops,     0x70,  2,    8,  BOARD_LEVEL_DEV,   BOARD_ALWAYS,   0 },
    { &debug_exit_ops,   0xf4,  4,    0,  BOARD_LEVEL_DEV,   BOARD_OPTIONAL, 0 },
    { &pc_testdev_ops,   0xe0,  8,    0,  BOARD_LEVEL_DEV,   BOARD_OPTIONAL, 0 },
    { &acpi_tables_device, 0,   0,    0,  BOARD_LEVEL_LATE,  BOARD_ALWAYS,   0 },
    { &mptable_device,   0,     0,    0,  BOARD_LEVEL_LATE,  BOARD_ALWAYS,   0 },
    { &control_device,   0,     0,    0,  BOARD_LEVEL_LATE,  BOARD_ALWAYS,   0 },
    /* PCI bus 0 (0xcf8, ECAM, BAR windows: see pci/pci.h) and virtio on it */
    { &pci_host_device,  0,     0,    0,  BOARD_LEVEL_CORE,  BOARD_ALWAYS,   0 },
    { &virtio_disks_device, 0,  0,    0,  BOARD_LEVEL_DEV,   BOARD_ALWAYS,   0 },
    /* ACPI PCI hot-plug registers (pci/pci_hotplug.h), GPE0 bit 1 */
    { &pci_hotplug_device, 0xae00, 0x10, 0, BOARD_LEVEL_DEV, BOARD_ALWAYS,   0 },
    { &virtio_rng_create_device, 0, 0, 0, BOARD_LEVEL_DEV,   BOARD_OPTIONAL, 0 },
    { &virtio_console_create_device, 0, 0, 0, BOARD_LEVEL_DEV, BOARD_OPTIONAL, 0 },
    { &virtio_balloon_create_device, 0, 0, 0, BOARD_LEVEL_DEV, BOARD_OPTIONAL, 0 },
    /* QEMU's pci-testdev (kvm-unit-tests), on PCI bus 0 */
    { &pci_testdev_device, 0,   0,    0,  BOARD_LEVEL_DEV,   BOARD_OPTIONAL, 0 },
};
const unsigned board_pc_size = VK_ARRAY_SIZE(board_pc);

void board_list_optional(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < board_pc_size && n < len; i++)
        if (board_pc[i].when == BOARD_OPTIONAL && board_pc[i].ops)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", board_pc[i].ops->name);
}
