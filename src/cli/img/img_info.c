/* virtkit img info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "imgutil.h"

static void print_human(const struct blk_info *in)
{
    char vs[32], ds[32];
    img_size_str(in->virtual_size, vs, sizeof(vs));
    img_size_str(in->actual_size, ds, sizeof(ds));
    printf("image: %s\nfile format: %s\nvirtual size: %s (%llu bytes)\ndisk size: %s\n",
           in->filename, in->format, vs, (unsigned long long)in->virtual_size, ds);
    if (in->cluster_size)
        printf("cluster_size: %u\n", in->cluster_size);
    if (in->encrypted)
        printf("encrypted: yes\n");
    if (in->dirty_flag)
        printf("cleanly shut down: no\n");
    if (in->backing_filename) {
        printf("backing file: %s", in->backing_filename);
        if (in->full_backing_filename && strcmp(in->full_backing_filename, in->backing_filename))
            printf(" (actual path: %s)", in->full_backing_filename);
        printf("\n");
        if (in->backing_fmt)
            printf("backing file format: %s\n", in->backing_fmt);
    }
    if (in->nb_snapshots) {
        printf("Snapshot list:\n");
        img_snapshot_header(stdout);
        for (size_t i = 0; i < in->nb_snapshots; i++)
            img_snapshot_row(stdout, &in->snapshots[i]);
    }
    if (in->has_qcow2) {
        bool v3 = strcmp(in->qcow2.compat, "0.10") != 0;
        printf("Format specific information:\n    compat: %s\n    compression type: %s\n",
               in->qcow2.compat, in->qcow2.compression_type);
        if (v3)
            printf("    lazy refcounts: %s\n", in->qcow2.lazy_refcounts ? "true" : "false");
        printf("    refcount bits: %u\n", in->qcow2.refcount_bits);
        if (v3 && in->qcow2.data_file)
            printf("    data file: %s\n    data file raw: %s\n", in->qcow2.data_file,
                   in->qcow2.data_file_raw ? "true" : "false");
        if (v3)
            printf("    corrupt: %s\n    extended l2: %s\n", in->qcow2.corrupt ? "true" : "false",
                   in->qcow2.extended_l2 ? "true" : "false");
    }
}

int img_info(int argc, char **argv)
{
    enum { OPT_OUTPUT = 256, OPT_CHAIN, OPT_OBJECT, OPT_IMAGE_OPTS };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "json", no_argument, NULL, 'j' + 512 },
        { "backing-chain", no_argument, NULL, OPT_CHAIN },
        { "force-share", no_argument, NULL, 'U' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL;
    bool json = false, chain = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":f:hU", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'U': case OPT_OBJECT: break;
        case OPT_CHAIN: chain = true; break;
        case 'j' + 512: json = true; break;
        case OPT_OUTPUT:
            if (img_parse_output(optarg, &json) < 0)
                return img_usage("info", "--output must be used with human or json as argument.");
            break;
        case ':': return img_usage("info", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("info", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("info", "Expecting one image file name");

    char *path = strdup(argv[optind]);
    char *fmt_cur = fmt ? strdup(fmt) : NULL;
    char *seen[BLK_MAX_CHAIN + 1];
    size_t nseen = 0, nprinted = 0;
    json_object *arr = chain && json ? json_object_new_array() : NULL;
    int ret = CLI_OK;
    while (path) {
        char real[PATH_MAX];
        if (realpath(path, real)) {
            for (size_t i = 0; i < nseen; i++) {
                if (!strcmp(seen[i], real)) {
                    ret = img_error("Backing file '%s' creates an infinite loop.", path);
                    goto out;
                }
            }
            if (nseen == VK_ARRAY_SIZE(seen)) {
                ret = img_error("Backing chain of '%s' is too deep", argv[optind]);
                goto out;
            }
            seen[nseen++] = strdup(real);
        }
        struct blk *b = img_open(path, fmt_cur, BLK_O_NO_BACKING | BLK_O_UNSAFE, NULL);
        if (!b) {
            ret = CLI_FAIL;
            goto out;
        }
        struct blk_info in = { 0 };
        struct vk_err e = { 0 };
        int r = blk_get_info(b, &in, &e);
        blk_close(b);
        if (r < 0) {
            ret = img_error("Could not get info of '%s': %s", path, img_errstr(&e, r));
            goto out;
        }
        if (json && arr)
            json_object_array_add(arr, img_info_json(&in));
        else if (json) {
            json_object *o = img_info_json(&in);
            img_json_print(stdout, o);
            json_object_put(o);
        } else {
            if (nprinted++)
                printf("\n");
            print_human(&in);
        }
        free(path);
        free(fmt_cur);
        path = NULL;
        fmt_cur = NULL;
        if (chain && in.backing_filename) {
            path = strdup(in.full_backing_filename ? in.full_backing_filename : in.backing_filename);
            fmt_cur = in.backing_fmt ? strdup(in.backing_fmt) : NULL;
        }
        blk_info_free(&in);
    }
    if (arr)
        img_json_print(stdout, arr);
out:
    if (arr)
        json_object_put(arr);
    for (size_t i = 0; i < nseen; i++)
        free(seen[i]);
    free(path);
    free(fmt_cur);
    return ret;
}
