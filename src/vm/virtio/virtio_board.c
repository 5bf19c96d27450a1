/* Board glue for PCI and virtio: the device_ops entries listed in board.c.
 *
 *   pci             always: the host bridge and bus 0 (owns every PCI device)
 *   virtio-disks    always: one virtio-blk per --disk, one virtio-net per --net
 *   virtio-rng, virtio-console, virtio-balloon: with --device NAME[,options]
 */
#include <errno.h>
#include <string.h>

#include "machine.h"
#include "pci/pci.h"
#include "virtio.h"

static int pci_init(struct machine *m, const struct device_config *cfg, void **state,
                    struct vk_err *err)
{
    struct pci_bus *bus;
    int r = pci_bus_create(m, &bus, err);
    if (r == 0)
        *state = bus;
    return r;
}

static void pci_reset(void *state) { pci_bus_reset(state); }
static void pci_destroy(void *state) { pci_bus_destroy(state); }

const struct device_ops pci_host_device = {
    .name = "pci",
    .init = pci_init,
    .reset = pci_reset,
    .destroy = pci_destroy,
};

struct pci_bus *machine_pci_bus(struct machine *m)
{
    for (unsigned i = 0; i < m->nr_devices; i++)
        if (m->devices[i].ops == &pci_host_device)
            return m->devices[i].state;
    return NULL;
}

static int disks_init(struct machine *m, const struct device_config *cfg, void **state,
                      struct vk_err *err)
{
    const struct vm_config *vc = m->cfg;
    *state = NULL;   /* the devices belong to the PCI bus */
    for (unsigned i = 0; i < vc->nr_disks; i++) {
        int r = virtio_blk_create(m, vc->disks[i], err);
        if (r < 0)
            return r;
    }
    for (unsigned i = 0; i < vc->nr_nets; i++) {
        int r = virtio_net_create(m, vc->nets[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

const struct device_ops virtio_disks_device = { .name = "virtio-disks", .init = disks_init };

/* --device virtio-rng[,...]: the option string after the name */
static const char *device_args(const struct device_config *cfg)
{
    const char *comma = cfg->args ? strchr(cfg->args, ',') : NULL;
    return comma ? comma + 1 : "";
}

#define OPTIONAL_VIRTIO(name_, fn_)                                                   \
    static int fn_##_init(struct machine *m, const struct device_config *cfg,        \
                          void **state, struct vk_err *err)                          \
    {                                                                                 \
        *state = NULL;                                                                \
        return fn_(m, device_args(cfg), err);                                         \
    }                                                                                 \
    const struct device_ops fn_##_device = { .name = name_, .init = fn_##_init }

OPTIONAL_VIRTIO("virtio-rng", virtio_rng_create);
OPTIONAL_VIRTIO("virtio-console", virtio_console_create);
OPTIONAL_VIRTIO("virtio-balloon", virtio_balloon_create);
