/* virtio 1.x: devices, the split virtqueue, and the modern PCI transport.
 *
 * Three layers, each behind a small table (see docs/virtio.md):
 *   transport (virtio_pci.c)  -- registers, features, queues, interrupts
 *   device    (virtio_blk.c, virtio_net.c, ...) -- a const virtio_device_ops
 *   backend   (src/block image, TAP fd, getrandom, chardev)
 *
 * Every guest-supplied index, address and length is validated in
 * virtqueue.c; a violation marks the device broken (DEVICE_NEEDS_RESET)
 * instead of crashing or touching memory outside guest RAM.
 */
#ifndef VK_VM_VIRTIO_H
#define VK_VM_VIRTIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util.h"

struct machine;

/* Device types (virtio spec 5.x) */
#define VIRTIO_ID_NET      1
#define VIRTIO_ID_BLOCK    2
#define VIRTIO_ID_CONSOLE  3
#define VIRTIO_ID_RNG      4
#define VIRTIO_ID_BALLOON  5

/* Transport-level feature bits */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

/* Device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

#define VIRTQ_MAX_SIZE 1024

/* ---- guest memory as the queues see it --------------------------------- */

struct virtio_mem {
    /* Host pointer for [gpa, gpa+len) if entirely in guest RAM, else NULL. */
    void *(*map)(void *opaque, uint64_t gpa, uint64_t len);
    /* Optional: the device wrote [gpa, gpa+len) (see machine_dma_written). */
    void (*written)(void *opaque, uint64_t gpa, uint64_t len);
    void *opaque;
};

/* ---- split virtqueue ---------------------------------------------------- */

struct virtq {
    uint16_t size;              /* negotiated queue size (power of 2) */
    bool ready;
    bool event_idx;             /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect;              /* VIRTIO_F_INDIRECT_DESC negotiated */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail;        /* next avail entry to consume */
    uint16_t used_idx;          /* our shadow of used->idx */
    uint16_t signalled_used;    /* used_idx at the last interrupt (event idx) */
    bool signalled_valid;
    const struct virtio_mem *mem;
    void *desc, *avail, *used;  /* host pointers, valid while ready */
    pthread_mutex_t lock;       /* serialises pop/push between threads */
};

/* One request popped from a queue: device-readable buffers first, then
 * device-writable ones, as the spec requires. */
#define VIRTQ_MAX_SEGS 260
struct virtq_req {
    uint16_t head;
    unsigned nr_in, nr_out;     /* out = device-readable, in = device-writable */
    struct iovec out[VIRTQ_MAX_SEGS];
    struct iovec in[VIRTQ_MAX_SEGS];
    uint64_t in_gpa[VIRTQ_MAX_SEGS];  /* guest address of each in segment */
    uint64_t out_len, in_len;   /* total bytes */
};

void virtq_init(struct virtq *vq, const struct virtio_mem *mem);
void virtq_reset(struct virtq *vq);
/* Map the rings once the driver enabled the queue; -EFAULT if outside RAM. */
int virtq_start(struct virtq *vq);
/* 1 and a request, 0 when the queue is empty, -EFAULT/-EINVAL when the guest
 * broke the rules (caller marks the device broken). */
int virtq_pop(struct virtq *vq, struct virtq_req *req);
/* Whether the driver made requests available that virtq_pop has not taken
 * yet (a hint: the guest may add more at any time). vq->lock held. */
bool virtq_has_avail(struct virtq *vq);
/* Return a request with `written` bytes written to its in-buffers (those
 * bytes are reported through virtio_mem.written first). */
void virtq_push(struct virtq *vq, const struct virtq_req *req, uint32_t written);
/* Whether the driver wants an interrupt now (flags or event index). */
bool virtq_should_notify(struct virtq *vq);
/* Copy helpers over a request's iovecs. Return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);

/* ---- devices --------------------------------------------------------------- */

struct virtio_dev;

struct virtio_device_ops {
    const char *name;           /* "virtio-blk" */
    uint16_t device_id;         /* VIRTIO_ID_* */
    uint32_t pci_class;         /* class code for the PCI function */
    /* Device-specific feature bits offered (transport bits are added). */
    uint64_t (*features)(struct virtio_dev *vd);
    /* Device config space (little-endian); offset/len validated by caller. */
    void (*config_read)(struct virtio_dev *vd, unsigned off, void *buf, unsigned len);
    void (*config_write)(struct virtio_dev *vd, unsigned off, const void *buf, unsigned len);
    unsigned config_size;
    /* Queue `q` was kicked. Runs on the device's I/O thread for that queue,
     * never on a vCPU thread. */
    void (*queue_notify)(struct virtio_dev *vd, unsigned q);
    /* Driver set DRIVER_OK (optional) / reset the device (optional). */
    void (*activate)(struct virtio_dev *vd);
    void (*reset)(struct virtio_dev *vd);
    void (*destroy)(struct virtio_dev *vd);
};

struct virtio_pci;

struct virtio_dev {
    const struct virtio_device_ops *ops;
    void *priv;                 /* the device's own state */
    struct machine *m;
    struct virtio_pci *transport;
    unsigned nr_queues;
    uint16_t queue_max;
    struct virtq *vqs;
    uint64_t driver_features;   /* negotiated */
    atomic_bool broken;
    struct virtio_mem mem;
};

static inline bool virtio_has_feature(const struct virtio_dev *vd, unsigned bit)
{
    return (vd->driver_features >> bit) & 1;
}

/* Raise the used-buffer interrupt for queue `q` if the driver wants one. */
void virtio_notify(struct virtio_dev *vd, unsigned q);
/* Raise queue `q`'s interrupt unconditionally (the caller, e.g. vhost,
 * already decided the driver wants one). Any thread. */
void virtio_notify_now(struct virtio_dev *vd, unsigned q);
/* Send guest kicks of queue `q` to eventfd `fd` instead of the queue's I/O
 * thread (ioeventfd re-wired on KVM, the bus handler writes it otherwise);
 * fd = -1 gives the queue back to its I/O thread and kicks it once. Any
 * thread but a bus handler of this device's PCI config space. */
int virtio_pci_set_kickfd(struct virtio_dev *vd, unsigned q, int fd);
/* The eventfd queue `q`'s I/O thread waits on: a write makes it run the
 * device's queue_notify (e.g. an io_uring completion eventfd). */
int virtio_pci_queue_eventfd(struct virtio_dev *vd, unsigned q);
/* Config space changed (e.g. balloon target): config interrupt. */
void virtio_config_changed(struct virtio_dev *vd);
/* The guest broke the protocol: log (rate-limited), mark NEEDS_RESET, stop
 * processing until the driver resets the device. */
void virtio_mark_broken(struct virtio_dev *vd, const char *fmt, ...) VK_PRINTF(2, 3);

/* Create the PCI function for a device and plug it into the machine's PCI
 * bus; starts one I/O thread per queue. */
int virtio_pci_create(struct machine *m, struct virtio_dev *vd, unsigned nr_queues,
                      uint16_t queue_max, struct vk_err *err) VK_MUST_CHECK;
void virtio_pci_destroy(struct virtio_dev *vd);
/* QMP ids (the id= option of --disk/--net, for device_del): check one
 * before creating the device (-EINVAL unless a letter then letters, digits,
 * '-', '.', '_', at most 63; -EEXIST if a function on the bus has it), set
 * it once plugged. */
int virtio_pci_check_id(struct machine *m, const char *id, struct vk_err *err) VK_MUST_CHECK;
void virtio_pci_set_id(struct virtio_dev *vd, const char *id);

/* Device constructors: parse the option string, open the backend, plug in. */
int virtio_blk_create(struct machine *m, const char *spec, struct vk_err *err) VK_MUST_CHECK;
int virtio_net_create(struct machine *m, const char *spec, struct vk_err *err) VK_MUST_CHECK;
int virtio_rng_create(struct machine *m, const char *spec, struct vk_err *err) VK_MUST_CHECK;
int virtio_console_create(struct machine *m, const char *spec, struct vk_err *err) VK_MUST_CHECK;
int virtio_balloon_create(struct machine *m, const char *spec, struct vk_err *err) VK_MUST_CHECK;

/* The first device of a type on the machine's PCI bus, or NULL. */
struct virtio_dev *virtio_find(struct machine *m, uint16_t device_id);
/* Balloon control (QMP `balloon` / `query-balloon`): -ENODEV without one. */
int virtio_balloon_set_target(struct machine *m, uint64_t guest_bytes);
int virtio_balloon_query(struct machine *m, uint64_t *actual_bytes, uint64_t stats[16],
                         uint32_t *stats_seen);

#endif
