/* Helpers for the block layer unit tests: temp dirs, deterministic data,
 * a reference model to compare against, and qemu-img as an independent
 * checker when it is installed. */
#ifndef VK_BLKTEST_H
#define VK_BLKTEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block.h"
#include "tap.h"

static char bt_dir[256];

static inline void bt_cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bt_dir);
    if (bt_dir[0])
        (void)!system(cmd);
}

static inline void bt_init(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(bt_dir, sizeof(bt_dir), "%s/vkblk.XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(bt_dir)) {
        printf("Bail out! mkdtemp failed\n");
        exit(1);
    }
    atexit(bt_cleanup);
}

static inline const char *bt_path(const char *name)
{
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", bt_dir, name);
    return buf[i];
}

/* Deterministic pseudo-random bytes. */
static inline uint64_t bt_rand(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *st = x;
}
static inline void bt_fill(void *buf, size_t len, uint64_t seed)
{
    uint64_t st = seed * 0x9e3779b97f4a7c15ull + 1;
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(bt_rand(&st) >> 24);
}

static inline bool bt_have_qemu_img(void)
{
    return access("/usr/bin/qemu-img", X_OK) == 0;
}

/* Run a shell command; returns its exit status (or -1). Output is kept
 * out of the TAP stream unless `show`. */
static inline int bt_sh(bool show, const char *fmt, ...) VK_PRINTF(2, 3);
static inline int bt_sh(bool show, const char *fmt, ...)
{
    char cmd[2048], full[2600], out[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    snprintf(out, sizeof(out), "%s/.sh_out", bt_dir);
    snprintf(full, sizeof(full), "%s >'%s' 2>&1", cmd, out);
    int r = system(full);
    if (show) {
        FILE *f = fopen(out, "r");
        char line[512];
        while (f && fgets(line, sizeof(line), f))
            printf("# %s", line);
        if (f)
            fclose(f);
    }
    if (r == -1 || !WIFEXITED(r))
        return -1;
    return WEXITSTATUS(r);
}

/* qemu-img check exit status: 0 clean, 2 corruptions, 3 leaks only. */
static inline int bt_qemu_check(const char *path)
{
    return bt_sh(true, "qemu-img check -q '%s'", path);
}

/* qemu-img compare of an image with a raw file: 0 identical. */
static inline int bt_qemu_compare(const char *img, const char *raw)
{
    return bt_sh(true, "qemu-img compare -q -F raw '%s' '%s'", img, raw);
}

/* Read the whole image through the block layer and compare with `ref`. */
static inline bool bt_verify(struct blk *b, const uint8_t *ref, uint64_t size)
{
    size_t chunk = 1 << 20;
    uint8_t *buf = malloc(chunk);
    bool ok = true;
    for (uint64_t off = 0; off < size && ok; off += chunk) {
        size_t n = (size_t)VK_MIN((uint64_t)chunk, size - off);
        struct vk_err e = { 0 };
        if (blk_pread(b, off, buf, n, &e) < 0) {
            printf("# read at %llu: %s\n", (unsigned long long)off, e.msg);
            ok = false;
        } else if (memcmp(buf, ref + off, n)) {
            for (size_t i = 0; i < n; i++) {
                if (buf[i] != ref[off + i]) {
                    printf("# first difference at %llu: got %02x want %02x\n",
                           (unsigned long long)(off + i), buf[i], ref[off + i]);
                    break;
                }
            }
            ok = false;
        }
    }
    free(buf);
    return ok;
}

static inline int bt_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    fclose(f);
    return n == len ? 0 : -1;
}

#endif
