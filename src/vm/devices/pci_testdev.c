/* QEMU's pci-testdev, as kvm-unit-tests (x86 vmexit "pci-mem"/"pci-io")
 * use it; only with --device pci-testdev. PCI 1b36:0005 (Red Hat test
 * device), class 0xff (other), no interrupt.
 *
 * BAR0 is 4 KiB of MMIO, BAR1 256 bytes of I/O. Each BAR starts with a
 * little-endian header that describes the test currently selected on it:
 *   0x00 test    u8  write: select test n (an unknown n deselects)
 *   0x01 width   u8  access width to use: 1, 2 or 4; 0 = no such test
 *   0x04 offset  u32 where in this BAR the test's accesses go
 *   0x08 data    u32 the value to write
 *   0x0c count   u32 writes seen at `offset` since the test was selected
 *   0x10 name    NUL-terminated ASCII, for the guest's log
 * Tests 0-2 exist on each BAR (a guest scans from 0 until width reads 0):
 * "<mmio|portio>-no-eventfd", "-wildcard-eventfd" (any write counts) and
 * "-datamatch-eventfd" (only a write of `width` bytes equal to `data`
 * counts). QEMU serves the last two through KVM ioeventfds; here every
 * write is an exit handled in user space, which is what the guest's
 * vmexit benchmark measures anyway. Nothing else in the BARs responds
 * (reads 0, writes ignored).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../machine.h"
#include "../pci/pci.h"

#define TD_VENDOR     0x1b36
#define TD_DEVICE     0x0005
#define TD_MEM_SIZE   4096
#define TD_IO_SIZE    256
#define TD_NR_TESTS   3
#define TD_HDR_NAME   0x10
#define TD_NAME_MAX   32
#define TD_TEST_BASE  0x40          /* test n writes go to 0x40 + 4n */
#define TD_DATA_MATCH 0xfa
#define TD_DATA_ANY   0xce

struct td_bar {
    struct pci_testdev *td;
    bool io;
    int current;                    /* selected test, -1 = none */
    uint32_t count;
};

struct pci_testdev {
    struct pci_device pci;
    pthread_mutex_t lock;
    struct td_bar bars[2];          /* 0: MMIO (BAR0), 1: I/O (BAR1) */
};

static const char *const td_tests[TD_NR_TESTS] = {
    "no-eventfd", "wildcard-eventfd", "datamatch-eventfd",
};

/* The header of the selected test, as bytes (little-endian). */
static void td_header(const struct td_bar *b, uint8_t hdr[TD_HDR_NAME + TD_NAME_MAX])
{
    memset(hdr, 0, TD_HDR_NAME + TD_NAME_MAX);
    if (b->current < 0)
        return;
    uint32_t off = TD_TEST_BASE + 4 * (uint32_t)b->current;
    uint32_t data = b->current == 2 ? TD_DATA_MATCH : TD_DATA_ANY;
    hdr[1] = 1;
    for (int i = 0; i < 4; i++) {
        hdr[4 + i] = (uint8_t)(off >> (8 * i));
        hdr[8 + i] = (uint8_t)(data >> (8 * i));
        hdr[12 + i] = (uint8_t)(b->count >> (8 * i));
    }
    snprintf((char *)hdr + TD_HDR_NAME, TD_NAME_MAX, "%s-%s", b->io ? "portio" : "mmio",
             td_tests[b->current]);
}

static uint64_t td_read(void *opaque, uint64_t off, unsigned size)
{
    struct td_bar *b = opaque;
    uint8_t hdr[TD_HDR_NAME + TD_NAME_MAX];
    uint64_t v = 0;
    pthread_mutex_lock(&b->td->lock);
    td_header(b, hdr);
    for (unsigned i = 0; i < size && i < 8; i++)
        if (off + i < sizeof(hdr))
            v |= (uint64_t)hdr[off + i] << (8 * i);
    pthread_mutex_unlock(&b->td->lock);
    return v;
}

static void td_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct td_bar *b = opaque;
    pthread_mutex_lock(&b->td->lock);
    if (off == 0) {
        uint8_t n = (uint8_t)value;
        b->current = n < TD_NR_TESTS ? n : -1;
        b->count = 0;
    } else if (b->current >= 0 && off == TD_TEST_BASE + 4 * (uint64_t)b->current) {
        bool match = size == 1 && (uint8_t)value == TD_DATA_MATCH;
        if (b->current != 2 || match)
            b->count++;
    }
    pthread_mutex_unlock(&b->td->lock);
}

static const struct bus_ops td_bar_ops = { .read = td_read, .write = td_write };

static void td_reset(struct pci_device *d)
{
    struct pci_testdev *t = d->opaque;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < 2; i++) {
        t->bars[i].current = -1;
        t->bars[i].count = 0;
    }
    pthread_mutex_unlock(&t->lock);
}

static void td_destroy(struct pci_device *d)
{
    struct pci_testdev *t = d->opaque;
    if (d->bus)
        pci_bus_remove(d->bus, d);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static const struct pci_device_ops td_pci_ops = { .reset = td_reset, .destroy = td_destroy };

static int td_init(struct machine *m, const struct device_config *cfg, void **state,
                   struct vk_err *err)
{
    *state = NULL;                  /* the device belongs to the PCI bus */
    if (cfg->args && strchr(cfg->args, ','))
        return vk_err_set(err, -EINVAL, "takes no options (got '%s')", strchr(cfg->args, ',') + 1);
    struct pci_bus *bus = machine_pci_bus(m);
    if (!bus)
        return vk_err_set(err, -ENODEV, "no PCI bus");
    struct pci_testdev *t = calloc(1, sizeof(*t));
    if (!t)
        return vk_err_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&t->lock, NULL);
    for (int i = 0; i < 2; i++)
        t->bars[i] = (struct td_bar){ .td = t, .io = i == 1, .current = -1 };
    pci_device_init(&t->pci, "pci-testdev", TD_VENDOR, TD_DEVICE, 0, 0xff0000, 0x1af4, 0x1100);
    t->pci.ops = &td_pci_ops;
    t->pci.opaque = t;
    pci_device_add_bar(&t->pci, 0, PCI_BAR_MEM32, TD_MEM_SIZE, false, &td_bar_ops, &t->bars[0]);
    pci_device_add_bar(&t->pci, 1, PCI_BAR_IO, TD_IO_SIZE, false, &td_bar_ops, &t->bars[1]);
    int r = pci_bus_add(bus, &t->pci, -1, err);
    if (r < 0) {
        pthread_mutex_destroy(&t->lock);
        free(t);
        return r;
    }
    return 0;
}

const struct device_ops pci_testdev_device = { .name = "pci-testdev", .init = td_init };
