/* check / repair: injected leaks and refcount corruptions are found,
 * counted like qemu-img check, and repaired; the corrupt bit blocks writes
 * until repair; lazy refcounts' dirty bit triggers repair on open; and a
 * writer killed with SIGKILL leaves an image that passes qemu-img check
 * (leaks allowed) with all flushed data intact. */
#include "blktest.h"

#include <fcntl.h>
#include <signal.h>
#include <endian.h>

#define SIZE (4u << 20)

static uint64_t rd64(int fd, uint64_t off)
{
    uint64_t v = 0;
    (void)!pread(fd, &v, 8, (off_t)off);
    return be64toh(v);
}
static void wr64(int fd, uint64_t off, uint64_t v)
{
    v = htobe64(v);
    (void)!pwrite(fd, &v, 8, (off_t)off);
}

static void make(const char *p, bool lazy)
{
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .lazy_refcounts = lazy };
    if (blk_create(p, "qcow2", SIZE, &o, &e) < 0)
        printf("# create: %s\n", e.msg);
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0)
        return;
    uint8_t *buf = malloc(1 << 20);
    bt_fill(buf, 1 << 20, 1);
    blk_pwrite(b, 0, buf, 1 << 20, &e);
    free(buf);
    blk_close(b);
}

static int check(const char *p, unsigned flags, unsigned fix, struct blk_check_result *res)
{
    struct blk *b;
    struct vk_err e = { 0 };
    int r = blk_open(p, NULL, flags, NULL, &b, &e);
    if (r < 0) {
        printf("# open for check: %s\n", e.msg);
        return r;
    }
    r = blk_check(b, fix, res, &e);
    if (r < 0)
        printf("# check: %s\n", e.msg);
    blk_close(b);
    return r;
}

static void leaks(void)
{
    const char *p = bt_path("leak.qcow2");
    make(p, false);
    struct blk_check_result res;
    tap_is_int(check(p, 0, 0, &res), 0, "clean image checks");
    tap_ok(res.leaks == 0 && res.corruptions == 0, "clean: no leaks, no corruptions");
    tap_is_int(res.allocated_clusters, 16, "clean: 16 allocated clusters");
    tap_is_int(res.total_clusters, 64, "clean: 64 total clusters");
    tap_ok(res.image_end_offset > 16 * 65536, "image end offset %llu", (unsigned long long)res.image_end_offset);
    /* Drop the L2 entry of guest cluster 3: its data cluster leaks. */
    int fd = open(p, O_RDWR);
    uint64_t l1 = rd64(fd, 40), l2 = rd64(fd, l1) & 0x00fffffffffffe00ull;
    wr64(fd, l2 + 3 * 8, 0);
    close(fd);
    tap_is_int(check(p, 0, 0, &res), 0, "leaky image checks");
    tap_is_int(res.leaks, 1, "one leak found");
    tap_is_int(res.corruptions, 0, "no corruption");
    if (bt_have_qemu_img())
        tap_is_int(bt_sh(false, "qemu-img check '%s'", p), 3, "qemu-img agrees: leaks (exit 3)");
    tap_is_int(check(p, BLK_O_RDWR, BLK_CHECK_FIX_LEAKS, &res), 0, "repair leaks");
    tap_is_int(res.leaks_fixed, 1, "one leak fixed");
    tap_is_int(res.leaks, 0, "no leaks left");
    tap_is_int(check(p, 0, 0, &res), 0, "recheck");
    tap_ok(res.leaks == 0 && res.corruptions == 0, "clean after repair");
    if (bt_have_qemu_img())
        tap_is_int(bt_qemu_check(p), 0, "qemu-img check clean after repair");
}

static void corruption(void)
{
    const char *p = bt_path("corrupt.qcow2");
    make(p, false);
    /* Zero the refcount of guest cluster 5's data cluster. */
    struct blk *b;
    struct vk_err e = { 0 };
    struct blk_status st = { 0 };
    if (blk_open(p, NULL, 0, NULL, &b, &e) == 0) {
        blk_block_status(b, 5 * 65536, 65536, true, &st, &e);
        blk_close(b);
    }
    int fd = open(p, O_RDWR);
    uint64_t rt = rd64(fd, 48), rb = rd64(fd, rt);
    uint16_t z = 0;
    (void)!pwrite(fd, &z, 2, (off_t)(rb + 2 * (st.host_offset / 65536)));
    close(fd);
    struct blk_check_result res;
    tap_is_int(check(p, 0, 0, &res), 0, "corrupt image checks");
    tap_ok(res.corruptions >= 1, "corruption found (%lld)", (long long)res.corruptions);
    if (bt_have_qemu_img())
        tap_is_int(bt_sh(false, "qemu-img check '%s'", p), 2, "qemu-img agrees: corruption (exit 2)");
    tap_is_int(check(p, BLK_O_RDWR, BLK_CHECK_FIX_LEAKS, &res), 0, "check -r leaks");
    tap_ok(res.corruptions >= 1 && res.corruptions_fixed == 0, "-r leaks leaves corruptions");
    tap_is_int(check(p, BLK_O_RDWR, BLK_CHECK_FIX_ALL, &res), 0, "check -r all");
    tap_ok(res.corruptions == 0 && res.corruptions_fixed >= 1, "-r all fixes them (%lld fixed)",
           (long long)res.corruptions_fixed);
    if (bt_have_qemu_img())
        tap_is_int(bt_qemu_check(p), 0, "qemu-img check clean after repair");
}

static void corrupt_bit(void)
{
    const char *p = bt_path("cbit.qcow2");
    make(p, false);
    int fd = open(p, O_RDWR);
    wr64(fd, 72, rd64(fd, 72) | 2);
    close(fd);
    struct blk *b;
    struct vk_err e = { 0 };
    tap_is_int(blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e), -EACCES, "corrupt bit: read-write refused");
    tap_ok(strstr(e.msg, "corrupt") != NULL, "message: %s", e.msg);
    int r = blk_open(p, NULL, 0, NULL, &b, &e);
    tap_is_int(r, 0, "corrupt bit: read-only open works");
    if (r == 0) {
        struct blk_info in;
        blk_get_info(b, &in, &e);
        tap_ok(in.qcow2.corrupt, "info shows corrupt");
        blk_info_free(&in);
        blk_close(b);
    }
    r = blk_open(p, NULL, BLK_O_RDWR | BLK_O_UNSAFE, NULL, &b, &e);
    tap_is_int(r, 0, "corrupt bit: unsafe open for repair");
    if (r == 0) {
        uint8_t buf[512] = { 0 };
        tap_is_int(blk_pwrite(b, 0, buf, 512, &e), -EIO, "no guest writes to a corrupt image");
        struct blk_check_result res;
        tap_is_int(blk_check(b, BLK_CHECK_FIX_ALL, &res, &e), 0, "repair");
        blk_close(b);
    }
    r = blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e);
    tap_is_int(r, 0, "after repair: read-write open works");
    if (r == 0)
        blk_close(b);
}

static void dirty_bit(void)
{
    const char *p = bt_path("lazy.qcow2");
    make(p, true);
    pid_t pid = fork();
    if (pid == 0) {
        struct blk *b;
        if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, NULL) < 0)
            _exit(1);
        uint8_t buf[65536];
        bt_fill(buf, sizeof(buf), 3);
        blk_pwrite(b, 2 << 20, buf, sizeof(buf), NULL);
        blk_flush(b, NULL);
        _exit(0);   /* "crash": no close */
    }
    int st;
    waitpid(pid, &st, 0);
    struct blk *b;
    struct vk_err e = { 0 };
    if (blk_open(p, NULL, BLK_O_NO_BACKING, NULL, &b, &e) == 0) {
        struct blk_info in;
        blk_get_info(b, &in, &e);
        tap_ok(in.dirty_flag, "lazy refcounts: dirty bit left by the crash");
        blk_info_free(&in);
        blk_close(b);
    }
    int r = blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e);
    tap_is_int(r, 0, "dirty image opens read-write (repairs)");
    if (r == 0) {
        struct blk_info in;
        blk_get_info(b, &in, &e);
        tap_ok(!in.dirty_flag, "dirty bit cleared after repair");
        blk_info_free(&in);
        blk_close(b);
    }
    if (bt_have_qemu_img())
        tap_is_int(bt_qemu_check(p), 0, "qemu-img check clean");
}

/* A lazy-refcounts image left dirty by a crashing qemu-io: we repair it. */
static void qemu_dirty(void)
{
    if (!bt_have_qemu_img() || access("/usr/bin/qemu-io", X_OK) != 0)
        return;
    const char *p = bt_path("qdirty.qcow2");
    bt_sh(false, "qemu-img create -q -f qcow2 -o lazy_refcounts=on '%s' 16M && "
          "qemu-io -c 'write -P 3 0 1M' -c abort '%s'", p, p);
    tap_is_int(bt_sh(false, "qemu-img info '%s' | grep -q 'dirty bit'", p) == 0 ||
               bt_sh(false, "qemu-img check '%s'", p) != 0, 1, "qemu left a dirty image");
    struct blk *b;
    struct vk_err e = { 0 };
    int r = blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e);
    tap_is_int(r, 0, "dirty qemu image opens read-write (%s)", r < 0 ? e.msg : "repaired");
    if (r == 0) {
        uint8_t buf[4096], want[4096];
        memset(want, 3, sizeof(want));
        blk_pread(b, 65536, buf, sizeof(buf), &e);
        tap_ok(!memcmp(buf, want, sizeof(buf)), "its data is there");
        blk_close(b);
    }
    tap_is_int(bt_qemu_check(p), 0, "qemu-img check clean after our repair");
}

/* A writer that flushes after each round; killed at some point. */
static void crash(void)
{
    const char *p = bt_path("crash.qcow2");
    struct vk_err e = { 0 };
    int bad = 0, lost = 0;
    for (int iter = 0; iter < 12; iter++) {
        if (blk_create(p, "qcow2", 64 << 20, NULL, &e) < 0)
            break;
        int pfd[2];
        if (pipe(pfd) < 0)
            break;
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            struct blk *b;
            if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, NULL) < 0)
                _exit(1);
            uint8_t buf[20000];
            for (uint32_t round = 0;; round++) {
                for (int k = 0; k < 8; k++) {
                    uint64_t off = ((uint64_t)round * 8 + k) * 300007 % ((64 << 20) - sizeof(buf));
                    bt_fill(buf, sizeof(buf), round * 8 + k);
                    blk_pwrite(b, off, buf, sizeof(buf), NULL);
                    if (k == 3)
                        blk_discard(b, off & ~65535ull, 65536, NULL);
                }
                blk_flush(b, NULL);
                if (write(pfd[1], &round, 4) != 4)
                    _exit(1);
            }
        }
        close(pfd[1]);
        uint32_t done = 0, x;
        int want = 3 + iter * 5;
        for (int i = 0; i < want && read(pfd[0], &x, 4) == 4; i++)
            done = x + 1;
        kill(pid, SIGKILL);
        while (read(pfd[0], &x, 4) == 4)
            done = x + 1;
        close(pfd[0]);
        waitpid(pid, NULL, 0);
        if (bt_have_qemu_img()) {
            int qc = bt_sh(false, "qemu-img check '%s'", p);
            if (qc != 0 && qc != 3) {
                bad++;
                bt_sh(true, "qemu-img check '%s'", p);
            }
        }
        /* Rounds reported flushed: their last write of each slot must read back
         * unless a later (flushed or not) write overlapped -- so check only the
         * final flushed round's first write, which nothing later touched yet
         * unless the next round overlapped it; compare loosely. */
        struct blk *b;
        if (done && blk_open(p, NULL, 0, NULL, &b, &e) == 0) {
            uint32_t round = done - 1;
            uint64_t off = ((uint64_t)round * 8 + 7) * 300007 % ((64 << 20) - 20000);
            uint8_t got[20000], want_buf[20000];
            bt_fill(want_buf, sizeof(want_buf), round * 8 + 7);
            blk_pread(b, off, got, sizeof(got), &e);
            /* A later unflushed write may legitimately have changed it. */
            uint64_t nxt = ((uint64_t)round * 8 + 8) * 300007 % ((64 << 20) - 20000);
            bool overlapped = nxt < off + 20000 + 65536 && off < nxt + 20000 + 65536;
            if (memcmp(got, want_buf, sizeof(got)) && !overlapped)
                lost++;
            blk_close(b);
        }
    }
    tap_is_int(bad, 0, "SIGKILLed writers: qemu-img check finds no corruption");
    tap_is_int(lost, 0, "SIGKILLed writers: flushed data intact");
}

int main(void)
{
    bt_init();
    leaks();
    corruption();
    corrupt_bit();
    dirty_bit();
    qemu_dirty();
    crash();
    return tap_done();
}
