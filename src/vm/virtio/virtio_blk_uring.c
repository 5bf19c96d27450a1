/* io_uring for virtio-blk requests that map straight onto a host file (see
 * virtio_blk_uring.h and blk_map_direct in src/block). */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "virtio_blk_uring.h"

struct blk_uring {
    struct io_uring ring;
    unsigned inflight;          /* queued or submitted, not yet reaped */
    unsigned queued;            /* queued, not yet submitted */
};

int blk_uring_probe(struct vk_err *err)
{
    struct io_uring ring;
    int r = io_uring_queue_init(2, &ring, 0);
    if (r < 0)
        return vk_err_errno(err, r, "io_uring is not available");
    io_uring_queue_exit(&ring);
    return 0;
}

int blk_uring_new(unsigned depth, int efd, struct blk_uring **out, struct vk_err *err)
{
    struct blk_uring *u = calloc(1, sizeof(*u));
    if (!u)
        return vk_err_set(err, -ENOMEM, "io_uring: out of memory");
    int r = io_uring_queue_init(depth, &u->ring, 0);
    if (r < 0) {
        free(u);
        return vk_err_errno(err, r, "io_uring_queue_init");
    }
    if (efd >= 0 && (r = io_uring_register_eventfd(&u->ring, efd)) < 0) {
        io_uring_queue_exit(&u->ring);
        free(u);
        return vk_err_errno(err, r, "io_uring_register_eventfd");
    }
    *out = u;
    return 0;
}

void blk_uring_free(struct blk_uring *u)
{
    if (!u)
        return;
    io_uring_queue_exit(&u->ring);
    free(u);
}

bool blk_uring_rw(struct blk_uring *u, bool write, int fd, const struct iovec *iov, unsigned n,
                  uint64_t off, void *tag)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe)
        return false;
    if (write)
        io_uring_prep_writev(sqe, fd, iov, n, off);
    else
        io_uring_prep_readv(sqe, fd, iov, n, off);
    io_uring_sqe_set_data(sqe, tag);
    u->queued++;
    u->inflight++;
    return true;
}

void blk_uring_submit(struct blk_uring *u)
{
    while (u->queued) {
        int r = io_uring_submit(&u->ring);
        if (r >= 0) {
            u->queued -= VK_MIN((unsigned)r, u->queued);
            if (r == 0)
                break;
        } else if (r != -EINTR) {
            /* -EAGAIN/-EBUSY: the kernel is short of resources; the entries
             * stay queued and go with the next submit or wait. */
            vk_warn_ratelimited("virtio-blk: io_uring_submit: %s", strerror(-r));
            break;
        }
    }
}

unsigned blk_uring_reap(struct blk_uring *u, bool wait_all,
                        void (*done)(void *opaque, void *tag, int result), void *opaque)
{
    unsigned n = 0;
    blk_uring_submit(u);
    while (u->inflight) {
        struct io_uring_cqe *cqe;
        int r = io_uring_peek_cqe(&u->ring, &cqe);
        if (r == -EAGAIN) {
            if (!wait_all)
                break;
            r = io_uring_submit_and_wait(&u->ring, 1);
            if (r >= 0)
                u->queued = 0;
            else if (r != -EINTR && r != -EAGAIN && r != -EBUSY)
                break;   /* cannot wait: leave them for the next call */
            continue;
        }
        if (r < 0)
            break;
        void *tag = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        u->inflight--;
        n++;
        done(opaque, tag, res);
    }
    return n;
}

unsigned blk_uring_inflight(const struct blk_uring *u)
{
    return u ? u->inflight : 0;
}
