/* PCI bus 0: config mechanism #1, ECAM, BAR windows, capabilities, MSI-X. */
#include "pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "machine.h"

static inline uint32_t rd(const uint8_t *p, unsigned size)
{
    uint32_t v = 0;
    memcpy(&v, p, size);   /* x86 host: little-endian like PCI */
    return v;
}

static inline void wr(uint8_t *p, uint32_t v, unsigned size) { memcpy(p, &v, size); }

/* ---- device setup ------------------------------------------------------ */

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
                     uint8_t revision, uint32_t class_code, uint16_t subsys_vendor,
                     uint16_t subsys_id)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    wr(d->cfg + PCI_VENDOR_ID, vendor, 2);
    wr(d->cfg + PCI_DEVICE_ID, device, 2);
    d->cfg[PCI_REVISION_ID] = revision;
    wr(d->cfg + PCI_CLASS_PROG, class_code, 3);
    wr(d->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
    wr(d->cfg + PCI_SUBSYSTEM_ID, subsys_id, 2);
    /* command: I/O, memory, bus master, INTx disable are writable */
    wr(d->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                               PCI_COMMAND_INTX_DISABLE, 2);
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
    d->wmask[0x0c] = 0xff;   /* cache line size */
    d->wmask[0x0d] = 0xff;   /* latency timer */
    d->next_cap = 0x40;
}

void pci_device_add_bar(struct pci_device *d, unsigned index, enum pci_bar_type type,
                        uint64_t size, bool prefetchable, const struct bus_ops *ops,
                        void *opaque)
{
    struct pci_bar *b = &d->bars[index];
    b->type = type;
    b->size = size;
    b->prefetchable = prefetchable;
    b->ops = ops;
    b->opaque = opaque;
    uint32_t low = type == PCI_BAR_IO ? 0x1 : type == PCI_BAR_MEM64 ? 0x4 : 0x0;
    if (prefetchable && type != PCI_BAR_IO)
        low |= 0x8;
    wr(d->cfg + PCI_BAR0 + 4 * index, low, 4);
}

unsigned pci_device_add_cap(struct pci_device *d, uint8_t id, const void *body, unsigned len)
{
    unsigned off = d->next_cap;
    if (off + len > PCI_CFG_SPACE)
        return 0;
    memcpy(d->cfg + off, body, len);
    d->cfg[off] = id;
    d->cfg[off + 1] = 0;
    if (d->cfg[PCI_CAPABILITY_LIST] == 0)
        d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
    else
        d->cfg[d->last_cap_next - d->cfg] = (uint8_t)off;
    d->last_cap_next = d->cfg + off + 1;
    wr(d->cfg + PCI_STATUS, rd(d->cfg + PCI_STATUS, 2) | PCI_STATUS_CAP_LIST, 2);
    d->next_cap = VK_ALIGN_UP(off + len, 4);
    return off;
}

/* ---- MSI-X ------------------------------------------------------------- */

static bool msix_ctrl(struct pci_device *d, uint16_t bit)
{
    return d->msix.nr && (rd(d->cfg + d->msix.cap + 2, 2) & bit);
}

bool pci_msix_enabled(struct pci_device *d) { return msix_ctrl(d, 0x8000); }

static void msix_fire(struct pci_device *d, unsigned v)
{
    struct machine *m = d->bus->m;
    uint64_t addr = (uint64_t)d->msix.table[v].addr_hi << 32 | d->msix.table[v].addr_lo;
    if (m->accel && m->accel->signal_msi)
        m->accel->signal_msi(m, addr, d->msix.table[v].data);
}

/* Caller holds the bus lock. */
static void msix_notify_locked(struct pci_device *d, unsigned v)
{
    if (v >= d->msix.nr || !pci_msix_enabled(d))
        return;
    if (msix_ctrl(d, 0x4000) || (d->msix.table[v].ctrl & 1)) {
        d->msix.pending |= 1ULL << v;
        return;
    }
    msix_fire(d, v);
}

void pci_msix_notify(struct pci_device *d, unsigned vector)
{
    if (!d->bus)
        return;
    pthread_mutex_lock(&d->bus->lock);
    msix_notify_locked(d, vector);
    pthread_mutex_unlock(&d->bus->lock);
}

/* Deliver pending vectors that are no longer masked. Bus lock held. */
static void msix_unmask_pending(struct pci_device *d)
{
    if (!pci_msix_enabled(d) || msix_ctrl(d, 0x4000))
        return;
    for (unsigned v = 0; v < d->msix.nr; v++)
        if ((d->msix.pending & (1ULL << v)) && !(d->msix.table[v].ctrl & 1)) {
            d->msix.pending &= ~(1ULL << v);
            msix_fire(d, v);
        }
}

static uint64_t msix_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_device *d = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&d->bus->lock);
    uint64_t table_len = d->msix.nr * 16ULL;
    if (off + size <= table_len)
        memcpy(&v, (uint8_t *)d->msix.table + off, size);
    else if (off >= d->msix.pba_off && off + size <= d->msix.pba_off + 8)
        v = d->msix.pending >> ((off - d->msix.pba_off) * 8);
    pthread_mutex_unlock(&d->bus->lock);
    return size == 8 ? v : v & ((1ULL << (size * 8)) - 1);
}

static void msix_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_device *d = opaque;
    pthread_mutex_lock(&d->bus->lock);
    if (off + size <= d->msix.nr * 16ULL) {
        memcpy((uint8_t *)d->msix.table + off, &val, size);
        msix_unmask_pending(d);
    }
    pthread_mutex_unlock(&d->bus->lock);
}

static const struct bus_ops msix_ops = { .read = msix_read, .write = msix_write };

int pci_device_add_msix(struct pci_device *d, unsigned bar, unsigned nr)
{
    if (nr == 0 || nr > PCI_MSIX_MAX || bar > 5)
        return -EINVAL;
    d->msix.nr = nr;
    d->msix.bar = bar;
    d->msix.pba_off = VK_ALIGN_UP(nr * 16ULL, 8);
    for (unsigned v = 0; v < nr; v++)
        d->msix.table[v].ctrl = 1;     /* masked at reset */
    uint64_t size = 4096;
    while (size < d->msix.pba_off + 8)
        size <<= 1;
    pci_device_add_bar(d, bar, PCI_BAR_MEM32, size, false, &msix_ops, d);
    uint8_t cap[12] = { 0 };
    wr(cap + 2, nr - 1, 2);
    wr(cap + 4, 0 | bar, 4);
    wr(cap + 8, (uint32_t)d->msix.pba_off | bar, 4);
    d->msix.cap = pci_device_add_cap(d, PCI_CAP_ID_MSIX, cap, sizeof(cap));
    wr(d->wmask + d->msix.cap + 2, 0xC000, 2);   /* enable, function mask */
    return d->msix.cap ? 0 : -ENOSPC;
}

/* ---- INTx --------------------------------------------------------------- */

static void intx_update(struct pci_device *d)
{
    bool disabled = rd(d->cfg + PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE;
    uint16_t st = rd(d->cfg + PCI_STATUS, 2);
    wr(d->cfg + PCI_STATUS, d->intx_level ? st | PCI_STATUS_INTERRUPT : st & ~PCI_STATUS_INTERRUPT, 2);
    if (d->cfg[PCI_INTERRUPT_PIN])
        machine_set_irq(d->bus->m, pci_intx_gsi(d->slot, d->cfg[PCI_INTERRUPT_PIN] - 1),
                        d->intx_level && !disabled);
}

void pci_set_intx(struct pci_device *d, bool level)
{
    if (!d->bus)
        return;   /* not plugged in yet */
    pthread_mutex_lock(&d->bus->lock);
    if (d->intx_level != level) {
        d->intx_level = level;
        intx_update(d);
    }
    pthread_mutex_unlock(&d->bus->lock);
}

/* ---- config space -------------------------------------------------------- */

static bool is_bar_reg(unsigned off) { return off >= PCI_BAR0 && off < PCI_BAR0 + 24; }

/* Write one dword-aligned BAR register, keeping the size and type bits. */
static void bar_write(struct pci_device *d, unsigned reg, uint32_t val)
{
    unsigned i = (reg - PCI_BAR0) / 4;
    struct pci_bar *b = &d->bars[i];
    if (b->type == PCI_BAR_NONE) {
        /* upper half of the 64-bit BAR before it? */
        if (i > 0 && d->bars[i - 1].type == PCI_BAR_MEM64) {
            struct pci_bar *lo = &d->bars[i - 1];
            uint64_t mask = ~(lo->size - 1);
            lo->addr = ((uint64_t)val << 32 | (lo->addr & 0xffffffffu)) & mask;
            wr(d->cfg + reg, (uint32_t)(lo->addr >> 32), 4);
        }
        return;
    }
    uint32_t low = rd(d->cfg + reg, 4) & (b->type == PCI_BAR_IO ? 0x3 : 0xf);
    uint64_t mask = ~(b->size - 1);
    if (b->type == PCI_BAR_MEM64)
        b->addr = ((b->addr & ~0xffffffffULL) | val) & mask;
    else
        b->addr = val & mask & 0xffffffffu;
    wr(d->cfg + reg, (uint32_t)(b->addr & 0xffffffffu) | low, 4);
}

static void device_config_write(struct pci_device *d, unsigned off, uint32_t val, unsigned size)
{
    if (off >= PCI_CFG_SPACE)
        return;   /* no extended capabilities yet: read-only zeroes */
    if (is_bar_reg(off)) {
        if (size == 4 && !(off & 3))
            bar_write(d, off, val);
        return;   /* partial BAR writes are ignored, as sizing always uses dwords */
    }
    uint16_t old_cmd = rd(d->cfg + PCI_COMMAND, 2);
    for (unsigned i = 0; i < size; i++) {
        uint8_t m = d->wmask[off + i], b = (uint8_t)(val >> (8 * i));
        d->cfg[off + i] = (d->cfg[off + i] & ~m) | (b & m);
    }
    /* status: write-1-to-clear bits are not modelled (all read-only) */
    if ((rd(d->cfg + PCI_COMMAND, 2) ^ old_cmd) & PCI_COMMAND_INTX_DISABLE)
        intx_update(d);
    if (d->msix.nr && off <= d->msix.cap + 3 && off + size > d->msix.cap + 2)
        msix_unmask_pending(d);
    if (d->ops && d->ops->config_write)
        d->ops->config_write(d, off, val, size);
}

uint32_t pci_config_read(struct pci_bus *bus, unsigned devfn, unsigned off, unsigned size)
{
    unsigned slot = devfn >> 3, fn = devfn & 7;
    uint32_t v = 0xffffffffu;
    if (size > 4 || off + size > PCI_CFG_SPACE_EXP)
        return v;
    pthread_mutex_lock(&bus->lock);
    struct pci_device *d = slot < PCI_MAX_SLOTS && fn == 0 ? bus->slots[slot] : NULL;
    if (d) {
        /* sizing: a BAR written with all ones reads back its size mask */
        v = rd(d->cfg + off, size);
    }
    pthread_mutex_unlock(&bus->lock);
    return size == 4 ? v : v & ((1u << (size * 8)) - 1);
}

void pci_config_write(struct pci_bus *bus, unsigned devfn, unsigned off, uint32_t val,
                      unsigned size)
{
    unsigned slot = devfn >> 3, fn = devfn & 7;
    if (size > 4 || off + size > PCI_CFG_SPACE_EXP)
        return;
    pthread_mutex_lock(&bus->lock);
    struct pci_device *d = slot < PCI_MAX_SLOTS && fn == 0 ? bus->slots[slot] : NULL;
    if (d)
        device_config_write(d, off, val, size);
    pthread_mutex_unlock(&bus->lock);
}

/* ---- configuration mechanism #1 (0xCF8 address, 0xCFC data) -------------- */

static uint64_t cf8_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_bus *bus = opaque;
    if (off < 4)
        return size == 4 && off == 0 ? bus->cf8 : 0xffffffffu >> (32 - 8 * size);
    uint32_t a = bus->cf8;
    unsigned dataoff = (unsigned)off - 4;
    if (!(a & 0x80000000u) || ((a >> 16) & 0xff) != 0)
        return 0xffffffffu >> (32 - 8 * size);
    /* Address bits 1:0 select the byte as QEMU does (kvm-unit-tests reads
     * 16-bit registers with them set); AMD extended bits 27:24. */
    unsigned reg = (a & 0xff) | ((a >> 16) & 0xf00);
    return pci_config_read(bus, (a >> 8) & 0xff, reg | dataoff, size);
}

static void cf8_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_bus *bus = opaque;
    if (off < 4) {
        if (size == 4 && off == 0)
            bus->cf8 = (uint32_t)val;
        return;
    }
    uint32_t a = bus->cf8;
    if (!(a & 0x80000000u) || ((a >> 16) & 0xff) != 0)
        return;
    unsigned reg = (a & 0xff) | ((a >> 16) & 0xf00);
    pci_config_write(bus, (a >> 8) & 0xff, reg | ((unsigned)off - 4), (uint32_t)val, size);
}

static const struct bus_ops cf8_ops = { .read = cf8_read, .write = cf8_write };

static uint64_t ecam_read(void *opaque, uint64_t off, unsigned size)
{
    if (size > 4 || (off >> 20) != 0)
        return ~0ULL >> (64 - 8 * size);
    return pci_config_read(opaque, (off >> 12) & 0xff, off & 0xfff, size);
}

static void ecam_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    if (size > 4 || (off >> 20) != 0)
        return;
    pci_config_write(opaque, (off >> 12) & 0xff, off & 0xfff, (uint32_t)val, size);
}

static const struct bus_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

/* ---- BAR windows ---------------------------------------------------------- */

/* Find the decoding BAR that contains [addr, addr+size). Lock held. */
static struct pci_bar *find_bar(struct pci_bus *bus, bool io, uint64_t addr, unsigned size)
{
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
        struct pci_device *d = bus->slots[s];
        if (!d)
            continue;
        uint16_t cmd = rd(d->cfg + PCI_COMMAND, 2);
        if (!(cmd & (io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)))
            continue;
        for (unsigned i = 0; i < 6; i++) {
            struct pci_bar *b = &d->bars[i];
            if (b->type == PCI_BAR_NONE || (b->type == PCI_BAR_IO) != io || !b->addr)
                continue;
            if (addr >= b->addr && addr - b->addr + size <= b->size)
                return b;
        }
    }
    return NULL;
}

static uint64_t window_access(struct pci_bus *bus, bool io, uint64_t addr, unsigned size,
                              bool write, uint64_t val)
{
    pthread_mutex_lock(&bus->lock);
    struct pci_bar *b = find_bar(bus, io, addr, size);
    const struct bus_ops *ops = b ? b->ops : NULL;
    void *opaque = b ? b->opaque : NULL;
    uint64_t off = b ? addr - b->addr : 0;
    pthread_mutex_unlock(&bus->lock);
    /* The device handler runs without the bus lock (it may take it, e.g. MSI-X). */
    if (!ops) {
        vk_debug("pci: unclaimed %s %s at 0x%llx", io ? "I/O" : "MMIO", write ? "write" : "read",
                 (unsigned long long)addr);
        return ~0ULL >> (64 - 8 * size);
    }
    if (write) {
        if (ops->write)
            ops->write(opaque, off, val, size);
        return 0;
    }
    return ops->read ? ops->read(opaque, off, size) : ~0ULL >> (64 - 8 * size);
}

static uint64_t mmio_win_read(void *o, uint64_t off, unsigned size)
{ return window_access(o, false, PCI_MMIO32_BASE + off, size, false, 0); }
static void mmio_win_write(void *o, uint64_t off, uint64_t val, unsigned size)
{ window_access(o, false, PCI_MMIO32_BASE + off, size, true, val); }
static uint64_t io_win_read(void *o, uint64_t off, unsigned size)
{ return window_access(o, true, PCI_IO_BASE + off, size, false, 0); }
static void io_win_write(void *o, uint64_t off, uint64_t val, unsigned size)
{ window_access(o, true, PCI_IO_BASE + off, size, true, val); }

static const struct bus_ops mmio_win_ops = { .read = mmio_win_read, .write = mmio_win_write };
static const struct bus_ops io_win_ops = { .read = io_win_read, .write = io_win_write };

/* ---- bus ------------------------------------------------------------------ */

int pci_bus_create(struct machine *m, struct pci_bus **out, struct vk_err *err)
{
    struct pci_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return vk_err_set(err, -ENOMEM, "pci: out of memory");
    bus->m = m;
    pthread_mutex_init(&bus->lock, NULL);
    bus->mmio_next = PCI_MMIO32_BASE;
    bus->io_next = PCI_IO_BASE;
    int r;
    if ((r = bus_register(&m->pio, 0xcf8, 8, &cf8_ops, bus, "pci-conf1", err)) ||
        (r = bus_register(&m->mmio, PCI_ECAM_BASE, PCI_ECAM_SIZE, &ecam_ops, bus, "pci-ecam", err)) ||
        (r = bus_register(&m->mmio, PCI_MMIO32_BASE, PCI_MMIO32_SIZE, &mmio_win_ops, bus,
                          "pci-mmio32", err)) ||
        (r = bus_register(&m->pio, PCI_IO_BASE, PCI_IO_SIZE, &io_win_ops, bus, "pci-io", err))) {
        pci_bus_destroy(bus);
        return r;
    }
    /* Host bridge at 00.0: Red Hat's generic PCIe host bridge IDs. */
    struct pci_device *hb = &bus->host_bridge;
    pci_device_init(hb, "host-bridge", 0x1b36, 0x0008, 0, 0x060000, 0x1af4, 0x1100);
    hb->bus = bus;
    bus->slots[0] = hb;
    *out = bus;
    return 0;
}

void pci_bus_reset(struct pci_bus *bus)
{
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        struct pci_device *d = bus->slots[s];
        if (d && d->ops && d->ops->reset)
            d->ops->reset(d);
    }
}

void pci_bus_destroy(struct pci_bus *bus)
{
    if (!bus)
        return;
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        struct pci_device *d = bus->slots[s];
        if (d && d->ops && d->ops->destroy)
            d->ops->destroy(d);   /* removes itself from the bus */
    }
    struct machine *m = bus->m;
    bus_unregister(&m->pio, 0xcf8, bus);
    bus_unregister(&m->mmio, PCI_ECAM_BASE, bus);
    bus_unregister(&m->mmio, PCI_MMIO32_BASE, bus);
    bus_unregister(&m->pio, PCI_IO_BASE, bus);
    pthread_mutex_destroy(&bus->lock);
    free(bus);
}

/* Firmware's job, done here because virtkit boots kernels directly:
 * naturally aligned addresses in the windows, decoding enabled. */
static int assign_bars(struct pci_bus *bus, struct pci_device *d, struct vk_err *err)
{
    for (unsigned i = 0; i < 6; i++) {
        struct pci_bar *b = &d->bars[i];
        if (b->type == PCI_BAR_NONE)
            continue;
        uint64_t *cursor = b->type == PCI_BAR_IO ? &bus->io_next : &bus->mmio_next;
        uint64_t end = b->type == PCI_BAR_IO ? PCI_IO_BASE + PCI_IO_SIZE
                                             : PCI_MMIO32_BASE + PCI_MMIO32_SIZE;
        uint64_t addr = VK_ALIGN_UP(*cursor, b->size);
        if (addr + b->size > end)
            return vk_err_set(err, -ENOSPC, "pci: no room for BAR%u of %s (%llu bytes)", i,
                              d->name, (unsigned long long)b->size);
        *cursor = addr + b->size;
        b->addr = addr;
        uint32_t low = rd(d->cfg + PCI_BAR0 + 4 * i, 4) & (b->type == PCI_BAR_IO ? 0x3 : 0xf);
        wr(d->cfg + PCI_BAR0 + 4 * i, (uint32_t)addr | low, 4);
        if (b->type == PCI_BAR_MEM64)
            wr(d->cfg + PCI_BAR0 + 4 * (i + 1), (uint32_t)(addr >> 32), 4);
    }
    uint16_t cmd = rd(d->cfg + PCI_COMMAND, 2) | PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
    wr(d->cfg + PCI_COMMAND, cmd, 2);
    return 0;
}

int pci_bus_add(struct pci_bus *bus, struct pci_device *d, int slot, struct vk_err *err)
{
    pthread_mutex_lock(&bus->lock);
    int r = 0;
    if (slot < 0) {
        for (slot = 1; slot < PCI_MAX_SLOTS && bus->slots[slot]; slot++)
            ;
    }
    if (slot >= PCI_MAX_SLOTS || bus->slots[slot]) {
        r = vk_err_set(err, -ENOSPC, "pci: no free slot for %s", d->name);
        goto out;
    }
    d->bus = bus;
    d->slot = (unsigned)slot;
    if ((r = assign_bars(bus, d, err)))
        goto out;
    if (d->cfg[PCI_INTERRUPT_PIN])
        d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)pci_intx_gsi(d->slot, d->cfg[PCI_INTERRUPT_PIN] - 1);
    bus->slots[slot] = d;
out:
    pthread_mutex_unlock(&bus->lock);
    return r;
}

void pci_bus_remove(struct pci_bus *bus, struct pci_device *d)
{
    pthread_mutex_lock(&bus->lock);
    if (d->slot < PCI_MAX_SLOTS && bus->slots[d->slot] == d)
        bus->slots[d->slot] = NULL;
    pthread_mutex_unlock(&bus->lock);
}
