/* PCI: a host bridge on bus 0 with configuration mechanism #1 (0xCF8/0xCFC)
 * and ECAM, BAR sizing and placement, capability lists, MSI-X, INTx.
 *
 * Placement is the machine's (see docs/pci.md): the PCI bus owns two windows,
 * registered once on the machine buses, and dispatches BAR accesses itself
 * under its own lock, so a guest moving a BAR never re-registers bus ranges
 * from inside a bus handler.
 *
 * Hot-plug: devices may be added to or removed from a live bus
 * (pci_bus_add/pci_bus_remove take the bus lock); the guest is told through
 * ACPI hot-plug (pci_hotplug.h, docs/pci.md).
 */
#ifndef VK_VM_PCI_H
#define VK_VM_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct machine;
struct bus_ops;

/* Machine address map for PCI (inside the hole below 4 GiB). */
#define PCI_MMIO32_BASE   0xC0000000ULL
#define PCI_MMIO32_SIZE   0x20000000ULL     /* up to 0xDFFFFFFF */
#define PCI_ECAM_BASE     0xE0000000ULL
#define PCI_ECAM_BUSES    256                /* decoded; only bus 0 has devices */
#define PCI_ECAM_SIZE     (PCI_ECAM_BUSES * 0x100000ULL)
#define PCI_IO_BASE       0xC000
#define PCI_IO_SIZE       0x4000
#define PCI_MAX_SLOTS     32
/* Legacy INTx: slot S pin P (0=INTA) -> GSI 16 + (S + P) % 8 on the IOAPIC,
 * level-triggered, active-low, exactly as the ACPI _PRT (acpi_build.c) says. */
#define PCI_INTX_GSI_BASE 16
static inline unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
    return PCI_INTX_GSI_BASE + (slot + pin) % 8;
}

#define PCI_CFG_SPACE     256
#define PCI_CFG_SPACE_EXP 4096

/* Standard config header offsets. */
#define PCI_VENDOR_ID     0x00
#define PCI_DEVICE_ID     0x02
#define PCI_COMMAND       0x04
#define  PCI_COMMAND_IO     0x1
#define  PCI_COMMAND_MEMORY 0x2
#define  PCI_COMMAND_MASTER 0x4
#define  PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS        0x06
#define  PCI_STATUS_INTERRUPT 0x08
#define  PCI_STATUS_CAP_LIST  0x10
#define PCI_REVISION_ID   0x08
#define PCI_CLASS_PROG    0x09
#define PCI_CLASS_DEVICE  0x0a
#define PCI_HEADER_TYPE   0x0e
#define PCI_BAR0          0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID  0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_CAP_ID_VNDR   0x09
#define PCI_CAP_ID_MSIX   0x11

enum pci_bar_type { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
    enum pci_bar_type type;
    uint64_t size;              /* power of two */
    uint64_t addr;              /* current guest address */
    bool prefetchable;
    const struct bus_ops *ops;  /* accesses get offsets into the BAR */
    void *opaque;
};

struct pci_device;

/* Optional hooks a device adds to the generic config-space behaviour. */
struct pci_device_ops {
    /* Called after the generic code handled a config write (BARs, command). */
    void (*config_write)(struct pci_device *d, unsigned off, uint32_t val, unsigned size);
    void (*reset)(struct pci_device *d);     /* machine reset */
    void (*destroy)(struct pci_device *d);   /* the bus is going away */
};

#define PCI_MSIX_MAX 64

struct pci_msix {
    unsigned nr;                /* vectors, 0 = no MSI-X */
    unsigned bar;               /* BAR holding the table (offset 0) and PBA */
    uint64_t pba_off;
    unsigned cap;               /* capability offset in config space */
    struct { uint32_t addr_lo, addr_hi, data, ctrl; } table[PCI_MSIX_MAX];
    uint64_t pending;           /* PBA bits */
};

struct pci_device {
    struct pci_bus *bus;
    unsigned slot;
    const char *name;
    const struct pci_device_ops *ops;
    void *opaque;               /* the device model behind this function */
    uint8_t cfg[PCI_CFG_SPACE_EXP];
    uint8_t wmask[PCI_CFG_SPACE];   /* writable bits of the first 256 bytes */
    struct pci_bar bars[6];
    unsigned next_cap;          /* where the next capability goes */
    uint8_t *last_cap_next;     /* pointer to the previous cap's next field */
    struct pci_msix msix;
    bool intx_level;
    char id[64];                /* QMP qdev id ("" = none), see pci_hotplug.h */
};

struct pci_bus {
    struct machine *m;
    pthread_mutex_t lock;       /* config space, BAR addresses, device list */
    struct pci_device *slots[PCI_MAX_SLOTS];
    uint32_t cf8;               /* config address latch */
    uint64_t mmio_next, io_next;/* BAR allocation cursors */
    struct pci_device host_bridge;  /* 00.0 */
};

/* Create the bus with its host bridge at 00.0 and register its windows
 * (0xCF8-0xCFF, ECAM, the MMIO32 and I/O windows) on the machine. */
int pci_bus_create(struct machine *m, struct pci_bus **out, struct vk_err *err) VK_MUST_CHECK;
void pci_bus_destroy(struct pci_bus *bus);   /* destroys the devices on it too */
void pci_bus_reset(struct pci_bus *bus);
/* The machine's bus (the "pci" board device), or NULL before it exists. */
struct pci_bus *machine_pci_bus(struct machine *m);

/* Initialise a function: IDs and class; then add BARs and capabilities,
 * then pci_bus_add() which picks a free slot (or `slot` if >= 0), assigns
 * BAR addresses, the interrupt line and enables decoding, as firmware would. */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
                     uint8_t revision, uint32_t class_code, uint16_t subsys_vendor,
                     uint16_t subsys_id);
void pci_device_add_bar(struct pci_device *d, unsigned index, enum pci_bar_type type,
                        uint64_t size, bool prefetchable, const struct bus_ops *ops,
                        void *opaque);
/* Append a capability of `len` bytes (id and next filled in); returns its
 * config-space offset. */
unsigned pci_device_add_cap(struct pci_device *d, uint8_t id, const void *body, unsigned len);
/* MSI-X with `nr` vectors in BAR `bar` (table at 0, PBA after it); the BAR
 * is added by this call. */
int pci_device_add_msix(struct pci_device *d, unsigned bar, unsigned nr);
int pci_bus_add(struct pci_bus *bus, struct pci_device *d, int slot, struct vk_err *err) VK_MUST_CHECK;
void pci_bus_remove(struct pci_bus *bus, struct pci_device *d);

/* Interrupts from a device: MSI-X vector if enabled (returns true when the
 * message was sent or left pending under a mask), else nothing. */
bool pci_msix_enabled(struct pci_device *d);
void pci_msix_notify(struct pci_device *d, unsigned vector);
/* Legacy INTx pin A level (honours the INTx-disable command bit). */
void pci_set_intx(struct pci_device *d, bool level);

/* Config access as the guest sees it (bus 0, dev, fn, offset). */
uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned off, unsigned size);
void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned off, uint32_t val,
                      unsigned size);

#endif
