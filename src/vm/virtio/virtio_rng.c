/* virtio-rng: entropy from the host's getrandom(2) (virtio spec 5.4). */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "virtio.h"

static uint64_t rng_features(struct virtio_dev *vd) { return 0; }

static void rng_notify(struct virtio_dev *vd, unsigned q)
{
    struct virtq *vq = &vd->vqs[q];
    struct virtq_req *req = malloc(sizeof(*req));
    if (!req)
        return;
    pthread_mutex_lock(&vq->lock);
    int r;
    while ((r = virtq_pop(vq, req)) > 0) {
        size_t written = 0;
        for (unsigned i = 0; i < req->nr_in; i++) {
            ssize_t n = getrandom(req->in[i].iov_base, req->in[i].iov_len, 0);
            if (n < 0)
                break;
            written += (size_t)n;
            if ((size_t)n < req->in[i].iov_len)
                break;
        }
        virtq_push(vq, req, (uint32_t)written);
    }
    pthread_mutex_unlock(&vq->lock);
    free(req);
    if (r < 0)
        virtio_mark_broken(vd, "malformed request on the request queue (%d)", r);
    else
        virtio_notify(vd, q);
}

static const struct virtio_device_ops virtio_rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .pci_class = 0x00ff00,
    .features = rng_features,
    .queue_notify = rng_notify,
};

int virtio_rng_create(struct machine *m, const char *spec, struct vk_err *err)
{
    struct virtio_dev *vd = calloc(1, sizeof(*vd));
    if (!vd)
        return vk_err_set(err, -ENOMEM, "virtio-rng: out of memory");
    vd->ops = &virtio_rng_ops;
    int r = virtio_pci_create(m, vd, 1, 256, err);
    if (r)
        free(vd);
    return r;
}
