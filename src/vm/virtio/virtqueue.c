/* Split virtqueues (virtio 1.x section 2.7) with strict validation.
 *
 * The guest owns the rings and may change them at any time, from any vCPU:
 * every index is range-checked after it is read, every buffer address is
 * translated through virtio_mem.map (NULL = not guest RAM), chains are
 * bounded by the table size (no loops), and readable buffers must come
 * before writable ones. Any violation returns an error; the caller marks
 * the device broken. Nothing here trusts a value it read twice.
 */
#include <errno.h>
#include <string.h>

#include "virtio.h"

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct vring_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vring_used_elem { uint32_t id, len; };

static inline uint16_t load16_acq(const void *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static inline uint16_t load16(const void *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

void virtq_init(struct virtq *vq, const struct virtio_mem *mem)
{
    memset(vq, 0, sizeof(*vq));
    vq->mem = mem;
    pthread_mutex_init(&vq->lock, NULL);
}

void virtq_reset(struct virtq *vq)
{
    pthread_mutex_lock(&vq->lock);
    vq->ready = false;
    vq->desc = vq->avail = vq->used = NULL;
    vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
    vq->last_avail = vq->used_idx = vq->signalled_used = 0;
    vq->signalled_valid = false;
    pthread_mutex_unlock(&vq->lock);
}

int virtq_start(struct virtq *vq)
{
    uint64_t n = vq->size;
    if (!n || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
        return -EINVAL;
    vq->desc = vq->mem->map(vq->mem->opaque, vq->desc_gpa, 16 * n);
    vq->avail = vq->mem->map(vq->mem->opaque, vq->avail_gpa, 6 + 2 * n);
    vq->used = vq->mem->map(vq->mem->opaque, vq->used_gpa, 6 + 8 * n);
    /* alignment the spec requires; unaligned rings would also break atomics */
    if (!vq->desc || !vq->avail || !vq->used ||
        (vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
        return -EFAULT;
    vq->last_avail = load16((uint8_t *)vq->avail + 2);
    vq->used_idx = load16((uint8_t *)vq->used + 2);
    vq->ready = true;
    return 0;
}

static int add_seg(struct virtq_req *req, bool write, void *p, uint64_t gpa, uint32_t len)
{
    if (write) {
        if (req->nr_in == VIRTQ_MAX_SEGS)
            return -E2BIG;
        req->in_gpa[req->nr_in] = gpa;
        req->in[req->nr_in++] = (struct iovec){ p, len };
        req->in_len += len;
    } else {
        if (req->nr_in)
            return -EINVAL;   /* readable after writable */
        if (req->nr_out == VIRTQ_MAX_SEGS)
            return -E2BIG;
        req->out[req->nr_out++] = (struct iovec){ p, len };
        req->out_len += len;
    }
    return 0;
}

bool virtq_has_avail(struct virtq *vq)
{
    return vq->avail && load16_acq((uint8_t *)vq->avail + 2) != vq->last_avail;
}

int virtq_pop(struct virtq *vq, struct virtq_req *req)
{
    if (!vq->ready)
        return 0;
    uint8_t *avail = vq->avail;
    uint16_t avail_idx = load16_acq(avail + 2);
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0)
        return 0;
    if (pending > vq->size)
        return -EINVAL;   /* the driver claims more buffers than the ring holds */
    uint16_t head = load16(avail + 4 + 2 * (vq->last_avail % vq->size));
    if (head >= vq->size)
        return -EINVAL;

    req->head = head;
    req->nr_in = req->nr_out = 0;
    req->in_len = req->out_len = 0;

    const struct vring_desc *table = vq->desc;
    unsigned max = vq->size, idx = head, count = 0;
    bool indirect = false;
    for (;;) {
        if (count++ >= max)
            return -ELOOP;
        struct vring_desc d;
        memcpy(&d, &table[idx], sizeof(d));   /* one snapshot of the entry */
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!vq->indirect || indirect || (d.flags & VIRTQ_DESC_F_NEXT) ||
                d.len == 0 || (d.len % 16) || d.len / 16 > VIRTQ_MAX_SIZE)
                return -EINVAL;
            table = vq->mem->map(vq->mem->opaque, d.addr, d.len);
            if (!table || (d.addr & 15))
                return -EFAULT;
            max = d.len / 16;
            idx = 0;
            count = 0;
            indirect = true;
            continue;
        }
        void *p = NULL;
        if (d.len) {
            p = vq->mem->map(vq->mem->opaque, d.addr, d.len);
            if (!p)
                return -EFAULT;
        }
        int r = add_seg(req, d.flags & VIRTQ_DESC_F_WRITE, p, d.addr, d.len);
        if (r)
            return r;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        idx = d.next;
        if (idx >= max)
            return -EINVAL;
    }
    vq->last_avail++;
    if (vq->event_idx) {
        /* avail_event: interrupt us again once the driver passes this index */
        uint16_t *avail_event = (uint16_t *)((uint8_t *)vq->used + 4 + 8 * vq->size);
        __atomic_store_n(avail_event, vq->last_avail, __ATOMIC_RELEASE);
    }
    return 1;
}

void virtq_push(struct virtq *vq, const struct virtq_req *req, uint32_t written)
{
    if (!vq->used)
        return;   /* reset meanwhile: the request belongs to rings that are gone */
    if (vq->mem->written) {
        uint64_t left = written;
        for (unsigned i = 0; i < req->nr_in && left; i++) {
            uint64_t n = VK_MIN(left, (uint64_t)req->in[i].iov_len);
            vq->mem->written(vq->mem->opaque, req->in_gpa[i], n);
            left -= n;
        }
    }
    uint8_t *used = vq->used;
    struct vring_used_elem e = { req->head, written };
    memcpy(used + 4 + 8 * (vq->used_idx % vq->size), &e, sizeof(e));
    vq->used_idx++;
    __atomic_store_n((uint16_t *)(used + 2), vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *vq)
{
    /* Order our used->idx store before reading the driver's suppression state. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint8_t *avail = vq->avail;
    if (!avail)
        return false;   /* reset meanwhile */
    if (!vq->event_idx)
        return !(load16(avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t used_event = load16(avail + 4 + 2 * vq->size);
    uint16_t old = vq->signalled_used, now = vq->used_idx;
    bool valid = vq->signalled_valid;
    vq->signalled_used = now;
    vq->signalled_valid = true;
    if (!valid)
        return true;
    return (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t c = VK_MIN(iov[i].iov_len - skip, len - done);
        memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, c);
        done += c;
        skip = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t c = VK_MIN(iov[i].iov_len - skip, len - done);
        memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, c);
        done += c;
        skip = 0;
    }
    return done;
}
