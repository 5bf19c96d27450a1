/* Internal snapshots: create, list, apply, delete; content of each state;
 * copy-on-write keeps snapshots intact; qemu-img check after each step and
 * interoperability with snapshots made by qemu-img. */
#include "blktest.h"

#define SIZE (2u << 20)

static void scribble(struct blk *b, uint8_t *ref, uint64_t seed)
{
    uint8_t buf[70000];
    struct vk_err e = { 0 };
    for (int i = 0; i < 4; i++) {
        uint64_t off = (seed * 131071 + (uint64_t)i * 400000) % (SIZE - sizeof(buf));
        bt_fill(buf, sizeof(buf), seed * 10 + i);
        blk_pwrite(b, off, buf, sizeof(buf), &e);
        memcpy(ref + off, buf, sizeof(buf));
    }
}

static void check_qemu(const char *p, const char *what)
{
    if (bt_have_qemu_img())
        tap_is_int(bt_qemu_check(p), 0, "qemu-img check after %s", what);
}

static void run(const char *name, uint32_t cs, uint32_t rbits)
{
    const char *p = bt_path(name);
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .cluster_size = cs, .refcount_bits = rbits };
    tap_is_int(blk_create(p, "qcow2", SIZE, &o, &e), 0, "%s: create", name);
    uint8_t *a = calloc(1, SIZE), *bb, *c;
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        tap_ok(0, "%s: open %s", name, e.msg);
        return;
    }
    scribble(b, a, 1);
    tap_is_int(blk_snapshot_create(b, "first", NULL, &e), 0, "%s: snapshot create first", name);
    bb = malloc(SIZE);
    memcpy(bb, a, SIZE);
    scribble(b, bb, 2);
    struct blk_snapshot_info meta = { .date_sec = 1700000000, .vm_clock_nsec = 123456789,
                                      .icount = UINT64_MAX };
    tap_is_int(blk_snapshot_create(b, "second", &meta, &e), 0, "%s: snapshot create second", name);
    tap_is_int(blk_snapshot_create(b, "second", NULL, &e), -EEXIST, "%s: duplicate name refused", name);
    c = malloc(SIZE);
    memcpy(c, bb, SIZE);
    scribble(b, c, 3);
    tap_ok(bt_verify(b, c, SIZE), "%s: current state", name);
    blk_close(b);
    check_qemu(p, "two snapshots");
    if (bt_have_qemu_img())
        tap_is_int(bt_sh(false, "qemu-img snapshot -l '%s' | grep -q second", p), 0,
                   "%s: qemu-img lists our snapshot", name);
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0)
        return;
    struct blk_snapshot_info *l;
    size_t n;
    tap_is_int(blk_snapshot_list(b, &l, &n, &e), 0, "%s: list", name);
    tap_is_int(n, 2, "%s: two snapshots", name);
    if (n == 2) {
        tap_is_str(l[0].name, "first", "%s: first name", name);
        tap_is_str(l[1].id, "2", "%s: second id", name);
        tap_is_int(l[1].vm_clock_nsec, 123456789, "%s: vm clock kept", name);
        tap_is_int(l[1].date_sec, 1700000000, "%s: date kept", name);
    }
    free(l);
    tap_is_int(blk_snapshot_apply(b, "first", &e), 0, "%s: apply first", name);
    tap_ok(bt_verify(b, a, SIZE), "%s: content of first", name);
    scribble(b, a, 4);   /* writing after apply must not touch the snapshots */
    tap_is_int(blk_snapshot_apply(b, "2", &e), 0, "%s: apply second by id", name);
    tap_ok(bt_verify(b, bb, SIZE), "%s: content of second", name);
    tap_is_int(blk_snapshot_apply(b, "nope", &e), -ENOENT, "%s: unknown snapshot", name);
    blk_close(b);
    check_qemu(p, "apply");
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0)
        return;
    tap_is_int(blk_snapshot_delete(b, "first", &e), 0, "%s: delete first", name);
    tap_ok(bt_verify(b, bb, SIZE), "%s: content unchanged by delete", name);
    tap_is_int(blk_snapshot_delete(b, "second", &e), 0, "%s: delete second", name);
    blk_snapshot_list(b, &l, &n, &e);
    tap_is_int(n, 0, "%s: no snapshots left", name);
    free(l);
    tap_ok(bt_verify(b, bb, SIZE), "%s: content after deleting all", name);
    blk_close(b);
    check_qemu(p, "delete");
    free(a);
    free(bb);
    free(c);
}

static void qemu_made(void)
{
    if (!bt_have_qemu_img())
        return;
    const char *p = bt_path("qs.qcow2");
    uint8_t *d0 = calloc(1, SIZE), *d1 = malloc(SIZE);
    bt_fill(d0, SIZE / 2, 5);
    bt_write_file(bt_path("d0.raw"), d0, SIZE);
    bt_sh(true, "qemu-img convert -O qcow2 -f raw '%s' '%s' && qemu-img snapshot -c qsnap '%s'",
          bt_path("d0.raw"), p, p);
    struct blk *b;
    struct vk_err e = { 0 };
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        tap_ok(0, "qemu snapshot image opens: %s", e.msg);
        return;
    }
    memcpy(d1, d0, SIZE);
    scribble(b, d1, 9);
    tap_is_int(blk_snapshot_apply(b, "qsnap", &e), 0, "apply a snapshot qemu-img made");
    tap_ok(bt_verify(b, d0, SIZE), "its content");
    blk_close(b);
    check_qemu(p, "applying a qemu snapshot");
    tap_is_int(bt_sh(true, "qemu-img snapshot -d qsnap '%s'", p), 0, "qemu-img deletes it");
    check_qemu(p, "qemu deleting it");
    free(d0);
    free(d1);
}

/* refcount_bits=1 cannot count a second reference: refused, image clean. */
static void refcount1(void)
{
    const char *p = bt_path("r1.qcow2");
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .refcount_bits = 1 };
    tap_is_int(blk_create(p, "qcow2", SIZE, &o, &e), 0, "refcount_bits=1: create");
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0)
        return;
    uint8_t buf[4096] = { 1 };
    blk_pwrite(b, 0, buf, sizeof(buf), &e);
    tap_is_int(blk_snapshot_create(b, "x", NULL, &e), -ERANGE, "refcount_bits=1: snapshot refused");
    tap_ok(strstr(e.msg, "refcount") != NULL, "message: %s", e.msg);
    blk_close(b);
    check_qemu(p, "a refused snapshot");
}

/* A snapshot keeps its disk size: apply after a resize restores it. */
static void resized(void)
{
    const char *p = bt_path("rs.qcow2");
    struct vk_err e = { 0 };
    tap_is_int(blk_create(p, "qcow2", SIZE, NULL, &e), 0, "resize+snapshot: create");
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0)
        return;
    tap_is_int(blk_snapshot_create(b, "small", NULL, &e), 0, "resize+snapshot: snapshot");
    tap_is_int(blk_truncate(b, 4 * SIZE, false, BLK_PREALLOC_OFF, &e), 0, "resize+snapshot: grow");
    tap_is_int(blk_truncate(b, SIZE / 2, true, BLK_PREALLOC_OFF, &e), -ENOTSUP,
               "resize+snapshot: shrinking refused with snapshots");
    tap_is_int(blk_snapshot_apply(b, "small", &e), 0, "resize+snapshot: apply");
    tap_is_int(blk_getlength(b), SIZE, "resize+snapshot: size restored");
    blk_close(b);
    check_qemu(p, "resize and apply");
}

int main(void)
{
    bt_init();
    run("s64k.qcow2", 0, 0);
    run("s4k-r4.qcow2", 4096, 4);
    refcount1();
    run("s512-r64.qcow2", 512, 64);
    qemu_made();
    resized();
    return tap_done();
}
