/* ACPI PCI hot-plug, PIIX4 style (docs/pci.md "Hot-plug").
 *
 * A 16-byte I/O register block (board table: 0xAE00), all 32-bit registers
 * holding one bit per slot of bus 0 (bit S = slot S; slot 0, the host
 * bridge, is never hot-pluggable):
 *
 *   +0x0 UP      read: slots where a device appeared since the last read
 *                (read clears); writes ignored
 *   +0x4 DOWN    read: slots whose device the host asks the guest to
 *                release (read clears); writes ignored
 *   +0x8 EJECT   write: the guest has released the devices in these slots;
 *                the VMM removes them. Reads 0
 *   +0xC PRESENT read: occupied slots 1..31; writes ignored
 *
 * A change to UP or DOWN latches GPE0 status bit 1 (PCIHP_GPE_BIT) and so
 * raises the SCI when the guest enabled that GPE. The DSDT
 * (pci_hotplug_aml.c) has one Device per slot under \_SB.PCI0 with _ADR,
 * _SUN and _EJ0 (writes EJECT) and \_GPE._E01, which reads UP/DOWN and
 * Notify()s each slot: 1 (device check) for UP, 3 (eject request) for DOWN.
 *
 * Removal is done on a worker thread with every vCPU parked
 * (machine_pause), so no vCPU is inside the device's BAR handlers while it
 * is freed.
 */
#ifndef VK_VM_PCI_HOTPLUG_H
#define VK_VM_PCI_HOTPLUG_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define PCIHP_PORT_BASE  0xAE00
#define PCIHP_LEN        0x10
#define PCIHP_UP         0x0
#define PCIHP_DOWN       0x4
#define PCIHP_EJECT      0x8
#define PCIHP_PRESENT    0xC
#define PCIHP_GPE_BIT    1
#define PCIHP_ID_MAX     64     /* qdev id, NUL included */
#define PCIHP_SLOT_MASK  0xfffffffeu

struct machine;
struct pci_hotplug;
struct device_ops;
struct aml;

extern const struct device_ops pci_hotplug_device;   /* board table entry */

/* The machine's hot-plug controller, or NULL. */
struct pci_hotplug *pci_hotplug_find(struct machine *m);

/* A device constructor (virtio_net_create, virtio_blk_create, ...): creates
 * one function on the machine's PCI bus from an option string. */
typedef int (*pcihp_create_fn)(struct machine *m, const char *spec, struct vk_err *err);

/* Run `create`, give the new function the id `id` (may be NULL or ""; an
 * id already in use is -EEXIST), latch it in UP and raise the GPE.
 * Returns the slot or -errno. Not from a vCPU thread. */
int pci_hotplug_plug(struct pci_hotplug *hp, pcihp_create_fn create, const char *spec,
                     const char *id, struct vk_err *err) VK_MUST_CHECK;
/* Ask the guest to release the device `id`: latch DOWN, raise the GPE.
 * The device goes when the guest writes EJECT (then the listener runs).
 * -ENODEV for an unknown id. Asking twice is not an error. */
int pci_hotplug_unplug(struct pci_hotplug *hp, const char *id, struct vk_err *err) VK_MUST_CHECK;

/* Called after a device was removed (any thread but a vCPU's); id is ""
 * for a device that had none. */
typedef void (*pcihp_deleted_fn)(void *opaque, const char *id, unsigned slot);
void pci_hotplug_set_listener(struct pci_hotplug *hp, pcihp_deleted_fn fn, void *opaque);

/* One function on bus 0, for QMP query-pci. */
struct pcihp_info {
    unsigned slot;
    uint16_t vendor, device, subsys_vendor, subsys;
    uint32_t class_code;        /* base class, subclass, prog-if */
    uint8_t irq;                /* interrupt line */
    char id[PCIHP_ID_MAX];
    struct pcihp_region { unsigned bar; bool io, mem64, prefetch; uint64_t addr, size; } regions[6];
    unsigned nr_regions;
};
unsigned pci_hotplug_query(struct pci_hotplug *hp, struct pcihp_info *out, unsigned max);

/* The DSDT part: Scope(\_SB.PCI0) { slot devices, PCNT } and
 * Scope(\_GPE) { _E01 }; appended at the root of the DSDT. */
void pci_hotplug_build_aml(struct aml *a, uint16_t port);

#endif
