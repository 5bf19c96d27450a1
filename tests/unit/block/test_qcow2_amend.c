/* amend: refcount_bits changes (rebuilt refcount structures), compat
 * downgrade/upgrade (zero clusters expanded for v2), lazy_refcounts, size;
 * each step verified by content, info and qemu-img check. */
#include "blktest.h"

#define SIZE (4u << 20)

static int amend(const char *p, const char *opts, struct vk_err *e)
{
    struct vk_kvlist kv = { 0 };
    struct blk_amend_opts o;
    int r = vk_kv_parse(opts, NULL, &kv, e);
    if (r == 0)
        r = blk_amend_opts_parse(&kv, &o, e);
    struct blk *b;
    if (r == 0)
        r = blk_open(p, NULL, BLK_O_RDWR, NULL, &b, e);
    if (r == 0) {
        r = blk_amend(b, &o, e);
        blk_close(b);
    }
    vk_kv_free(&kv);
    return r;
}

static void verify(const char *p, const uint8_t *ref, uint64_t size, const char *what,
                   uint32_t rbits, const char *compat)
{
    struct blk *b;
    struct vk_err e = { 0 };
    if (blk_open(p, NULL, 0, NULL, &b, &e) < 0) {
        tap_ok(0, "%s: open: %s", what, e.msg);
        return;
    }
    tap_ok(bt_verify(b, ref, size), "%s: content", what);
    struct blk_info in;
    blk_get_info(b, &in, &e);
    if (rbits)
        tap_is_int(in.qcow2.refcount_bits, rbits, "%s: refcount bits", what);
    if (compat)
        tap_is_str(in.qcow2.compat, compat, "%s: compat", what);
    blk_info_free(&in);
    blk_close(b);
    if (bt_have_qemu_img())
        tap_is_int(bt_qemu_check(p), 0, "%s: qemu-img check clean", what);
}

int main(void)
{
    bt_init();
    const char *p = bt_path("a.qcow2");
    struct vk_err e = { 0 };
    tap_is_int(blk_create(p, "qcow2", SIZE, NULL, &e), 0, "create");
    uint8_t *ref = calloc(1, 2 * SIZE);
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) == 0) {
        bt_fill(ref, SIZE, 1);
        blk_pwrite(b, 0, ref, SIZE, &e);
        blk_pwrite_zeroes(b, 65536, 5 * 65536, 0, &e);
        blk_pwrite_zeroes(b, 10 * 65536, 2 * 65536, BLK_ZERO_MAY_UNMAP, &e);
        memset(ref + 65536, 0, 5 * 65536);
        memset(ref + 10 * 65536, 0, 2 * 65536);
        blk_snapshot_create(b, "snap", NULL, &e);
        blk_close(b);
    }
    tap_is_int(amend(p, "refcount_bits=4", &e), 0, "refcount_bits 16 -> 4 (%s)", e.msg);
    verify(p, ref, SIZE, "refcount_bits=4", 4, "1.1");
    tap_is_int(amend(p, "refcount_bits=64", &e), 0, "refcount_bits 4 -> 64");
    verify(p, ref, SIZE, "refcount_bits=64", 64, NULL);
    tap_is_int(amend(p, "refcount_bits=1", &e), -ERANGE, "refcount_bits=1 refused (shared clusters)");
    verify(p, ref, SIZE, "after the refused change", 64, NULL);
    tap_is_int(amend(p, "cluster_size=4k", &e), -ENOTSUP, "cluster_size cannot be amended");
    tap_is_int(amend(p, "compat=0.10", &e), -ENOTSUP, "downgrade refused with snapshots / refcount_bits != 16");
    /* A snapshot-free image for the compat round trip. */
    const char *q = bt_path("c.qcow2");
    tap_is_int(blk_create(q, "qcow2", SIZE, NULL, &e), 0, "create second");
    if (blk_open(q, NULL, BLK_O_RDWR, NULL, &b, &e) == 0) {
        blk_pwrite(b, 0, ref, SIZE, &e);
        blk_close(b);
    }
    tap_is_int(amend(q, "lazy_refcounts=on", &e), 0, "lazy_refcounts=on");
    tap_is_int(amend(q, "compat=0.10", &e), 0, "compat 1.1 -> 0.10 (%s)", e.msg);
    verify(q, ref, SIZE, "compat=0.10", 16, "0.10");
    tap_is_int(amend(q, "compat=1.1,lazy_refcounts=on", &e), 0, "compat 0.10 -> 1.1");
    verify(q, ref, SIZE, "compat=1.1", 16, "1.1");
    tap_is_int(amend(q, "size=8M", &e), 0, "size grows");
    verify(q, ref, 2 * SIZE, "grown", 0, NULL);
    free(ref);
    return tap_done();
}
