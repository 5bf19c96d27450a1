/* Backing chains: overlays read through to their backing files (any depth),
 * partial-cluster writes copy from the backing, zero/discard over backing
 * data, block status depth, changing the backing file, loop detection. */
#include "blktest.h"

#define SIZE (4u << 20)

static int mk(const char *path, const char *backing, const char *bfmt, struct vk_err *e)
{
    struct blk_create_opts o = { .backing_file = backing, .backing_fmt = bfmt };
    return blk_create(path, "qcow2", backing ? 0 : SIZE, &o, e);
}

/* Extended L2 overlay: small writes allocate only their subclusters; the
 * rest of each cluster keeps reading from the backing file. */
static void extl2_overlay(void)
{
    struct vk_err e = { 0 };
    uint8_t *ref = malloc(SIZE), *buf = malloc(200000);
    bt_fill(ref, SIZE, 21);
    bt_write_file(bt_path("xbase.raw"), ref, SIZE);
    struct blk_create_opts o = { .backing_file = "xbase.raw", .backing_fmt = "raw",
                                 .extended_l2 = true, .cluster_size = 65536 };
    tap_is_int(blk_create(bt_path("x.qcow2"), "qcow2", 0, &o, &e), 0, "extl2 overlay: create");
    struct blk *b;
    if (blk_open(bt_path("x.qcow2"), NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        tap_ok(0, "extl2 overlay: open: %s", e.msg);
        return;
    }
    uint64_t st = 5;
    for (int i = 0; i < 200; i++) {
        uint64_t off = bt_rand(&st) % (SIZE - 200000);
        size_t len = (size_t)(bt_rand(&st) % 5000 + 1);
        if (i % 20 == 0)
            len = (size_t)(bt_rand(&st) % 200000 + 1);
        bt_fill(buf, len, st);
        blk_pwrite(b, off, buf, len, &e);
        memcpy(ref + off, buf, len);
        if (i % 50 == 7) {
            uint64_t z = off & ~65535ull;
            blk_pwrite_zeroes(b, z, 65536, 0, &e);
            memset(ref + z, 0, 65536);
        }
    }
    tap_ok(bt_verify(b, ref, SIZE), "extl2 overlay: content");
    struct blk_status bs;
    bt_fill(buf, 2048, 1);
    blk_pwrite(b, 3 * 65536 + 4096, buf, 2048, &e);   /* one 2 KiB subcluster */
    memcpy(ref + 3 * 65536 + 4096, buf, 2048);
    blk_block_status(b, 3 * 65536, 65536, false, &bs, &e);
    tap_ok(!(bs.flags & BLK_ST_ALLOCATED) || bs.len < 65536,
           "extl2 overlay: a small write allocates only its subclusters");
    blk_close(b);
    if (bt_have_qemu_img()) {
        bt_write_file(bt_path("xref.raw"), ref, SIZE);
        tap_is_int(bt_qemu_check(bt_path("x.qcow2")), 0, "extl2 overlay: qemu-img check clean");
        tap_is_int(bt_qemu_compare(bt_path("x.qcow2"), bt_path("xref.raw")), 0,
                   "extl2 overlay: qemu-img compare");
    }
    free(ref);
    free(buf);
}

/* blk_make_empty: an overlay's data (normal, zero, compressed clusters)
 * goes away, reads fall through to the backing file, a snapshot keeps its
 * own copy, and raw refuses. */
static void make_empty(void)
{
    struct vk_err e = { 0 };
    uint8_t *ref = malloc(SIZE), *buf = malloc(SIZE);
    bt_fill(ref, SIZE, 33);
    bt_write_file(bt_path("mbase.raw"), ref, SIZE);
    tap_is_int(mk(bt_path("m.qcow2"), "mbase.raw", "raw", &e), 0, "make_empty: create overlay");
    struct blk *b;
    if (blk_open(bt_path("m.qcow2"), NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        tap_ok(0, "make_empty: open: %s", e.msg);
        goto out;
    }
    bt_fill(buf, SIZE, 34);
    blk_pwrite(b, 100000, buf, 1 << 20, &e);
    blk_pwrite_zeroes(b, 2 << 20, 1 << 20, 0, &e);
    blk_pwrite_compressed(b, 3 << 20, buf, 65536, &e);
    tap_is_int(blk_snapshot_create(b, "s", NULL, &e), 0, "make_empty: snapshot");
    blk_pwrite(b, 0, buf, 65536, &e);    /* a cluster only the active L1 has */
    int r = blk_make_empty(b, &e);
    tap_is_int(r, 0, "make_empty (%s)", r < 0 ? e.msg : "ok");
    tap_ok(bt_verify(b, ref, SIZE), "make_empty: reads come from the backing file");
    struct blk_status st;
    blk_block_status(b, 0, SIZE, false, &st, &e);
    tap_ok(!(st.flags & BLK_ST_ALLOCATED) && st.len == SIZE, "make_empty: nothing allocated");
    tap_is_int(blk_snapshot_apply(b, "s", &e), 0, "make_empty: apply the snapshot");
    blk_pread(b, 100000, ref, 1 << 20, &e);
    tap_ok(!memcmp(ref, buf, 1 << 20), "make_empty: the snapshot kept its data");
    blk_close(b);
    if (bt_have_qemu_img())
        tap_is_int(bt_qemu_check(bt_path("m.qcow2")), 0, "make_empty: qemu-img check clean");
    if (blk_open(bt_path("mbase.raw"), "raw", BLK_O_RDWR, NULL, &b, &e) == 0) {
        tap_is_int(blk_make_empty(b, &e), -ENOTSUP, "make_empty: raw refuses");
        blk_close(b);
    }
out:
    free(ref);
    free(buf);
}

int main(void)
{
    bt_init();
    struct vk_err e = { 0 };
    uint8_t *ref = calloc(1, SIZE), *buf = malloc(SIZE);
    /* base.raw <- l1.qcow2 <- l2.qcow2 <- ... <- l5.qcow2 (relative names) */
    bt_fill(ref, SIZE, 1);
    bt_write_file(bt_path("base.raw"), ref, SIZE);
    tap_is_int(mk(bt_path("l1.qcow2"), "base.raw", "raw", &e), 0, "create l1 over raw base");
    char prev[64] = "l1.qcow2";
    for (int i = 2; i <= 5; i++) {
        char name[64];
        snprintf(name, sizeof(name), "l%d.qcow2", i);
        int r = mk(bt_path(name), prev, i == 3 ? NULL : "qcow2", &e);
        tap_is_int(r, 0, "create %s over %s (%s)", name, prev, r < 0 ? e.msg : "ok");
        struct blk *b;
        if (blk_open(bt_path(name), NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
            tap_ok(0, "open %s: %s", name, e.msg);
            continue;
        }
        /* Each layer writes some bytes, partly inside clusters. */
        uint64_t off = (uint64_t)i * 300000 + 777;
        bt_fill(buf, 70000, 100 + i);
        blk_pwrite(b, off, buf, 70000, &e);
        memcpy(ref + off, buf, 70000);
        blk_close(b);
        snprintf(prev, sizeof(prev), "%s", name);
    }
    struct blk *top;
    int r = blk_open(bt_path("l5.qcow2"), NULL, BLK_O_RDWR, NULL, &top, &e);
    tap_is_int(r, 0, "open the 6-layer chain (%s)", r < 0 ? e.msg : "ok");
    if (r == 0) {
        tap_ok(bt_verify(top, ref, SIZE), "chain content");
        int depth = 0;
        for (struct blk *x = top; blk_backing(x); x = blk_backing(x))
            depth++;
        tap_is_int(depth, 5, "chain depth");
        struct blk_status st;
        blk_block_status(top, 0, 4096, true, &st, &e);
        tap_is_int(st.depth, 5, "block status: first cluster comes from the raw base");
        blk_block_status(top, 5 * 300000 + 777, 100, true, &st, &e);
        tap_is_int(st.depth, 0, "block status: top layer's own data");
        blk_block_status(top, 0, 4096, false, &st, &e);
        tap_ok(!(st.flags & BLK_ST_ALLOCATED), "block status (this layer only): unallocated");
        /* zero and discard over backing data */
        blk_pwrite_zeroes(top, 65536, 65536, 0, &e);
        memset(ref + 65536, 0, 65536);
        blk_pwrite_zeroes(top, 3 * 65536, 65536, BLK_ZERO_MAY_UNMAP, &e);
        memset(ref + 3 * 65536, 0, 65536);
        blk_discard(top, 5 * 65536, 65536, &e);
        memset(ref + 5 * 65536, 0, 65536);   /* v3 discard reads back zeroes */
        tap_ok(bt_verify(top, ref, SIZE), "zero/discard over backing data");
        blk_close(top);
    }
    if (bt_have_qemu_img()) {
        bt_write_file(bt_path("ref.raw"), ref, SIZE);
        tap_is_int(bt_qemu_compare(bt_path("l5.qcow2"), bt_path("ref.raw")), 0,
                   "qemu-img compare of the chain");
        for (int i = 1; i <= 5; i++) {
            char name[64];
            snprintf(name, sizeof(name), "l%d.qcow2", i);
            tap_is_int(bt_qemu_check(bt_path(name)), 0, "qemu-img check %s", name);
        }
    }
    /* Backing shorter than the overlay: zeroes past its end. */
    bt_write_file(bt_path("short.raw"), ref, 65536 + 100);
    struct blk_create_opts o = { .backing_file = "short.raw", .backing_fmt = "raw" };
    tap_is_int(blk_create(bt_path("long.qcow2"), "qcow2", SIZE, &o, &e), 0, "overlay bigger than backing");
    if (blk_open(bt_path("long.qcow2"), NULL, 0, NULL, &top, &e) == 0) {
        blk_pread(top, 65536, buf, 65536, &e);
        bool ok = !memcmp(buf, ref + 65536, 100);
        for (int i = 100; i < 65536; i++)
            ok = ok && buf[i] == 0;
        tap_ok(ok, "zero-fill past the end of the backing file");
        blk_close(top);
    }
    /* Loops: a -> b -> a */
    mk(bt_path("a.qcow2"), NULL, NULL, &e);
    mk(bt_path("b.qcow2"), "a.qcow2", "qcow2", &e);
    struct blk *a;
    if (blk_open(bt_path("a.qcow2"), NULL, BLK_O_RDWR, NULL, &a, &e) == 0) {
        tap_is_int(blk_change_backing_file(a, "b.qcow2", "qcow2", &e), 0, "change backing file");
        tap_is_str(blk_backing_filename(a), "b.qcow2", "new backing name");
        blk_close(a);
    }
    r = blk_open(bt_path("a.qcow2"), NULL, 0, NULL, &a, &e);
    tap_is_int(r, -ELOOP, "looping chain refused");
    tap_ok(strstr(e.msg, "loop") != NULL, "message names the loop: %s", e.msg);
    r = blk_open(bt_path("a.qcow2"), NULL, BLK_O_NO_BACKING, NULL, &a, &e);
    tap_is_int(r, 0, "opens without its backing chain");
    if (r == 0) {
        tap_is_int(blk_change_backing_file(a, NULL, NULL, &e), -EROFS, "read-only refuses");
        blk_close(a);
    }
    r = blk_open(bt_path("a.qcow2"), NULL, BLK_O_RDWR | BLK_O_NO_BACKING, NULL, &a, &e);
    if (r == 0) {
        tap_is_int(blk_change_backing_file(a, NULL, NULL, &e), 0, "remove the backing file");
        blk_close(a);
        r = blk_open(bt_path("a.qcow2"), NULL, 0, NULL, &a, &e);
        tap_is_int(r, 0, "opens once the loop is broken");
        if (r == 0) {
            tap_ok(blk_backing(a) == NULL, "no backing any more");
            blk_close(a);
        }
    }
    /* Missing backing file: clear error. */
    o.backing_file = "nonexistent.qcow2";
    o.backing_fmt = NULL;
    tap_ok(blk_create(bt_path("orphan.qcow2"), "qcow2", SIZE, &o, &e) < 0, "create refuses a missing backing when probing is needed");
    extl2_overlay();
    free(ref);
    free(buf);
    make_empty();
    return tap_done();
}
