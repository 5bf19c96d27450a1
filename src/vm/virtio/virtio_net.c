/* virtio-net on a TAP device (virtio spec 5.1).
 *
 *   --net tap=NAME|fd=N[,mac=52:54:00:xx:xx:xx]
 *
 * The TAP is opened by name (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) or handed
 * over as an inherited fd (how virtkitd passes a TAP it created). The
 * 12-byte virtio-net header travels through the TAP unchanged (the kernel
 * speaks the same header with TUNSETVNETHDRSZ), so checksum and TSO
 * offloads cost nothing here. Receive uses mergeable buffers.
 *
 * Threads: queue 1 (transmit) is served by its virtio I/O thread; receive
 * has its own thread waiting on the TAP fd and on "buffers added" kicks.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include "virtio.h"

#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16

#define Q_RX 0
#define Q_TX 1
#define HDR_LEN 12
#define MAX_FRAME (65536 + HDR_LEN)

struct vnet {
    struct virtio_dev *vd;
    int tap;
    int kick;                   /* eventfd: rx buffers were added, or stop */
    pthread_t rx_thread;
    bool rx_started;
    atomic_bool stopping;
    uint8_t frame[MAX_FRAME];   /* rx staging, only the rx thread uses it */
    struct { uint8_t mac[6]; uint16_t status; } __attribute__((packed)) cfg;
};

static uint64_t vnet_features(struct virtio_dev *vd)
{
    return 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |
           1ULL << VIRTIO_NET_F_MRG_RXBUF | 1ULL << VIRTIO_NET_F_CSUM |
           1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4 |
           1ULL << VIRTIO_NET_F_HOST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_TSO4 |
           1ULL << VIRTIO_NET_F_GUEST_TSO6;
}

static void vnet_config_read(struct virtio_dev *vd, unsigned off, void *buf, unsigned len)
{
    struct vnet *n = vd->priv;
    memcpy(buf, (uint8_t *)&n->cfg + off, len);
}

/* Tell the TAP which offloads the guest can receive. */
static void vnet_activate(struct virtio_dev *vd)
{
    struct vnet *n = vd->priv;
    unsigned off = 0;
    if (virtio_has_feature(vd, VIRTIO_NET_F_GUEST_CSUM)) {
        off |= TUN_F_CSUM;
        if (virtio_has_feature(vd, VIRTIO_NET_F_GUEST_TSO4))
            off |= TUN_F_TSO4;
        if (virtio_has_feature(vd, VIRTIO_NET_F_GUEST_TSO6))
            off |= TUN_F_TSO6;
    }
    if (ioctl(n->tap, TUNSETOFFLOAD, off) < 0)
        vk_warn("virtio-net: TUNSETOFFLOAD: %s", strerror(errno));
    uint64_t one = 1;
    if (write(n->kick, &one, sizeof(one)) < 0)
        vk_debug("virtio-net: kick failed");
}

static void vnet_tx(struct virtio_dev *vd)
{
    struct vnet *n = vd->priv;
    struct virtq *vq = &vd->vqs[Q_TX];
    struct virtq_req *req = malloc(sizeof(*req));
    if (!req)
        return;
    int r;
    pthread_mutex_lock(&vq->lock);
    while ((r = virtq_pop(vq, req)) > 0) {
        if (req->out_len < HDR_LEN || req->out_len > MAX_FRAME) {
            r = -EINVAL;
            break;
        }
        /* Header and frame go out together; a full TAP queue drops the frame,
         * as a real NIC would. */
        if (writev(n->tap, req->out, (int)req->nr_out) < 0 && errno != EAGAIN)
            vk_warn_ratelimited("virtio-net: TAP write: %s", strerror(errno));
        virtq_push(vq, req, 0);
    }
    pthread_mutex_unlock(&vq->lock);
    free(req);
    if (r < 0)
        virtio_mark_broken(vd, "malformed transmit chain (%d)", r);
    else
        virtio_notify(vd, Q_TX);
}

static void vnet_notify(struct virtio_dev *vd, unsigned q)
{
    struct vnet *n = vd->priv;
    if (q == Q_TX) {
        vnet_tx(vd);
        return;
    }
    uint64_t one = 1;   /* rx buffers added: wake the receive thread */
    if (write(n->kick, &one, sizeof(one)) < 0)
        vk_debug("virtio-net: kick failed");
}

/* Deliver one frame (header included) into as many receive chains as it
 * needs; returns false when the guest has no buffers (frame kept). */
static bool deliver(struct vnet *n, size_t len, struct virtq_req *req)
{
    struct virtio_dev *vd = n->vd;
    struct virtq *vq = &vd->vqs[Q_RX];
    bool mrg = virtio_has_feature(vd, VIRTIO_NET_F_MRG_RXBUF);
    pthread_mutex_lock(&vq->lock);
    size_t done = 0;
    uint16_t bufs = 0;
    uint8_t *first_hdr = NULL;
    int r = 1;
    /* Peek: is there at least one buffer? virtq_pop consumes, so we only
     * pop when we will use the chain. */
    while (done < len) {
        r = virtq_pop(vq, req);
        if (r <= 0)
            break;
        if (req->nr_out || req->in_len < HDR_LEN) {
            r = -EINVAL;
            break;
        }
        if (!first_hdr)
            first_hdr = req->in[0].iov_len >= HDR_LEN ? req->in[0].iov_base : NULL;
        size_t c = iov_from_buf(req->in, req->nr_in, 0, n->frame + done, len - done);
        virtq_push(vq, req, (uint32_t)c);
        done += c;
        bufs++;
        if (!mrg)
            break;   /* the frame must fit one chain; the rest is dropped */
    }
    if (r > 0 && first_hdr && mrg)
        memcpy(first_hdr + 10, &bufs, 2);   /* num_buffers */
    pthread_mutex_unlock(&vq->lock);
    if (r < 0) {
        virtio_mark_broken(vd, "malformed receive chain (%d)", r);
        return true;   /* drop */
    }
    if (bufs)
        virtio_notify(vd, Q_RX);
    /* r == 0 with nothing delivered: wait for buffers. A frame only partly
     * delivered (ring ran dry mid-frame) is lost, like a NIC overrun. */
    return bufs > 0;
}

static void *rx_main(void *arg)
{
    struct vnet *n = arg;
    struct virtq_req *req = malloc(sizeof(*req));
    size_t pending = 0;   /* a frame read but not yet delivered */
    while (req && !atomic_load(&n->stopping)) {
        struct pollfd p[2] = { { n->kick, POLLIN, 0 }, { n->tap, pending ? 0 : POLLIN, 0 } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN) {
            uint64_t v;
            if (read(n->kick, &v, sizeof(v)) < 0)
                continue;
        }
        if (atomic_load(&n->stopping))
            break;
        bool live = n->vd->vqs[Q_RX].ready && !atomic_load(&n->vd->broken);
        for (;;) {
            if (!pending) {
                if (!(p[1].revents & POLLIN) && !live)
                    break;
                ssize_t got = read(n->tap, n->frame, sizeof(n->frame));
                if (got <= 0)
                    break;
                pending = (size_t)got;
                if (!live) {   /* no driver yet: drop, as an unplugged NIC */
                    pending = 0;
                    continue;
                }
            }
            if (!deliver(n, pending, req))
                break;   /* no buffers: wait for a kick */
            pending = 0;
        }
    }
    free(req);
    return NULL;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char extra;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255)
            return -EINVAL;
        mac[i] = (uint8_t)v[i];
    }
    return (mac[0] & 1) ? -EINVAL : 0;   /* multicast MACs are not NIC addresses */
}

static int open_tap(const char *name, struct vk_err *err)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return vk_err_errno(err, -errno, "--net: cannot open /dev/net/tun");
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = -errno;
        close(fd);
        return vk_err_errno(err, e, "--net: cannot attach to TAP '%s'", name);
    }
    return fd;
}

static void vnet_destroy(struct virtio_dev *vd)
{
    struct vnet *n = vd->priv;
    atomic_store(&n->stopping, true);
    if (n->rx_started) {
        uint64_t one = 1;
        if (write(n->kick, &one, sizeof(one)) == sizeof(one))
            pthread_join(n->rx_thread, NULL);
    }
    if (n->kick >= 0)
        close(n->kick);
    if (n->tap >= 0)
        close(n->tap);
    free(n);
}

static const struct virtio_device_ops virtio_net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .pci_class = 0x020000,   /* ethernet */
    .features = vnet_features,
    .config_read = vnet_config_read,
    .config_size = 8,
    .queue_notify = vnet_notify,
    .activate = vnet_activate,
    .destroy = vnet_destroy,
};

int virtio_net_create(struct machine *m, const char *spec, struct vk_err *err)
{
    struct vk_kvlist kv;
    int r = vk_kv_parse(spec, NULL, &kv, err);
    if (r)
        return r;
    const char *tap = NULL, *fd = NULL, *mac = NULL, *id = NULL;
    struct vnet *n = calloc(1, sizeof(*n));
    struct virtio_dev *vd = calloc(1, sizeof(*vd));
    bool own_tap = false;
    if (!n || !vd) {
        r = vk_err_set(err, -ENOMEM, "virtio-net: out of memory");
        goto fail;
    }
    n->tap = n->kick = -1;
    for (size_t i = 0; i < kv.n; i++) {
        const char *k = kv.items[i].key;
        if (!strcmp(k, "tap")) tap = kv.items[i].val;
        else if (!strcmp(k, "fd")) fd = kv.items[i].val;
        else if (!strcmp(k, "mac")) mac = kv.items[i].val;
        else if (!strcmp(k, "id")) id = kv.items[i].val;
        else {
            r = vk_err_set(err, -EINVAL, "--net: unknown option '%s'", k);
            goto fail;
        }
    }
    if (id && (r = virtio_pci_check_id(m, id, err)) < 0) {
        vk_err_prefix(err, "--net");
        goto fail;
    }
    if (!!tap == !!fd) {
        r = vk_err_set(err, -EINVAL, "--net: give exactly one of tap=NAME or fd=N");
        goto fail;
    }
    if (mac) {
        if (parse_mac(mac, n->cfg.mac) < 0) {
            r = vk_err_set(err, -EINVAL, "--net: mac=%s is not a unicast MAC address", mac);
            goto fail;
        }
    } else {   /* 52:54:00 is the prefix QEMU and libvirt use for guests */
        n->cfg.mac[0] = 0x52; n->cfg.mac[1] = 0x54; n->cfg.mac[2] = 0x00;
        if (getrandom(n->cfg.mac + 3, 3, 0) != 3)
            n->cfg.mac[5] = 0x01;
    }
    if (fd) {
        int v;
        struct ifreq ifr = { 0 };
        if (vk_parse_int(fd, 0, 65535, &v) < 0 || fcntl(v, F_GETFD) < 0) {
            r = vk_err_set(err, -EBADF, "--net: fd=%s is not an open file descriptor", fd);
            goto fail;
        }
        if (ioctl(v, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_VNET_HDR)) {
            r = vk_err_set(err, -EINVAL, "--net: fd=%s is not a TAP opened with IFF_VNET_HDR", fd);
            goto fail;
        }
        n->tap = v;
    } else {
        if ((r = open_tap(tap, err)) < 0)
            goto fail;
        n->tap = r;
        own_tap = true;
    }
    int hdr = HDR_LEN;
    if (ioctl(n->tap, TUNSETVNETHDRSZ, &hdr) < 0) {
        r = vk_err_errno(err, -errno, "--net: TUNSETVNETHDRSZ");
        goto fail;
    }
    fcntl(n->tap, F_SETFL, fcntl(n->tap, F_GETFL) | O_NONBLOCK);
    n->cfg.status = 1;   /* link up */
    n->kick = eventfd(0, EFD_CLOEXEC);
    if (n->kick < 0) {
        r = vk_err_errno(err, -errno, "virtio-net: eventfd");
        goto fail;
    }
    n->vd = vd;
    vd->ops = &virtio_net_ops;
    vd->priv = n;
    /* Once plugged the device owns the fd, inherited or not; a failed
     * create closes only a TAP it opened itself (fd=N stays the caller's). */
    if ((r = virtio_pci_create(m, vd, 2, 256, err)))
        goto fail;
    if (id)
        virtio_pci_set_id(vd, id);
    vk_kv_free(&kv);
    /* From here the device is on the bus and the bus teardown frees it. */
    if (pthread_create(&n->rx_thread, NULL, rx_main, n))
        return vk_err_set(err, -EAGAIN, "virtio-net: cannot start the receive thread");
    n->rx_started = true;
    return 0;
fail:
    vk_kv_free(&kv);
    if (n && n->kick >= 0)
        close(n->kick);
    if (n && own_tap && n->tap >= 0)
        close(n->tap);
    free(n);
    free(vd);
    return r;
}
