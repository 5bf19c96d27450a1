/* virtio-net on a TAP device (virtio spec 5.1).
 *
 *   --net tap=NAME|fd=N[:N...][,mac=52:54:00:xx:xx:xx][,queues=N][,vhost=on|off|auto]
 *
 * The TAP is opened by name (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, plus
 * IFF_MULTI_QUEUE and one fd per queue pair when queues > 1) or handed over
 * as inherited fds (how virtkitd passes a TAP it created). The 12-byte
 * virtio-net header travels through the TAP unchanged (the kernel speaks the
 * same header with TUNSETVNETHDRSZ), so checksum and TSO offloads cost
 * nothing here. Receive uses mergeable buffers.
 *
 * Queues: receive 2i and transmit 2i+1 for pair i, then the control queue
 * (VIRTIO_NET_F_CTRL_VQ, offered with VIRTIO_NET_F_MQ when queues > 1). Only
 * pair 0 carries traffic until the driver asks for more pairs with
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET; the TAP queues of unused pairs are
 * detached (TUNSETQUEUE) so the kernel does not steer frames to them.
 *
 * Threads: each transmit queue is served by its virtio I/O thread; each
 * pair's receive has its own thread waiting on the TAP queue and on
 * "buffers added" kicks. With vhost-net (vhost_net.c) the kernel serves the
 * pairs instead and these threads stand aside until it gives them back.
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

#include "machine.h"
#include "vhost_net.h"
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
#define VIRTIO_NET_F_CTRL_VQ    17
#define VIRTIO_NET_F_MQ         22

#define VIRTIO_NET_CTRL_MQ              4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1

#define VNET_MAX_PAIRS 8
#define HDR_LEN 12
#define MAX_FRAME (65536 + HDR_LEN)

struct vnet;

struct vnet_pair {
    struct vnet *n;
    unsigned idx;
    int tap;                    /* this pair's TAP queue */
    int kick;                   /* eventfd: rx buffers were added, or stop */
    bool attached;              /* TAP queue attached (multiqueue only) */
    pthread_t rx_thread;
    bool rx_started;
    uint8_t frame[MAX_FRAME];   /* rx staging, only the rx thread uses it */
};

struct vnet {
    struct virtio_dev *vd;
    unsigned pairs;             /* queue pairs offered */
    atomic_uint active;         /* pairs the driver uses */
    atomic_bool stopping;
    pthread_mutex_t lock;       /* pair activation (activate, reset, control queue) */
    struct vhost_net *vhost;    /* NULL: user space only */
    struct {
        uint8_t mac[6];
        uint16_t status, max_virtqueue_pairs;
    } __attribute__((packed)) cfg;
    struct vnet_pair p[];
};

static inline unsigned rxq(unsigned pair) { return 2 * pair; }
static inline unsigned txq(unsigned pair) { return 2 * pair + 1; }

/* The control queue's index: after the last possible pair with MQ, else 2. */
static unsigned ctrlq(struct vnet *n)
{
    return virtio_has_feature(n->vd, VIRTIO_NET_F_MQ) ? 2 * n->pairs : 2;
}

static uint64_t vnet_features(struct virtio_dev *vd)
{
    struct vnet *n = vd->priv;
    uint64_t f = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS |
                 1ULL << VIRTIO_NET_F_MRG_RXBUF | 1ULL << VIRTIO_NET_F_CSUM |
                 1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4 |
                 1ULL << VIRTIO_NET_F_HOST_TSO6 | 1ULL << VIRTIO_NET_F_GUEST_TSO4 |
                 1ULL << VIRTIO_NET_F_GUEST_TSO6;
    if (n->pairs > 1)
        f |= 1ULL << VIRTIO_NET_F_CTRL_VQ | 1ULL << VIRTIO_NET_F_MQ;
    return f;
}

static void vnet_config_read(struct virtio_dev *vd, unsigned off, void *buf, unsigned len)
{
    struct vnet *n = vd->priv;
    memcpy(buf, (uint8_t *)&n->cfg + off, len);
}

static void wake(int efd)
{
    uint64_t one = 1;
    if (write(efd, &one, sizeof(one)) < 0)
        vk_debug("virtio-net: kick failed");
}

static void tap_queue(struct vnet_pair *p, bool attach)
{
    if (p->n->pairs < 2 || p->attached == attach)
        return;
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    if (ioctl(p->tap, TUNSETQUEUE, &ifr) < 0)
        vk_warn("virtio-net: %s TAP queue %u: %s", attach ? "attach" : "detach", p->idx,
                strerror(errno));
    else
        p->attached = attach;
}

/* Use pairs [0, k): TAP queues attached, and (when the driver is live and
 * vhost-net is there) served by the kernel; the rest detached. n->lock held. */
static void set_active_pairs(struct vnet *n, unsigned k, bool live)
{
    struct virtio_dev *vd = n->vd;
    for (unsigned i = 0; i < n->pairs; i++) {
        struct vnet_pair *p = &n->p[i];
        if (i >= k) {
            vhost_net_stop(n->vhost, i);
            tap_queue(p, false);
        }
    }
    atomic_store(&n->active, k);
    for (unsigned i = 0; i < k; i++) {
        struct vnet_pair *p = &n->p[i];
        tap_queue(p, true);
        if (live && n->vhost && !vhost_net_active(n->vhost, i) &&
            vd->vqs[rxq(i)].ready && vd->vqs[txq(i)].ready) {
            struct vk_err err = { 0 };
            if (vhost_net_start(n->vhost, i, rxq(i), txq(i), p->tap, p->kick, &err) < 0)
                vk_warn("virtio-net: %s; queue pair %u stays in user space", err.msg, i);
        }
    }
    for (unsigned i = 0; i < n->pairs; i++)
        wake(n->p[i].kick);
}

/* Tell the TAP which offloads the guest can receive; start pair 0. */
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
    if (ioctl(n->p[0].tap, TUNSETOFFLOAD, off) < 0)
        vk_warn("virtio-net: TUNSETOFFLOAD: %s", strerror(errno));
    pthread_mutex_lock(&n->lock);
    set_active_pairs(n, 1, true);
    pthread_mutex_unlock(&n->lock);
}

static void vnet_reset(struct virtio_dev *vd)
{
    struct vnet *n = vd->priv;
    pthread_mutex_lock(&n->lock);
    for (unsigned i = 0; i < n->pairs; i++)
        vhost_net_stop(n->vhost, i);
    set_active_pairs(n, 1, false);
    pthread_mutex_unlock(&n->lock);
}

static void vnet_tx(struct virtio_dev *vd, unsigned pair)
{
    struct vnet *n = vd->priv;
    struct virtq *vq = &vd->vqs[txq(pair)];
    struct virtq_req *req = malloc(sizeof(*req));
    if (!req)
        return;
    int r = 0;
    pthread_mutex_lock(&vq->lock);
    while (!vhost_net_active(n->vhost, pair) && (r = virtq_pop(vq, req)) > 0) {
        if (req->out_len < HDR_LEN || req->out_len > MAX_FRAME) {
            r = -EINVAL;
            break;
        }
        /* Header and frame go out together; a full TAP queue drops the frame,
         * as a real NIC would. */
        if (writev(n->p[pair].tap, req->out, (int)req->nr_out) < 0 && errno != EAGAIN)
            vk_warn_ratelimited("virtio-net: TAP write: %s", strerror(errno));
        virtq_push(vq, req, 0);
    }
    pthread_mutex_unlock(&vq->lock);
    free(req);
    if (r < 0)
        virtio_mark_broken(vd, "malformed transmit chain (%d)", r);
    else
        virtio_notify(vd, txq(pair));
}

/* One control command: class, command, data; returns VIRTIO_NET_OK/ERR. */
static uint8_t ctrl_command(struct vnet *n, const struct virtq_req *req)
{
    uint8_t hdr[2];
    uint16_t k;
    if (iov_to_buf(req->out, req->nr_out, 0, hdr, 2) != 2)
        return VIRTIO_NET_ERR;
    if (hdr[0] != VIRTIO_NET_CTRL_MQ || hdr[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET ||
        !virtio_has_feature(n->vd, VIRTIO_NET_F_MQ) ||
        iov_to_buf(req->out, req->nr_out, 2, &k, 2) != 2 || k < 1 || k > n->pairs)
        return VIRTIO_NET_ERR;
    pthread_mutex_lock(&n->lock);
    set_active_pairs(n, k, true);
    pthread_mutex_unlock(&n->lock);
    vk_debug("virtio-net: %u queue pair%s in use", k, k > 1 ? "s" : "");
    return VIRTIO_NET_OK;
}

static void vnet_ctrl(struct virtio_dev *vd, unsigned q)
{
    struct vnet *n = vd->priv;
    struct virtq *vq = &vd->vqs[q];
    struct virtq_req *req = malloc(sizeof(*req));
    if (!req)
        return;
    int r;
    pthread_mutex_lock(&vq->lock);
    while ((r = virtq_pop(vq, req)) > 0) {
        /* out: class, command, data; in: the one-byte ack, last */
        if (req->out_len < 2 || req->nr_in < 1 || req->in[req->nr_in - 1].iov_len < 1) {
            r = -EINVAL;
            break;
        }
        uint8_t ack = ctrl_command(n, req);
        const struct iovec *last = &req->in[req->nr_in - 1];
        ((uint8_t *)last->iov_base)[last->iov_len - 1] = ack;
        virtq_push(vq, req, 1);
    }
    pthread_mutex_unlock(&vq->lock);
    free(req);
    if (r < 0)
        virtio_mark_broken(vd, "malformed control request (%d)", r);
    else
        virtio_notify(vd, q);
}

static void vnet_notify(struct virtio_dev *vd, unsigned q)
{
    struct vnet *n = vd->priv;
    if (virtio_has_feature(vd, VIRTIO_NET_F_CTRL_VQ) && q == ctrlq(n)) {
        vnet_ctrl(vd, q);
        return;
    }
    unsigned pair = q / 2;
    if (pair >= n->pairs || (pair > 0 && !virtio_has_feature(vd, VIRTIO_NET_F_MQ)))
        return;   /* a queue the negotiated layout does not use */
    if (q & 1)
        vnet_tx(vd, pair);
    else
        wake(n->p[pair].kick);   /* rx buffers added: wake the receive thread */
}

/* Deliver one frame (header included) into as many receive chains as it
 * needs; returns false when the guest has no buffers (frame kept). */
static bool deliver(struct vnet_pair *p, size_t len, struct virtq_req *req)
{
    struct vnet *n = p->n;
    struct virtio_dev *vd = n->vd;
    struct virtq *vq = &vd->vqs[rxq(p->idx)];
    bool mrg = virtio_has_feature(vd, VIRTIO_NET_F_MRG_RXBUF);
    pthread_mutex_lock(&vq->lock);
    if (vhost_net_active(n->vhost, p->idx)) {   /* the kernel owns the ring now */
        pthread_mutex_unlock(&vq->lock);
        return true;
    }
    size_t done = 0;
    uint16_t bufs = 0;
    uint8_t *first_hdr = NULL;
    int r = 1;
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
        size_t c = iov_from_buf(req->in, req->nr_in, 0, p->frame + done, len - done);
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
        virtio_notify(vd, rxq(p->idx));
    /* r == 0 with nothing delivered: wait for buffers. A frame only partly
     * delivered (ring ran dry mid-frame) is lost, like a NIC overrun. */
    return bufs > 0;
}

static void *rx_main(void *arg)
{
    struct vnet_pair *p = arg;
    struct vnet *n = p->n;
    struct virtio_dev *vd = n->vd;
    struct virtq_req *req = malloc(sizeof(*req));
    size_t pending = 0;   /* a frame read but not yet delivered */
    while (req && !atomic_load(&n->stopping)) {
        /* A detached TAP queue polls as an error, and a pair in the kernel
         * is not ours to read: then wait for kicks only. */
        bool mine = p->idx < atomic_load(&n->active) && !vhost_net_active(n->vhost, p->idx);
        struct pollfd pf[2] = { { p->kick, POLLIN, 0 },
                                { p->tap, mine && !pending ? POLLIN : 0, 0 } };
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[0].revents & POLLIN) {
            uint64_t v;
            if (read(p->kick, &v, sizeof(v)) < 0)
                continue;
        }
        if (atomic_load(&n->stopping))
            break;
        mine = p->idx < atomic_load(&n->active) && !vhost_net_active(n->vhost, p->idx);
        if (!mine) {
            pending = 0;
            continue;
        }
        bool live = vd->vqs[rxq(p->idx)].ready && !atomic_load(&vd->broken);
        for (;;) {
            if (!pending) {
                if (!(pf[1].revents & POLLIN) && !live)
                    break;
                ssize_t got = read(p->tap, p->frame, sizeof(p->frame));
                if (got <= 0)
                    break;
                pending = (size_t)got;
                if (!live) {   /* no driver yet: drop, as an unplugged NIC */
                    pending = 0;
                    continue;
                }
            }
            if (!deliver(p, pending, req))
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

static int open_tap(const char *name, bool multi, struct vk_err *err)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return vk_err_errno(err, -errno, "--net: cannot open /dev/net/tun");
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = -errno;
        close(fd);
        return vk_err_errno(err, e, "--net: cannot attach to TAP '%s'%s", name,
                            multi ? " as a multi-queue TAP" : "");
    }
    return fd;
}

/* fd=N[:N...]: one inherited TAP fd per queue pair. */
static int take_fds(struct vnet *n, const char *list, struct vk_err *err)
{
    unsigned i = 0;
    const char *s = list;
    while (*s) {
        char buf[16];
        size_t len = strcspn(s, ":");
        int v;
        snprintf(buf, sizeof(buf), "%.*s", (int)VK_MIN(len, sizeof(buf) - 1), s);
        struct ifreq ifr = { 0 };
        if (i >= n->pairs)
            return vk_err_set(err, -EINVAL, "--net: fd=%s gives more fds than queues=%u",
                              list, n->pairs);
        if (len >= sizeof(buf) || vk_parse_int(buf, 0, 65535, &v) < 0 || fcntl(v, F_GETFD) < 0)
            return vk_err_set(err, -EBADF, "--net: fd=%s is not an open file descriptor", buf);
        if (ioctl(v, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_VNET_HDR))
            return vk_err_set(err, -EINVAL, "--net: fd=%s is not a TAP opened with IFF_VNET_HDR",
                              buf);
        if (n->pairs > 1 && !(ifr.ifr_flags & IFF_MULTI_QUEUE))
            return vk_err_set(err, -EINVAL, "--net: fd=%s is not a multi-queue TAP "
                              "(IFF_MULTI_QUEUE), needed for queues=%u", buf, n->pairs);
        n->p[i++].tap = v;
        s += len + (s[len] == ':');
    }
    if (i != n->pairs)
        return vk_err_set(err, -EINVAL, "--net: queues=%u needs %u fds in fd=, got %u",
                          n->pairs, n->pairs, i);
    return 0;
}

static void vnet_free(struct vnet *n, bool close_taps)
{
    for (unsigned i = 0; i < n->pairs; i++) {
        if (n->p[i].kick >= 0)
            close(n->p[i].kick);
        if (close_taps && n->p[i].tap >= 0)
            close(n->p[i].tap);
    }
    pthread_mutex_destroy(&n->lock);
    free(n);
}

static void vnet_destroy(struct virtio_dev *vd)
{
    struct vnet *n = vd->priv;
    atomic_store(&n->stopping, true);
    vhost_net_close(n->vhost);   /* rings back, relay thread gone */
    n->vhost = NULL;
    for (unsigned i = 0; i < n->pairs; i++) {
        struct vnet_pair *p = &n->p[i];
        if (p->rx_started) {
            uint64_t one = 1;
            if (write(p->kick, &one, sizeof(one)) == sizeof(one))
                pthread_join(p->rx_thread, NULL);
        }
    }
    vnet_free(n, true);
}

static const struct virtio_device_ops virtio_net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .pci_class = 0x020000,   /* ethernet */
    .features = vnet_features,
    .config_read = vnet_config_read,
    .config_size = 10,       /* mac, status, max_virtqueue_pairs */
    .queue_notify = vnet_notify,
    .activate = vnet_activate,
    .reset = vnet_reset,
    .destroy = vnet_destroy,
};

int virtio_net_create(struct machine *m, const char *spec, struct vk_err *err)
{
    struct vk_kvlist kv;
    int r = vk_kv_parse(spec, NULL, &kv, err);
    if (r)
        return r;
    const char *tap = NULL, *fd = NULL, *mac = NULL, *id = NULL, *queues = NULL, *vhost = NULL;
    struct vnet *n = NULL;
    struct virtio_dev *vd = calloc(1, sizeof(*vd));
    bool own_tap = false;
    int nq = 1;
    enum vhost_mode vmode = VHOST_MODE_AUTO;
    if (!vd) {
        r = vk_err_set(err, -ENOMEM, "virtio-net: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < kv.n; i++) {
        const char *k = kv.items[i].key;
        if (!strcmp(k, "tap")) tap = kv.items[i].val;
        else if (!strcmp(k, "fd")) fd = kv.items[i].val;
        else if (!strcmp(k, "mac")) mac = kv.items[i].val;
        else if (!strcmp(k, "id")) id = kv.items[i].val;
        else if (!strcmp(k, "queues")) queues = kv.items[i].val;
        else if (!strcmp(k, "vhost")) vhost = kv.items[i].val;
        else {
            r = vk_err_set(err, -EINVAL, "--net: unknown option '%s'", k);
            goto fail;
        }
    }
    if (queues && vk_parse_int(queues, 1, VNET_MAX_PAIRS, &nq) < 0) {
        r = vk_err_set(err, -EINVAL, "--net: queues=%s must be 1..%d", queues, VNET_MAX_PAIRS);
        goto fail;
    }
    if (vhost && vhost_mode_parse(vhost, &vmode) < 0) {
        r = vk_err_set(err, -EINVAL, "--net: vhost=%s: expected on, off or auto", vhost);
        goto fail;
    }
    n = calloc(1, sizeof(*n) + (size_t)nq * sizeof(n->p[0]));
    if (!n) {
        r = vk_err_set(err, -ENOMEM, "virtio-net: out of memory");
        goto fail;
    }
    pthread_mutex_init(&n->lock, NULL);
    n->pairs = (unsigned)nq;
    atomic_store(&n->active, 1);
    for (unsigned i = 0; i < n->pairs; i++) {
        n->p[i] = (struct vnet_pair){ .n = n, .idx = i, .tap = -1, .kick = -1, .attached = true };
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
        if ((r = take_fds(n, fd, err)) < 0) {
            for (unsigned i = 0; i < n->pairs; i++)
                n->p[i].tap = -1;   /* still the caller's */
            goto fail;
        }
    } else {
        own_tap = true;
        for (unsigned i = 0; i < n->pairs; i++) {
            if ((r = open_tap(tap, n->pairs > 1, err)) < 0)
                goto fail;
            n->p[i].tap = r;
        }
    }
    for (unsigned i = 0; i < n->pairs; i++) {
        struct vnet_pair *p = &n->p[i];
        int hdr = HDR_LEN;
        if (ioctl(p->tap, TUNSETVNETHDRSZ, &hdr) < 0) {
            r = vk_err_errno(err, -errno, "--net: TUNSETVNETHDRSZ");
            goto fail;
        }
        fcntl(p->tap, F_SETFL, fcntl(p->tap, F_GETFL) | O_NONBLOCK);
        p->kick = eventfd(0, EFD_CLOEXEC);
        if (p->kick < 0) {
            r = vk_err_errno(err, -errno, "virtio-net: eventfd");
            goto fail;
        }
    }
    /* Until the driver asks for more, only pair 0 gets frames. */
    for (unsigned i = 1; i < n->pairs; i++)
        tap_queue(&n->p[i], false);
    n->cfg.status = 1;   /* link up */
    n->cfg.max_virtqueue_pairs = (uint16_t)n->pairs;
    /* The kernel's writes into guest RAM bypass the software CPU's code
     * invalidation (machine_dma_written), so vhost is for KVM only. */
    if (machine_tracks_dma(m)) {
        if (vmode == VHOST_MODE_ON) {
            r = vk_err_set(err, -ENOTSUP, "--net: vhost=on needs KVM (the software CPU must "
                           "see every write into guest RAM)");
            goto fail;
        }
        vmode = VHOST_MODE_OFF;
    }
    if ((r = vhost_net_open(vmode, n->pairs, &n->vhost, err)) < 0)
        goto fail;
    n->vd = vd;
    vd->ops = &virtio_net_ops;
    vd->priv = n;
    /* Once plugged the device owns the fds, inherited or not; a failed
     * create closes only TAPs it opened itself (fd=N stays the caller's). */
    if ((r = virtio_pci_create(m, vd, n->pairs > 1 ? 2 * n->pairs + 1 : 2, 256, err)))
        goto fail;
    if (id)
        virtio_pci_set_id(vd, id);
    vk_kv_free(&kv);
    /* From here the device is on the bus and the bus teardown frees it. */
    if (n->vhost && (r = vhost_net_attach(n->vhost, vd, err)) < 0)
        return r;
    for (unsigned i = 0; i < n->pairs; i++) {
        struct vnet_pair *p = &n->p[i];
        if (pthread_create(&p->rx_thread, NULL, rx_main, p))
            return vk_err_set(err, -EAGAIN, "virtio-net: cannot start the receive thread");
        p->rx_started = true;
    }
    return 0;
fail:
    vk_kv_free(&kv);
    if (n) {
        vhost_net_close(n->vhost);
        vnet_free(n, own_tap);
    }
    free(vd);
    return r;
}
