/* A machine without CPUs for device tests: RAM, the two buses, the PCI bus
 * and a recording accelerator (IRQ lines and MSIs). The test plays the
 * guest driver through bus_read/bus_write, as a vCPU exit would. */
#ifndef VK_TEST_FAKE_MACHINE_H
#define VK_TEST_FAKE_MACHINE_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"
#include "pci/pci.h"

#define FAKE_RAM (16u << 20)

static atomic_uint fake_msi_count, fake_irq_level[32];

static void fake_set_irq(struct machine *m, unsigned gsi, int level)
{
    if (gsi < 32)
        atomic_store(&fake_irq_level[gsi], (unsigned)level);
}

static int fake_msi(struct machine *m, uint64_t addr, uint32_t data)
{
    atomic_fetch_add(&fake_msi_count, 1);
    return 0;
}

static const struct accel_ops fake_accel = {
    .name = "fake", .set_irq = fake_set_irq, .signal_msi = fake_msi,
};

/* The two machine.c functions devices use, over the fake machine. */
void *machine_gpa_to_hva(struct machine *m, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < m->nr_ram; i++) {
        struct ram_region *r = &m->ram[i];
        if (gpa >= r->gpa && vk_range_ok(gpa - r->gpa, len, r->size))
            return r->hva + (gpa - r->gpa);
    }
    return NULL;
}

void machine_set_irq(struct machine *m, unsigned gsi, int level)
{
    m->accel->set_irq(m, gsi, level);
}

static inline struct machine *fake_machine_new(struct vm_config *cfg)
{
    struct machine *m = calloc(1, sizeof(*m));
    m->cfg = cfg;
    m->accel = &fake_accel;
    bus_init(&m->pio, "pio");
    bus_init(&m->mmio, "mmio");
    m->ram[0].gpa = 0;
    m->ram[0].size = FAKE_RAM;
    m->ram[0].hva = aligned_alloc(4096, FAKE_RAM);
    memset(m->ram[0].hva, 0, FAKE_RAM);
    m->nr_ram = 1;
    m->ram_size = FAKE_RAM;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

/* Register a board device the way machine.c does, so machine_pci_bus works. */
static inline int fake_machine_add(struct machine *m, const struct device_ops *ops,
                                   const char *args, struct vk_err *err)
{
    struct device_instance *d = realloc(m->devices, (m->nr_devices + 1) * sizeof(*d));
    m->devices = d;
    struct device_config dc = { .args = args };
    void *state = NULL;
    int r = ops->init(m, &dc, &state, err);
    if (r == 0)
        m->devices[m->nr_devices++] = (struct device_instance){ ops, state };
    return r;
}

static inline void fake_machine_free(struct machine *m)
{
    for (unsigned i = m->nr_devices; i-- > 0;)
        if (m->devices[i].ops->destroy && m->devices[i].state)
            m->devices[i].ops->destroy(m->devices[i].state);
    free(m->devices);
    free(m->ram[0].hva);
    bus_destroy(&m->pio);
    bus_destroy(&m->mmio);
    free(m);
}

#endif
