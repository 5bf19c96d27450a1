/* virtkit img resize [-f fmt] [--preallocation=p] [-q] [--shrink] file [+|-]size */
#include <getopt.h>
#include <string.h>

#include "imgutil.h"

int img_resize(int argc, char **argv)
{
    enum { OPT_PREALLOC = 256, OPT_SHRINK, OPT_OBJECT, OPT_IMAGE_OPTS };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "preallocation", required_argument, NULL, OPT_PREALLOC },
        { "shrink", no_argument, NULL, OPT_SHRINK },
        { "object", required_argument, NULL, OPT_OBJECT },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { NULL, 0, NULL, 0 },
    };
    if (argc < 3)
        return img_usage("resize", "Not enough arguments");
    /* The size is always last and may look like an option ("-1G"). */
    const char *size_arg = argv[argc - 1];
    argc--;
    const char *fmt = NULL;
    bool quiet = false, shrink = false;
    enum blk_prealloc prealloc = BLK_PREALLOC_OFF;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:q", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case OPT_SHRINK: shrink = true; break;
        case OPT_OBJECT: break;
        case OPT_IMAGE_OPTS: return img_usage("resize", "--image-opts is not supported");
        case OPT_PREALLOC:
            if (blk_prealloc_parse(optarg, &prealloc) < 0)
                return img_error("Invalid preallocation mode: '%s'", optarg);
            break;
        case ':': return img_usage("resize", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("resize", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("resize", "Expecting image file name and size");
    const char *path = argv[optind];
    int rel = 0;
    if (size_arg[0] == '+' || size_arg[0] == '-')
        rel = size_arg[0] == '+' ? 1 : -1;
    uint64_t n;
    if (img_parse_img_size(size_arg + (rel != 0), &n) < 0)
        return img_error("Invalid image size specified. You may use k, M, G, T, P or E suffixes for "
                         "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
    struct blk *b = img_open(path, fmt, BLK_O_RDWR, NULL);
    if (!b)
        return CLI_FAIL;
    uint64_t cur = blk_getlength(b), want = n;
    int ret = CLI_FAIL;
    if (rel > 0 && vk_add_overflow_u64(cur, n, &want)) {
        img_error("Image size too large");
        goto out;
    }
    if (rel < 0) {
        if (n > cur) {
            img_error("New image size must be positive");
            goto out;
        }
        want = cur - n;
    }
    if (want > INT64_MAX) {
        img_error("Image size too large");
        goto out;
    }
    if (want < cur) {
        if (prealloc != BLK_PREALLOC_OFF) {
            img_error("Preallocation can only be used for growing images");
            goto out;
        }
        if (!shrink) {
            img_error("warning: Shrinking an image will delete all data beyond the shrunken "
                      "image's end. Before performing such an operation, make sure there is "
                      "no important data there.");
            img_error("Use the --shrink option to perform a shrink operation.");
            goto out;
        }
    }
    struct vk_err e = { 0 };
    int r = blk_truncate(b, want, shrink, prealloc, &e);
    if (r < 0) {
        img_error("%s", img_errstr(&e, r));
        goto out;
    }
    if ((r = blk_flush(b, &e)) < 0) {
        img_error("Could not flush '%s': %s", path, img_errstr(&e, r));
        goto out;
    }
    if (!quiet)
        printf("Image resized.\n");
    ret = CLI_OK;
out:
    if (blk_close(b) < 0 && ret == CLI_OK)
        ret = img_error("Could not close '%s'", path);
    return ret;
}
