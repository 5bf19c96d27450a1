/* Fuzz target: a qcow2 image file's bytes -> open (read-only, no backing),
 * info, snapshot list, block status walk, reads, and a check; then open
 * read-write for a few writes, a discard and a flush. Built as a
 * libFuzzer target (tests/fuzz/meson.build, clang -fsanitize=fuzzer) and
 * included by tests/unit/block/test_qcow2_bad.c for a bounded run under
 * plain gcc and ASan (define FUZZ_NO_MAIN_ENTRY to get fuzz_qcow2_one). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>

#include "block.h"

/* Returns 1 when the image opened, 0 when it was rejected. */
static int fuzz_qcow2_one(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct blk *b;
    struct vk_err err = { 0 };
    struct blk_open_opts oo = { .cache_size = 1 << 20 };
    int opened = 0;
    if (blk_open(path, "qcow2", BLK_O_NO_BACKING, &oo, &b, &err) == 0) {
        opened = 1;
        struct blk_info info;
        if (blk_get_info(b, &info, &err) == 0)
            blk_info_free(&info);
        uint64_t len = blk_getlength(b);
        uint8_t *buf = malloc(65536);
        /* A few reads spread over the disk, and a bounded block-status walk. */
        for (int i = 0; buf && i < 8 && len; i++) {
            uint64_t off = len / 8 * (uint64_t)i;
            size_t n = (size_t)(len - off < 65536 ? len - off : 65536);
            (void)blk_pread(b, off, buf, n, &err);
        }
        uint64_t off = 0;
        for (int i = 0; i < 64 && off < len; i++) {
            struct blk_status st;
            if (blk_block_status(b, off, len - off, true, &st, &err) < 0 || !st.len)
                break;
            off += st.len;
        }
        if (blk_cluster_size(b) <= 65536) {
            struct blk_check_result res;
            (void)blk_check(b, 0, &res, &err);
        }
        free(buf);
        blk_close(b);
        /* Then read-write: a few writes, a discard, a flush. Broken metadata
         * must give errors (and the corrupt bit), never a crash. */
        if (blk_open(path, "qcow2", BLK_O_RDWR | BLK_O_NO_BACKING, &oo, &b, &err) == 0) {
            uint8_t wbuf[4096];
            memset(wbuf, 0xa5, sizeof(wbuf));
            uint64_t l = blk_getlength(b);
            for (int i = 0; i < 4 && l >= sizeof(wbuf); i++)
                (void)blk_pwrite(b, (l - sizeof(wbuf)) / 4 * (uint64_t)i / 512 * 512, wbuf,
                                 sizeof(wbuf), &err);
            if (l >= 65536)
                (void)blk_discard(b, 0, 65536, &err);
            (void)blk_flush(b, &err);
            blk_close(b);
        }
    }
    close(fd);
    return opened;
}

#ifndef FUZZ_NO_MAIN_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        vk_log_set_level(VK_LOG_ERROR);
        quiet = 1;
    }
    fuzz_qcow2_one(data, size);
    return 0;
}
#endif
