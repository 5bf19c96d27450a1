/* Concurrency: several threads write (interleaved 4 KiB pieces of the same
 * clusters, so allocations race) and read at once; the result must be
 * exactly what each thread wrote, and the image must check clean. */
#include "blktest.h"

#include <pthread.h>

#define NT 8
#define CLUSTERS 96
#define SIZE ((uint64_t)CLUSTERS * 65536)

struct arg { struct blk *b; int t; int errors; };

static void *writer(void *p)
{
    struct arg *a = p;
    uint8_t buf[4096];
    for (int c = 0; c < CLUSTERS; c++) {
        /* each thread owns 4 KiB slots t and t+8 of every cluster */
        for (int k = 0; k < 2; k++) {
            int slot = a->t + k * NT;
            uint64_t off = (uint64_t)c * 65536 + (uint64_t)slot * 4096;
            bt_fill(buf, sizeof(buf), off);
            if (blk_pwrite(a->b, off, buf, sizeof(buf), NULL) < 0)
                a->errors++;
        }
        if (c % 16 == a->t && blk_flush(a->b, NULL) < 0)
            a->errors++;
        uint8_t rb[4096];
        uint64_t roff = (uint64_t)((c * 7 + a->t) % CLUSTERS) * 65536;
        if (blk_pread(a->b, roff, rb, sizeof(rb), NULL) < 0)
            a->errors++;
    }
    return NULL;
}

static void run(const char *name, const char *ctype_backing)
{
    const char *p = bt_path(name);
    struct vk_err e = { 0 };
    struct blk_create_opts o = { .backing_file = ctype_backing, .backing_fmt = ctype_backing ? "raw" : NULL };
    tap_is_int(blk_create(p, "qcow2", SIZE, &o, &e), 0, "%s: create", name);
    struct blk *b;
    if (blk_open(p, NULL, BLK_O_RDWR, NULL, &b, &e) < 0) {
        tap_ok(0, "%s: open: %s", name, e.msg);
        return;
    }
    pthread_t th[NT];
    struct arg args[NT];
    for (int t = 0; t < NT; t++) {
        args[t] = (struct arg){ b, t, 0 };
        pthread_create(&th[t], NULL, writer, &args[t]);
    }
    int errors = 0;
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        errors += args[t].errors;
    }
    tap_is_int(errors, 0, "%s: no I/O errors from %d threads", name, NT);
    uint8_t *ref = malloc(SIZE);
    if (ctype_backing)
        bt_fill(ref, SIZE, 99);
    else
        memset(ref, 0, SIZE);
    for (uint64_t c = 0; c < CLUSTERS; c++)
        for (int slot = 0; slot < 2 * NT; slot++) {
            uint64_t off = c * 65536 + (uint64_t)slot * 4096;
            bt_fill(ref + off, 4096, off);
        }
    tap_ok(bt_verify(b, ref, SIZE), "%s: every thread's data is there", name);
    blk_close(b);
    if (bt_have_qemu_img()) {
        tap_is_int(bt_qemu_check(p), 0, "%s: qemu-img check clean", name);
        bt_write_file(bt_path("ref.raw"), ref, SIZE);
        tap_is_int(bt_qemu_compare(p, bt_path("ref.raw")), 0, "%s: qemu-img compare", name);
    }
    free(ref);
}

int main(void)
{
    bt_init();
    run("threads.qcow2", NULL);
    uint8_t *base = malloc(SIZE);
    bt_fill(base, SIZE, 99);
    bt_write_file(bt_path("tbase.raw"), base, SIZE);
    free(base);
    run("threads-overlay.qcow2", "tbase.raw");
    return tap_done();
}
