/* virtkit img map [-f fmt] [--start-offset=o] [--max-length=l] [--output=ofmt] file
 * Human output lists the ranges with data and where they are stored; JSON
 * lists every range with its status, as qemu-img. */
#include <getopt.h>
#include <string.h>

#include "imgutil.h"

struct ent {
    uint64_t start, len, offset;
    int depth;
    bool present, zero, data, has_offset;
    const char *file;
};

static bool mergeable(const struct ent *a, const struct ent *b)
{
    if (a->depth != b->depth || a->present != b->present || a->zero != b->zero ||
        a->data != b->data || a->has_offset != b->has_offset)
        return false;
    if (a->has_offset && a->offset + a->len != b->offset)
        return false;
    return !a->file == !b->file && (!a->file || !strcmp(a->file, b->file));
}

static int print_ent(const struct ent *e, bool json, bool first)
{
    if (json) {
        printf("%s{ \"start\": %llu, \"length\": %llu, \"depth\": %d, \"present\": %s, "
               "\"zero\": %s, \"data\": %s", first ? "[" : ",\n",
               (unsigned long long)e->start, (unsigned long long)e->len, e->depth,
               e->present ? "true" : "false", e->zero ? "true" : "false",
               e->data ? "true" : "false");
        if (e->has_offset)
            printf(", \"offset\": %llu", (unsigned long long)e->offset);
        printf("}");
        return 0;
    }
    if (e->data && !e->has_offset) {
        fflush(stdout);
        return img_error("File contains external, encrypted or compressed clusters.");
    }
    if (e->data)
        printf("%#-16llx%#-16llx%#-16llx%s\n", (unsigned long long)e->start,
               (unsigned long long)e->len, (unsigned long long)e->offset, e->file ? e->file : "");
    return 0;
}

int img_map(int argc, char **argv)
{
    enum { OPT_OUTPUT = 256, OPT_START, OPT_MAXLEN, OPT_OBJECT };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "json", no_argument, NULL, 'j' + 512 },
        { "start-offset", required_argument, NULL, OPT_START },
        { "max-length", required_argument, NULL, OPT_MAXLEN },
        { "force-share", no_argument, NULL, 'U' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL;
    bool json = false;
    uint64_t start = 0, maxlen = UINT64_MAX;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:U", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'U': case OPT_OBJECT: break;
        case 'j' + 512: json = true; break;
        case OPT_OUTPUT:
            if (img_parse_output(optarg, &json) < 0)
                return img_usage("map", "--output must be used with human or json as argument.");
            break;
        case OPT_START:
            if (img_parse_img_size(optarg, &start) < 0)
                return img_error("Invalid start offset specified! You may use k, M, G, T, P or E suffixes for ");
            break;
        case OPT_MAXLEN:
            if (img_parse_img_size(optarg, &maxlen) < 0)
                return img_error("Invalid length specified! You may use k, M, G, T, P or E suffixes for ");
            break;
        case ':': return img_usage("map", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("map", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("map", "Expecting one image file name");
    struct blk *b = img_open(argv[optind], fmt, 0, NULL);
    if (!b)
        return CLI_FAIL;
    uint64_t len = blk_getlength(b);
    uint64_t end = len;
    if (maxlen != UINT64_MAX && start + maxlen < end)
        end = start + maxlen;
    if (!json)
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    struct ent cur = { 0 };
    bool have = false, first = true;
    int ret = CLI_OK;
    for (uint64_t off = start; off < end;) {
        struct blk_status st;
        struct vk_err e = { 0 };
        int r = blk_block_status(b, off, end - off, true, &st, &e);
        if (r < 0) {
            ret = img_error("Could not read file metadata: %s", img_errstr(&e, r));
            break;
        }
        uint64_t n = st.len ? VK_MIN(st.len, end - off) : end - off;
        struct ent ne = {
            .start = off, .len = n, .depth = st.depth,
            .present = (st.flags & BLK_ST_ALLOCATED) != 0,
            .zero = (st.flags & (BLK_ST_ZERO | BLK_ST_EOF)) != 0,
            .data = (st.flags & BLK_ST_DATA) != 0,
            .has_offset = (st.flags & BLK_ST_OFFSET_VALID) && !(st.flags & BLK_ST_COMPRESSED),
            .offset = st.host_offset, .file = st.filename,
        };
        if (have && mergeable(&cur, &ne)) {
            cur.len += n;
        } else {
            if (have) {
                if (print_ent(&cur, json, first)) {
                    blk_close(b);
                    return CLI_FAIL;
                }
                first = false;
            }
            cur = ne;
            have = true;
        }
        off += n;
    }
    if (have && ret == CLI_OK) {
        if (print_ent(&cur, json, first))
            ret = CLI_FAIL;
        first = false;
    }
    if (json)
        printf(first ? "[]\n" : "]\n");
    blk_close(b);
    return ret;
}
