/* virtkit img measure [--output=ofmt] [-O fmt] [-o opts] [--size N | [-f fmt] file] */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "imgutil.h"

int img_measure(int argc, char **argv)
{
    enum { OPT_OUTPUT = 256, OPT_SIZE, OPT_OBJECT, OPT_IMAGE_OPTS };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "json", no_argument, NULL, 'j' + 512 },
        { "size", required_argument, NULL, OPT_SIZE },
        { "force-share", no_argument, NULL, 'U' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL, *out_fmt = "raw";
    char *optstr = NULL;
    bool json = false, have_size = false;
    uint64_t size = 0;
    int c, ret = CLI_FAIL;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:O:o:l:U", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'U': case OPT_OBJECT: break;
        case 'l':
            free(optstr);
            return img_error("Measuring an internal snapshot (-l) is not supported");
        case OPT_IMAGE_OPTS:
            free(optstr);
            return img_usage("measure", "--image-opts is not supported");
        case 'o':
            if (img_opts_append(&optstr, optarg) < 0)
                return img_error("out of memory");
            break;
        case OPT_SIZE:
            if (img_parse_img_size(optarg, &size) < 0) {
                free(optstr);
                return img_error("Invalid image size specified. You may use k, M, G, T, P or E suffixes for "
                                 "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
            }
            have_size = true;
            break;
        case 'j' + 512: json = true; break;
        case OPT_OUTPUT:
            if (img_parse_output(optarg, &json) < 0) {
                free(optstr);
                return img_usage("measure", "--output must be used with human or json as argument.");
            }
            break;
        case ':': free(optstr); return img_usage("measure", "option '%s' needs an argument", argv[optind - 1]);
        default: free(optstr); return img_usage("measure", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (img_opts_is_help(optstr)) {
        free(optstr);
        return img_print_create_help(out_fmt) ? CLI_FAIL : CLI_OK;
    }
    const char *path = optind < argc ? argv[optind] : NULL;
    if ((have_size && path) || (!have_size && !path) || argc - optind > 1) {
        free(optstr);
        return img_usage("measure", "Either --size N or one filename must be specified.");
    }
    if (!img_format_known(out_fmt)) {
        free(optstr);
        return img_error("Unknown file format '%s'", out_fmt);
    }
    struct vk_kvlist kv = { 0 };
    struct blk_create_opts co;
    struct vk_err e = { 0 };
    struct blk *src = NULL;
    uint64_t osize = 0, req = 0, full = 0;
    int r;
    if (optstr && (r = vk_kv_parse(optstr, NULL, &kv, &e)) < 0) {
        img_error("Invalid options: %s", img_errstr(&e, r));
        goto out;
    }
    if ((r = blk_create_opts_parse(&kv, out_fmt, &co, &osize, &e)) < 0) {
        img_error("%s", img_errstr(&e, r));
        goto out;
    }
    if (path && !(src = img_open(path, fmt, 0, NULL)))
        goto out;
    if ((r = blk_measure(out_fmt, &co, src ? blk_getlength(src) : size, src, &req, &full, &e)) < 0) {
        img_error("%s", img_errstr(&e, r));
        goto out;
    }
    bool bitmaps = src && !strcmp(out_fmt, "qcow2") && !strcmp(blk_format_name(src), "qcow2");
    if (json) {
        json_object *o = json_object_new_object();
        if (bitmaps)
            json_object_object_add(o, "bitmaps", json_object_new_int64(0));
        json_object_object_add(o, "required", json_object_new_int64((int64_t)req));
        json_object_object_add(o, "fully-allocated", json_object_new_int64((int64_t)full));
        img_json_print(stdout, o);
        json_object_put(o);
    } else {
        printf("required size: %llu\nfully allocated size: %llu\n", (unsigned long long)req,
               (unsigned long long)full);
        if (bitmaps)
            printf("bitmaps size: 0\n");
    }
    ret = CLI_OK;
out:
    blk_close(src);
    vk_kv_free(&kv);
    free(optstr);
    return ret;
}
