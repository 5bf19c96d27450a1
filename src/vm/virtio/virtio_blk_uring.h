/* A small io_uring wrapper for virtio-blk (virtio_blk_uring.c): one ring per
 * request queue, used only by that queue's I/O thread (callers serialise).
 * Completions signal the queue's eventfd, so the I/O thread that waits on
 * guest kicks also wakes for finished I/O. */
#ifndef VK_VM_VIRTIO_BLK_URING_H
#define VK_VM_VIRTIO_BLK_URING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util.h"

struct blk_uring;

/* 0 if io_uring can be used in this process, else -errno with detail. */
int blk_uring_probe(struct vk_err *err);
/* A ring for up to `depth` requests; completions write eventfd `efd`. */
int blk_uring_new(unsigned depth, int efd, struct blk_uring **out, struct vk_err *err) VK_MUST_CHECK;
void blk_uring_free(struct blk_uring *u);
/* Queue a readv/writev of `iov` (the array must stay valid until the
 * completion) at `off` in `fd`; false when the submission ring is full. */
bool blk_uring_rw(struct blk_uring *u, bool write, int fd, const struct iovec *iov, unsigned n,
                  uint64_t off, void *tag);
/* Hand queued requests to the kernel. */
void blk_uring_submit(struct blk_uring *u);
/* Call done(opaque, tag, result) for each finished request (result: bytes
 * or -errno); with wait_all, first submit and wait until none is in flight.
 * Returns how many finished. */
unsigned blk_uring_reap(struct blk_uring *u, bool wait_all,
                        void (*done)(void *opaque, void *tag, int result), void *opaque);
unsigned blk_uring_inflight(const struct blk_uring *u);

#endif
