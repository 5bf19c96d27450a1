/* Split virtqueue processing against a fake guest memory, including the
 * hostile cases: loops, addresses outside RAM, bad indices, wrong order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "virtio.h"

#define MEM_SIZE (1 << 20)
static uint8_t *mem;

static void *fake_map(void *opaque, uint64_t gpa, uint64_t len)
{
    return vk_range_ok(gpa, len, MEM_SIZE) ? mem + gpa : NULL;
}

static uint64_t written_gpa, written_len;
static void fake_written(void *opaque, uint64_t gpa, uint64_t len)
{
    written_gpa = gpa;
    written_len += len;
}

static const struct virtio_mem vmem = { fake_map, fake_written, NULL };

#define QSIZE 8
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };

static struct desc *D(unsigned i) { return (struct desc *)(mem + DESC) + i; }
static uint16_t *avail_idx(void) { return (uint16_t *)(mem + AVAIL + 2); }
static uint16_t *avail_ring(unsigned i) { return (uint16_t *)(mem + AVAIL + 4) + i; }
static uint16_t *used_idx(void) { return (uint16_t *)(mem + USED + 2); }
static uint32_t *used_elem(unsigned i) { return (uint32_t *)(mem + USED + 4 + 8 * i); }
static uint16_t *used_event(void) { return (uint16_t *)(mem + AVAIL + 4 + 2 * QSIZE); }

static void setup(struct virtq *vq, bool event_idx, bool indirect)
{
    memset(mem, 0, MEM_SIZE);
    virtq_init(vq, &vmem);
    vq->size = QSIZE;
    vq->desc_gpa = DESC;
    vq->avail_gpa = AVAIL;
    vq->used_gpa = USED;
    vq->event_idx = event_idx;
    vq->indirect = indirect;
    if (virtq_start(vq))
        abort();
}

static void post(uint16_t head)
{
    *avail_ring(*avail_idx() % QSIZE) = head;
    (*avail_idx())++;
}

int main(void)
{
    mem = calloc(1, MEM_SIZE);
    struct virtq vq;
    struct virtq_req *req = malloc(sizeof(*req));

    /* a normal chain: header (out), data (in), status (in) */
    setup(&vq, false, false);
    *D(0) = (struct desc){ 0x10000, 16, 1, 1 };
    *D(1) = (struct desc){ 0x11000, 512, 3, 2 };
    *D(2) = (struct desc){ 0x12000, 1, 2, 0 };
    tap_is_int(virtq_pop(&vq, req), 0, "empty queue pops nothing");
    post(0);
    tap_is_int(virtq_pop(&vq, req), 1, "chain pops");
    tap_is_int(req->nr_out, 1, "one readable segment");
    tap_is_int(req->nr_in, 2, "two writable segments");
    tap_ok(req->out[0].iov_base == mem + 0x10000, "readable segment maps to guest RAM");
    tap_is_int(req->in_len, 513, "writable length summed");
    virtq_push(&vq, req, 513);
    tap_is_int(written_len, 513, "device writes reported for the written bytes");
    tap_is_int(written_gpa, 0x12000, "...down to the last segment's guest address");
    tap_is_int(*used_idx(), 1, "used idx advanced");
    tap_is_int(used_elem(0)[0], 0, "used id is the head");
    tap_is_int(used_elem(0)[1], 513, "used len recorded");
    tap_ok(virtq_should_notify(&vq), "notify without suppression");
    *(uint16_t *)(mem + AVAIL) = 1;   /* VIRTQ_AVAIL_F_NO_INTERRUPT */
    tap_ok(!virtq_should_notify(&vq), "NO_INTERRUPT suppresses");

    /* hostile: a descriptor loop */
    setup(&vq, false, false);
    *D(0) = (struct desc){ 0x10000, 16, 1, 1 };
    *D(1) = (struct desc){ 0x10000, 16, 1, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -ELOOP, "descriptor loop detected");

    /* hostile: address outside RAM, and a huge length that wraps */
    setup(&vq, false, false);
    *D(0) = (struct desc){ MEM_SIZE - 8, 16, 0, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -EFAULT, "buffer past the end of RAM refused");
    setup(&vq, false, false);
    *D(0) = (struct desc){ UINT64_MAX - 4, 0xffffffff, 0, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -EFAULT, "wrapping address refused");

    /* hostile: head and next indices out of range */
    setup(&vq, false, false);
    post(QSIZE + 3);
    tap_is_int(virtq_pop(&vq, req), -EINVAL, "head index out of range");
    setup(&vq, false, false);
    *D(0) = (struct desc){ 0x10000, 16, 1, 200 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -EINVAL, "next index out of range");

    /* hostile: avail idx jumps past the ring */
    setup(&vq, false, false);
    *avail_idx() = QSIZE + 1;
    tap_is_int(virtq_pop(&vq, req), -EINVAL, "avail index jump refused");

    /* hostile: readable after writable */
    setup(&vq, false, false);
    *D(0) = (struct desc){ 0x10000, 16, 3, 1 };
    *D(1) = (struct desc){ 0x11000, 16, 0, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -EINVAL, "readable after writable refused");

    /* indirect descriptors: allowed only when negotiated; no nesting */
    setup(&vq, false, false);
    struct desc *ind = (struct desc *)(mem + 0x20000);
    ind[0] = (struct desc){ 0x10000, 16, 1, 1 };
    ind[1] = (struct desc){ 0x11000, 64, 2, 0 };
    *D(0) = (struct desc){ 0x20000, 32, 4, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -EINVAL, "indirect refused when not negotiated");
    setup(&vq, false, true);
    ind[0] = (struct desc){ 0x10000, 16, 1, 1 };
    ind[1] = (struct desc){ 0x11000, 64, 2, 0 };
    *D(0) = (struct desc){ 0x20000, 32, 4, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), 1, "indirect table pops");
    tap_ok(req->nr_out == 1 && req->nr_in == 1 && req->in_len == 64, "indirect segments");
    setup(&vq, false, true);
    ind[0] = (struct desc){ 0x20000, 32, 4, 0 };
    *D(0) = (struct desc){ 0x20000, 16, 4, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -EINVAL, "nested indirect refused");
    setup(&vq, false, true);
    *D(0) = (struct desc){ 0x20000, 24, 4, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -EINVAL, "indirect length not a multiple of 16 refused");
    setup(&vq, false, true);
    ind[0] = (struct desc){ 0x10000, 16, 1, 0 };
    ind[0].next = 0;
    ind[0].flags = 1;   /* NEXT pointing at itself */
    *D(0) = (struct desc){ 0x20000, 16, 4, 0 };
    post(0);
    tap_is_int(virtq_pop(&vq, req), -ELOOP, "loop inside an indirect table detected");

    /* event index: interrupt only when crossing used_event */
    setup(&vq, true, false);
    for (unsigned i = 0; i < 4; i++)
        *D(i) = (struct desc){ 0x10000 + i * 0x100, 16, 2, 0 };
    for (unsigned i = 0; i < 4; i++)
        post((uint16_t)i);
    tap_is_int(virtq_pop(&vq, req), 1, "event-idx pop");
    tap_is_int(*(uint16_t *)(mem + USED + 4 + 8 * QSIZE), 1, "avail_event published");
    virtq_push(&vq, req, 0);
    tap_ok(virtq_should_notify(&vq), "first completion notifies");
    *used_event() = 2;   /* driver: wake me when used idx passes 2 */
    virtq_pop(&vq, req);
    virtq_push(&vq, req, 0);   /* used idx 2 */
    tap_ok(!virtq_should_notify(&vq), "no interrupt before used_event is passed");
    virtq_pop(&vq, req);
    virtq_push(&vq, req, 0);   /* used idx 3 crosses 2 */
    tap_ok(virtq_should_notify(&vq), "interrupt once used_event is passed");

    /* rings outside RAM or misaligned are refused at start */
    virtq_init(&vq, &vmem);
    vq.size = QSIZE;
    vq.desc_gpa = MEM_SIZE - 16;
    vq.avail_gpa = AVAIL;
    vq.used_gpa = USED;
    tap_is_int(virtq_start(&vq), -EFAULT, "descriptor table outside RAM refused");
    vq.desc_gpa = DESC + 8;
    tap_is_int(virtq_start(&vq), -EFAULT, "misaligned descriptor table refused");
    vq.desc_gpa = DESC;
    vq.size = 6;
    tap_is_int(virtq_start(&vq), -EINVAL, "non-power-of-two size refused");

    /* iov helpers */
    uint8_t a[4] = { 1, 2, 3, 4 }, b[3] = { 5, 6, 7 }, out[8] = { 0 };
    struct iovec iov[2] = { { a, 4 }, { b, 3 } };
    tap_is_int(iov_to_buf(iov, 2, 2, out, 8), 5, "iov_to_buf with skip");
    tap_ok(out[0] == 3 && out[4] == 7, "iov_to_buf content");
    tap_is_int(iov_from_buf(iov, 2, 3, "xyz", 3), 3, "iov_from_buf across segments");
    tap_ok(a[3] == 'x' && b[0] == 'y' && b[1] == 'z', "iov_from_buf content");

    free(req);
    free(mem);
    return tap_done();
}
