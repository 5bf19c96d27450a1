/* The control socket as a board device: the QMP backend over struct
 * machine, and the lifecycle events the commands do not raise themselves
 * (RESET when the machine reboots, SHUTDOWN when it ends). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "../devices/acpi_pm.h"
#include "../devices/chardev.h"
#include "../machine.h"
#include "../pci/pci.h"
#include "../pci/pci_hotplug.h"
#include "../virtio/virtio.h"

struct control_dev {
    struct machine *m;
    struct control_server *srv;
    atomic_bool quit_requested;
    atomic_bool host_reset;             /* the pending reset came from QMP */
    atomic_bool reset_resumes;          /* ... while the VM was paused */
};

static const char *be_status(void *opaque)
{
    struct control_dev *d = opaque;

    switch (machine_get_state(d->m)) {
    case MACHINE_RUNNING:    return "running";
    case MACHINE_PAUSED:     return "paused";
    case MACHINE_RESET:      return "running";    /* rebooting */
    case MACHINE_FAILED:     return "internal-error";
    case MACHINE_SHUTDOWN:
    case MACHINE_DEBUG_EXIT:
    default:                 return "shutdown";
    }
}

static void be_stop(void *opaque)
{
    struct control_dev *d = opaque;
    machine_pause(d->m);
}

static void be_cont(void *opaque)
{
    struct control_dev *d = opaque;
    machine_resume(d->m);
}

static void be_powerdown(void *opaque)
{
    struct control_dev *d = opaque;
    struct acpi_pm *pm = acpi_pm_find(d->m);

    if (pm)
        acpi_pm_press_power_button(pm);
}

static void be_reset(void *opaque)
{
    struct control_dev *d = opaque;

    atomic_store(&d->host_reset, true);
    atomic_store(&d->reset_resumes, machine_get_state(d->m) == MACHINE_PAUSED);
    machine_request(d->m, MACHINE_RESET, 0);
}

static void be_quit(void *opaque)
{
    struct control_dev *d = opaque;

    atomic_store(&d->quit_requested, true);
    machine_request(d->m, MACHINE_SHUTDOWN, 0);
}

static unsigned be_cpus(void *opaque, struct qmp_cpu_info *out, unsigned max)
{
    struct control_dev *d = opaque;
    unsigned n = 0;

    for (unsigned i = 0; i < d->m->nr_vcpus && n < max; i++) {
        int tid = d->m->vcpus[i] ? atomic_load(&d->m->vcpus[i]->tid) : 0;
        out[n++] = (struct qmp_cpu_info){ .index = i, .thread_id = tid > 0 ? tid : -1 };
    }
    return n;
}

static unsigned be_chardevs(void *opaque, struct qmp_chardev_info *out, unsigned max)
{
    struct control_dev *d = opaque;
    unsigned n = 0;

    for (unsigned i = 0; i < d->m->nr_chardevs && n < max; i++) {
        struct chardev *c = d->m->chardevs[i];

        if (!c)
            continue;
        snprintf(out[n].label, sizeof(out[n].label), "%s", c->label);
        snprintf(out[n].filename, sizeof(out[n].filename), "%s", c->filename);
        out[n++].frontend_open = true;
    }
    if (n < max) {
        snprintf(out[n].label, sizeof(out[n].label), "compat_monitor0");
        snprintf(out[n].filename, sizeof(out[n].filename), "unix:%s,server=on",
                 d->m->cfg->control);
        out[n++].frontend_open = true;
    }
    return n;
}

static int be_balloon(void *opaque, uint64_t target)
{
    struct control_dev *d = opaque;
    return virtio_balloon_set_target(d->m, target);
}

static int be_query_balloon(void *opaque, uint64_t *actual)
{
    struct control_dev *d = opaque;
    uint64_t stats[16];
    uint32_t seen;
    return virtio_balloon_query(d->m, actual, stats, &seen);
}

static const char *be_accel(void *opaque)
{
    struct control_dev *d = opaque;
    return d->m->accel ? d->m->accel->name : NULL;
}

/* ---- PCI hot-plug (pci/pci_hotplug.h) ---- */

static int be_device_add(void *opaque, const char *driver, const char *spec, const char *id,
                         struct vk_err *err)
{
    struct control_dev *d = opaque;
    struct pci_hotplug *hp = pci_hotplug_find(d->m);
    pcihp_create_fn create = !strcmp(driver, "virtio-net-pci") ? virtio_net_create
                           : !strcmp(driver, "virtio-blk-pci") ? virtio_blk_create : NULL;

    if (!hp)
        return vk_err_set(err, -ENOTSUP, "this machine has no PCI hot-plug controller");
    if (!create)
        return vk_err_set(err, -EINVAL, "'%s' is not a valid device model name", driver);
    return pci_hotplug_plug(hp, create, spec, id, err);
}

static int be_device_del(void *opaque, const char *id, struct vk_err *err)
{
    struct control_dev *d = opaque;
    struct pci_hotplug *hp = pci_hotplug_find(d->m);

    if (!hp)
        return vk_err_set(err, -ENOTSUP, "this machine has no PCI hot-plug controller");
    return pci_hotplug_unplug(hp, id, err);
}

static unsigned be_query_pci(void *opaque, struct qmp_pci_device *out, unsigned max)
{
    struct control_dev *d = opaque;
    struct pci_hotplug *hp = pci_hotplug_find(d->m);
    struct pcihp_info info[PCI_MAX_SLOTS];
    unsigned n = hp ? pci_hotplug_query(hp, info, PCI_MAX_SLOTS) : 0;

    n = VK_MIN(n, max);
    for (unsigned i = 0; i < n; i++) {
        struct qmp_pci_device *o = &out[i];
        memset(o, 0, sizeof(*o));
        o->slot = info[i].slot;
        o->vendor = info[i].vendor;
        o->device = info[i].device;
        o->subsys_vendor = info[i].subsys_vendor;
        o->subsys = info[i].subsys;
        o->class_code = info[i].class_code;
        o->irq = info[i].irq;
        snprintf(o->qdev_id, sizeof(o->qdev_id), "%s", info[i].id);
        o->nr_regions = info[i].nr_regions;
        for (unsigned r = 0; r < info[i].nr_regions && r < 6; r++) {
            o->regions[r].bar = info[i].regions[r].bar;
            o->regions[r].io = info[i].regions[r].io;
            o->regions[r].mem64 = info[i].regions[r].mem64;
            o->regions[r].prefetch = info[i].regions[r].prefetch;
            o->regions[r].addr = info[i].regions[r].addr;
            o->regions[r].size = info[i].regions[r].size;
        }
    }
    return n;
}

/* The guest ejected a device (hot-plug worker thread or machine reset). */
static void device_deleted(void *opaque, const char *id, unsigned slot)
{
    struct control_dev *d = opaque;
    struct json_object *data = json_object_new_object();
    char path[96];

    if (id[0]) {
        json_object_object_add(data, "device", json_object_new_string(id));
        snprintf(path, sizeof(path), "/machine/peripheral/%s", id);
    } else {
        snprintf(path, sizeof(path), "/machine/peripheral-anon/device[%u]", slot);
    }
    json_object_object_add(data, "path", json_object_new_string(path));
    control_server_event(d->srv, "DEVICE_DELETED", data);
}

static const struct qmp_backend_ops machine_backend = {
    .status = be_status,
    .stop = be_stop,
    .cont = be_cont,
    .powerdown = be_powerdown,
    .reset = be_reset,
    .quit = be_quit,
    .cpus = be_cpus,
    .chardevs = be_chardevs,
    .balloon = be_balloon,
    .query_balloon = be_query_balloon,
    .device_add = be_device_add,
    .device_del = be_device_del,
    .query_pci = be_query_pci,
    .accel = be_accel,
};

static struct json_object *shutdown_data(bool guest, const char *reason)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "guest", json_object_new_boolean(guest));
    json_object_object_add(o, "reason", json_object_new_string(reason));
    return o;
}

static int control_init(struct machine *m, const struct device_config *cfg, void **state,
                        struct vk_err *err)
{
    struct control_dev *d;
    int r;

    if (!m->cfg || !m->cfg->control)
        return 0;                       /* no --control: no device */
    d = calloc(1, sizeof(*d));
    if (!d)
        return vk_err_errno(err, -ENOMEM, "control");
    d->m = m;
    r = control_server_start(m->cfg->control, &machine_backend, d, &d->srv, err);
    if (r < 0) {
        free(d);
        return r;
    }
    if (pci_hotplug_find(m))
        pci_hotplug_set_listener(pci_hotplug_find(m), device_deleted, d);
    *state = d;
    return 0;
}

/* The machine is rebooting (guest reset or system_reset). */
static void control_reset(void *state)
{
    struct control_dev *d = state;
    bool host = atomic_exchange(&d->host_reset, false);

    control_server_event(d->srv, "RESET",
                         shutdown_data(!host, host ? "host-qmp-system-reset" : "guest-reset"));
    /* The machine comes back running (QEMU would keep it paused): say so. */
    if (atomic_exchange(&d->reset_resumes, false))
        control_server_event(d->srv, "RESUME", NULL);
}

/* The machine ended: tell clients why, then close. */
static void control_destroy(void *state)
{
    struct control_dev *d = state;
    struct json_object *data;

    if (atomic_load(&d->quit_requested))
        data = shutdown_data(false, "host-qmp-quit");
    else if (machine_signal_received)
        data = shutdown_data(false, "host-signal");
    else {
        switch (machine_get_state(d->m)) {
        case MACHINE_RESET:
            data = atomic_load(&d->host_reset) ? shutdown_data(false, "host-qmp-system-reset")
                                               : shutdown_data(true, "guest-reset");
            break;
        case MACHINE_FAILED:
            data = shutdown_data(false, "host-error");
            break;
        default:
            data = shutdown_data(true, "guest-shutdown");
            break;
        }
    }
    if (pci_hotplug_find(d->m))
        pci_hotplug_set_listener(pci_hotplug_find(d->m), NULL, NULL);
    control_server_stop(d->srv, "SHUTDOWN", data);
    free(d);
}

const struct device_ops control_device = {
    .name = "control",
    .init = control_init,
    .reset = control_reset,
    .destroy = control_destroy,
};
