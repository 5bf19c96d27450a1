/* Every cluster size (512 B - 2 MiB) x every refcount width (1-64 bits),
 * v2 and v3: random writes, zeroes and discards against a model, reopen,
 * qemu-img check and compare. */
#include "blktest.h"

#define SIZE (6u << 20)

static int run(uint32_t cs, uint32_t rbits, const char *compat, uint8_t *ref, uint8_t *buf)
{
    char name[64];
    snprintf(name, sizeof(name), "m-%u-%u-%s.qcow2", cs, rbits, compat);
    const char *p = bt_path(name);
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .cluster_size = cs, .refcount_bits = rbits, .compat = compat };
    if (blk_create(p, "qcow2", SIZE, &o, &e) < 0) {
        printf("# %s: create: %s\n", name, e.msg);
        return 1;
    }
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        printf("# %s: open: %s\n", name, e.msg);
        return 1;
    }
    memset(ref, 0, SIZE);
    uint64_t st = cs * 31 + rbits;
    int fails = 0;
    for (int i = 0; i < 60; i++) {
        uint64_t off = bt_rand(&st) % SIZE;
        uint64_t want = bt_rand(&st) % 300000 + 1;
        size_t len = (size_t)VK_MIN(want, SIZE - off);
        switch (bt_rand(&st) % 6) {
        case 0:
            fails += blk_pwrite_zeroes(b, off, len, (bt_rand(&st) & 1) ? BLK_ZERO_MAY_UNMAP : 0, &e) < 0;
            memset(ref + off, 0, len);
            break;
        case 1: {
            /* discard of whole clusters only changes content to zeroes (no backing) */
            uint64_t a = VK_ALIGN_UP(off, (uint64_t)cs), z = VK_ALIGN_DOWN(off + len, (uint64_t)cs);
            fails += blk_discard(b, off, len, &e) < 0;
            if (a < z)
                memset(ref + a, 0, z - a);
            break;
        }
        default:
            bt_fill(buf, len, st);
            fails += blk_pwrite(b, off, buf, len, &e) < 0;
            memcpy(ref + off, buf, len);
        }
    }
    if (fails)
        printf("# %s: %d failed ops, last: %s\n", name, fails, e.msg);
    bool ok = bt_verify(b, ref, SIZE);
    blk_close(b);
    if (blk_open(p, NULL, 0, NULL, &b, &e) == 0) {
        ok = ok && bt_verify(b, ref, SIZE);
        blk_close(b);
    } else {
        ok = false;
    }
    if (!ok)
        printf("# %s: content differs\n", name);
    if (bt_have_qemu_img()) {
        bt_write_file(bt_path("m.raw"), ref, SIZE);
        if (bt_qemu_check(p) != 0) {
            printf("# %s: qemu-img check failed\n", name);
            ok = false;
        }
        if (bt_qemu_compare(p, bt_path("m.raw")) != 0) {
            printf("# %s: qemu-img compare failed\n", name);
            ok = false;
        }
    }
    unlink(p);
    return (fails || !ok) ? 1 : 0;
}

int main(void)
{
    bt_init();
    uint8_t *ref = malloc(SIZE), *buf = malloc(SIZE);
    for (uint32_t cs = 512; cs <= (2u << 20); cs *= 2) {
        int bad = 0;
        for (uint32_t rb = 1; rb <= 64; rb *= 2)
            bad += run(cs, rb, "1.1", ref, buf);
        tap_is_int(bad, 0, "cluster_size %u: refcount_bits 1..64 round trips", cs);
        tap_is_int(run(cs, 16, "0.10", ref, buf), 0, "cluster_size %u: compat 0.10", cs);
    }
    free(ref);
    free(buf);
    return tap_done();
}
