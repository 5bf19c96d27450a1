/* virtkit img dd [-f fmt] [-O output_fmt] [bs=N] [count=N] [skip=N] if=in of=out
 * Creates `out` (size = what is copied) and copies, skipping zero blocks. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "imgutil.h"

int img_dd(int argc, char **argv)
{
    enum { OPT_IMAGE_OPTS = 256 };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL, *out_fmt = "raw", *in = NULL, *out = NULL;
    uint64_t bs = 512, count = UINT64_MAX, skip = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:O:U", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'U': break;
        case OPT_IMAGE_OPTS: return img_usage("dd", "--image-opts is not supported");
        case ':': return img_usage("dd", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("dd", "unknown option '%s'", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            return img_usage("dd", "unrecognized operand %s", argv[i]);
        size_t kl = (size_t)(eq - argv[i]);
        const char *v = eq + 1;
        if (kl == 2 && !strncmp(argv[i], "if", 2))
            in = v;
        else if (kl == 2 && !strncmp(argv[i], "of", 2))
            out = v;
        else if (kl == 2 && !strncmp(argv[i], "bs", 2)) {
            if (vk_parse_size(v, &bs) < 0 || bs == 0 || bs > INT32_MAX)
                return img_error("invalid number: '%s'", v);
        } else if (kl == 5 && !strncmp(argv[i], "count", 5)) {
            if (vk_parse_size(v, &count) < 0)
                return img_error("invalid number: '%s'", v);
        } else if (kl == 4 && !strncmp(argv[i], "skip", 4)) {
            if (vk_parse_size(v, &skip) < 0)
                return img_error("invalid number: '%s'", v);
        } else {
            return img_usage("dd", "unrecognized operand %s", argv[i]);
        }
    }
    if (!in || !out)
        return img_usage("dd", "Must specify both input and output files");
    if (!img_format_known(out_fmt))
        return img_error("Unknown file format '%s'", out_fmt);

    struct blk *src = img_open(in, fmt, 0, NULL), *dst = NULL;
    if (!src)
        return CLI_FAIL;
    uint64_t len = blk_getlength(src), start, size;
    int ret = CLI_FAIL;
    uint8_t *buf = NULL;
    struct vk_err e = { 0 };
    if (vk_mul_overflow_u64(skip, bs, &start) || start > len) {
        img_error("cannot skip to specified offset");
        goto out;
    }
    size = len - start;
    if (count != UINT64_MAX) {
        uint64_t want;
        if (!vk_mul_overflow_u64(count, bs, &want) && want < size)
            size = want;
    }
    int r = blk_create(out, out_fmt, size, NULL, &e);
    if (r < 0) {
        img_error("%s: error while creating output image: %s", out, img_errstr(&e, r));
        goto out;
    }
    if (!(dst = img_open(out, out_fmt, BLK_O_RDWR | BLK_O_NO_FLUSH, NULL)))
        goto out;
    uint64_t unit = VK_MAX(bs, (uint64_t)(1u << 20)) / bs * bs;
    if (!(buf = img_alloc(unit))) {
        img_error("out of memory");
        goto out;
    }
    for (uint64_t p = 0; p < size;) {
        uint64_t n = VK_MIN(unit, size - p);
        struct blk_status st;
        if ((r = blk_block_status(src, start + p, n, true, &st, &e)) < 0)
            goto rerr;
        if ((st.flags & (BLK_ST_ZERO | BLK_ST_EOF)) && !(st.flags & BLK_ST_DATA)) {
            p += VK_MIN(st.len ? st.len : n, n);   /* fresh target reads zeroes */
            continue;
        }
        if ((r = blk_pread(src, start + p, buf, n, &e)) < 0)
            goto rerr;
        if (!img_is_zero(buf, n) && (r = blk_pwrite(dst, p, buf, n, &e)) < 0) {
            img_error("error while writing to output image file: %s", img_errstr(&e, r));
            goto out;
        }
        p += n;
    }
    if ((r = blk_flush(dst, &e)) < 0) {
        img_error("error while flushing output image: %s", img_errstr(&e, r));
        goto out;
    }
    ret = CLI_OK;
    goto out;
rerr:
    img_error("error while reading from input image file: %s", img_errstr(&e, r));
out:
    free(buf);
    blk_close(src);
    if (dst && blk_close(dst) < 0 && ret == CLI_OK)
        ret = img_error("error while closing output image");
    return ret;
}
