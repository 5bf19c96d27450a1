/* MP (Intel MultiProcessor Specification 1.4) tables, docs/acpi-fwcfg.md. */
#ifndef VK_VM_MPTABLE_H
#define VK_VM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Configuration table, then the "_MP_" floating pointer after it; both in
 * the reserved F-segment, below the ACPI tables (acpi.h). */
#define MPTABLE_ADDR 0xF0040u
#define MPTABLE_MAX  (0xF1000u - MPTABLE_ADDR)

/* Write the configuration table (for `table_addr`) followed by the floating
 * pointer (16-byte aligned) into buf. Returns the bytes used or -errno. */
long mptable_build(uint8_t *buf, size_t cap, uint32_t table_addr, unsigned ncpus, unsigned sci);

struct machine;
struct device_ops;
int mptable_install(struct machine *m, struct vk_err *err) VK_MUST_CHECK;
extern const struct device_ops mptable_device;      /* board table entry */

#endif
