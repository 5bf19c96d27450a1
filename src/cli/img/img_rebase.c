/* virtkit img rebase [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing [-F fmt] file
 * Safe mode copies into the image every cluster it doesn't allocate whose
 * content differs between the old and the new backing, so the guest sees
 * the same data afterwards. -u only rewrites the header; -b "" flattens. */
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "imgutil.h"

#define REBASE_CHUNK (1u << 20)

static char *backing_path(const char *image, const char *backing)
{
    if (backing[0] == '/' || !strchr(image, '/'))
        return strdup(backing);
    char *d = strdup(image), *p = NULL;
    if (d && asprintf(&p, "%s/%s", dirname(d), backing) < 0)
        p = NULL;
    free(d);
    return p;
}

static bool st_zero(const struct blk_status *st)
{
    return (st->flags & (BLK_ST_ZERO | BLK_ST_EOF)) && !(st->flags & BLK_ST_DATA);
}

/* 1 when [off, off+*n) reads as zeroes through the old chain and in the new
 * backing file (shrinking *n to the range where both are known zero), else 0. */
static int both_zero(struct blk *b, struct blk *newb, uint64_t nlen, uint64_t off, uint64_t *n,
                     struct vk_err *e)
{
    struct blk_status so, sn;
    if (blk_block_status(b, off, *n, true, &so, e) < 0 || !st_zero(&so))
        return 0;
    uint64_t m = VK_MIN(so.len ? so.len : *n, *n);
    if (newb && off < nlen) {
        if (blk_block_status(newb, off, VK_MIN(m, nlen - off), true, &sn, e) < 0 || !st_zero(&sn))
            return 0;
        m = VK_MIN(m, sn.len ? sn.len : m);
    }
    *n = m;
    return 1;
}

int img_rebase(int argc, char **argv)
{
    enum { OPT_OBJECT = 256, OPT_IMAGE_OPTS };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL, *nb = NULL, *nb_fmt = NULL, *cache = "writeback", *scache = "writeback";
    bool unsafe = false, progress = false, quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'F': nb_fmt = optarg; break;
        case 'b': nb = optarg; break;
        case 'u': unsafe = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 't': cache = optarg; break;
        case 'T': scache = optarg; break;
        case 'U': case OPT_OBJECT: break;
        case OPT_IMAGE_OPTS: return img_usage("rebase", "--image-opts is not supported");
        case ':': return img_usage("rebase", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("rebase", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (quiet)
        progress = false;
    if (optind != argc - 1)
        return img_usage("rebase", "Expecting one image file name");
    if (!nb)
        return img_usage("rebase", "Must specify backing file (-b)");
    unsigned flags = BLK_O_RDWR, sflags = 0;
    if (img_cache_flags(cache, &flags) < 0 || img_cache_flags(scache, &sflags) < 0)
        return img_usage("rebase", "Invalid cache option: %s", cache);
    const char *path = argv[optind];
    bool flatten = nb[0] == '\0';
    if (flatten)
        nb_fmt = NULL;
    if (unsafe) {
        struct blk *b = img_open(path, fmt, flags | BLK_O_NO_BACKING, NULL);
        if (!b)
            return CLI_FAIL;
        struct vk_err e = { 0 };
        int r = blk_change_backing_file(b, flatten ? NULL : nb, nb_fmt, &e);
        int r2 = blk_close(b);
        if (r < 0)
            return img_error("Could not change the backing file to '%s': %s", nb, img_errstr(&e, r));
        if (r2 < 0)
            return img_error("Could not write '%s': %s", path, strerror(-r2));
        return CLI_OK;
    }

    struct blk *b = img_open(path, fmt, flags, NULL), *newb = NULL;
    if (!b)
        return CLI_FAIL;
    int ret = CLI_FAIL, r;
    char *np = NULL;
    uint8_t *old = NULL, *new = NULL;
    struct vk_err e = { 0 };
    if (!flatten) {
        np = backing_path(path, nb);
        struct blk_open_opts bo = { 0 };
        r = np ? blk_open(np, nb_fmt, sflags, &bo, &newb, &e) : -ENOMEM;
        if (r < 0) {
            img_error("Could not open new backing file '%s': %s", np ? np : nb, img_errstr(&e, r));
            goto out;
        }
        if (!nb_fmt)
            nb_fmt = blk_format_name(newb);
    }
    uint64_t len = blk_getlength(b), nlen = newb ? blk_getlength(newb) : 0;
    old = img_alloc(REBASE_CHUNK);
    new = img_alloc(REBASE_CHUNK);
    if (!old || !new) {
        img_error("out of memory");
        goto out;
    }
    uint32_t unit = blk_cluster_size(b);
    if (!unit)
        unit = 65536;
    struct img_progress prog;
    img_progress_init(&prog, progress);
    if (blk_backing(b)) {
        for (uint64_t off = 0; off < len;) {
            struct blk_status st;
            uint64_t want = VK_MIN(len - off, (uint64_t)REBASE_CHUNK);
            if ((r = blk_block_status(b, off, want, false, &st, &e)) < 0)
                goto ioerr;
            uint64_t n = VK_MIN(st.len ? st.len : want, want);
            if (!(st.flags & BLK_ST_ALLOCATED) && both_zero(b, newb, nlen, off, &n, &e) == 1) {
                /* zeroes before and after: nothing to copy */
            } else if (!(st.flags & BLK_ST_ALLOCATED)) {
                /* old content: through the image (its backing shows here) */
                if ((r = blk_pread(b, off, old, n, &e)) < 0)
                    goto ioerr;
                memset(new, 0, n);
                if (newb && off < nlen &&
                    (r = blk_pread(newb, off, new, VK_MIN(n, nlen - off), &e)) < 0)
                    goto ioerr;
                for (uint64_t p = 0; p < n;) {
                    uint64_t m = VK_MIN(VK_ALIGN_DOWN(off + p + unit, unit) - off - p, n - p);
                    if (memcmp(old + p, new + p, m) &&
                        (r = blk_pwrite(b, off + p, old + p, m, &e)) < 0)
                        goto ioerr;
                    p += m;
                }
            }
            off += n;
            img_progress_update(&prog, off, len);
        }
    } else if (newb) {
        /* no old backing: the old content of unallocated ranges is zero */
        for (uint64_t off = 0; off < len && off < nlen;) {
            struct blk_status st;
            uint64_t want = VK_MIN(VK_MIN(len, nlen) - off, (uint64_t)REBASE_CHUNK);
            if ((r = blk_block_status(b, off, want, false, &st, &e)) < 0)
                goto ioerr;
            uint64_t n = VK_MIN(st.len ? st.len : want, want);
            if (!(st.flags & BLK_ST_ALLOCATED)) {
                if ((r = blk_pread(newb, off, new, n, &e)) < 0)
                    goto ioerr;
                if (!img_is_zero(new, n) && (r = blk_pwrite_zeroes(b, off, n, 0, &e)) < 0)
                    goto ioerr;
            }
            off += n;
        }
    }
    if ((r = blk_change_backing_file(b, flatten ? NULL : nb, nb_fmt, &e)) < 0) {
        img_error("Could not change the backing file to '%s': %s", nb, img_errstr(&e, r));
        goto out;
    }
    if ((r = blk_flush(b, &e)) < 0)
        goto ioerr;
    img_progress_done(&prog);
    ret = CLI_OK;
    goto out;
ioerr:
    img_error("Error while rebasing '%s': %s", path, img_errstr(&e, r));
out:
    free(old);
    free(new);
    free(np);
    blk_close(newb);
    if (blk_close(b) < 0 && ret == CLI_OK)
        ret = img_error("Could not write '%s'", path);
    return ret;
}
