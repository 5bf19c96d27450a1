/* raw driver and the generic layer: round trips at odd offsets, range and
 * read-only checks, sparse block status, write-zeroes/discard punching
 * holes, resize with preallocation, O_DIRECT, probing. */
#include "blktest.h"

#define SIZE (4u << 20)

/* raw on a block device: a loop device over a temp file, when we may. */
static void block_device(void)
{
    if (getuid() != 0 || access("/sbin/losetup", X_OK) != 0) {
        printf("ok %d # SKIP block device test needs root and losetup\n", ++tap_n);
        return;
    }
    const char *img = bt_path("loop.img");
    FILE *f = fopen(img, "w");
    if (f) {
        (void)!ftruncate(fileno(f), 8 << 20);
        fclose(f);
    }
    char cmd[600], dev[64] = "";
    snprintf(cmd, sizeof(cmd), "losetup -f --show '%s' 2>/dev/null", img);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(dev, sizeof(dev), p))
            dev[0] = 0;
        pclose(p);
    }
    dev[strcspn(dev, "\n")] = 0;
    if (!dev[0]) {
        printf("ok %d # SKIP no loop device available\n", ++tap_n);
        return;
    }
    struct blk *b;
    struct vk_err e = { 0 };
    int r = blk_open(dev, NULL, BLK_O_RDWR, NULL, &b, &e);
    tap_is_int(r, 0, "block device %s: open (%s)", dev, r < 0 ? e.msg : "ok");
    if (r == 0) {
        tap_is_int(blk_getlength(b), 8 << 20, "block device: size from BLKGETSIZE64");
        uint8_t buf[8192], rb[8192], z[8192] = { 0 };
        bt_fill(buf, sizeof(buf), 3);
        tap_is_int(blk_pwrite(b, 4096 + 100, buf, 5000, &e), 0, "block device: unaligned write");
        blk_pread(b, 4096 + 100, rb, 5000, &e);
        tap_ok(!memcmp(rb, buf, 5000), "block device: read back");
        tap_is_int(blk_pwrite_zeroes(b, 4096, 8192, 0, &e), 0, "block device: write zeroes");
        blk_pread(b, 4096, rb, 8192, &e);
        tap_ok(!memcmp(rb, z, 8192), "block device: zeroes read back");
        tap_is_int(blk_discard(b, 1 << 20, 1 << 20, &e), 0, "block device: discard");
        tap_ok(blk_truncate(b, 16 << 20, false, BLK_PREALLOC_OFF, &e) < 0,
               "block device: cannot be resized");
        blk_close(b);
    }
    snprintf(cmd, sizeof(cmd), "losetup -d '%s'", dev);
    tap_is_int(system(cmd), 0, "loop device detached");
}

int main(void)
{
    bt_init();
    struct vk_err e = { 0 };
    const char *p = bt_path("disk.raw");
    tap_is_int(blk_create(p, "raw", SIZE, NULL, &e), 0, "create raw");
    struct stat st;
    stat(p, &st);
    tap_ok(st.st_size == SIZE && st.st_blocks == 0, "sparse file of the right size");
    struct blk *b;
    int r = blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e);
    tap_is_int(r, 0, "open (probe)");
    if (r < 0)
        return tap_done();
    tap_is_str(blk_format_name(b), "raw", "probed as raw");
    uint8_t *ref = calloc(1, SIZE), buf[100000];
    bt_fill(buf, sizeof(buf), 1);
    tap_is_int(blk_pwrite(b, 12345, buf, sizeof(buf), &e), 0, "unaligned write");
    memcpy(ref + 12345, buf, sizeof(buf));
    tap_ok(bt_verify(b, ref, SIZE), "content");
    tap_is_int(blk_pwrite(b, SIZE - 10, buf, 20, &e), -EINVAL, "write past the end refused");
    tap_is_int(blk_pread(b, UINT64_MAX - 5, buf, 20, &e), -EINVAL, "overflowing offset refused");
    struct blk_status bs;
    blk_block_status(b, 0, SIZE, true, &bs, &e);
    tap_ok((bs.flags & BLK_ST_ZERO) && bs.len >= 8192 && bs.len <= 12345, "hole at the start (%llu)", (unsigned long long)bs.len);
    blk_block_status(b, 12345, SIZE - 12345, true, &bs, &e);
    tap_ok((bs.flags & BLK_ST_DATA) && bs.host_offset == 12345, "data after it");
    blk_block_status(b, 1 << 20, 4096, true, &bs, &e);
    tap_ok(bs.flags & BLK_ST_ZERO, "hole later");
    tap_is_int(blk_pwrite_zeroes(b, 16384, 65536, BLK_ZERO_MAY_UNMAP, &e), 0, "write zeroes (punch)");
    memset(ref + 16384, 0, 65536);
    tap_is_int(blk_discard(b, 90000, 4096, &e), 0, "discard");
    memset(ref + 90112 - 4096 + 4096, 0, 0);
    tap_ok(bt_verify(b, ref + 0, 16384 + 65536), "content after zeroes");
    tap_is_int(blk_truncate(b, 8 << 20, false, BLK_PREALLOC_FALLOC, &e), 0, "grow with falloc");
    tap_is_int(blk_getlength(b), 8 << 20, "new length");
    tap_is_int(blk_truncate(b, 2 << 20, false, BLK_PREALLOC_OFF, &e), -EINVAL, "shrink needs shrink_ok");
    tap_is_int(blk_truncate(b, 2 << 20, true, BLK_PREALLOC_OFF, &e), 0, "shrink");
    tap_ok(blk_check(b, 0, &(struct blk_check_result){ 0 }, &e) == -ENOTSUP, "check: not supported on raw");
    tap_is_int(blk_cluster_size(b), 0, "no clusters");
    blk_close(b);
    /* read-only */
    r = blk_open(p, "raw", 0, NULL, &b, &e);
    if (r == 0) {
        tap_is_int(blk_pwrite(b, 0, buf, 10, &e), -EROFS, "read-only refuses writes");
        tap_is_int(blk_pwrite_zeroes(b, 0, 10, 0, &e), -EROFS, "read-only refuses zeroes");
        blk_close(b);
    }
    /* O_DIRECT, unaligned requests through bounce buffers */
    r = blk_open(p, "raw", BLK_O_RDWR | BLK_O_DIRECT, NULL, &b, &e);
    if (r < 0) {
        tap_ok(1, "# SKIP O_DIRECT not supported here: %s", e.msg);
    } else {
        bt_fill(buf, 5000, 7);
        tap_is_int(blk_pwrite(b, 777, buf, 5000, &e), 0, "O_DIRECT unaligned write");
        uint8_t rb[5000];
        tap_is_int(blk_pread(b, 777, rb, 5000, &e), 0, "O_DIRECT unaligned read");
        tap_ok(!memcmp(rb, buf, 5000), "O_DIRECT content");
        blk_close(b);
    }
    /* preallocation at create */
    struct blk_create_opts o = { .preallocation = BLK_PREALLOC_FULL };
    tap_is_int(blk_create(bt_path("full.raw"), "raw", 1 << 20, &o, &e), 0, "create preallocation=full");
    stat(bt_path("full.raw"), &st);
    tap_ok(st.st_blocks * 512 >= (1 << 20), "fully allocated");
    struct vk_kvlist kv = { 0 };
    uint64_t sz = 0;
    (void)!vk_kv_parse("size=2M,preallocation=falloc", NULL, &kv, &e);
    tap_is_int(blk_create_opts_parse(&kv, "raw", &o, &sz, &e), 0, "parse raw -o");
    tap_is_int(sz, 2 << 20, "size option");
    tap_is_int(o.preallocation, BLK_PREALLOC_FALLOC, "preallocation option");
    vk_kv_free(&kv);
    (void)!vk_kv_parse("cluster_size=4k", NULL, &kv, &e);
    tap_is_int(blk_create_opts_parse(&kv, "raw", &o, &sz, &e), -EINVAL, "raw rejects cluster_size");
    vk_kv_free(&kv);
    uint64_t req, full;
    tap_is_int(blk_measure("qcow2", NULL, 1ull << 30, NULL, &req, &full, &e), 0, "measure qcow2 1G");
    tap_ok(req > 0 && full > (1ull << 30), "measure: required %llu, fully allocated %llu",
           (unsigned long long)req, (unsigned long long)full);
    tap_is_int(blk_measure("raw", NULL, 1000, NULL, &req, &full, &e), 0, "measure raw 1000");
    tap_ok(req == 1024 && full == 1024, "measure raw: whole sectors, required = fully allocated");
    block_device();
    free(ref);
    return tap_done();
}
