/* Bad input: hand-made broken headers get clear errors naming the field
 * and offset; broken tables never crash and never get written; and a
 * deterministic corpus of mutated images runs through the fuzz target's
 * entry point (tests/fuzz/fuzz_qcow2.c) under gcc and ASan. */
#define FUZZ_NO_MAIN_ENTRY
#include "../../fuzz/fuzz_qcow2.c"
#include "blktest.h"

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>

static uint8_t *load(const char *p, size_t *len)
{
    char *d;
    if (vk_read_file(p, &d, len, NULL) < 0)
        return NULL;
    return (uint8_t *)d;
}

static void put64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }

/* Write `img` with a modification and expect open to fail mentioning `needle`. */
static void expect_fail(const uint8_t *img, size_t len, const char *what, const char *needle,
                        void (*mod)(uint8_t *))
{
    uint8_t *c = malloc(len);
    memcpy(c, img, len);
    mod(c);
    const char *p = bt_path("bad.qcow2");
    bt_write_file(p, c, len);
    free(c);
    struct blk *b;
    struct vk_err e = { 0 };
    int r = blk_open(p, "qcow2", BLK_O_RDWR, NULL, &b, &e);
    tap_ok(r < 0, "%s: refused", what);
    if (r == 0)
        blk_close(b);
    tap_ok(strstr(e.msg, needle) != NULL, "%s: message names '%s': %s", what, needle, e.msg);
}

static void m_magic(uint8_t *h) { h[0] = 'X'; }
static void m_noop(uint8_t *h) { (void)h; }
static void m_version(uint8_t *h) { put32(h + 4, 4); }
static void m_cbits(uint8_t *h) { put32(h + 20, 30); }
static void m_l1_unaligned(uint8_t *h) { put64(h + 40, 0x30008); }
static void m_l1_past_eof(uint8_t *h) { put64(h + 40, 1ull << 40); }
static void m_rt_past_eof(uint8_t *h) { put64(h + 48, 1ull << 40); }
static void m_rt_overlap(uint8_t *h) { put64(h + 48, 0); }
static void m_size(uint8_t *h) { put64(h + 24, 1ull << 63); }
static void m_l1_small(uint8_t *h) { put64(h + 24, 1ull << 50); }
static void m_incompat(uint8_t *h) { put64(h + 72, 1ull << 10); }
static void m_crypt(uint8_t *h) { put32(h + 32, 1); }
static void m_order(uint8_t *h) { put32(h + 96, 7); }
static void m_hlen(uint8_t *h) { put32(h + 100, 20); }
static void m_backing(uint8_t *h) { put64(h + 8, 60000); put32(h + 16, 5000); }
static void m_overlap(uint8_t *h) { memcpy(h + 40, h + 48, 8); }
static void m_nsnap(uint8_t *h) { put32(h + 60, 100000); }
static void m_ext(uint8_t *h) { put32(h + 112, 0x12345678); put32(h + 116, 0x7fffffff); }

static void headers(void)
{
    const char *p = bt_path("good.qcow2");
    struct vk_err e = { 0 };
    if (blk_create(p, "qcow2", 16 << 20, NULL, &e) < 0) {
        tap_ok(0, "create: %s", e.msg);
        return;
    }
    size_t len;
    uint8_t *img = load(p, &len);
    if (!img)
        return;
    expect_fail(img, 50, "truncated header", "shorter than a header", m_magic);
    expect_fail(img, 90, "truncated v3 header", "version 3 header", m_noop);
    expect_fail(img, len, "bad magic", "magic", m_magic);
    expect_fail(img, len, "version 4", "version 4", m_version);
    expect_fail(img, len, "cluster_bits 30", "cluster_bits 30 at offset 20", m_cbits);
    expect_fail(img, len, "unaligned L1", "l1_table_offset 0x30008 (at header offset 40) is not cluster-aligned", m_l1_unaligned);
    expect_fail(img, len, "L1 past EOF", "past the end of the file", m_l1_past_eof);
    expect_fail(img, len, "refcount table past EOF", "refcount_table_offset", m_rt_past_eof);
    expect_fail(img, len, "refcount table on the header", "refcount_table_offset", m_rt_overlap);
    expect_fail(img, len, "absurd size", "size", m_size);
    expect_fail(img, len, "L1 too small", "l1_size", m_l1_small);
    expect_fail(img, len, "unknown incompatible bit", "incompatible feature bit 10", m_incompat);
    expect_fail(img, len, "encryption", "crypt_method", m_crypt);
    expect_fail(img, len, "refcount_order 7", "refcount_order 7", m_order);
    expect_fail(img, len, "header_length", "header_length", m_hlen);
    expect_fail(img, len, "backing name", "backing_file", m_backing);
    expect_fail(img, len, "nb_snapshots", "nb_snapshots", m_nsnap);
    expect_fail(img, len, "L1 on the refcount table", "overlaps the refcount table", m_overlap);
    expect_fail(img, len, "extension length", "extension 0x12345678", m_ext);
    free(img);
    tap_is_int(blk_create(bt_path("huge.qcow2"), "qcow2", 1ull << 63, NULL, &e), -EFBIG,
               "absurd size refused at create");
    tap_ok(blk_create(bt_path("huge2.qcow2"), "qcow2", 1ull << 60, NULL, &e) < 0,
           "size needing an L1 table over 32 MiB refused: %s", e.msg);
}

/* An L2 entry pointing into the header: reads fail cleanly, a read-write
 * open marks the image corrupt on the first write and writes nothing else. */
static void bad_tables(void)
{
    const char *p = bt_path("tables.qcow2");
    struct vk_err e = { 0 };
    if (blk_create(p, "qcow2", 16 << 20, NULL, &e) < 0)
        return;
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0)
        return;
    uint8_t buf[65536];
    bt_fill(buf, sizeof(buf), 1);
    blk_pwrite(b, 0, buf, sizeof(buf), &e);
    blk_close(b);
    int fd = open(p, O_RDWR);
    uint64_t l1, l2;
    (void)!pread(fd, &l1, 8, 40);
    (void)!pread(fd, &l2, 8, (off_t)be64toh(l1));
    l2 = be64toh(l2) & 0x00fffffffffffe00ull;
    uint64_t ent = htobe64(0x8000000000000000ull | 512);   /* unaligned, inside the header */
    (void)!pwrite(fd, &ent, 8, (off_t)l2);
    close(fd);
    size_t len0;
    uint8_t *before = load(p, &len0);
    tap_is_int(blk_open(p, NULL, 0, NULL, &b, &e), 0, "bad L2 entry: image opens read-only");
    int r = blk_pread(b, 0, buf, 4096, &e);
    tap_is_int(r, -EIO, "bad L2 entry: read fails with EIO");
    tap_ok(strstr(e.msg, "L2") != NULL, "message: %s", e.msg);
    blk_close(b);
    size_t len1;
    uint8_t *after = load(p, &len1);
    tap_ok(before && after && len0 == len1 && !memcmp(before, after, len0),
           "read-only open wrote nothing");
    free(after);
    tap_is_int(blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e), 0, "bad L2 entry: read-write open");
    r = blk_pwrite(b, 100, buf, 100, &e);
    tap_ok(r < 0, "write over the bad entry fails: %s", e.msg);
    r = blk_pwrite(b, 1 << 20, buf, 100, &e);
    tap_ok(r < 0, "image now marked corrupt: further writes refused");
    blk_close(b);
    tap_ok(blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) == -EACCES, "corrupt bit set on disk");
    free(before);
}

static void corpus(void)
{
    static const struct blk_create_opts variants[] = {
        { 0 },
        { .compat = "0.10" },
        { .cluster_size = 512 },
        { .cluster_size = 4096, .refcount_bits = 1 },
        { .extended_l2 = true },
        { .compression_type = "zstd", .cluster_size = 4096 },
    };
    uint64_t seed = 12345;
    int total = 0, opened = 0;
    for (size_t v = 0; v < VK_ARRAY_SIZE(variants); v++) {
        const char *p = bt_path("seed.qcow2");
        struct vk_err e = { 0 };
        if (blk_create(p, "qcow2", 1 << 20, &variants[v], &e) < 0)
            continue;
        struct blk *b;
        if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) == 0) {
            uint8_t buf[8192];
            bt_fill(buf, sizeof(buf), v);
            blk_pwrite(b, 4096, buf, sizeof(buf), &e);
            uint32_t cs = blk_cluster_size(b);
            uint8_t *cl = calloc(1, cs);
            memset(cl, 'a', cs);
            blk_pwrite_compressed(b, 8 * (uint64_t)cs, cl, cs, &e);
            free(cl);
            blk_snapshot_create(b, "s", NULL, &e);
            blk_close(b);
        }
        size_t len;
        uint8_t *img = load(p, &len);
        if (!img)
            continue;
        total++;
        opened += fuzz_qcow2_one(img, len);
        uint8_t *m = malloc(len);
        for (int i = 0; i < 300; i++) {
            memcpy(m, img, len);
            int nmut = 1 + (int)(bt_rand(&seed) % 4);
            for (int k = 0; k < nmut; k++) {
                /* Mostly the metadata near the start, sometimes anywhere. */
                uint64_t span = (bt_rand(&seed) % 4) ? VK_MIN((uint64_t)len, 4096u) : len;
                size_t pos = (size_t)(bt_rand(&seed) % span);
                switch (bt_rand(&seed) % 4) {
                case 0: m[pos] ^= (uint8_t)(1u << (bt_rand(&seed) % 8)); break;
                case 1: m[pos] = (uint8_t)bt_rand(&seed); break;
                case 2: m[pos] = 0xff; break;
                default: m[pos] = 0; break;
                }
            }
            size_t mlen = (bt_rand(&seed) % 16) ? len : (size_t)(bt_rand(&seed) % len);
            total++;
            opened += fuzz_qcow2_one(m, mlen);
        }
        free(m);
        free(img);
    }
    tap_ok(total > 1000, "mutated corpus ran without crashing: %d images, %d opened", total, opened);
    tap_ok(opened > 0 && opened < total, "some mutations rejected, some accepted");
}

/* A data cluster that starts at or past EOF fails reads with EIO naming the
 * host offset and the file size; one that only ends past EOF (last cluster
 * written partly) reads its missing tail as zeroes; and when the file grows
 * (another writer) the same open handle reads the new data. */
static void past_eof(void)
{
    const char *p = bt_path("eof.qcow2");
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .cluster_size = 4096 };
    if (blk_create(p, "qcow2", 1 << 20, &o, &e) < 0)
        return;
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0)
        return;
    uint8_t buf[4096], got[4096];
    bt_fill(buf, sizeof(buf), 3);
    blk_pwrite(b, 0, buf, sizeof(buf), &e);
    blk_close(b);
    int fd = open(p, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    uint64_t fsize = (uint64_t)st.st_size, l1, l2;   /* cluster-aligned here */
    (void)!pread(fd, &l1, 8, 40);
    (void)!pread(fd, &l1, 8, (off_t)be64toh(l1));
    l2 = be64toh(l1) & 0x00fffffffffffe00ull;
    uint64_t ent = htobe64(0x8000000000000000ull | fsize);   /* guest cluster 1 -> EOF */
    (void)!pwrite(fd, &ent, 8, (off_t)l2 + 8);
    tap_is_int(blk_open(p, NULL, 0, NULL, &b, &e), 0, "past EOF: image opens");
    int r = blk_pread(b, 4096, got, 4096, &e);
    tap_is_int(r, -EIO, "past EOF: read of a cluster starting at EOF fails");
    char want[64];
    snprintf(want, sizeof(want), "0x%llx", (unsigned long long)fsize);
    tap_ok(strstr(e.msg, want) && strstr(e.msg, "bytes"), "past EOF: message: %s", e.msg);
    tap_is_int(blk_pread(b, 0, got, 4096, &e), 0, "past EOF: other clusters still read");
    /* Another writer extends the file by half a cluster: it now reads. */
    (void)!pwrite(fd, buf, 2048, (off_t)fsize);
    r = blk_pread(b, 4096, got, 4096, &e);
    tap_is_int(r, 0, "past EOF: readable once the file has grown (same handle)");
    uint8_t zero[2048] = { 0 };
    tap_ok(!memcmp(got, buf, 2048) && !memcmp(got + 2048, zero, 2048),
           "past EOF: partial last cluster reads data then zeroes");
    struct blk_check_result res;
    tap_is_int(blk_check(b, 0, &res, &e), 0, "past EOF: check runs");
    blk_close(b);
    close(fd);
}

/* Regression inputs kept for the fuzz target (tests/fuzz/corpus/qcow2:
 * crafted broken images, and crashes found by make fuzz go there too), each
 * replayed as is and with mutations. */
static void replay_corpus(void)
{
    DIR *d = opendir(VK_FUZZ_CORPUS);
    if (!d) {
        tap_ok(0, "corpus folder %s missing", VK_FUZZ_CORPUS);
        return;
    }
    uint64_t seed = 777;
    int files = 0, runs = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", VK_FUZZ_CORPUS, de->d_name);
        size_t len;
        uint8_t *img = load(p, &len);
        if (!img || !len) {
            free(img);
            continue;
        }
        files++;
        fuzz_qcow2_one(img, len);
        runs++;
        uint8_t *m = malloc(len);
        for (int i = 0; m && i < 50; i++) {
            memcpy(m, img, len);
            size_t pos = (size_t)(bt_rand(&seed) % VK_MIN((uint64_t)len, 8192u));
            m[pos] ^= (uint8_t)(1u << (bt_rand(&seed) % 8));
            fuzz_qcow2_one(m, len);
            runs++;
        }
        free(m);
        free(img);
    }
    closedir(d);
    tap_ok(files >= 5, "corpus replay: %d files, %d runs without a crash", files, runs);
}

int main(void)
{
    bt_init();
    vk_log_set_level(VK_LOG_ERROR);
    headers();
    bad_tables();
    past_eof();
    corpus();
    replay_corpus();
    return tap_done();
}
