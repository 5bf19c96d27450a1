/* virtio-balloon (virtio spec 5.5): inflate returns guest pages to the host
 * (MADV_REMOVE on the memfd-backed RAM), deflate gives them back, and the
 * stats queue reports the guest's memory statistics.
 *
 *   --device virtio-balloon
 * The target is set at run time: virtio_balloon_set_target (QMP `balloon`).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "machine.h"
#include "virtio.h"

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS   2
#define PAGE 4096ULL
#define NR_STATS 16

struct vballoon {
    pthread_mutex_t lock;
    struct { uint32_t num_pages, actual; } cfg;
    struct virtq_req stats_req;     /* the guest's stats buffer we hold on to */
    bool have_stats_req;
    uint64_t stats[NR_STATS];       /* by tag */
    uint32_t stats_seen;            /* bitmap of tags reported */
};

static uint64_t vb_features(struct virtio_dev *vd)
{
    return 1ULL << VIRTIO_BALLOON_F_STATS_VQ | 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
}

static void vb_config_read(struct virtio_dev *vd, unsigned off, void *buf, unsigned len)
{
    struct vballoon *b = vd->priv;
    pthread_mutex_lock(&b->lock);
    memcpy(buf, (uint8_t *)&b->cfg + off, len);
    pthread_mutex_unlock(&b->lock);
}

static void vb_config_write(struct virtio_dev *vd, unsigned off, const void *buf, unsigned len)
{
    struct vballoon *b = vd->priv;
    if (off < 4)
        return;   /* num_pages is the device's */
    pthread_mutex_lock(&b->lock);
    memcpy((uint8_t *)&b->cfg + off, buf, len);
    pthread_mutex_unlock(&b->lock);
}

static void handle_pages(struct virtio_dev *vd, const struct virtq_req *req, bool inflate)
{
    for (uint64_t pos = 0; pos + 4 <= req->out_len; pos += 4) {
        uint32_t pfn;
        iov_to_buf(req->out, req->nr_out, pos, &pfn, 4);
        void *hva = machine_gpa_to_hva(vd->m, (uint64_t)pfn * PAGE, PAGE);
        if (!hva)
            continue;   /* not RAM: ignore, as the spec allows */
        if (inflate)
            madvise(hva, PAGE, MADV_REMOVE);   /* memfd RAM: give the page back */
        /* deflate: nothing to do, the page faults back in on first touch */
    }
}

static void handle_stats(struct virtio_dev *vd, const struct virtq_req *req)
{
    struct vballoon *b = vd->priv;
    struct __attribute__((packed)) { uint16_t tag; uint64_t val; } s;
    pthread_mutex_lock(&b->lock);
    for (uint64_t pos = 0; pos + sizeof(s) <= req->out_len; pos += sizeof(s)) {
        iov_to_buf(req->out, req->nr_out, pos, &s, sizeof(s));
        if (s.tag < NR_STATS) {
            b->stats[s.tag] = s.val;
            b->stats_seen |= 1u << s.tag;
        }
    }
    b->stats_req = *req;   /* keep it: returning it asks for a refresh */
    b->have_stats_req = true;
    pthread_mutex_unlock(&b->lock);
}

static void vb_notify(struct virtio_dev *vd, unsigned q)
{
    struct virtq *vq = &vd->vqs[q];
    struct virtq_req *req = malloc(sizeof(*req));
    if (!req)
        return;
    int r;
    bool used = false;
    pthread_mutex_lock(&vq->lock);
    while ((r = virtq_pop(vq, req)) > 0) {
        if (q == Q_STATS) {
            handle_stats(vd, req);
            continue;
        }
        handle_pages(vd, req, q == Q_INFLATE);
        virtq_push(vq, req, 0);
        used = true;
    }
    pthread_mutex_unlock(&vq->lock);
    free(req);
    if (r < 0)
        virtio_mark_broken(vd, "malformed request on queue %u (%d)", q, r);
    else if (used)
        virtio_notify(vd, q);
}

static void vb_reset(struct virtio_dev *vd)
{
    struct vballoon *b = vd->priv;
    pthread_mutex_lock(&b->lock);
    b->cfg.actual = 0;
    b->have_stats_req = false;
    pthread_mutex_unlock(&b->lock);
}

static void vb_destroy(struct virtio_dev *vd)
{
    struct vballoon *b = vd->priv;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static const struct virtio_device_ops virtio_balloon_ops = {
    .name = "virtio-balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .pci_class = 0x00ff00,
    .features = vb_features,
    .config_read = vb_config_read,
    .config_write = vb_config_write,
    .config_size = 8,
    .queue_notify = vb_notify,
    .reset = vb_reset,
    .destroy = vb_destroy,
};

int virtio_balloon_set_target(struct machine *m, uint64_t guest_bytes)
{
    struct virtio_dev *vd = virtio_find(m, VIRTIO_ID_BALLOON);
    if (!vd)
        return -ENODEV;
    if (guest_bytes > m->ram_size)
        guest_bytes = m->ram_size;
    struct vballoon *b = vd->priv;
    pthread_mutex_lock(&b->lock);
    b->cfg.num_pages = (uint32_t)((m->ram_size - guest_bytes) / PAGE);
    pthread_mutex_unlock(&b->lock);
    virtio_config_changed(vd);
    return 0;
}

int virtio_balloon_query(struct machine *m, uint64_t *actual_bytes, uint64_t stats[16],
                         uint32_t *stats_seen)
{
    struct virtio_dev *vd = virtio_find(m, VIRTIO_ID_BALLOON);
    if (!vd)
        return -ENODEV;
    struct vballoon *b = vd->priv;
    pthread_mutex_lock(&b->lock);
    *actual_bytes = m->ram_size - (uint64_t)b->cfg.actual * PAGE;
    memcpy(stats, b->stats, sizeof(b->stats));
    *stats_seen = b->stats_seen;
    bool refresh = b->have_stats_req;
    struct virtq_req req = b->stats_req;
    b->have_stats_req = false;
    pthread_mutex_unlock(&b->lock);
    if (refresh) {   /* hand the buffer back: the guest refills it */
        struct virtq *vq = &vd->vqs[Q_STATS];
        pthread_mutex_lock(&vq->lock);
        virtq_push(vq, &req, 0);
        pthread_mutex_unlock(&vq->lock);
        virtio_notify(vd, Q_STATS);
    }
    return 0;
}

int virtio_balloon_create(struct machine *m, const char *spec, struct vk_err *err)
{
    if (spec && *spec)
        return vk_err_set(err, -EINVAL, "virtio-balloon: unknown option '%s'", spec);
    struct vballoon *b = calloc(1, sizeof(*b));
    struct virtio_dev *vd = calloc(1, sizeof(*vd));
    if (!b || !vd) {
        free(b); free(vd);
        return vk_err_set(err, -ENOMEM, "virtio-balloon: out of memory");
    }
    pthread_mutex_init(&b->lock, NULL);
    vd->ops = &virtio_balloon_ops;
    vd->priv = b;
    int r = virtio_pci_create(m, vd, 3, 128, err);
    if (r) {
        free(b); free(vd);
    }
    return r;
}
