/* Compressed clusters: write (one-shot and the two-step parallel API) and
 * read back with zlib and zstd, overwrite compressed clusters, and check
 * the images with qemu-img. */
#include "blktest.h"

#include <pthread.h>


static void fill_compressible(uint8_t *p, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)("virtkit block layer "[(i + seed) % 20]);
    bt_fill(p, len / 64, seed);  /* some entropy */
}

struct job { struct blk *b; uint8_t *src; uint64_t off; uint8_t *out; long clen; };

static void *compress_job(void *arg)
{
    struct job *j = arg;
    uint32_t cs = blk_cluster_size(j->b);
    j->clen = blk_compress_cluster(j->b, j->src + j->off, cs, j->out, cs, NULL);
    return NULL;
}

static void run(const char *ctype, uint32_t cs, uint32_t rbits)
{
    const uint64_t SIZE = cs >= (1u << 20) ? 16u << 20 : 4u << 20;
    char name[64];
    snprintf(name, sizeof(name), "c-%s-%u-r%u.qcow2", ctype, cs, rbits);
    const char *p = bt_path(name);
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .cluster_size = cs, .compression_type = ctype,
                                 .refcount_bits = rbits };
    tap_is_int(blk_create(p, "qcow2", SIZE, &o, &e), 0, "%s: create", name);
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        tap_ok(0, "%s: open: %s", name, e.msg);
        return;
    }
    uint8_t *ref = calloc(1, SIZE);
    fill_compressible(ref, SIZE / 2, 3);
    bt_fill(ref + SIZE / 2, cs * 2, 9);       /* incompressible: stored plainly */
    int fails = 0;
    /* First half: one-shot API; second half of that: two-step on threads. */
    uint64_t half = SIZE / 4;
    for (uint64_t off = 0; off < half; off += cs)
        fails += blk_pwrite_compressed(b, off, ref + off, cs, &e) < 0;
    tap_is_int(fails, 0, "%s: blk_pwrite_compressed (%s)", name, fails ? e.msg : "ok");
    enum { NT = 4 };
    fails = 0;
    for (uint64_t off = half; off < SIZE / 2 + 2 * cs; off += NT * cs) {
        pthread_t t[NT];
        struct job j[NT];
        int n = 0;
        for (int k = 0; k < NT && off + k * cs < SIZE / 2 + 2 * cs; k++, n++) {
            j[k] = (struct job){ b, ref, off + k * cs, malloc(cs), 0 };
            pthread_create(&t[k], NULL, compress_job, &j[k]);
        }
        for (int k = 0; k < n; k++) {
            pthread_join(t[k], NULL);
            if (j[k].clen == -ENOSPC)
                fails += blk_pwrite(b, j[k].off, ref + j[k].off, cs, &e) < 0;
            else if (j[k].clen < 0)
                fails++;
            else
                fails += blk_pwrite_precompressed(b, j[k].off, j[k].out, (size_t)j[k].clen, &e) < 0;
            free(j[k].out);
        }
    }
    tap_is_int(fails, 0, "%s: parallel compress + precompressed writes", name);
    struct blk_status st;
    blk_block_status(b, half, cs, true, &st, &e);
    tap_ok(st.flags & BLK_ST_COMPRESSED, "%s: block status says compressed", name);
    blk_block_status(b, SIZE / 2, cs, true, &st, &e);
    tap_ok(!(st.flags & BLK_ST_COMPRESSED), "%s: random data stored uncompressed", name);
    tap_ok(bt_verify(b, ref, SIZE), "%s: content", name);
    /* Overwrite part of a compressed cluster: becomes a normal cluster. */
    uint8_t w[1000];
    bt_fill(w, sizeof(w), 42);
    blk_pwrite(b, cs + 100, w, sizeof(w), &e);
    memcpy(ref + cs + 100, w, sizeof(w));
    tap_ok(bt_verify(b, ref, SIZE), "%s: content after overwriting a compressed cluster", name);
    blk_close(b);
    if (bt_have_qemu_img()) {
        bt_write_file(bt_path("ref.raw"), ref, SIZE);
        tap_is_int(bt_qemu_check(p), 0, "%s: qemu-img check clean", name);
        tap_is_int(bt_qemu_compare(p, bt_path("ref.raw")), 0, "%s: qemu-img compare", name);
    }
    free(ref);
}

/* zlib clusters mixing incompressible and compressible 4 KiB blocks (stored
 * and deflated parts of one stream): they still compress, read back, and
 * qemu-img reads them; fully random clusters are stored plainly; random
 * data repeated within the window is still found by deflate. */
static void mixed(void)
{
    const uint32_t cs = 65536;
    const uint64_t SIZE = 8 * (uint64_t)cs;
    const char *p = bt_path("mixed.qcow2");
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .cluster_size = cs };
    tap_is_int(blk_create(p, "qcow2", SIZE, &o, &e), 0, "mixed: create");
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        tap_ok(0, "mixed: open: %s", e.msg);
        return;
    }
    uint8_t *ref = calloc(1, SIZE), *out = malloc(cs);
    uint8_t *c = ref;
    bt_fill(c, cs / 2, 1);                               /* 0: random half, text half */
    fill_compressible(c + cs / 2, cs / 2, 3);
    c += cs;
    for (uint32_t i = 0; i < cs; i += 8192) {            /* 1: alternating 4 KiB blocks */
        bt_fill(c + i, 4096, i);
        fill_compressible(c + i + 4096, 4096, i);
    }
    c += cs;
    bt_fill(c, cs, 9);                                   /* 2: all random */
    c += cs;
    bt_fill(c, 2048, 10);                                /* 3: random 2 KiB, repeated */
    for (uint32_t i = 2048; i < cs; i += 2048)
        memcpy(c + i, c, 2048);
    c += cs;
    bt_fill(c, cs - 1000, 11);                           /* 4: random, zero tail */
    long want_max[] = { cs / 2 + 2048, cs / 2 + 2048, -1, 4096, cs - 512 };
    for (int k = 0; k < 5; k++) {
        long n = blk_compress_cluster(b, ref + (uint64_t)k * cs, cs, out, cs, &e);
        if (want_max[k] < 0)
            tap_is_int(n, -ENOSPC, "mixed %d: incompressible cluster not compressed", k);
        else
            tap_ok(n > 0 && n <= want_max[k], "mixed %d: compressed to %ld (max %ld)", k, n,
                   want_max[k]);
        if (n > 0)
            tap_is_int(blk_pwrite_precompressed(b, (uint64_t)k * cs, out, (size_t)n, &e), 0,
                       "mixed %d: store", k);
        else
            tap_is_int(blk_pwrite(b, (uint64_t)k * cs, ref + (uint64_t)k * cs, cs, &e), 0,
                       "mixed %d: store plain", k);
    }
    tap_ok(bt_verify(b, ref, SIZE), "mixed: content");
    blk_close(b);
    if (bt_have_qemu_img()) {
        bt_write_file(bt_path("mixed.raw"), ref, SIZE);
        tap_is_int(bt_qemu_check(p), 0, "mixed: qemu-img check clean");
        tap_is_int(bt_qemu_compare(p, bt_path("mixed.raw")), 0, "mixed: qemu-img reads it");
    }
    free(ref);
    free(out);
}

int main(void)
{
    bt_init();
    run("zlib", 65536, 16);
    run("zstd", 65536, 16);
    run("zlib", 4096, 16);
    run("zstd", 512, 16);
    run("zlib", 2u << 20, 16);
    run("zlib", 65536, 1);   /* packing must not overflow a 1-bit refcount */
    mixed();
    return tap_done();
}
