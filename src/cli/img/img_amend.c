/* virtkit img amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options file */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "imgutil.h"

int img_amend(int argc, char **argv)
{
    enum { OPT_OBJECT = 256, OPT_IMAGE_OPTS, OPT_FORCE };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { "force", no_argument, NULL, OPT_FORCE },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL, *cache = "writeback";
    char *optstr = NULL;
    bool progress = false, quiet = false;
    int c, ret = CLI_FAIL;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":ho:f:t:pq", lopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (img_opts_append(&optstr, optarg) < 0)
                return img_error("out of memory");
            break;
        case 'f': fmt = optarg; break;
        case 't': cache = optarg; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case OPT_OBJECT: case OPT_FORCE: break;
        case OPT_IMAGE_OPTS: free(optstr); return img_usage("amend", "--image-opts is not supported");
        case ':': free(optstr); return img_usage("amend", "option '%s' needs an argument", argv[optind - 1]);
        default: free(optstr); return img_usage("amend", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!optstr)
        return img_usage("amend", "Must specify options (-o)");
    if (img_opts_is_help(optstr)) {
        free(optstr);
        printf("Amend options for 'qcow2' (other create options cannot be changed):\n"
               "  backing_file=<str>     - File name of a base image\n"
               "  backing_fmt=<str>      - Image format of the base image\n"
               "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
               "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
               "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
               "  size=<size>            - Virtual disk size\n");
        return CLI_OK;
    }
    if (optind != argc - 1) {
        free(optstr);
        return img_usage("amend", "Expecting one image file name");
    }
    unsigned flags = BLK_O_RDWR | BLK_O_NO_BACKING;
    if (img_cache_flags(cache, &flags) < 0) {
        free(optstr);
        return img_usage("amend", "Invalid cache option: %s", cache);
    }
    const char *path = argv[optind];
    struct vk_kvlist kv = { 0 };
    struct blk_amend_opts ao;
    struct vk_err e = { 0 };
    struct blk *b = NULL;
    struct img_progress prog;
    int r;
    img_progress_init(&prog, progress && !quiet);
    if ((r = vk_kv_parse(optstr, NULL, &kv, &e)) < 0) {
        img_error("Invalid options: %s", img_errstr(&e, r));
        goto out;
    }
    if ((r = blk_amend_opts_parse(&kv, &ao, &e)) < 0) {
        img_error("%s", img_errstr(&e, r));
        goto out;
    }
    if (!(b = img_open(path, fmt, flags, NULL)))
        goto out;
    if (strcmp(blk_format_name(b), "qcow2")) {
        img_error("Format driver '%s' does not support option amendment", blk_format_name(b));
        goto out;
    }
    if ((r = blk_amend(b, &ao, &e)) < 0) {
        img_error("Error while amending options: %s", img_errstr(&e, r));
        goto out;
    }
    img_progress_done(&prog);
    ret = CLI_OK;
out:
    if (b && blk_close(b) < 0 && ret == CLI_OK)
        ret = img_error("Could not write '%s'", path);
    vk_kv_free(&kv);
    free(optstr);
    return ret;
}
