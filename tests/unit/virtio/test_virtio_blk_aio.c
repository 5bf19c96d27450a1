/* virtio-blk with aio=io_uring on a CPU-less machine: raw images (page
 * cache and cache=none), many requests in flight at once, qcow2 (data reads
 * of allocated clusters through the ring, the rest through src/block), what
 * qemu-io sees afterwards, read-only refusal, a device reset with requests
 * in flight, and the option errors. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "virtio.h"
#include "virtio_blk_uring.h"
#include "vtest_io.h"

extern const struct device_ops pci_host_device, virtio_disks_device;

static char dir[64];
static struct vm_config cfg;
static const char *disks[1];
static struct vk_err last_err;

static int sh(const char *fmt, ...) VK_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static struct machine *boot(const char *spec)
{
    memset(&cfg, 0, sizeof(cfg));
    disks[0] = spec;
    cfg.disks = disks;
    cfg.nr_disks = 1;
    M = fake_machine_new(&cfg);
    next_gpa = 1 << 20;
    memset(&last_err, 0, sizeof(last_err));
    if (fake_machine_add(M, &pci_host_device, NULL, &last_err) ||
        fake_machine_add(M, &virtio_disks_device, NULL, &last_err)) {
        printf("# machine: %s\n", last_err.msg);
        fake_machine_free(M);
        M = NULL;
    }
    return M;
}

/* The io_uring instances of this process, and how many completions they
 * have posted in total (CqTail in fdinfo). */
static int urings(unsigned long *completions)
{
    int n = 0;
    *completions = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], target[64] = "";
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        if (readlink(path, target, sizeof(target) - 1) <= 0 || !strstr(target, "io_uring"))
            continue;
        n++;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
        FILE *f = fopen(path, "r");
        char line[256];
        while (f && fgets(line, sizeof(line), f)) {
            unsigned long v;
            if (sscanf(line, "CqTail: %lu", &v) == 1)
                *completions += v;
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

struct io { uint8_t *hdr, *status, *data; uint64_t hgpa, sgpa, dgpa; };

static void io_alloc(struct io *r, uint32_t len)
{
    r->hdr = alloc(NULL, 16, &r->hgpa);
    r->status = alloc(NULL, 1, &r->sgpa);
    r->data = alloc(NULL, len, &r->dgpa);
}

static void io_post_quiet(struct vdrv *d, struct io *r, uint32_t type, uint64_t sector,
                          uint32_t len, bool data_write, bool kick)
{
    memcpy(r->hdr, &type, 4);
    memset(r->hdr + 4, 0, 4);
    memcpy(r->hdr + 8, &sector, 8);
    *r->status = 0xff;
    struct vdrv_seg segs[3] = { { r->hgpa, 16, false }, { r->dgpa, len, data_write },
                                { r->sgpa, 1, true } };
    if (len)
        vdrv_post_quiet(d, 0, segs, 3);
    else
        vdrv_post_quiet(d, 0, (struct vdrv_seg[]){ segs[0], segs[2] }, 2);
    if (kick)
        vdrv_kick(d, 0);
}

static void io_post(struct vdrv *d, struct io *r, uint32_t type, uint64_t sector, uint32_t len,
                    bool data_write)
{
    io_post_quiet(d, r, type, sector, len, data_write, true);
}

static int io_do(struct vdrv *d, struct io *r, uint32_t type, uint64_t sector, uint32_t len,
                 bool data_write)
{
    io_post(d, r, type, sector, len, data_write);
    return vdrv_wait(d, 0, 200000) < 0 ? -1 : *r->status;
}

static bool filled(const uint8_t *p, size_t len, uint8_t v)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != v)
            return false;
    return true;
}

static bool start(struct vdrv *d, const char *what)
{
    bool ok = vdrv_find(d, &io, 2, 0) > 0 && vdrv_init(d, 1ULL << 9 | 1ULL << 13 | 1ULL << 14) == 0 &&
              vdrv_setup_queue(d, 0, 64) == 0;
    vdrv_driver_ok(d);
    tap_ok(ok, "%s: virtio-blk found and set up", what);
    return ok;
}

/* 16 reads posted at once, one kick (each sector range has its own
 * pattern), then all completions collected. */
static void burst(struct vdrv *d, const char *what)
{
    struct io r[16];
    for (int i = 0; i < 16; i++) {
        io_alloc(&r[i], 4096);
        io_post_quiet(d, &r[i], 0, (uint64_t)i * 8, 4096, true, i == 15);
    }
    int got = 0;
    for (int i = 0; i < 16; i++)
        got += vdrv_wait(d, 0, 200000) >= 0;
    bool ok = got == 16;
    for (int i = 0; i < 16 && ok; i++)
        ok = *r[i].status == 0 && filled(r[i].data, 4096, (uint8_t)(0x40 + i));
    tap_ok(ok, "%s: 16 reads in flight at once, each with its own data (%d completed)", what, got);
}

static void raw_disk(const char *cache)
{
    char what[64], img[128], spec[256];
    snprintf(what, sizeof(what), "raw cache=%s", cache);
    snprintf(img, sizeof(img), "%s/disk-%s.raw", dir, cache);
    char cmd[1024] = "";
    for (int i = 0; i < 16; i++)
        snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "-c 'write -q -P %d %d 4k' ",
                 0x40 + i, i * 4096);
    tap_ok(sh("qemu-img create -q -f raw %s 4M && qemu-io -f raw %s %s", img, cmd, img) == 0,
           "%s: qemu-img made the image with 16 patterns", what);
    snprintf(spec, sizeof(spec), "path=%s,format=raw,cache=%s,aio=io_uring", img, cache);
    if (!boot(spec))
        return tap_ok(0, "%s: machine with aio=io_uring (%s)", what, last_err.msg);
    unsigned long c0, c1;
    tap_ok(urings(&c0) == 1, "%s: one io_uring for the one queue", what);
    struct vdrv d;
    if (!start(&d, what))
        return fake_machine_free(M);
    burst(&d, what);
    struct io r;
    io_alloc(&r, 65536);
    memset(r.data, 0x5a, 65536);
    tap_is_int(io_do(&d, &r, 1, 2048, 65536, false), 0, "%s: write 64 KiB at 1 MiB", what);
    memset(r.data, 0, 65536);
    tap_is_int(io_do(&d, &r, 0, 2048, 65536, true), 0, "%s: read it back", what);
    tap_ok(filled(r.data, 65536, 0x5a), "%s: same bytes", what);
    tap_is_int(io_do(&d, &r, 4, 0, 0, false), 0, "%s: flush", what);
    tap_is_int(io_do(&d, &r, 0, (4 << 11) - 4, 4096, true), 1, "%s: read past the end: IOERR", what);
    urings(&c1);
    if (!strcmp(cache, "none"))
        tap_ok(c1 - c0 >= 15, "%s: the burst went through the ring (%lu completions)", what, c1 - c0);
    else
        tap_ok(1, "%s: ring used only for reads that would block (%lu completions)", what, c1 - c0);
    /* reset with requests in flight: dropped, no crash, works afterwards */
    struct io many[8];
    for (int i = 0; i < 8; i++) {
        io_alloc(&many[i], 4096);
        io_post_quiet(&d, &many[i], 0, (uint64_t)i * 8, 4096, true, i == 7);
    }
    if (!start(&d, "after a reset with requests in flight"))
        return fake_machine_free(M);
    burst(&d, "after the reset");
    tap_ok(!(vdrv_status(&d) & 64), "%s: device not marked broken", what);
    fake_machine_free(M);
    tap_ok(sh("qemu-io -f raw -r -c 'read -q -P 0x5a 1M 64k' -c 'read -q -P 0x4f 60k 4k' %s", img) == 0,
           "%s: qemu-io reads the written data and the untouched patterns", what);
}

static void qcow2_disk(void)
{
    char base[128], ov[128], spec[300];
    snprintf(base, sizeof(base), "%s/base.qcow2", dir);
    snprintf(ov, sizeof(ov), "%s/ov.qcow2", dir);
    char cmd[1024] = "";
    for (int i = 0; i < 16; i++)
        snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "-c 'write -q -P %d %d 4k' ",
                 0x40 + i, i * 4096);
    tap_ok(sh("qemu-img create -q -f qcow2 %s 4M && qemu-io -c 'write -q -P 0x11 0 4M' %s && "
              "qemu-img create -q -f qcow2 -b %s -F qcow2 %s && qemu-io %s %s",
              base, base, base, ov, cmd, ov) == 0,
           "qcow2: overlay with 16 patterns over a base full of 0x11");
    snprintf(spec, sizeof(spec), "path=%s,format=qcow2,aio=io_uring", ov);
    if (!boot(spec))
        return tap_ok(0, "qcow2: machine with aio=io_uring (%s)", last_err.msg);
    struct vdrv d;
    if (!start(&d, "qcow2"))
        return fake_machine_free(M);
    burst(&d, "qcow2 (allocated in the overlay)");
    struct io r;
    io_alloc(&r, 8192);
    tap_is_int(io_do(&d, &r, 0, 1024, 8192, true), 0, "qcow2: read at 512 KiB (from the base)");
    tap_ok(filled(r.data, 8192, 0x11), "qcow2: backing data through src/block");
    memset(r.data, 0x77, 8192);
    tap_is_int(io_do(&d, &r, 1, 2048, 8192, false), 0, "qcow2: write 8 KiB at 1 MiB (allocates)");
    tap_is_int(io_do(&d, &r, 4, 0, 0, false), 0, "qcow2: flush");
    memset(r.data, 0, 8192);
    tap_is_int(io_do(&d, &r, 0, 2048, 8192, true), 0, "qcow2: read it back");
    tap_ok(filled(r.data, 8192, 0x77), "qcow2: same bytes");
    fake_machine_free(M);
    tap_ok(sh("qemu-io -r -c 'read -q -P 0x77 1M 8k' -c 'read -q -P 0x11 2M 4k' %s", ov) == 0,
           "qcow2: qemu-io sees the write and the backing data");
    tap_ok(sh("qemu-img check -q %s", ov) == 0, "qcow2: qemu-img check is clean");
}

static void options(void)
{
    char img[128], spec[256];
    snprintf(img, sizeof(img), "%s/disk-writeback.raw", dir);
    snprintf(spec, sizeof(spec), "path=%s,aio=posix", img);
    tap_ok(!boot(spec) && strstr(last_err.msg, "aio=posix"), "aio=posix refused (%s)", last_err.msg);
    unsigned long c;
    snprintf(spec, sizeof(spec), "path=%s,format=raw,aio=threads", img);
    if (boot(spec)) {
        tap_is_int(urings(&c), 0, "aio=threads: no io_uring");
        fake_machine_free(M);
    } else {
        tap_ok(0, "aio=threads machine");
    }
    snprintf(spec, sizeof(spec), "path=%s,format=raw", img);
    if (boot(spec)) {
        tap_is_int(urings(&c), 0, "default with the page cache: aio=threads (measured, docs/virtio.md)");
        fake_machine_free(M);
    } else {
        tap_ok(0, "default machine");
    }
    snprintf(spec, sizeof(spec), "path=%s,format=raw,cache=none", img);
    if (boot(spec)) {
        tap_is_int(urings(&c), 1, "default with cache=none: aio=io_uring");
        fake_machine_free(M);
    } else {
        tap_ok(0, "cache=none machine (%s)", last_err.msg);
    }
    snprintf(spec, sizeof(spec), "path=%s,format=raw,readonly=on,aio=io_uring", img);
    if (boot(spec)) {
        struct vdrv d;
        if (start(&d, "read-only")) {
            struct io r;
            io_alloc(&r, 4096);
            tap_is_int(io_do(&d, &r, 1, 0, 4096, false), 1, "read-only: write refused (IOERR)");
            tap_is_int(io_do(&d, &r, 0, 0, 4096, true), 0, "read-only: read works");
        }
        fake_machine_free(M);
    } else {
        tap_ok(0, "read-only machine");
    }
}

int main(void)
{
    if (sh("command -v qemu-img >/dev/null && command -v qemu-io >/dev/null") != 0)
        tap_skip_all("qemu-img/qemu-io not installed (scripts/bootstrap installs qemu-utils)");
    struct vk_err e = { 0 };
    if (blk_uring_probe(&e) < 0)
        tap_skip_all(e.msg);
    snprintf(dir, sizeof(dir), "/tmp/vk-vblk-aio-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    raw_disk("writeback");
    raw_disk("none");
    qcow2_disk();
    options();
    sh("rm -rf %s", dir);
    return tap_done();
}
