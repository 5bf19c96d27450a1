/* virtkit img check [-q] [-f fmt] [--output=ofmt] [-r leaks|all] [-T cache] [-U] file
 * Exit: 0 clean, 1 check not completed, 2 corruptions, 3 leaks, 63 no checks
 * for this format (as qemu-img). */
#include <getopt.h>
#include <string.h>

#include "imgutil.h"

static json_object *result_json(const char *file, const char *fmt, const struct blk_check_result *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "filename", json_object_new_string(file));
    json_object_object_add(o, "format", json_object_new_string(fmt));
    json_object_object_add(o, "check-errors", json_object_new_int64(r->check_errors));
#define OPT(key, v) if (v) json_object_object_add(o, key, json_object_new_int64((int64_t)(v)))
    OPT("image-end-offset", r->image_end_offset);
    OPT("corruptions", r->corruptions);
    OPT("leaks", r->leaks);
    OPT("corruptions-fixed", r->corruptions_fixed);
    OPT("leaks-fixed", r->leaks_fixed);
    if (r->has_cluster_stats) {
        json_object_object_add(o, "total-clusters", json_object_new_int64((int64_t)r->total_clusters));
        json_object_object_add(o, "allocated-clusters", json_object_new_int64((int64_t)r->allocated_clusters));
    }
    OPT("fragmented-clusters", r->fragmented_clusters);
    OPT("compressed-clusters", r->compressed_clusters);
#undef OPT
    return o;
}

static void print_human(const struct blk_check_result *r)
{
    if (r->corruptions_fixed || r->leaks_fixed) {
        printf("The following inconsistencies were found and repaired:\n\n"
               "    %lld leaked clusters\n    %lld corruptions\n\n"
               "Double checking the fixed image now...\n",
               (long long)r->leaks_fixed, (long long)r->corruptions_fixed);
    }
    if (!r->corruptions && !r->leaks && !r->check_errors)
        printf("No errors were found on the image.\n");
    else {
        if (r->corruptions)
            printf("\n%lld errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image may corrupt it.\n",
                   (long long)r->corruptions);
        if (r->leaks)
            printf("\n%lld leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n", (long long)r->leaks);
        if (r->check_errors)
            printf("\n%lld internal errors have occurred during the check.\n",
                   (long long)r->check_errors);
    }
    if (r->has_cluster_stats && r->total_clusters && r->allocated_clusters)
        printf("%llu/%llu = %0.2f%% allocated, %0.2f%% fragmented, %0.2f%% compressed clusters\n",
               (unsigned long long)r->allocated_clusters, (unsigned long long)r->total_clusters,
               img_pct(r->allocated_clusters, r->total_clusters),
               img_pct(r->fragmented_clusters, r->allocated_clusters),
               img_pct(r->compressed_clusters, r->allocated_clusters));
    if (r->image_end_offset)
        printf("Image end offset: %llu\n", (unsigned long long)r->image_end_offset);
}

int img_check(int argc, char **argv)
{
    enum { OPT_OUTPUT = 256, OPT_OBJECT };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "repair", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "json", no_argument, NULL, 'j' + 512 },
        { "force-share", no_argument, NULL, 'U' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL;
    bool json = false, quiet = false;
    unsigned fix = 0, flags = BLK_O_UNSAFE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:r:T:qU", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'q': quiet = true; break;
        case 'U': case OPT_OBJECT: break;
        case 'r':
            if (!strcmp(optarg, "leaks"))
                fix = BLK_CHECK_FIX_LEAKS;
            else if (!strcmp(optarg, "all"))
                fix = BLK_CHECK_FIX_ALL;
            else
                return img_usage("check", "Unknown option value for -r (expecting 'leaks' or 'all'): %s", optarg);
            break;
        case 'T':
            if (img_cache_flags(optarg, &flags) < 0)
                return img_usage("check", "Invalid source cache option: %s", optarg);
            break;
        case 'j' + 512: json = true; break;
        case OPT_OUTPUT:
            if (img_parse_output(optarg, &json) < 0)
                return img_usage("check", "--output must be used with human or json as argument.");
            break;
        case ':': return img_usage("check", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("check", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("check", "Expecting one image file name");
    const char *path = argv[optind];
    if (fix)
        flags |= BLK_O_RDWR;
    struct blk *b = img_open(path, fmt, flags | BLK_O_NO_BACKING, NULL);
    if (!b)
        return CLI_FAIL;
    struct blk_check_result res = { 0 };
    struct vk_err e = { 0 };
    int r = blk_check(b, fix, &res, &e);
    char fmtname[16];
    snprintf(fmtname, sizeof(fmtname), "%s", blk_format_name(b));
    int cr = blk_close(b);
    if (r == -ENOTSUP) {
        img_error("This image format does not support checks");
        return 63;
    }
    if (r < 0) {
        img_error("Check failed: %s", img_errstr(&e, r));
        return CLI_FAIL;
    }
    if (cr < 0 && fix)
        return img_error("Could not write the repaired image: %s", strerror(-cr));
    if (json) {
        json_object *o = result_json(path, fmtname, &res);
        img_json_print(stdout, o);
        json_object_put(o);
    } else if (!quiet) {
        print_human(&res);
    }
    if (res.check_errors)
        return 1;
    if (res.corruptions)
        return 2;
    if (res.leaks)
        return 3;
    return 0;
}
