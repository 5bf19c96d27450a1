/* ACPI PCI hot-plug controller (see pci_hotplug.h for the registers). */
#include "pci_hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "machine.h"
#include "pci.h"
#include "../devices/acpi_pm.h"

struct pci_hotplug {
    struct machine *m;
    uint16_t base;
    /* Lock order: hp->lock, then the PCI bus lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint32_t up, down;          /* latched for the guest (read clears) */
    uint32_t down_asked;        /* unplug requested, not yet ejected */
    uint32_t eject;             /* guest wrote EJECT: the worker removes them */
    /* The listener runs under notify_lock, so clearing it (control socket
     * teardown) waits for a call in flight. */
    pthread_mutex_t notify_lock;
    pcihp_deleted_fn deleted;
    void *deleted_opaque;
    pthread_t worker;
    bool worker_started, stopping;
};

static struct pci_bus *bus_of(struct pci_hotplug *hp)
{
    return machine_pci_bus(hp->m);
}

static uint32_t occupied(struct pci_bus *bus)
{
    uint32_t mask = 0;

    if (!bus)
        return 0;
    pthread_mutex_lock(&bus->lock);
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++)
        if (bus->slots[s])
            mask |= 1u << s;
    pthread_mutex_unlock(&bus->lock);
    return mask;
}

static void raise_gpe(struct pci_hotplug *hp)
{
    struct acpi_pm *pm = acpi_pm_find(hp->m);

    if (pm)
        acpi_pm_set_gpe(pm, PCIHP_GPE_BIT);
}

/* ---- guest registers ---------------------------------------------------- */

static uint64_t hp_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_hotplug *hp = opaque;
    uint32_t v = 0;

    /* Only aligned dword reads of a register return it (the DSDT uses
     * DWordAcc); other widths read 0 and do not clear anything. */
    if (size != 4 || (off & 3))
        return 0;
    pthread_mutex_lock(&hp->lock);
    switch (off) {
    case PCIHP_UP:      v = hp->up; hp->up = 0; break;
    case PCIHP_DOWN:    v = hp->down; hp->down = 0; break;
    case PCIHP_PRESENT: v = occupied(bus_of(hp)); break;
    default:            break;
    }
    pthread_mutex_unlock(&hp->lock);
    return v;
}

static void hp_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_hotplug *hp = opaque;

    if (size != 4 || off != PCIHP_EJECT)
        return;
    pthread_mutex_lock(&hp->lock);
    /* Only what is there now: a stale bit must not take a later device. */
    hp->eject |= (uint32_t)val & occupied(bus_of(hp));
    pthread_cond_broadcast(&hp->cond);
    pthread_mutex_unlock(&hp->lock);
}

static const struct bus_ops hp_ops = { .read = hp_read, .write = hp_write };

/* ---- removal -------------------------------------------------------------- */

/* Remove the device in `slot` if there is one; its id goes to `id`.
 * hp->lock held, vCPUs parked (or not running). Returns true if a device
 * went away. */
static bool remove_slot(struct pci_hotplug *hp, unsigned slot, char id[PCIHP_ID_MAX])
{
    struct pci_bus *bus = bus_of(hp);
    struct pci_device *d;

    if (!bus || slot == 0 || slot >= PCI_MAX_SLOTS)
        return false;
    pthread_mutex_lock(&bus->lock);
    d = bus->slots[slot];
    pthread_mutex_unlock(&bus->lock);
    if (!d)
        return false;
    if (!d->ops || !d->ops->destroy) {
        vk_warn_ratelimited("pci-hotplug: %s in slot %u cannot be removed", d->name, slot);
        return false;
    }
    snprintf(id, PCIHP_ID_MAX, "%s", d->id);
    d->ops->destroy(d);          /* unplugs itself from the bus, then frees d */
    hp->down_asked &= ~(1u << slot);
    return true;
}

/* Remove `mask` with hp->lock held; collect ids for the listener. */
static unsigned remove_mask(struct pci_hotplug *hp, uint32_t mask,
                            char ids[][PCIHP_ID_MAX], unsigned *slots)
{
    unsigned n = 0;

    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        if (!(mask & (1u << s)) || !remove_slot(hp, s, ids[n]))
            continue;
        slots[n++] = s;
    }
    return n;
}

static void notify_deleted(struct pci_hotplug *hp, char ids[][PCIHP_ID_MAX], unsigned *slots,
                           unsigned n)
{
    pthread_mutex_lock(&hp->notify_lock);
    for (unsigned i = 0; hp->deleted && i < n; i++)
        hp->deleted(hp->deleted_opaque, ids[i], slots[i]);
    pthread_mutex_unlock(&hp->notify_lock);
}

static void *worker_main(void *arg)
{
    struct pci_hotplug *hp = arg;
    char ids[PCI_MAX_SLOTS][PCIHP_ID_MAX];
    unsigned slots[PCI_MAX_SLOTS];

    pthread_mutex_lock(&hp->lock);
    for (;;) {
        while (!hp->eject && !hp->stopping)
            pthread_cond_wait(&hp->cond, &hp->lock);
        if (hp->stopping)
            break;
        pthread_mutex_unlock(&hp->lock);

        /* Park every vCPU so none is inside the device being freed. */
        bool paused_by_us = false;
        enum machine_state st = machine_get_state(hp->m);
        if (st == MACHINE_RUNNING) {
            machine_pause(hp->m);
            st = machine_get_state(hp->m);
            paused_by_us = st == MACHINE_PAUSED;
        }
        pthread_mutex_lock(&hp->lock);
        uint32_t mask = hp->eject;
        hp->eject = 0;
        unsigned n = 0;
        if (st == MACHINE_PAUSED)
            n = remove_mask(hp, mask, ids, slots);
        /* else the machine is ending or rebooting: reset/teardown handle it */
        pthread_mutex_unlock(&hp->lock);
        /* Tell before the vCPUs go on: a guest that ends right after its
         * eject must not end the VM before DEVICE_DELETED is queued. */
        notify_deleted(hp, ids, slots, n);
        if (paused_by_us)
            machine_resume(hp->m);
        pthread_mutex_lock(&hp->lock);
    }
    pthread_mutex_unlock(&hp->lock);
    return NULL;
}

/* ---- host side ------------------------------------------------------------ */

int pci_hotplug_plug(struct pci_hotplug *hp, pcihp_create_fn create, const char *spec,
                     const char *id, struct vk_err *err)
{
    struct pci_bus *bus = bus_of(hp);
    int r;

    if (!bus)
        return vk_err_set(err, -ENODEV, "the machine has no PCI bus");
    if (id && strlen(id) >= PCIHP_ID_MAX)
        return vk_err_set(err, -EINVAL, "device id is longer than %d characters",
                          PCIHP_ID_MAX - 1);
    pthread_mutex_lock(&hp->lock);
    bool dup = false;
    pthread_mutex_lock(&bus->lock);
    for (unsigned s = 0; id && id[0] && s < PCI_MAX_SLOTS; s++)
        dup |= bus->slots[s] && !strcmp(bus->slots[s]->id, id);
    pthread_mutex_unlock(&bus->lock);
    if (dup) {
        pthread_mutex_unlock(&hp->lock);
        return vk_err_set(err, -EEXIST, "Duplicate device ID '%s'", id);
    }
    /* Constructors pick the first free slot; the new one is the slot that
     * became occupied (plugs are serialised by hp->lock and ejects only
     * free slots). */
    uint32_t before = occupied(bus);
    if (before == PCIHP_SLOT_MASK) {
        pthread_mutex_unlock(&hp->lock);
        return vk_err_set(err, -ENOSPC, "no free PCI slot on bus 0");
    }
    r = create(hp->m, spec, err);
    uint32_t added = occupied(bus) & ~before;
    if (r < 0 || !added) {
        pthread_mutex_unlock(&hp->lock);
        return r < 0 ? r : vk_err_set(err, -EIO, "the device did not appear on the bus");
    }
    unsigned slot = (unsigned)__builtin_ctz(added);
    pthread_mutex_lock(&bus->lock);
    if (id && id[0] && bus->slots[slot])
        snprintf(bus->slots[slot]->id, sizeof(bus->slots[slot]->id), "%s", id);
    pthread_mutex_unlock(&bus->lock);
    hp->up |= 1u << slot;
    pthread_mutex_unlock(&hp->lock);
    raise_gpe(hp);
    return (int)slot;
}

int pci_hotplug_unplug(struct pci_hotplug *hp, const char *id, struct vk_err *err)
{
    unsigned slot = 0;

    if (!id || !id[0])
        return vk_err_set(err, -EINVAL, "a device id is required");
    struct pci_bus *bus = bus_of(hp);
    pthread_mutex_lock(&hp->lock);
    if (bus) {
        pthread_mutex_lock(&bus->lock);
        for (unsigned s = 1; s < PCI_MAX_SLOTS && !slot; s++)
            if (bus->slots[s] && !strcmp(bus->slots[s]->id, id))
                slot = s;
        pthread_mutex_unlock(&bus->lock);
    }
    if (!slot) {
        pthread_mutex_unlock(&hp->lock);
        return vk_err_set(err, -ENODEV, "Device '%s' not found", id);
    }
    hp->down |= 1u << slot;
    hp->down_asked |= 1u << slot;
    pthread_mutex_unlock(&hp->lock);
    raise_gpe(hp);
    return 0;
}

void pci_hotplug_set_listener(struct pci_hotplug *hp, pcihp_deleted_fn fn, void *opaque)
{
    pthread_mutex_lock(&hp->notify_lock);
    hp->deleted = fn;
    hp->deleted_opaque = opaque;
    pthread_mutex_unlock(&hp->notify_lock);
}

static uint32_t cfg32(const struct pci_device *d, unsigned off)
{
    uint32_t v;
    memcpy(&v, d->cfg + off, 4);
    return v;
}

unsigned pci_hotplug_query(struct pci_hotplug *hp, struct pcihp_info *out, unsigned max)
{
    struct pci_bus *bus = bus_of(hp);
    unsigned n = 0;

    if (!bus)
        return 0;
    pthread_mutex_lock(&hp->lock);
    pthread_mutex_lock(&bus->lock);
    for (unsigned s = 0; s < PCI_MAX_SLOTS && n < max; s++) {
        const struct pci_device *d = bus->slots[s];
        struct pcihp_info *i = &out[n];

        if (!d)
            continue;
        memset(i, 0, sizeof(*i));
        i->slot = s;
        i->vendor = (uint16_t)cfg32(d, PCI_VENDOR_ID);
        i->device = (uint16_t)(cfg32(d, PCI_VENDOR_ID) >> 16);
        i->class_code = cfg32(d, PCI_REVISION_ID) >> 8;
        i->subsys_vendor = (uint16_t)cfg32(d, PCI_SUBSYSTEM_VENDOR_ID);
        i->subsys = (uint16_t)(cfg32(d, PCI_SUBSYSTEM_VENDOR_ID) >> 16);
        i->irq = d->cfg[PCI_INTERRUPT_LINE];
        snprintf(i->id, sizeof(i->id), "%s", d->id);
        for (unsigned b = 0; b < 6; b++) {
            const struct pci_bar *bar = &d->bars[b];
            if (bar->type == PCI_BAR_NONE)
                continue;
            i->regions[i->nr_regions++] = (struct pcihp_region){
                .bar = b, .io = bar->type == PCI_BAR_IO, .mem64 = bar->type == PCI_BAR_MEM64,
                .prefetch = bar->prefetchable, .addr = bar->addr, .size = bar->size };
        }
        n++;
    }
    pthread_mutex_unlock(&bus->lock);
    pthread_mutex_unlock(&hp->lock);
    return n;
}

/* ---- board device ---------------------------------------------------------- */

/* Machine reset (vCPUs stopped): a pending unplug completes, as a real
 * reset would take the device with it; latched bits are dropped. */
static void hp_reset(void *state)
{
    struct pci_hotplug *hp = state;
    char ids[PCI_MAX_SLOTS][PCIHP_ID_MAX];
    unsigned slots[PCI_MAX_SLOTS], n;

    pthread_mutex_lock(&hp->lock);
    n = remove_mask(hp, hp->down_asked | hp->eject, ids, slots);
    hp->up = hp->down = hp->down_asked = hp->eject = 0;
    pthread_mutex_unlock(&hp->lock);
    notify_deleted(hp, ids, slots, n);
}

static void hp_destroy(void *state)
{
    struct pci_hotplug *hp = state;

    if (hp->worker_started) {
        pthread_mutex_lock(&hp->lock);
        hp->stopping = true;
        pthread_cond_broadcast(&hp->cond);
        pthread_mutex_unlock(&hp->lock);
        pthread_join(hp->worker, NULL);
    }
    bus_unregister(&hp->m->pio, hp->base, hp);
    pthread_cond_destroy(&hp->cond);
    pthread_mutex_destroy(&hp->notify_lock);
    pthread_mutex_destroy(&hp->lock);
    free(hp);
}

static int hp_init(struct machine *m, const struct device_config *cfg, void **state,
                   struct vk_err *err)
{
    struct pci_hotplug *hp;
    int r;

    if (cfg->base > 0xffff - PCIHP_LEN)
        return vk_err_set(err, -EINVAL, "pci-hotplug: base port 0x%llx out of range",
                          (unsigned long long)cfg->base);
    hp = calloc(1, sizeof(*hp));
    if (!hp)
        return vk_err_errno(err, -ENOMEM, "pci-hotplug");
    hp->m = m;
    hp->base = (uint16_t)cfg->base;
    pthread_mutex_init(&hp->lock, NULL);
    pthread_mutex_init(&hp->notify_lock, NULL);
    pthread_cond_init(&hp->cond, NULL);
    r = bus_register(&m->pio, cfg->base, PCIHP_LEN, &hp_ops, hp, "pci-hotplug", err);
    if (r < 0) {
        pthread_mutex_destroy(&hp->notify_lock);
        pthread_cond_destroy(&hp->cond);
        pthread_mutex_destroy(&hp->lock);
        free(hp);
        return r;
    }
    r = pthread_create(&hp->worker, NULL, worker_main, hp);
    if (r) {
        hp_destroy(hp);
        return vk_err_errno(err, -r, "pci-hotplug: worker thread");
    }
    hp->worker_started = true;
    *state = hp;
    return 0;
}

const struct device_ops pci_hotplug_device = {
    .name = "pci-hotplug",
    .init = hp_init,
    .reset = hp_reset,
    .destroy = hp_destroy,
};

struct pci_hotplug *pci_hotplug_find(struct machine *m)
{
    for (unsigned i = 0; i < m->nr_devices; i++)
        if (m->devices[i].ops == &pci_hotplug_device)
            return m->devices[i].state;
    return NULL;
}
