/* virtio 1.x modern PCI transport (virtio spec 4.1).
 *
 * One function per device, vendor 0x1af4, device 0x1040 + type, revision 1.
 * BAR4 (64-bit memory, 16 KiB): common config at 0x0000, ISR at 0x1000,
 * device config at 0x2000, notifications at 0x3000 (4 bytes per queue).
 * BAR1: the MSI-X table and PBA. INTx pin A when MSI-X is off.
 *
 * Queue notifications only signal an eventfd; each queue has its own I/O
 * thread that runs the device's queue_notify, so vCPU threads never serve
 * I/O (on KVM the eventfd can be wired as an ioeventfd, see docs/virtio.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus.h"
#include "machine.h"
#include "pci/pci.h"
#include "virtio.h"

#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR    3
#define VIRTIO_PCI_CAP_DEVICE 4

#define BAR_COMMON 0x0000
#define BAR_ISR    0x1000
#define BAR_DEVICE 0x2000
#define BAR_NOTIFY 0x3000
#define BAR_SIZE   0x4000
#define NOTIFY_MULT 4
#define NO_VECTOR 0xffff

struct vq_thread {
    struct virtio_pci *vp;
    unsigned q;
    int efd;
    atomic_int kick;              /* where guest kicks go: efd, or a vhost kick fd
                                   * (virtio_pci_set_kickfd); bus lock */
    pthread_t thread;
    bool started;
};

struct virtio_pci {
    struct pci_device pci;
    struct virtio_dev *vd;
    pthread_mutex_t lock;         /* register state below */
    uint32_t dfselect, gfselect;
    uint64_t device_features;
    uint16_t msix_config, queue_sel;
    uint8_t status, config_gen;
    atomic_uchar isr;
    uint16_t *queue_vector;
    struct vq_thread *threads;
    atomic_bool stopping;
    uint64_t ioeventfd_base;      /* notify region address wired in KVM, 0 = none */
};

/* ---- interrupts ------------------------------------------------------- */

static void raise_irq(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
    if (pci_msix_enabled(&vp->pci)) {
        if (vector != NO_VECTOR)
            pci_msix_notify(&vp->pci, vector);
        return;
    }
    atomic_fetch_or(&vp->isr, isr_bit);
    pci_set_intx(&vp->pci, true);
}

void virtio_notify(struct virtio_dev *vd, unsigned q)
{
    struct virtio_pci *vp = vd->transport;
    if (q >= vd->nr_queues || !virtq_should_notify(&vd->vqs[q]))
        return;
    raise_irq(vp, vp->queue_vector[q], 1);
}

void virtio_notify_now(struct virtio_dev *vd, unsigned q)
{
    struct virtio_pci *vp = vd->transport;
    if (q < vd->nr_queues)
        raise_irq(vp, vp->queue_vector[q], 1);
}

void virtio_config_changed(struct virtio_dev *vd)
{
    struct virtio_pci *vp = vd->transport;
    pthread_mutex_lock(&vp->lock);
    vp->config_gen++;
    uint16_t vec = vp->msix_config;
    bool live = vp->status & VIRTIO_STATUS_DRIVER_OK;
    pthread_mutex_unlock(&vp->lock);
    if (live)
        raise_irq(vp, vec, 2);
}

void virtio_mark_broken(struct virtio_dev *vd, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vk_warn_ratelimited("%s: guest error, device needs reset: %s", vd->ops->name, msg);
    if (atomic_exchange(&vd->broken, true))
        return;
    struct virtio_pci *vp = vd->transport;
    pthread_mutex_lock(&vp->lock);
    vp->status |= VIRTIO_STATUS_NEEDS_RESET;
    pthread_mutex_unlock(&vp->lock);
    virtio_config_changed(vd);
}

/* ---- I/O threads -------------------------------------------------------- */

static void *vq_thread_main(void *arg)
{
    struct vq_thread *t = arg;
    struct virtio_pci *vp = t->vp;
    struct virtio_dev *vd = vp->vd;
    for (;;) {
        uint64_t n;
        if (read(t->efd, &n, sizeof(n)) < 0 && errno == EINTR)
            continue;
        if (atomic_load(&vp->stopping))
            break;
        pthread_mutex_lock(&vp->lock);
        bool live = (vp->status & VIRTIO_STATUS_DRIVER_OK) && vd->vqs[t->q].ready;
        pthread_mutex_unlock(&vp->lock);
        if (live && !atomic_load(&vd->broken) && vd->ops->queue_notify)
            vd->ops->queue_notify(vd, t->q);
    }
    return NULL;
}

/* ---- device reset ----------------------------------------------------------- */

static void device_reset(struct virtio_pci *vp)
{
    struct virtio_dev *vd = vp->vd;
    vp->status = 0;
    vp->dfselect = vp->gfselect = 0;
    vp->queue_sel = 0;
    vp->msix_config = NO_VECTOR;
    vd->driver_features = 0;
    atomic_store(&vp->isr, 0);
    /* The device first: it may need the rings as they were (vhost-net
     * takes them back from the kernel). */
    if (vd->ops->reset)
        vd->ops->reset(vd);
    for (unsigned q = 0; q < vd->nr_queues; q++) {
        virtq_reset(&vd->vqs[q]);
        vd->vqs[q].size = vd->queue_max;
        vp->queue_vector[q] = NO_VECTOR;
    }
    atomic_store(&vd->broken, false);
    pci_set_intx(&vp->pci, false);
}

/* ---- common configuration ---------------------------------------------------- */

static uint64_t common_read(struct virtio_pci *vp, unsigned off, unsigned size)
{
    struct virtio_dev *vd = vp->vd;
    struct virtq *vq = vp->queue_sel < vd->nr_queues ? &vd->vqs[vp->queue_sel] : NULL;
    switch (off) {
    case 0x00: return vp->dfselect;
    case 0x04: return vp->dfselect < 2 ? (uint32_t)(vp->device_features >> (32 * vp->dfselect)) : 0;
    case 0x08: return vp->gfselect;
    case 0x0c: return vp->gfselect < 2 ? (uint32_t)(vd->driver_features >> (32 * vp->gfselect)) : 0;
    case 0x10: return vp->msix_config;
    case 0x12: return vd->nr_queues;
    case 0x14: return vp->status;
    case 0x15: return vp->config_gen;
    case 0x16: return vp->queue_sel;
    case 0x18: return vq ? vq->size : 0;
    case 0x1a: return vq ? vp->queue_vector[vp->queue_sel] : NO_VECTOR;
    case 0x1c: return vq ? vq->ready : 0;
    case 0x1e: return vq ? vp->queue_sel : 0;
    case 0x20: return vq ? (uint32_t)vq->desc_gpa : 0;
    case 0x24: return vq ? vq->desc_gpa >> 32 : 0;
    case 0x28: return vq ? (uint32_t)vq->avail_gpa : 0;
    case 0x2c: return vq ? vq->avail_gpa >> 32 : 0;
    case 0x30: return vq ? (uint32_t)vq->used_gpa : 0;
    case 0x34: return vq ? vq->used_gpa >> 32 : 0;
    default: (void)size; return 0;
    }
}

static void set_addr(uint64_t *field, bool high, uint64_t val)
{
    *field = high ? (*field & 0xffffffffu) | val << 32 : (*field & ~0xffffffffULL) | (uint32_t)val;
}

static void common_write(struct virtio_pci *vp, unsigned off, uint64_t val, unsigned size)
{
    struct virtio_dev *vd = vp->vd;
    struct virtq *vq = vp->queue_sel < vd->nr_queues ? &vd->vqs[vp->queue_sel] : NULL;
    bool queue_writable = vq && !vq->ready;   /* queue fields freeze once enabled */
    switch (off) {
    case 0x00: vp->dfselect = (uint32_t)val; break;
    case 0x08: vp->gfselect = (uint32_t)val; break;
    case 0x0c:
        if (vp->gfselect < 2 && !(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
            uint64_t shift = 32 * vp->gfselect;
            vd->driver_features = (vd->driver_features & ~(0xffffffffULL << shift)) |
                                  ((uint64_t)(uint32_t)val << shift);
        }
        break;
    case 0x10: vp->msix_config = (uint16_t)val; break;
    case 0x14: {
        uint8_t st = (uint8_t)val;
        if (st == 0) {
            device_reset(vp);
            break;
        }
        if ((st & VIRTIO_STATUS_FEATURES_OK) && !(vp->status & VIRTIO_STATUS_FEATURES_OK)) {
            /* refuse features we never offered, and legacy drivers */
            if ((vd->driver_features & ~vp->device_features) ||
                !virtio_has_feature(vd, VIRTIO_F_VERSION_1))
                st &= ~VIRTIO_STATUS_FEATURES_OK;
        }
        bool activate = (st & VIRTIO_STATUS_DRIVER_OK) && !(vp->status & VIRTIO_STATUS_DRIVER_OK);
        vp->status = st | (vp->status & VIRTIO_STATUS_NEEDS_RESET);
        if (activate && vd->ops->activate)
            vd->ops->activate(vd);
        break;
    }
    case 0x16: vp->queue_sel = (uint16_t)val; break;
    case 0x18:
        if (queue_writable) {
            uint16_t n = (uint16_t)val;
            /* power of two up to the maximum; anything else is ignored */
            if (n && n <= vd->queue_max && !(n & (n - 1)))
                vq->size = n;
        }
        break;
    case 0x1a:
        if (vq)
            vp->queue_vector[vp->queue_sel] = (uint16_t)val < vp->pci.msix.nr ? (uint16_t)val : NO_VECTOR;
        break;
    case 0x1c:
        if (vq && val == 1 && !vq->ready) {
            vq->event_idx = virtio_has_feature(vd, VIRTIO_F_EVENT_IDX);
            vq->indirect = virtio_has_feature(vd, VIRTIO_F_INDIRECT_DESC);
            pthread_mutex_lock(&vq->lock);
            int r = virtq_start(vq);
            pthread_mutex_unlock(&vq->lock);
            if (r) {
                pthread_mutex_unlock(&vp->lock);
                virtio_mark_broken(vd, "queue %u rings outside guest RAM or misaligned",
                                   vp->queue_sel);
                pthread_mutex_lock(&vp->lock);
            }
        }
        break;
    case 0x20: case 0x24: if (queue_writable) set_addr(&vq->desc_gpa, off == 0x24, val); break;
    case 0x28: case 0x2c: if (queue_writable) set_addr(&vq->avail_gpa, off == 0x2c, val); break;
    case 0x30: case 0x34: if (queue_writable) set_addr(&vq->used_gpa, off == 0x34, val); break;
    default: break;
    }
    (void)size;
}

/* ---- BAR4 dispatch ----------------------------------------------------------- */

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    struct virtio_pci *vp = opaque;
    struct virtio_dev *vd = vp->vd;
    uint64_t v = 0;
    if (off < BAR_ISR) {
        pthread_mutex_lock(&vp->lock);
        v = common_read(vp, (unsigned)off, size);
        pthread_mutex_unlock(&vp->lock);
    } else if (off < BAR_DEVICE) {
        if (off == BAR_ISR) {   /* reading the ISR clears it and drops INTx */
            v = atomic_exchange(&vp->isr, 0);
            pci_set_intx(&vp->pci, false);
        }
    } else if (off < BAR_NOTIFY) {
        unsigned o = (unsigned)(off - BAR_DEVICE);
        if (vd->ops->config_read && o + size <= vd->ops->config_size)
            vd->ops->config_read(vd, o, &v, size);
    }
    return size == 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

static void bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct virtio_pci *vp = opaque;
    struct virtio_dev *vd = vp->vd;
    if (off < BAR_ISR) {
        pthread_mutex_lock(&vp->lock);
        common_write(vp, (unsigned)off, val, size);
        pthread_mutex_unlock(&vp->lock);
    } else if (off >= BAR_DEVICE && off < BAR_NOTIFY) {
        unsigned o = (unsigned)(off - BAR_DEVICE);
        if (vd->ops->config_write && o + size <= vd->ops->config_size)
            vd->ops->config_write(vd, o, &val, size);
    } else if (off >= BAR_NOTIFY) {
        unsigned q = (unsigned)(off - BAR_NOTIFY) / NOTIFY_MULT;
        if (q < vd->nr_queues) {
            uint64_t one = 1;
            if (write(atomic_load(&vp->threads[q].kick), &one, sizeof(one)) < 0)
                vk_warn_ratelimited("%s: queue %u notify: eventfd write failed", vd->ops->name, q);
        }
    }
}

static const struct bus_ops bar_ops = { .read = bar_read, .write = bar_write };

/* ---- creation ------------------------------------------------------------------ */

static void add_virtio_cap(struct pci_device *d, uint8_t type, uint32_t off, uint32_t len,
                           bool notify)
{
    uint8_t cap[20] = { 0 };
    cap[2] = notify ? 20 : 16;   /* cap_len */
    cap[3] = type;
    cap[4] = 4;                  /* BAR4 */
    memcpy(cap + 8, &off, 4);
    memcpy(cap + 12, &len, 4);
    uint32_t mult = NOTIFY_MULT;
    if (notify)
        memcpy(cap + 16, &mult, 4);
    pci_device_add_cap(d, PCI_CAP_ID_VNDR, cap, cap[2]);
}

/* Wire (or re-wire after a BAR move) each queue's notify address to its
 * eventfd in the accelerator, so a guest kick never exits to user space.
 * Called with the bus lock held (from the config-write hook) or at setup. */
static void sync_ioeventfds(struct virtio_pci *vp)
{
    struct machine *m = vp->vd->m;
    if (!m->accel || !m->accel->ioeventfd)
        return;
    uint16_t cmd;
    memcpy(&cmd, vp->pci.cfg + PCI_COMMAND, 2);
    uint64_t base = (cmd & PCI_COMMAND_MEMORY) && vp->pci.bars[4].addr
                        ? vp->pci.bars[4].addr + BAR_NOTIFY : 0;
    if (base == vp->ioeventfd_base)
        return;
    for (unsigned q = 0; q < vp->vd->nr_queues; q++) {
        int kick = atomic_load(&vp->threads[q].kick);
        if (vp->ioeventfd_base)
            m->accel->ioeventfd(m, vp->ioeventfd_base + q * NOTIFY_MULT, 2, kick, false);
        if (base && m->accel->ioeventfd(m, base + q * NOTIFY_MULT, 2, kick, true) < 0) {
            vk_debug("%s: no ioeventfd, notifications go through the bus", vp->vd->ops->name);
            base = 0;
            break;
        }
    }
    vp->ioeventfd_base = base;
}

static void vp_pci_config_write(struct pci_device *d, unsigned off, uint32_t val, unsigned size)
{
    if (off < PCI_BAR0 + 6 * 4 && off + size > PCI_COMMAND)
        sync_ioeventfds(d->opaque);
}

/* PCI-side hooks: machine reset and bus teardown. */
static void vp_pci_reset(struct pci_device *d)
{
    struct virtio_pci *vp = d->opaque;
    pthread_mutex_lock(&vp->lock);
    device_reset(vp);
    pthread_mutex_unlock(&vp->lock);
}

static void vp_pci_destroy(struct pci_device *d)
{
    struct virtio_pci *vp = d->opaque;
    struct virtio_dev *vd = vp->vd;
    virtio_pci_destroy(vd);
    free(vd);
}

static const struct pci_device_ops virtio_pci_dev_ops = {
    .config_write = vp_pci_config_write,
    .reset = vp_pci_reset,
    .destroy = vp_pci_destroy,
};

static void *guest_map(void *opaque, uint64_t gpa, uint64_t len)
{
    return machine_gpa_to_hva(opaque, gpa, len);
}

static void guest_written(void *opaque, uint64_t gpa, uint64_t len)
{
    machine_dma_written(opaque, gpa, len);
}

static void transport_free(struct virtio_dev *vd, bool destroy_device);

int virtio_pci_create(struct machine *m, struct virtio_dev *vd, unsigned nr_queues,
                      uint16_t queue_max, struct vk_err *err)
{
    struct pci_bus *bus = machine_pci_bus(m);
    if (!bus)
        return vk_err_set(err, -ENODEV, "%s: the machine has no PCI bus", vd->ops->name);
    struct virtio_pci *vp = calloc(1, sizeof(*vp));
    if (!vp)
        return vk_err_set(err, -ENOMEM, "%s: out of memory", vd->ops->name);
    vd->m = m;
    vd->transport = vp;
    vd->nr_queues = nr_queues;
    vd->queue_max = queue_max;
    vd->mem = (struct virtio_mem){ guest_map, guest_written, m };
    vd->vqs = calloc(nr_queues, sizeof(*vd->vqs));
    vp->queue_vector = calloc(nr_queues, sizeof(*vp->queue_vector));
    vp->threads = calloc(nr_queues, sizeof(*vp->threads));
    if (!vd->vqs || !vp->queue_vector || !vp->threads) {
        free(vd->vqs); free(vp->queue_vector); free(vp->threads); free(vp);
        return vk_err_set(err, -ENOMEM, "%s: out of memory", vd->ops->name);
    }
    vp->vd = vd;
    pthread_mutex_init(&vp->lock, NULL);
    for (unsigned q = 0; q < nr_queues; q++)
        virtq_init(&vd->vqs[q], &vd->mem);
    vp->device_features = vd->ops->features(vd) | 1ULL << VIRTIO_F_VERSION_1 |
                          1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_EVENT_IDX;
    device_reset(vp);

    struct pci_device *d = &vp->pci;
    pci_device_init(d, vd->ops->name, 0x1af4, 0x1040 + vd->ops->device_id, 1,
                    vd->ops->pci_class, 0x1af4, 0x1100);
    d->opaque = vp;
    d->ops = &virtio_pci_dev_ops;
    d->cfg[PCI_INTERRUPT_PIN] = 1;
    pci_device_add_bar(d, 4, PCI_BAR_MEM64, BAR_SIZE, true, &bar_ops, vp);
    add_virtio_cap(d, VIRTIO_PCI_CAP_COMMON, BAR_COMMON, 0x38, false);
    add_virtio_cap(d, VIRTIO_PCI_CAP_ISR, BAR_ISR, 1, false);
    add_virtio_cap(d, VIRTIO_PCI_CAP_DEVICE, BAR_DEVICE, VK_MAX(vd->ops->config_size, 4u), false);
    add_virtio_cap(d, VIRTIO_PCI_CAP_NOTIFY, BAR_NOTIFY, NOTIFY_MULT * nr_queues, true);
    int r = pci_device_add_msix(d, 1, VK_MIN(nr_queues + 1, (unsigned)PCI_MSIX_MAX));
    if (r) {
        transport_free(vd, false);
        return vk_err_set(err, r, "%s: cannot add MSI-X", vd->ops->name);
    }
    for (unsigned q = 0; q < nr_queues; q++) {
        struct vq_thread *t = &vp->threads[q];
        t->vp = vp;
        t->q = q;
        t->efd = eventfd(0, EFD_CLOEXEC);
        atomic_store(&t->kick, t->efd);
        if (t->efd < 0 || pthread_create(&t->thread, NULL, vq_thread_main, t)) {
            r = vk_err_errno(err, -errno, "%s: cannot start I/O thread", vd->ops->name);
            transport_free(vd, false);
            return r;
        }
        t->started = true;
    }
    if ((r = pci_bus_add(bus, d, -1, err))) {
        transport_free(vd, false);
        return r;
    }
    pthread_mutex_lock(&bus->lock);
    sync_ioeventfds(vp);
    pthread_mutex_unlock(&bus->lock);
    return 0;
}

void virtio_pci_destroy(struct virtio_dev *vd)
{
    transport_free(vd, true);
}

/* Unplug and free the transport; destroy_device: also the device model
 * behind it. A failed virtio_pci_create leaves the device model to its
 * constructor, which frees what it allocated itself. */
static void transport_free(struct virtio_dev *vd, bool destroy_device)
{
    struct virtio_pci *vp = vd->transport;
    if (!vp)
        return;
    if (vp->pci.bus) {
        pthread_mutex_lock(&vp->pci.bus->lock);
        memset(vp->pci.cfg + PCI_COMMAND, 0, 2);   /* decoding off: unwire eventfds */
        sync_ioeventfds(vp);
        pthread_mutex_unlock(&vp->pci.bus->lock);
        pci_bus_remove(vp->pci.bus, &vp->pci);
    }
    atomic_store(&vp->stopping, true);
    for (unsigned q = 0; q < vd->nr_queues; q++) {
        struct vq_thread *t = &vp->threads[q];
        if (t->started) {
            uint64_t one = 1;
            if (write(t->efd, &one, sizeof(one)) == sizeof(one))
                pthread_join(t->thread, NULL);
        }
        if (t->efd > 0)
            close(t->efd);
    }
    if (destroy_device && vd->ops->destroy)
        vd->ops->destroy(vd);
    free(vp->threads);
    free(vp->queue_vector);
    free(vd->vqs);
    free(vp);
    vd->transport = NULL;
}

int virtio_pci_check_id(struct machine *m, const char *id, struct vk_err *err)
{
    struct pci_bus *bus = machine_pci_bus(m);
    size_t len = strlen(id);
    bool ok = len > 0 && len < sizeof(((struct pci_device *)0)->id) &&
              ((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z'));
    for (size_t i = 0; ok && i < len; i++)
        ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
             (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '.' || id[i] == '_';
    if (!ok)
        return vk_err_set(err, -EINVAL, "id '%.64s' is not an identifier (a letter, then "
                          "letters, digits, '-', '.', '_')", id);
    int r = 0;
    if (bus) {
        pthread_mutex_lock(&bus->lock);
        for (unsigned s = 0; s < PCI_MAX_SLOTS && !r; s++)
            if (bus->slots[s] && !strcmp(bus->slots[s]->id, id))
                r = vk_err_set(err, -EEXIST, "Duplicate device ID '%s'", id);
        pthread_mutex_unlock(&bus->lock);
    }
    return r;
}

int virtio_pci_queue_eventfd(struct virtio_dev *vd, unsigned q)
{
    struct virtio_pci *vp = vd->transport;
    return vp && q < vd->nr_queues ? vp->threads[q].efd : -EINVAL;
}

int virtio_pci_set_kickfd(struct virtio_dev *vd, unsigned q, int fd)
{
    struct virtio_pci *vp = vd->transport;
    if (!vp || q >= vd->nr_queues)
        return -EINVAL;
    struct vq_thread *t = &vp->threads[q];
    int newfd = fd >= 0 ? fd : t->efd;
    struct machine *m = vd->m;
    int r = 0;
    if (vp->pci.bus)
        pthread_mutex_lock(&vp->pci.bus->lock);
    int old = atomic_load(&t->kick);
    if (old != newfd && vp->ioeventfd_base && m->accel && m->accel->ioeventfd) {
        uint64_t a = vp->ioeventfd_base + q * NOTIFY_MULT;
        m->accel->ioeventfd(m, a, 2, old, false);
        r = m->accel->ioeventfd(m, a, 2, newfd, true);
        if (r < 0)   /* the bus handler still forwards kicks to `kick` */
            vk_debug("%s: queue %u: ioeventfd re-wire failed (%d)", vd->ops->name, q, r);
    }
    atomic_store(&t->kick, newfd);
    if (vp->pci.bus)
        pthread_mutex_unlock(&vp->pci.bus->lock);
    if (fd < 0 && !atomic_load(&vp->stopping)) {   /* back to the I/O thread: one look */
        uint64_t one = 1;
        if (write(t->efd, &one, sizeof(one)) < 0)
            vk_debug("%s: queue %u: kick failed", vd->ops->name, q);
    }
    return 0;
}

void virtio_pci_set_id(struct virtio_dev *vd, const char *id)
{
    struct virtio_pci *vp = vd->transport;

    if (!vp || !vp->pci.bus)
        return;
    pthread_mutex_lock(&vp->pci.bus->lock);
    snprintf(vp->pci.id, sizeof(vp->pci.id), "%s", id);
    pthread_mutex_unlock(&vp->pci.bus->lock);
}

struct virtio_dev *virtio_find(struct machine *m, uint16_t device_id)
{
    struct pci_bus *bus = machine_pci_bus(m);
    if (!bus)
        return NULL;
    struct virtio_dev *found = NULL;
    pthread_mutex_lock(&bus->lock);
    for (unsigned s = 1; s < PCI_MAX_SLOTS && !found; s++) {
        struct pci_device *d = bus->slots[s];
        if (d && d->ops == &virtio_pci_dev_ops &&
            ((struct virtio_pci *)d->opaque)->vd->ops->device_id == device_id)
            found = ((struct virtio_pci *)d->opaque)->vd;
    }
    pthread_mutex_unlock(&bus->lock);
    return found;
}
