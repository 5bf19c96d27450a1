/* virtkit img commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] file
 * Copies what the image (and the layers above `base`) allocate into base,
 * then empties the image (reads fall through to base) unless -d. -b implies
 * -d, as in qemu-img: the layers above base stay as they are. */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "imgutil.h"

#define COMMIT_CHUNK (1u << 20)

static bool same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    if (realpath(a, ra) && realpath(b, rb))
        return !strcmp(ra, rb);
    return !strcmp(a, b);
}

int img_commit(int argc, char **argv)
{
    enum { OPT_OBJECT = 256, OPT_IMAGE_OPTS };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL, *base_arg = NULL, *cache = "writeback";
    bool quiet = false, drop = false, progress = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":f:ht:b:dpqr:", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 't': cache = optarg; break;
        case 'b': base_arg = optarg; drop = true; break;
        case 'd': drop = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'r': case OPT_OBJECT: break;
        case OPT_IMAGE_OPTS: return img_usage("commit", "--image-opts is not supported");
        case ':': return img_usage("commit", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("commit", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("commit", "Expecting one image file name");
    if (quiet)
        progress = false;
    unsigned cflags = 0;
    if (img_cache_flags(cache, &cflags) < 0)
        return img_usage("commit", "Invalid cache option: %s", cache);
    const char *path = argv[optind];
    struct blk *top = img_open(path, fmt, cflags | (drop ? 0 : BLK_O_RDWR), NULL), *base_rw = NULL;
    if (!top)
        return CLI_FAIL;
    int ret = CLI_FAIL, depth = 1, r;
    uint8_t *buf = NULL;
    struct vk_err e = { 0 };
    struct blk *base = blk_backing(top);
    if (!base) {
        img_error("Image does not have a backing file");
        goto out;
    }
    if (base_arg) {
        while (base && !same_file(blk_filename(base), base_arg)) {
            base = blk_backing(base);
            depth++;
        }
        if (!base) {
            img_error("Did not find '%s' in the backing chain of '%s'", base_arg, path);
            goto out;
        }
    }
    base_rw = img_open(blk_filename(base), blk_format_name(base), BLK_O_RDWR | cflags | BLK_O_NO_BACKING,
                       NULL);
    if (!base_rw)
        goto out;
    uint64_t len = blk_getlength(top);
    if (blk_getlength(base_rw) < len &&
        (r = blk_truncate(base_rw, len, false, BLK_PREALLOC_OFF, &e)) < 0) {
        img_error("Could not resize the base image: %s", img_errstr(&e, r));
        goto out;
    }
    if (!(buf = img_alloc(COMMIT_CHUNK))) {
        img_error("out of memory");
        goto out;
    }
    struct img_progress prog;
    img_progress_init(&prog, progress);
    for (uint64_t off = 0; off < len;) {
        struct blk_status st;
        if ((r = blk_block_status(top, off, VK_MIN(len - off, (uint64_t)COMMIT_CHUNK), true, &st, &e)) < 0)
            goto ioerr;
        uint64_t n = VK_MIN(st.len ? st.len : COMMIT_CHUNK, len - off);
        n = VK_MIN(n, (uint64_t)COMMIT_CHUNK);
        if ((st.flags & BLK_ST_ALLOCATED) && st.depth < depth) {
            if ((st.flags & BLK_ST_ZERO) && !(st.flags & BLK_ST_DATA))
                r = blk_pwrite_zeroes(base_rw, off, n, 0, &e);
            else if ((r = blk_pread(top, off, buf, n, &e)) >= 0)
                r = blk_pwrite(base_rw, off, buf, n, &e);
            if (r < 0)
                goto ioerr;
        }
        off += n;
        img_progress_update(&prog, off, len);
    }
    if ((r = blk_flush(base_rw, &e)) < 0)
        goto ioerr;
    r = blk_close(base_rw);
    base_rw = NULL;
    if (r < 0)
        goto ioerr;
    /* Only once the base holds the data durably: a crash before this point
     * leaves the top as it was. */
    if (!drop && (r = blk_make_empty(top, &e)) < 0) {
        img_error("Could not empty %s: %s", path, img_errstr(&e, r));
        goto out;
    }
    img_progress_done(&prog);
    if (!quiet)
        printf("Image committed.\n");
    ret = CLI_OK;
    goto out;
ioerr:
    img_error("Block job failed: %s", img_errstr(&e, r));
out:
    free(buf);
    blk_close(base_rw);
    blk_close(top);
    return ret;
}
