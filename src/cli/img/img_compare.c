/* virtkit img compare [-f fmt] [-F fmt] [-T cache] [-p] [-q] [-s] [-U] file1 file2
 * Exit: 0 identical, 1 different, 2 error (as qemu-img). */
#include <getopt.h>
#include <string.h>

#include "imgutil.h"

#define CMP_CHUNK (1u << 20)
#define CMP_ERR 2

static bool status_zero(const struct blk_status *s)
{
    return (s->flags & (BLK_ST_ZERO | BLK_ST_EOF)) && !(s->flags & BLK_ST_DATA);
}

/* First differing byte in [0, n), rounded down to 512 as qemu-img reports. */
static int64_t first_diff(const uint8_t *a, const uint8_t *b, uint64_t n)
{
    for (uint64_t p = 0; p < n; p += 512) {
        uint64_t m = VK_MIN((uint64_t)512, n - p);
        if (memcmp(a + p, b + p, m))
            return (int64_t)p;
    }
    return -1;
}

/* Check that [off, end) of `b` reads as zeroes; returns the offset of the
 * first non-zero sector, -1 when all zero, or < -1 on error. */
static int64_t check_zero_tail(struct blk *b, uint64_t off, uint64_t end, uint8_t *buf, const char *name)
{
    while (off < end) {
        struct blk_status st;
        struct vk_err e = { 0 };
        int r = blk_block_status(b, off, end - off, true, &st, &e);
        if (r < 0) {
            img_error("Error while reading offset %llu of %s: %s", (unsigned long long)off, name,
                      img_errstr(&e, r));
            return -2;
        }
        uint64_t n = VK_MIN(st.len ? st.len : end - off, end - off);
        if (!status_zero(&st)) {
            n = VK_MIN(n, (uint64_t)CMP_CHUNK);
            if ((r = blk_pread(b, off, buf, n, &e)) < 0) {
                img_error("Error while reading offset %llu of %s: %s", (unsigned long long)off,
                          name, img_errstr(&e, r));
                return -2;
            }
            for (uint64_t p = 0; p < n; p += 512)
                if (!img_is_zero(buf + p, VK_MIN((uint64_t)512, n - p)))
                    return (int64_t)(off + p);
        }
        off += n;
    }
    return -1;
}

int img_compare(int argc, char **argv)
{
    enum { OPT_OBJECT = 256 };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt1 = NULL, *fmt2 = NULL;
    bool progress = false, quiet = false, strict = false;
    unsigned flags = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:F:T:pqsU", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt1 = optarg; break;
        case 'F': fmt2 = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 's': strict = true; break;
        case 'U': case OPT_OBJECT: break;
        case 'T':
            if (img_cache_flags(optarg, &flags) < 0) {
                img_usage("compare", "Invalid source cache option: %s", optarg);
                return CMP_ERR;
            }
            break;
        case ':': img_usage("compare", "option '%s' needs an argument", argv[optind - 1]); return CMP_ERR;
        default: img_usage("compare", "unknown option '%s'", argv[optind - 1]); return CMP_ERR;
        }
    }
    if (quiet)
        progress = false;
    if (optind != argc - 2) {
        img_usage("compare", "Expecting two image file names");
        return CMP_ERR;
    }
    const char *n1 = argv[optind], *n2 = argv[optind + 1];
    struct blk *b1 = img_open(n1, fmt1, flags, NULL);
    if (!b1)
        return CMP_ERR;
    struct blk *b2 = img_open(n2, fmt2, flags, NULL);
    if (!b2) {
        blk_close(b1);
        return CMP_ERR;
    }
    uint8_t *buf1 = img_alloc(CMP_CHUNK), *buf2 = img_alloc(CMP_CHUNK);
    int ret = CMP_ERR;
    if (!buf1 || !buf2) {
        img_error("out of memory");
        goto out;
    }
    uint64_t len1 = blk_getlength(b1), len2 = blk_getlength(b2);
    uint64_t common = VK_MIN(len1, len2), total = VK_MAX(len1, len2);
    if (len1 != len2) {
        if (strict) {
            if (!quiet)
                printf("Strict mode: Image size mismatch!\n");
            ret = 1;
            goto out;
        }
        if (!quiet)
            printf("Warning: Image size mismatch!\n");
    }
    struct img_progress prog;
    img_progress_init(&prog, progress);
    for (uint64_t off = 0; off < common;) {
        struct blk_status s1, s2;
        struct vk_err e = { 0 };
        int r = blk_block_status(b1, off, common - off, true, &s1, &e);
        if (r >= 0)
            r = blk_block_status(b2, off, common - off, true, &s2, &e);
        if (r < 0) {
            img_error("Error while reading offset %llu: %s", (unsigned long long)off, img_errstr(&e, r));
            goto out;
        }
        uint64_t n = VK_MIN(VK_MIN(s1.len, s2.len), (uint64_t)CMP_CHUNK);
        n = VK_MIN(n ? n : CMP_CHUNK, common - off);
        if (strict && ((s1.flags & BLK_ST_ALLOCATED) != (s2.flags & BLK_ST_ALLOCATED))) {
            if (!quiet)
                printf("Strict mode: Offset %llu block status mismatch!\n", (unsigned long long)off);
            ret = 1;
            goto out;
        }
        if (!(status_zero(&s1) && status_zero(&s2))) {
            if ((r = blk_pread(b1, off, buf1, n, &e)) < 0) {
                img_error("Error while reading offset %llu of %s: %s", (unsigned long long)off, n1,
                          img_errstr(&e, r));
                goto out;
            }
            if ((r = blk_pread(b2, off, buf2, n, &e)) < 0) {
                img_error("Error while reading offset %llu of %s: %s", (unsigned long long)off, n2,
                          img_errstr(&e, r));
                goto out;
            }
            int64_t d = first_diff(buf1, buf2, n);
            if (d >= 0) {
                if (!quiet)
                    printf("Content mismatch at offset %llu!\n", (unsigned long long)(off + (uint64_t)d));
                ret = 1;
                goto out;
            }
        }
        off += n;
        img_progress_update(&prog, off, total);
    }
    if (len1 != len2) {
        struct blk *big = len1 > len2 ? b1 : b2;
        int64_t d = check_zero_tail(big, common, total, buf1, len1 > len2 ? n1 : n2);
        if (d < -1)
            goto out;
        if (d >= 0) {
            if (!quiet)
                printf("Content mismatch at offset %llu!\n", (unsigned long long)d);
            ret = 1;
            goto out;
        }
    }
    img_progress_done(&prog);
    if (!quiet)
        printf("Images are identical.\n");
    ret = 0;
out:
    free(buf1);
    free(buf2);
    blk_close(b1);
    blk_close(b2);
    return ret;
}
