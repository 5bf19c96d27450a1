/* virtkit img create [-q] [-f fmt] [-b backing [-F fmt]] [-u] [-o opts] file [size] */
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "imgutil.h"

static void print_formatting(const char *path, const char *fmt, uint64_t size,
                             const struct blk_create_opts *o, const struct vk_kvlist *kv)
{
    const char *pre_names[] = { "off", "metadata", "falloc", "full" };
    const char *v;
    printf("Formatting '%s', fmt=%s", path, fmt);
    if (!strcmp(fmt, "raw")) {
        printf(" size=%llu", (unsigned long long)size);
        if ((v = vk_kv_get(kv, "nocow")))
            printf(" nocow=%s", o->nocow ? "on" : "off");
        if (vk_kv_get(kv, "preallocation"))
            printf(" preallocation=%s", pre_names[o->preallocation]);
        printf("\n");
        return;
    }
    printf(" cluster_size=%u extended_l2=%s", o->cluster_size ? o->cluster_size : 65536,
           o->extended_l2 ? "on" : "off");
    if (vk_kv_get(kv, "preallocation"))
        printf(" preallocation=%s", pre_names[o->preallocation]);
    printf(" compression_type=%s size=%llu",
           o->compression_type ? o->compression_type : "zlib", (unsigned long long)size);
    if ((v = vk_kv_get(kv, "compat")))
        printf(" compat=%s", v);
    if (o->backing_file)
        printf(" backing_file=%s", o->backing_file);
    if (o->backing_fmt)
        printf(" backing_fmt=%s", o->backing_fmt);
    if (o->data_file)
        printf(" data_file=%s", o->data_file);
    if (vk_kv_get(kv, "data_file_raw"))
        printf(" data_file_raw=%s", o->data_file_raw ? "on" : "off");
    printf(" lazy_refcounts=%s refcount_bits=%u", o->lazy_refcounts ? "on" : "off",
           o->refcount_bits ? o->refcount_bits : 16);
    if (vk_kv_get(kv, "nocow"))
        printf(" nocow=%s", o->nocow ? "on" : "off");
    printf("\n");
}

/* Backing file names are relative to the new image's directory. */
static char *backing_path(const char *image, const char *backing)
{
    if (backing[0] == '/' || !strchr(image, '/'))
        return strdup(backing);
    char *d = strdup(image);
    char *p = NULL;
    if (d && asprintf(&p, "%s/%s", dirname(d), backing) < 0)
        p = NULL;
    free(d);
    return p;
}

int img_create(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, 'O' + 256 },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = "raw", *backing = NULL, *backing_fmt = NULL;
    char *optstr = NULL;
    bool quiet = false, unsafe = false;
    int c, ret = CLI_FAIL;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":F:b:f:ho:qu", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'b': backing = optarg; break;
        case 'F': backing_fmt = optarg; break;
        case 'u': unsafe = true; break;
        case 'q': quiet = true; break;
        case 'o':
            if (img_opts_append(&optstr, optarg) < 0)
                return img_error("out of memory");
            break;
        case 'O' + 256: break;
        case ':': free(optstr); return img_usage("create", "option '%s' needs an argument", argv[optind - 1]);
        default: free(optstr); return img_usage("create", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (img_opts_is_help(optstr)) {
        free(optstr);
        return img_print_create_help(fmt) ? CLI_FAIL : CLI_OK;
    }
    if (optind >= argc) {
        free(optstr);
        return img_usage("create", "Expecting image file name");
    }
    const char *path = argv[optind++];
    const char *size_arg = optind < argc ? argv[optind++] : NULL;
    if (optind < argc) {
        free(optstr);
        return img_usage("create", "Unexpected argument: %s", argv[optind]);
    }
    if (!img_format_known(fmt)) {
        free(optstr);
        return img_error("%s: Unknown file format '%s'", path, fmt);
    }

    struct vk_kvlist kv = { 0 };
    struct blk_create_opts o;
    struct vk_err e = { 0 };
    uint64_t size = 0, opt_size = 0;
    char *bpath = NULL;
    int r;
    if (optstr && (r = vk_kv_parse(optstr, NULL, &kv, &e)) < 0) {
        img_error("Invalid options: %s", img_errstr(&e, r));
        goto out;
    }
    if ((r = blk_create_opts_parse(&kv, fmt, &o, &opt_size, &e)) < 0) {
        img_error("%s: %s", path, img_errstr(&e, r));
        goto out;
    }
    if (backing)
        o.backing_file = backing;
    if (backing_fmt)
        o.backing_fmt = backing_fmt;
    if (size_arg) {
        if (img_parse_img_size(size_arg, &size) < 0) {
            img_error("Invalid image size specified. You may use k, M, G, T, P or E suffixes for");
            img_error("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
            goto out;
        }
    } else if (vk_kv_get(&kv, "size")) {
        size = opt_size;
    }
    if (o.backing_file && !strcmp(fmt, "raw")) {
        img_error("%s: Backing file not supported for file format 'raw'", path);
        goto out;
    }
    if (o.backing_file && !o.backing_fmt) {
        const char *probed = NULL;
        bpath = backing_path(path, o.backing_file);
        img_error("%s: Backing file specified without backing format", path);
        if (bpath && blk_probe_format(bpath, &probed, NULL) == 0)
            fprintf(stderr, "Detected format of %s.\n", probed);
        goto out;
    }
    if (o.backing_file && !unsafe) {
        /* The backing file must open; without a size we take its size. */
        bpath = backing_path(path, o.backing_file);
        struct blk *bb = NULL;
        r = bpath ? blk_open(bpath, o.backing_fmt, 0, NULL, &bb, &e) : -ENOMEM;
        if (r < 0) {
            img_error("%s: %s", path, img_errstr(&e, r));
            fprintf(stderr, "Could not open backing image.\n");
            goto out;
        }
        if (!size_arg && !vk_kv_get(&kv, "size"))
            size = blk_getlength(bb);
        blk_close(bb);
    } else if (!size_arg && !vk_kv_get(&kv, "size")) {
        if (o.backing_file)
            img_error("%s: Image creation needs a size parameter", path);
        else
            img_usage("create", "Expecting image file name and size");
        ret = o.backing_file ? CLI_FAIL : CLI_USAGE;
        goto out;
    }
    if (!quiet)
        print_formatting(path, fmt, size, &o, &kv);
    fflush(stdout);
    r = blk_create(path, fmt, size, &o, &e);
    if (r < 0) {
        img_error("%s: %s", path, img_errstr(&e, r));
        goto out;
    }
    ret = CLI_OK;
out:
    free(bpath);
    vk_kv_free(&kv);
    free(optstr);
    return ret;
}
