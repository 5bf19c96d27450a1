/* virtio-console (virtio spec 5.3): one port, hvc0 in Linux, over the same
 * character backends as the serial ports.
 *
 *   --device virtio-console[,chardev=stdio|pty|unix:PATH|file:PATH|null]
 *   (default: pty)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/chardev.h"
#include "machine.h"
#include "virtio.h"

#define Q_RX 0   /* receiveq: host -> guest */
#define Q_TX 1   /* transmitq: guest -> host */

struct vcons {
    struct virtio_dev *vd;
    struct chardev *chr;
    struct { uint16_t cols, rows; uint32_t max_nr_ports, emerg_wr; } __attribute__((packed)) cfg;
};

static uint64_t vcons_features(struct virtio_dev *vd) { return 0; }

static void vcons_config_read(struct virtio_dev *vd, unsigned off, void *buf, unsigned len)
{
    struct vcons *c = vd->priv;
    memcpy(buf, (uint8_t *)&c->cfg + off, len);
}

/* Room for input = bytes in the next available receive buffer chain. We
 * only peek: the chain is popped when data arrives. */
static size_t vcons_can_receive(void *opaque)
{
    struct vcons *c = opaque;
    struct virtq *vq = &c->vd->vqs[Q_RX];
    if (!vq->ready || atomic_load(&c->vd->broken))
        return 0;
    uint16_t avail = __atomic_load_n((uint16_t *)((uint8_t *)vq->avail + 2), __ATOMIC_ACQUIRE);
    return avail != vq->last_avail ? 4096 : 0;
}

static void vcons_receive(void *opaque, const unsigned char *buf, size_t len)
{
    struct vcons *c = opaque;
    struct virtio_dev *vd = c->vd;
    struct virtq *vq = &vd->vqs[Q_RX];
    struct virtq_req *req = malloc(sizeof(*req));
    if (!req)
        return;
    pthread_mutex_lock(&vq->lock);
    int r = 0;
    while (len && (r = virtq_pop(vq, req)) > 0) {
        size_t n = iov_from_buf(req->in, req->nr_in, 0, buf, len);
        virtq_push(vq, req, (uint32_t)n);
        buf += n;
        len -= n;
        if (n == 0)
            break;
    }
    pthread_mutex_unlock(&vq->lock);
    free(req);
    if (r < 0)
        virtio_mark_broken(vd, "malformed receive buffer (%d)", r);
    else
        virtio_notify(vd, Q_RX);
}

static const struct chardev_frontend vcons_frontend = {
    .can_receive = vcons_can_receive,
    .receive = vcons_receive,
};

static void vcons_notify(struct virtio_dev *vd, unsigned q)
{
    struct vcons *c = vd->priv;
    if (q == Q_RX) {   /* new receive buffers: maybe input was waiting */
        chardev_accept_input(c->chr);
        return;
    }
    struct virtq *vq = &vd->vqs[q];
    struct virtq_req *req = malloc(sizeof(*req));
    if (!req)
        return;
    int r;
    pthread_mutex_lock(&vq->lock);
    while ((r = virtq_pop(vq, req)) > 0) {
        for (unsigned i = 0; i < req->nr_out; i++)
            chardev_write(c->chr, req->out[i].iov_base, req->out[i].iov_len);
        virtq_push(vq, req, 0);
    }
    pthread_mutex_unlock(&vq->lock);
    free(req);
    if (r < 0)
        virtio_mark_broken(vd, "malformed transmit buffer (%d)", r);
    else
        virtio_notify(vd, q);
}

static void vcons_destroy(struct virtio_dev *vd)
{
    struct vcons *c = vd->priv;
    if (c->chr)
        chardev_close(c->chr);
    free(c);
}

static const struct virtio_device_ops virtio_console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .pci_class = 0x078000,   /* communication, other */
    .features = vcons_features,
    .config_read = vcons_config_read,
    .config_size = 12,
    .queue_notify = vcons_notify,
    .destroy = vcons_destroy,
};

int virtio_console_create(struct machine *m, const char *spec, struct vk_err *err)
{
    struct vk_kvlist kv;
    int r = vk_kv_parse(spec, NULL, &kv, err);
    if (r)
        return r;
    for (size_t i = 0; i < kv.n; i++)
        if (strcmp(kv.items[i].key, "chardev")) {
            r = vk_err_set(err, -EINVAL, "virtio-console: unknown option '%s'", kv.items[i].key);
            vk_kv_free(&kv);
            return r;
        }
    const char *backend = vk_kv_get(&kv, "chardev");
    struct vcons *c = calloc(1, sizeof(*c));
    struct virtio_dev *vd = calloc(1, sizeof(*vd));
    if (!c || !vd) {
        free(c); free(vd); vk_kv_free(&kv);
        return vk_err_set(err, -ENOMEM, "virtio-console: out of memory");
    }
    r = chardev_open(backend ? backend : "pty", "console0", &c->chr, err);
    vk_kv_free(&kv);
    if (r < 0) {
        free(c); free(vd);
        return r;
    }
    c->vd = vd;
    c->cfg.cols = 80;
    c->cfg.rows = 25;
    vd->ops = &virtio_console_ops;
    vd->priv = c;
    if ((r = virtio_pci_create(m, vd, 2, 128, err))) {
        chardev_close(c->chr);
        free(c); free(vd);
        return r;
    }
    if (m->nr_chardevs < VK_ARRAY_SIZE(m->chardevs))
        m->chardevs[m->nr_chardevs++] = c->chr;   /* for query-chardev */
    return chardev_attach(c->chr, &vcons_frontend, c, err);
}
