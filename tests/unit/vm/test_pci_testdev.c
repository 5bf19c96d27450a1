/* devices/pci_testdev.c on the real PCI bus: IDs and BARs as a guest finds
 * them through config space, then the test headers of both BARs as
 * kvm-unit-tests' vmexit pci-mem/pci-io scan them. */
#include <errno.h>
#include <string.h>

#include "fake_machine.h"
#include "pci/pci.h"
#include "tap.h"

extern const struct device_ops pci_testdev_device;
static struct pci_bus *the_bus;
struct pci_bus *machine_pci_bus(struct machine *m) { return the_bus; }

static struct bus *space(struct fake_machine *f, bool io) { return io ? &f->m.pio : &f->m.mmio; }

static uint64_t rd(struct fake_machine *f, bool io, uint64_t a, unsigned size)
{
    uint64_t v = 0;
    bus_read(space(f, io), a, size, &v);
    return v;
}

static void wr(struct fake_machine *f, bool io, uint64_t a, uint64_t v, unsigned size)
{
    bus_write(space(f, io), a, size, v);
}

/* Scan the tests of one BAR like the guest does; returns how many. */
static unsigned scan(struct fake_machine *f, bool io, uint64_t base)
{
    const char *kind = io ? "portio" : "mmio";
    unsigned n;
    for (n = 0; n < 16; n++) {
        wr(f, io, base, n, 1);
        unsigned width = (unsigned)rd(f, io, base + 1, 1);
        if (width != 1 && width != 2 && width != 4)
            break;
        uint32_t off = (uint32_t)rd(f, io, base + 4, 4), data = (uint32_t)rd(f, io, base + 8, 4);
        char name[40] = "";
        for (unsigned i = 0; i + 1 < sizeof(name); i++)
            if (!(name[i] = (char)rd(f, io, base + 0x10 + i, 1)))
                break;
        tap_ok(strncmp(name, kind, strlen(kind)) == 0 && strlen(name) < off,
               "%s test %u: '%s' width %u offset 0x%x data 0x%x", kind, n, name, width, off, data);
        tap_is_int(rd(f, io, base + 12, 4), 0, "%s test %u: count starts at 0", kind, n);
        wr(f, io, base + off, data, width);
        wr(f, io, base + off, data, width);
        wr(f, io, base + off, (uint8_t)~data, width);   /* counts unless datamatch */
        wr(f, io, base + off + 1, data, 1);             /* elsewhere: never counts */
        unsigned want = strstr(name, "datamatch") ? 2 : 3;
        tap_is_int(rd(f, io, base + 12, 4), want, "%s test %u: counted writes", kind, n);
    }
    return n;
}

int main(void)
{
    struct fake_machine *f = fake_machine_new(16 << 20, 1);
    struct vk_err err = {0};
    tap_ok(pci_bus_create(&f->m, &the_bus, &err) == 0, "PCI bus");
    struct vk_err oerr = {0};
    void *st = NULL;
    struct device_config bad = { .args = "pci-testdev,membar=4096" };
    tap_ok(pci_testdev_device.init(&f->m, &bad, &st, &oerr) == -EINVAL &&
           strstr(oerr.msg, "takes no options (got 'membar=4096')"), "options refused: %s", oerr.msg);
    tap_ok(fake_machine_add(f, &pci_testdev_device, 0, 0, "pci-testdev") == NULL,
           "board entry keeps no state (the bus owns the device)");
    int slot = -1;
    for (int s = 1; s < PCI_MAX_SLOTS && slot < 0; s++)
        if (pci_config_read(the_bus, (unsigned)s << 3, 0, 4) == 0x00051b36)
            slot = s;
    tap_ok(slot > 0, "1b36:0005 found on bus 0 (slot %d)", slot);
    unsigned devfn = (unsigned)slot << 3;
    tap_is_int(pci_config_read(the_bus, devfn, 0x08, 4) >> 8, 0xff0000, "class: other");
    tap_is_int(pci_config_read(the_bus, devfn, PCI_COMMAND, 2) & 3, 3, "I/O and memory decode on");
    uint32_t bar0 = pci_config_read(the_bus, devfn, PCI_BAR0, 4);
    uint32_t bar1 = pci_config_read(the_bus, devfn, PCI_BAR0 + 4, 4);
    tap_ok((bar0 & 1) == 0 && (bar0 & ~0xfu) >= PCI_MMIO32_BASE, "BAR0 is memory at 0x%x", bar0);
    tap_ok((bar1 & 1) == 1 && (bar1 & ~3u) >= PCI_IO_BASE, "BAR1 is I/O at 0x%x", bar1);
    pci_config_write(the_bus, devfn, PCI_BAR0, 0xffffffff, 4);
    tap_is_int(pci_config_read(the_bus, devfn, PCI_BAR0, 4) & ~0xfu, 0xfffff000, "BAR0 sizes as 4 KiB");
    pci_config_write(the_bus, devfn, PCI_BAR0, bar0, 4);
    uint64_t mem = bar0 & ~0xfu, io = bar1 & ~3u;

    tap_is_int(rd(f, false, mem + 1, 1), 0, "no test selected: width reads 0");
    tap_is_int(scan(f, false, mem), 3, "BAR0: three tests");
    tap_is_int(scan(f, true, io), 3, "BAR1: three tests");
    wr(f, true, io, 1, 1);
    tap_is_int(rd(f, false, mem + 1, 1), 0, "selection is per BAR");
    wr(f, false, mem, 0, 1);
    wr(f, false, mem + 0x40, 1, 1);
    the_bus->slots[slot]->ops->reset(the_bus->slots[slot]);
    tap_is_int(rd(f, false, mem + 1, 1), 0, "reset deselects");
    tap_is_int(rd(f, false, mem + 0xfff, 1), 0, "rest of the BAR reads 0");
    pci_bus_destroy(the_bus);
    fake_machine_free(f);
    return tap_done();
}
