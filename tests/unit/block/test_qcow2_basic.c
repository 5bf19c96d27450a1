/* qcow2 basics: create, write patterns (unaligned, cross-cluster, large),
 * zero writes, discard, resize, reopen; verified against an in-memory model
 * and, when installed, by qemu-img check / compare. Also reads images that
 * qemu-img made. */
#include "blktest.h"

#define SIZE (8u << 20)

static uint8_t *ref;
static bool discard_noop;   /* images whose discard keeps the data (data files) */

static void w(struct blk *b, uint64_t off, size_t len, uint64_t seed)
{
    uint8_t *buf = malloc(len);
    bt_fill(buf, len, seed);
    struct vk_err e = { 0 };
    int r = blk_pwrite(b, off, buf, len, &e);
    if (r < 0)
        printf("# write %llu+%zu: %s\n", (unsigned long long)off, len, e.msg);
    memcpy(ref + off, buf, len);
    free(buf);
}

static void do_ops(struct blk *b)
{
    w(b, 0, 512, 1);
    w(b, 1000, 3000, 2);                 /* unaligned, inside one cluster */
    w(b, 65536 - 100, 200, 3);           /* crosses a cluster boundary */
    w(b, 1 << 20, 2 << 20, 4);           /* large, many clusters */
    w(b, (1 << 20) + 4096, 4096, 5);     /* overwrite allocated */
    w(b, SIZE - 4096, 4096, 6);          /* last cluster */
    struct vk_err e = { 0 };
    tap_is_int(blk_pwrite_zeroes(b, (1 << 20) + 65536, 3 * 65536, 0, &e), 0, "write zeroes");
    memset(ref + (1 << 20) + 65536, 0, 3 * 65536);
    tap_is_int(blk_pwrite_zeroes(b, 1500, 100, BLK_ZERO_MAY_UNMAP, &e), 0, "write zeroes partial");
    memset(ref + 1500, 0, 100);
    tap_is_int(blk_pwrite_zeroes(b, 2 << 20, 1 << 20, BLK_ZERO_MAY_UNMAP, &e), 0, "zeroes unmap");
    memset(ref + (2 << 20), 0, 1 << 20);
    tap_is_int(blk_discard(b, 5 << 20, 1 << 20, &e), 0, "discard (no data there)");
    tap_is_int(blk_discard(b, (1 << 20), 65536, &e), 0, "discard allocated cluster");
    if (blk_cluster_size(b) <= 65536 && !discard_noop)   /* partial clusters are left alone */
        memset(ref + (1 << 20), 0, 65536);
}

static uint64_t cache_size;   /* 0 = default */

static void roundtrip(const char *name, const char *opts)
{
    const char *p = bt_path(name), *rawp = bt_path("ref.raw");
    struct vk_err e = { 0 };
    struct blk_create_opts o;
    struct vk_kvlist kv = { 0 };
    if (opts && vk_kv_parse(opts, NULL, &kv, &e) < 0)
        printf("# kv: %s\n", e.msg);
    tap_is_int(blk_create_opts_parse(&kv, "qcow2", &o, NULL, &e), 0, "%s: parse -o %s", name,
               opts ? opts : "");
    int r = blk_create(p, "qcow2", SIZE, &o, &e);
    tap_is_int(r, 0, "%s: create (%s)", name, r < 0 ? e.msg : "ok");
    struct blk *b;
    struct blk_open_opts oo = { .cache_size = cache_size };
    r = blk_open(p, NULL, BLK_O_RDWR, &oo, &b, &e);
    tap_is_int(r, 0, "%s: open (%s)", name, r < 0 ? e.msg : "ok");
    if (r < 0) {
        vk_kv_free(&kv);
        return;
    }
    tap_is_str(blk_format_name(b), "qcow2", "%s: probed as qcow2", name);
    tap_is_int(blk_getlength(b), SIZE, "%s: size", name);
    memset(ref, 0, SIZE);
    do_ops(b);
    tap_ok(bt_verify(b, ref, SIZE), "%s: content before close", name);
    tap_is_int(blk_close(b), 0, "%s: close", name);
    r = blk_open(p, "qcow2", 0, NULL, &b, &e);
    tap_is_int(r, 0, "%s: reopen read-only", name);
    if (r == 0) {
        tap_ok(bt_verify(b, ref, SIZE), "%s: content after reopen", name);
        tap_ok(blk_pwrite(b, 0, ref, 512, &e) == -EROFS, "%s: read-only refuses writes", name);
        blk_close(b);
    }
    if (bt_have_qemu_img()) {
        bt_write_file(rawp, ref, SIZE);
        tap_is_int(bt_qemu_check(p), 0, "%s: qemu-img check clean", name);
        tap_is_int(bt_qemu_compare(p, rawp), 0, "%s: qemu-img compare equal", name);
    }
    vk_kv_free(&kv);
}

static void resize_test(void)
{
    const char *p = bt_path("resize.qcow2");
    struct vk_err e = { 0 };
    tap_is_int(blk_create(p, "qcow2", 1 << 20, NULL, &e), 0, "resize: create 1M");
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        tap_ok(0, "resize: open: %s", e.msg);
        return;
    }
    uint8_t buf[4096];
    bt_fill(buf, sizeof(buf), 9);
    blk_pwrite(b, (1 << 20) - 4096, buf, 4096, &e);
    /* Growing past what the L1 table covers forces it to move. */
    tap_is_int(blk_truncate(b, 64ull << 30, false, BLK_PREALLOC_OFF, &e), 0, "resize: grow to 64G");
    tap_is_int(blk_getlength(b), 64ull << 30, "resize: new length");
    blk_pwrite(b, (64ull << 30) - 4096, buf, 4096, &e);
    uint8_t rb[4096];
    blk_pread(b, (64ull << 30) - 4096, rb, 4096, &e);
    tap_ok(!memcmp(rb, buf, 4096), "resize: write at the new end");
    blk_pread(b, (1 << 20) - 4096, rb, 4096, &e);
    tap_ok(!memcmp(rb, buf, 4096), "resize: old data kept");
    tap_ok(blk_truncate(b, 1 << 20, false, BLK_PREALLOC_OFF, &e) == -EINVAL, "resize: shrink needs shrink_ok");
    tap_is_int(blk_truncate(b, 2 << 20, true, BLK_PREALLOC_OFF, &e), 0, "resize: shrink");
    tap_is_int(blk_getlength(b), 2 << 20, "resize: shrunk length");
    blk_close(b);
    if (bt_have_qemu_img())
        tap_is_int(bt_qemu_check(p), 0, "resize: qemu-img check clean");
}

static void prealloc_test(void)
{
    static const char *modes[] = { "metadata", "falloc", "full" };
    for (int i = 0; i < 3; i++) {
        const char *p = bt_path("prealloc.qcow2");
        struct vk_err e = { 0 };
        struct blk_create_opts o = { 0 };
        blk_prealloc_parse(modes[i], &o.preallocation);
        tap_is_int(blk_create(p, "qcow2", 4 << 20, &o, &e), 0, "prealloc=%s: create", modes[i]);
        struct blk *b;
        if (blk_open(p, NULL, 0, NULL, &b, &e) == 0) {
            struct blk_status st;
            blk_block_status(b, 0, 4 << 20, true, &st, &e);
            tap_ok((st.flags & BLK_ST_ALLOCATED) && (st.flags & BLK_ST_OFFSET_VALID),
                   "prealloc=%s: clusters allocated", modes[i]);
            uint8_t z[4096], zz[4096] = { 0 };
            blk_pread(b, 1 << 20, z, sizeof(z), &e);
            tap_ok(!memcmp(z, zz, sizeof(z)), "prealloc=%s: reads zeroes", modes[i]);
            blk_close(b);
        }
        if (bt_have_qemu_img())
            tap_is_int(bt_qemu_check(p), 0, "prealloc=%s: qemu-img check clean", modes[i]);
    }
}

static void read_qemu_images(void)
{
    if (!bt_have_qemu_img())
        return;
    static const char *variants[] = {
        "-o compat=0.10", "-o compat=1.1,cluster_size=4096",
        "-o cluster_size=2M,refcount_bits=1", "-o extended_l2=on,cluster_size=64k",
        "-c", "-c -o compression_type=zstd",
    };
    uint8_t *data = malloc(SIZE);
    memset(data, 0, SIZE);
    bt_fill(data + 12345, 100000, 77);
    bt_fill(data + (3 << 20), 1 << 20, 78);
    const char *rawp = bt_path("src.raw");
    bt_write_file(rawp, data, SIZE);
    for (size_t i = 0; i < VK_ARRAY_SIZE(variants); i++) {
        const char *p = bt_path("q.qcow2");
        int r = bt_sh(true, "qemu-img convert -f raw -O qcow2 %s '%s' '%s'", variants[i], rawp, p);
        tap_is_int(r, 0, "qemu-made image (%s): created", variants[i]);
        struct blk *b;
        struct vk_err e = { 0 };
        r = blk_open(p, NULL, 0, NULL, &b, &e);
        tap_is_int(r, 0, "qemu-made image (%s): opens (%s)", variants[i], r < 0 ? e.msg : "ok");
        if (r == 0) {
            tap_ok(bt_verify(b, data, SIZE), "qemu-made image (%s): same content", variants[i]);
            blk_close(b);
        }
    }
    free(data);
}

/* External data file (read) and the bitmaps extension (kept on rewrite). */
static void qemu_features(void)
{
    if (!bt_have_qemu_img() || access("/usr/bin/qemu-io", X_OK) != 0)
        return;
    const char *p = bt_path("df.qcow2"), *d = bt_path("df.raw");
    int r = bt_sh(true, "qemu-img create -q -f qcow2 -o data_file='%s',data_file_raw=on '%s' 4M && "
                  "qemu-io -c 'write -P 0x5a 65536 1M' '%s'", d, p, p);
    tap_is_int(r, 0, "data file: qemu made it");
    struct blk *b;
    struct vk_err e = { 0 };
    r = blk_open(p, NULL, 0, NULL, &b, &e);
    tap_is_int(r, 0, "data file: opens (%s)", r < 0 ? e.msg : "ok");
    if (r == 0) {
        uint8_t *want = calloc(1, 4 << 20);
        memset(want + 65536, 0x5a, 1 << 20);
        tap_ok(bt_verify(b, want, 4 << 20), "data file: content");
        struct blk_info in;
        blk_get_info(b, &in, &e);
        tap_ok(in.qcow2.data_file && in.qcow2.data_file_raw, "data file: info");
        blk_info_free(&in);
        free(want);
        blk_close(b);
    }
    p = bt_path("bm.qcow2");
    r = bt_sh(true, "qemu-img create -q -f qcow2 '%s' 4M && qemu-img bitmap --add '%s' bm0", p, p);
    tap_is_int(r, 0, "bitmaps: qemu made one");
    r = blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e);
    if (r == 0) {
        uint8_t buf[4096];
        bt_fill(buf, sizeof(buf), 5);
        blk_pwrite(b, 0, buf, sizeof(buf), &e);
        /* forces a header rewrite */
        tap_is_int(blk_change_backing_file(b, NULL, NULL, &e), 0, "bitmaps: header rewritten");
        struct blk_info in;
        blk_get_info(b, &in, &e);
        tap_ok(in.qcow2.has_bitmaps, "bitmaps: extension seen");
        blk_info_free(&in);
        blk_close(b);
    }
    tap_is_int(bt_sh(false, "qemu-img info '%s' | grep -q bm0", p), 0, "bitmaps: qemu still sees bm0");
    tap_is_int(bt_qemu_check(p), 0, "bitmaps: qemu-img check clean");
    struct blk_check_result res;
    if (blk_open(p, NULL, 0, NULL, &b, &e) == 0) {
        blk_check(b, 0, &res, &e);
        tap_ok(res.leaks == 0 && res.corruptions == 0, "bitmaps: our check counts bitmap clusters");
        blk_close(b);
    }
}

/* Images with an external data file made by us: writes go to the data
 * file at guest offsets; with data_file_raw it is a plain raw image. */
static void data_file_write(bool raw)
{
    const char *p = bt_path(raw ? "dfw-raw.qcow2" : "dfw.qcow2");
    const char *d = bt_path(raw ? "dfw-raw.data" : "dfw.data");
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .data_file = d, .data_file_raw = raw };
    int r = blk_create(p, "qcow2", SIZE, &o, &e);
    tap_is_int(r, 0, "data file%s: create (%s)", raw ? " raw" : "", r < 0 ? e.msg : "ok");
    struct blk *b;
    if (r < 0 || blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0)
        return;
    memset(ref, 0, SIZE);
    discard_noop = true;
    do_ops(b);
    discard_noop = false;
    tap_ok(bt_verify(b, ref, SIZE), "data file%s: content", raw ? " raw" : "");
    uint8_t c[65536] = { 1 };
    tap_is_int(blk_pwrite_compressed(b, 0, c, sizeof(c), &e), -ENOTSUP,
               "data file%s: no compressed writes", raw ? " raw" : "");
    tap_is_int(blk_snapshot_create(b, "s", NULL, &e), -ENOTSUP, "data file%s: no snapshots",
               raw ? " raw" : "");
    blk_close(b);
    if (raw) {
        size_t len;
        char *data;
        if (vk_read_file(d, &data, &len, NULL) == 0) {
            tap_ok(len == SIZE && !memcmp(data, ref, SIZE), "data file raw: holds the disk as is");
            free(data);
        }
    }
    if (bt_have_qemu_img()) {
        bt_write_file(bt_path("ref.raw"), ref, SIZE);
        tap_is_int(bt_qemu_check(p), 0, "data file%s: qemu-img check clean", raw ? " raw" : "");
        tap_is_int(bt_qemu_compare(p, bt_path("ref.raw")), 0, "data file%s: qemu-img compare",
                   raw ? " raw" : "");
    }
}

static void odirect_test(void)
{
    const char *p = bt_path("direct.qcow2");
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .cluster_size = 4096 };
    if (blk_create(p, "qcow2", SIZE, &o, &e) < 0)
        return;
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR | BLK_O_DIRECT, NULL, &b, &e) < 0) {
        tap_ok(1, "# SKIP O_DIRECT unsupported here: %s", e.msg);
        return;
    }
    memset(ref, 0, SIZE);
    do_ops(b);
    tap_ok(bt_verify(b, ref, SIZE), "O_DIRECT qcow2: content");
    blk_close(b);
    if (bt_have_qemu_img()) {
        bt_write_file(bt_path("ref.raw"), ref, SIZE);
        tap_is_int(bt_qemu_check(p), 0, "O_DIRECT qcow2: qemu-img check clean");
        tap_is_int(bt_qemu_compare(p, bt_path("ref.raw")), 0, "O_DIRECT qcow2: qemu-img compare");
    }
}

static void info_test(void)
{
    const char *p = bt_path("info.qcow2");
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .cluster_size = 4096, .lazy_refcounts = true,
                                 .refcount_bits = 8, .compression_type = "zstd" };
    tap_is_int(blk_create(p, "qcow2", 1 << 30, &o, &e), 0, "info: create");
    struct blk *b;
    if (blk_open(p, NULL, 0, NULL, &b, &e) < 0)
        return;
    struct blk_info in;
    tap_is_int(blk_get_info(b, &in, &e), 0, "info: get_info");
    tap_is_str(in.format, "qcow2", "info: format");
    tap_is_int(in.virtual_size, 1 << 30, "info: virtual size");
    tap_is_int(in.cluster_size, 4096, "info: cluster size");
    tap_is_str(in.qcow2.compat, "1.1", "info: compat");
    tap_is_str(in.qcow2.compression_type, "zstd", "info: compression type");
    tap_ok(in.qcow2.lazy_refcounts, "info: lazy refcounts");
    tap_is_int(in.qcow2.refcount_bits, 8, "info: refcount bits");
    tap_ok(!in.qcow2.corrupt && !in.dirty_flag, "info: clean");
    blk_info_free(&in);
    blk_close(b);
    if (bt_have_qemu_img())
        tap_is_int(bt_sh(false, "qemu-img info '%s' | grep -q 'compression type: zstd'", p), 0,
                   "info: qemu-img agrees on zstd");
}

int main(void)
{
    bt_init();
    ref = malloc(SIZE);
    roundtrip("default.qcow2", NULL);
    roundtrip("v2.qcow2", "compat=0.10");
    roundtrip("small.qcow2", "cluster_size=512");
    roundtrip("big.qcow2", "cluster_size=2M");
    roundtrip("extl2.qcow2", "extended_l2=on,cluster_size=32k");
    roundtrip("lazy.qcow2", "lazy_refcounts=on");
    /* A tiny metadata cache: dirty L2 tables and refcount blocks get evicted
     * all the time, which must keep the same ordering guarantees. */
    cache_size = 4096;
    roundtrip("tinycache.qcow2", "cluster_size=512");
    roundtrip("tinycache-4k.qcow2", "cluster_size=4k,refcount_bits=2");
    cache_size = 0;
    resize_test();
    prealloc_test();
    read_qemu_images();
    info_test();
    qemu_features();
    odirect_test();
    data_file_write(false);
    data_file_write(true);
    free(ref);
    return tap_done();
}
