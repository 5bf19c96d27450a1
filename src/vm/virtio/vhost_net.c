/* vhost-net acceleration for virtio-net (see vhost_net.h for the contract).
 *
 * Written from the kernel UAPI (linux/vhost.h, linux/vhost_types.h). The
 * TAP keeps the 12-byte virtio-net header (TUNSETVNETHDRSZ), so the kernel
 * is not asked to add one (no VHOST_NET_F_VIRTIO_NET_HDR): it copies header
 * and frame between the rings and the TAP as they are, and fills
 * num_buffers itself when MRG_RXBUF is negotiated.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "machine.h"
#include "vhost_net.h"

/* Ring-layout features the kernel must share with the driver; the net
 * offload bits concern the TAP only. */
#define VHOST_RING_FEATURES                                                              \
    (1ULL << VIRTIO_F_INDIRECT_DESC | 1ULL << VIRTIO_F_EVENT_IDX |                       \
     1ULL << VIRTIO_F_VERSION_1 | 1ULL << 15 /* VIRTIO_NET_F_MRG_RXBUF */)

struct vhost_pair {
    int fd;                     /* /dev/vhost-net */
    int kick[2], call[2];       /* eventfds, [0] = rx vring, [1] = tx vring */
    int err;                    /* both vrings report errors here */
    unsigned vq[2];             /* virtqueue indices */
    int wake;
    atomic_bool active;
};

struct vhost_net {
    struct virtio_dev *vd;
    unsigned nr;
    uint64_t features;          /* VHOST_GET_FEATURES */
    pthread_mutex_t lock;       /* start/stop */
    int stop;                   /* eventfd: relay thread exit */
    pthread_t relay;
    bool relay_started;
    bool failed;                /* an error happened: stay in user space */
    struct vhost_pair p[];
};

int vhost_mode_parse(const char *s, enum vhost_mode *out)
{
    if (!strcmp(s, "auto")) {
        *out = VHOST_MODE_AUTO;
        return 0;
    }
    int b = vk_parse_bool(s);
    if (b < 0)
        return -EINVAL;
    *out = b ? VHOST_MODE_ON : VHOST_MODE_OFF;
    return 0;
}

const char *vhost_net_path(void)
{
    const char *p = getenv("VIRTKIT_VHOST_NET");
    return p && *p ? p : "/dev/vhost-net";
}

static int xioctl(int fd, unsigned long req, void *arg)
{
    return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

static void pair_close(struct vhost_pair *p)
{
    int *fds[] = { &p->fd, &p->kick[0], &p->kick[1], &p->call[0], &p->call[1], &p->err };
    for (size_t i = 0; i < VK_ARRAY_SIZE(fds); i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

void vhost_net_close(struct vhost_net *h)
{
    if (!h)
        return;
    for (unsigned i = 0; i < h->nr; i++)
        vhost_net_stop(h, i);
    if (h->relay_started) {
        uint64_t one = 1;
        if (write(h->stop, &one, sizeof(one)) == sizeof(one))
            pthread_join(h->relay, NULL);
    }
    if (h->stop >= 0)
        close(h->stop);
    for (unsigned i = 0; i < h->nr; i++)
        pair_close(&h->p[i]);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

int vhost_net_open(enum vhost_mode mode, unsigned pairs, struct vhost_net **out,
                   struct vk_err *err)
{
    *out = NULL;
    if (mode == VHOST_MODE_OFF)
        return 0;
    const char *path = vhost_net_path();
    struct vhost_net *h = calloc(1, sizeof(*h) + pairs * sizeof(h->p[0]));
    if (!h)
        return vk_err_set(err, -ENOMEM, "vhost-net: out of memory");
    pthread_mutex_init(&h->lock, NULL);
    h->nr = pairs;
    h->stop = eventfd(0, EFD_CLOEXEC);
    for (unsigned i = 0; i < pairs; i++) {
        struct vhost_pair *p = &h->p[i];
        p->fd = p->kick[0] = p->kick[1] = p->call[0] = p->call[1] = p->err = -1;
    }
    int r = h->stop < 0 ? -errno : 0;
    const char *what = "eventfd";
    for (unsigned i = 0; i < pairs && !r; i++) {
        struct vhost_pair *p = &h->p[i];
        what = "open";
        p->fd = open(path, O_RDWR | O_CLOEXEC);
        if (p->fd < 0) {
            r = -errno;
            break;
        }
        /* The kernel worker takes this process's memory map. */
        what = "VHOST_SET_OWNER";
        if ((r = xioctl(p->fd, VHOST_SET_OWNER, NULL)) < 0)
            break;
        uint64_t f = 0;
        what = "VHOST_GET_FEATURES";
        if ((r = xioctl(p->fd, VHOST_GET_FEATURES, &f)) < 0)
            break;
        h->features = i ? h->features & f : f;
        what = "eventfd";
        int *fds[] = { &p->kick[0], &p->kick[1], &p->call[0], &p->call[1], &p->err };
        for (size_t k = 0; k < VK_ARRAY_SIZE(fds) && !r; k++)
            if ((*fds[k] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
                r = -errno;
    }
    if (!r && !(h->features & (1ULL << VIRTIO_F_VERSION_1))) {
        what = "VHOST_GET_FEATURES";
        r = -ENOTSUP;   /* a kernel without virtio 1.x rings */
    }
    if (r) {
        vhost_net_close(h);
        if (mode == VHOST_MODE_ON)
            return vk_err_errno(err, r, "--net: vhost=on but %s is not usable (%s)", path, what);
        vk_info("virtio-net: %s not usable (%s: %s), using the user-space virtio-net",
                path, what, strerror(-r));
        return 0;
    }
    vk_info("virtio-net: vhost-net (%s) for %u queue pair%s", path, pairs, pairs > 1 ? "s" : "");
    *out = h;
    return 0;
}

bool vhost_net_active(struct vhost_net *h, unsigned pair)
{
    return h && pair < h->nr && atomic_load(&h->p[pair].active);
}

/* Drain an eventfd; true if it had been signalled. */
static bool drain(int fd)
{
    uint64_t v;
    return read(fd, &v, sizeof(v)) == sizeof(v);
}

static void *relay_main(void *arg)
{
    struct vhost_net *h = arg;
    unsigned n = 1 + 3 * h->nr;
    struct pollfd *pf = calloc(n, sizeof(*pf));
    if (!pf)
        return NULL;
    pf[0] = (struct pollfd){ h->stop, POLLIN, 0 };
    for (unsigned i = 0; i < h->nr; i++) {
        pf[1 + 3 * i] = (struct pollfd){ h->p[i].call[0], POLLIN, 0 };
        pf[2 + 3 * i] = (struct pollfd){ h->p[i].call[1], POLLIN, 0 };
        pf[3 + 3 * i] = (struct pollfd){ h->p[i].err, POLLIN, 0 };
    }
    for (;;) {
        if (poll(pf, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[0].revents)
            break;
        for (unsigned i = 0; i < h->nr; i++) {
            struct vhost_pair *p = &h->p[i];
            for (unsigned k = 0; k < 2; k++)
                if ((pf[1 + 3 * i + k].revents & POLLIN) && drain(p->call[k]) &&
                    atomic_load(&p->active))
                    virtio_notify_now(h->vd, p->vq[k]);
            if ((pf[3 + 3 * i].revents & POLLIN) && drain(p->err)) {
                vk_warn("virtio-net: vhost-net reported an error on queue pair %u; "
                        "continuing in user space", i);
                pthread_mutex_lock(&h->lock);
                h->failed = true;
                pthread_mutex_unlock(&h->lock);
                vhost_net_stop(h, i);
            }
        }
    }
    free(pf);
    return NULL;
}

int vhost_net_attach(struct vhost_net *h, struct virtio_dev *vd, struct vk_err *err)
{
    h->vd = vd;
    if (pthread_create(&h->relay, NULL, relay_main, h))
        return vk_err_set(err, -EAGAIN, "vhost-net: cannot start the interrupt relay thread");
    h->relay_started = true;
    return 0;
}

/* Guest RAM as the kernel should see it: every region, guest address to
 * this process's mapping. */
static int set_mem_table(int fd, struct machine *m)
{
    struct vhost_memory *mem = calloc(1, sizeof(*mem) + m->nr_ram * sizeof(mem->regions[0]));
    if (!mem)
        return -ENOMEM;
    mem->nregions = m->nr_ram;
    for (unsigned i = 0; i < m->nr_ram; i++)
        mem->regions[i] = (struct vhost_memory_region){
            .guest_phys_addr = m->ram[i].gpa,
            .memory_size = m->ram[i].size,
            .userspace_addr = (uintptr_t)m->ram[i].hva,
        };
    int r = xioctl(fd, VHOST_SET_MEM_TABLE, mem);
    free(mem);
    return r;
}

static int setup_vring(struct vhost_pair *p, unsigned k, struct virtq *vq)
{
    int r;
    struct vhost_vring_state num = { .index = k, .num = vq->size };
    struct vhost_vring_state base = { .index = k, .num = vq->last_avail };
    struct vhost_vring_addr addr = {
        .index = k,
        .desc_user_addr = (uintptr_t)vq->desc,
        .avail_user_addr = (uintptr_t)vq->avail,
        .used_user_addr = (uintptr_t)vq->used,
    };
    struct vhost_vring_file kick = { .index = k, .fd = p->kick[k] };
    struct vhost_vring_file call = { .index = k, .fd = p->call[k] };
    struct vhost_vring_file errf = { .index = k, .fd = p->err };
    if ((r = xioctl(p->fd, VHOST_SET_VRING_NUM, &num)) < 0 ||
        (r = xioctl(p->fd, VHOST_SET_VRING_BASE, &base)) < 0 ||
        (r = xioctl(p->fd, VHOST_SET_VRING_ADDR, &addr)) < 0 ||
        (r = xioctl(p->fd, VHOST_SET_VRING_KICK, &kick)) < 0 ||
        (r = xioctl(p->fd, VHOST_SET_VRING_CALL, &call)) < 0 ||
        (r = xioctl(p->fd, VHOST_SET_VRING_ERR, &errf)) < 0)
        return r;
    return 0;
}

/* Stop the kernel on both vrings and read back where it got to. Both queue
 * locks held. */
static void take_back(struct vhost_pair *p, struct virtq *vq[2])
{
    for (unsigned k = 0; k < 2; k++) {
        struct vhost_vring_file none = { .index = k, .fd = -1 };
        (void)xioctl(p->fd, VHOST_NET_SET_BACKEND, &none);
    }
    for (unsigned k = 0; k < 2; k++) {
        struct vhost_vring_state st = { .index = k };
        if (xioctl(p->fd, VHOST_GET_VRING_BASE, &st) == 0)
            vq[k]->last_avail = (uint16_t)st.num;
        if (vq[k]->used) {   /* the kernel published used entries up to here */
            uint16_t idx;
            memcpy(&idx, (uint8_t *)vq[k]->used + 2, 2);
            vq[k]->used_idx = idx;
        }
        vq[k]->signalled_valid = false;
    }
}

int vhost_net_start(struct vhost_net *h, unsigned pair, unsigned rxq, unsigned txq, int tap,
                    int wake, struct vk_err *err)
{
    if (!h || pair >= h->nr)
        return -EINVAL;
    struct virtio_dev *vd = h->vd;
    struct vhost_pair *p = &h->p[pair];
    struct virtq *vq[2] = { &vd->vqs[rxq], &vd->vqs[txq] };
    pthread_mutex_lock(&h->lock);
    if (h->failed || atomic_load(&p->active)) {
        int r = h->failed ? -EIO : 0;
        pthread_mutex_unlock(&h->lock);
        return r;
    }
    uint64_t want = vd->driver_features & VHOST_RING_FEATURES;
    if (want & ~h->features) {
        pthread_mutex_unlock(&h->lock);
        return vk_err_set(err, -ENOTSUP, "vhost-net lacks negotiated features 0x%llx",
                          (unsigned long long)(want & ~h->features));
    }
    p->vq[0] = rxq;
    p->vq[1] = txq;
    p->wake = wake;
    pthread_mutex_lock(&vq[0]->lock);
    pthread_mutex_lock(&vq[1]->lock);
    const char *what = "VHOST_SET_FEATURES";
    int r = xioctl(p->fd, VHOST_SET_FEATURES, &want);
    if (!r) {
        what = "VHOST_SET_MEM_TABLE";
        r = set_mem_table(p->fd, vd->m);
    }
    for (unsigned k = 0; k < 2 && !r; k++) {
        what = "vring setup";
        if (!vq[k]->ready || !vq[k]->desc)
            r = -EINVAL;
        else
            r = setup_vring(p, k, vq[k]);
    }
    for (unsigned k = 0; k < 2 && !r; k++) {
        what = "VHOST_NET_SET_BACKEND";
        struct vhost_vring_file be = { .index = k, .fd = tap };
        r = xioctl(p->fd, VHOST_NET_SET_BACKEND, &be);
    }
    if (r)
        take_back(p, vq);
    else
        atomic_store(&p->active, true);
    pthread_mutex_unlock(&vq[1]->lock);
    pthread_mutex_unlock(&vq[0]->lock);
    if (!r) {
        /* Kicks now go to the kernel; one kick per ring picks up buffers the
         * driver posted before the switch. */
        uint64_t one = 1;
        for (unsigned k = 0; k < 2; k++) {
            if (virtio_pci_set_kickfd(vd, p->vq[k], p->kick[k]) < 0 ||
                write(p->kick[k], &one, sizeof(one)) < 0)
                vk_debug("vhost-net: pair %u: initial kick failed", pair);
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (r)
        return vk_err_errno(err, r, "vhost-net: queue pair %u: %s", pair, what);
    vk_debug("vhost-net: queue pair %u in the kernel", pair);
    return 0;
}

void vhost_net_stop(struct vhost_net *h, unsigned pair)
{
    if (!h || pair >= h->nr)
        return;
    struct vhost_pair *p = &h->p[pair];
    pthread_mutex_lock(&h->lock);
    if (!atomic_load(&p->active)) {
        pthread_mutex_unlock(&h->lock);
        return;
    }
    struct virtio_dev *vd = h->vd;
    struct virtq *vq[2] = { &vd->vqs[p->vq[0]], &vd->vqs[p->vq[1]] };
    pthread_mutex_lock(&vq[0]->lock);
    pthread_mutex_lock(&vq[1]->lock);
    take_back(p, vq);
    atomic_store(&p->active, false);
    pthread_mutex_unlock(&vq[1]->lock);
    pthread_mutex_unlock(&vq[0]->lock);
    /* Kicks back to the I/O threads, each kicked once: a guest kick that
     * reached the kernel's eventfd after the backend went away is not lost. */
    for (unsigned k = 0; k < 2; k++)
        (void)virtio_pci_set_kickfd(vd, p->vq[k], -1);
    /* Used entries the kernel published without an interrupt reaching the
     * guest yet: signal them now (harmless if it already did). */
    for (unsigned k = 0; k < 2; k++)
        if (drain(p->call[k]))
            virtio_notify_now(vd, p->vq[k]);
    uint64_t one = 1;
    if (p->wake >= 0 && write(p->wake, &one, sizeof(one)) < 0)
        vk_debug("vhost-net: pair %u: wake failed", pair);
    pthread_mutex_unlock(&h->lock);
}
