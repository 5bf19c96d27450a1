/* Shared helpers of `virtkit img`: JSON printing in qemu-img's layout.
 *
 * qemu-img prints objects from a hash table, so its key order is the order
 * of the keys' bucket numbers (the TDB string hash modulo 512; keys in the
 * same bucket come newest first). Scripts and tests that compare our output
 * with qemu-img's textually need the same order, so we sort the same way. */
#include <inttypes.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "imgutil.h"

static unsigned key_bucket(const char *s)
{
    uint32_t v = 0x238F13AFu * (uint32_t)strlen(s);
    for (unsigned i = 0; s[i]; i++)
        v += (uint32_t)(unsigned char)s[i] << (i * 5 % 24);
    return (1103515243u * v + 12345u) % 512u;
}

struct key_ent {
    const char *key;
    json_object *val;
    unsigned bucket;
    unsigned seq;
};

static int key_cmp(const void *a, const void *b)
{
    const struct key_ent *x = a, *y = b;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return x->seq > y->seq ? -1 : (x->seq < y->seq);   /* newest first */
}

static void put_indent(FILE *out, int level)
{
    for (int i = 0; i < level; i++)
        fputs("    ", out);
}

static void put_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

static void put_value(FILE *out, json_object *v, int level)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        fputs("null", out);
        break;
    case json_type_boolean:
        fputs(json_object_get_boolean(v) ? "true" : "false", out);
        break;
    case json_type_int:
        fprintf(out, "%" PRId64, json_object_get_int64(v));
        break;
    case json_type_double:
        fprintf(out, "%g", json_object_get_double(v));
        break;
    case json_type_string:
        put_string(out, json_object_get_string(v));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(v);
        if (!n) {
            fputs("[\n", out);
            put_indent(out, level);
            fputs("]", out);
            break;
        }
        fputs("[\n", out);
        for (size_t i = 0; i < n; i++) {
            put_indent(out, level + 1);
            put_value(out, json_object_array_get_idx(v, i), level + 1);
            fputs(i + 1 < n ? ",\n" : "\n", out);
        }
        put_indent(out, level);
        fputc(']', out);
        break;
    }
    case json_type_object: {
        size_t n = (size_t)json_object_object_length(v);
        struct key_ent *ents = calloc(n ? n : 1, sizeof(*ents));
        size_t i = 0;
        if (!ents)
            break;
        json_object_object_foreach(v, key, val) {
            ents[i] = (struct key_ent){ key, val, key_bucket(key), (unsigned)i };
            i++;
        }
        qsort(ents, n, sizeof(*ents), key_cmp);
        fputs("{\n", out);
        for (i = 0; i < n; i++) {
            put_indent(out, level + 1);
            put_string(out, ents[i].key);
            fputs(": ", out);
            put_value(out, ents[i].val, level + 1);
            fputs(i + 1 < n ? ",\n" : "\n", out);
        }
        put_indent(out, level);
        fputc('}', out);
        free(ents);
        break;
    }
    }
}

void img_json_print(FILE *out, json_object *obj)
{
    put_value(out, obj, 0);
    fputc('\n', out);
}

/* ---- opening and options ---------------------------------------------- */

const char *img_errstr(const struct vk_err *e, int r)
{
    if (e && e->msg[0])
        return e->msg;
    return strerror(r < 0 ? -r : r);
}

struct blk *img_open(const char *path, const char *fmt, unsigned flags,
                     const struct blk_open_opts *opts)
{
    struct vk_err e = { 0 };
    struct blk *b = NULL;
    if (fmt && !img_format_known(fmt)) {
        img_error("Unknown file format '%s'", fmt);
        return NULL;
    }
    int r = blk_open(path, fmt, flags, opts, &b, &e);
    if (r < 0) {
        img_error("Could not open '%s': %s", path, img_errstr(&e, r));
        return NULL;
    }
    return b;
}

int img_cache_flags(const char *mode, unsigned *flags)
{
    if (!strcmp(mode, "none") || !strcmp(mode, "off"))
        *flags |= BLK_O_DIRECT;
    else if (!strcmp(mode, "directsync"))
        *flags |= BLK_O_DIRECT;
    else if (!strcmp(mode, "unsafe"))
        *flags |= BLK_O_NO_FLUSH;
    else if (strcmp(mode, "writeback") && strcmp(mode, "writethrough"))
        return -EINVAL;
    return 0;
}

int img_opts_append(char **acc, const char *arg)
{
    size_t old = *acc ? strlen(*acc) : 0;
    char *n = realloc(*acc, old + strlen(arg) + 2);
    if (!n)
        return -ENOMEM;
    if (old)
        n[old++] = ',';
    strcpy(n + old, arg);
    *acc = n;
    return 0;
}

bool img_opts_is_help(const char *opts)
{
    if (!opts)
        return false;
    const char *p = opts;
    while (*p) {
        size_t n = strcspn(p, ",");
        if ((n == 4 && !strncmp(p, "help", 4)) || (n == 1 && *p == '?'))
            return true;
        p += n;
        if (*p)
            p++;
    }
    return false;
}

bool img_format_known(const char *fmt)
{
    return !strcmp(fmt, "raw") || !strcmp(fmt, "qcow2");
}

int img_print_create_help(const char *fmt)
{
    if (!strcmp(fmt, "raw")) {
        printf("Supported options:\n"
               "  nocow=<bool (on/off)>  - Turn off copy-on-write (valid only on btrfs)\n"
               "  preallocation=<str>    - Preallocation mode (allowed values: off, falloc, full)\n"
               "  size=<size>            - Virtual disk size\n");
        return 0;
    }
    if (!strcmp(fmt, "qcow2")) {
        printf("Supported options:\n"
               "  backing_file=<str>     - File name of a base image\n"
               "  backing_fmt=<str>      - Image format of the base image\n"
               "  cluster_size=<size>    - qcow2 cluster size\n"
               "  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
               "  compression_type=<str> - Compression method used for image cluster compression\n"
               "  data_file=<str>        - File name of an external data file\n"
               "  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image\n"
               "  extended_l2=<bool (on/off)> - Extended L2 tables\n"
               "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
               "  nocow=<bool (on/off)>  - Turn off copy-on-write (valid only on btrfs)\n"
               "  preallocation=<str>    - Preallocation mode (allowed values: off, metadata, falloc, full)\n"
               "  refcount_bits=<num>    - Width of a reference count entry in bits\n"
               "  size=<size>            - Virtual disk size\n");
        return 0;
    }
    return img_error("Unknown file format '%s'", fmt);
}

void *img_alloc(size_t len)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, len ? len : 1))
        return NULL;
    return p;
}

bool img_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (len < 16)
        goto tail;
    /* compare the buffer with itself shifted: zero iff first 16 are zero */
    for (size_t i = 0; i < 16; i++)
        if (p[i])
            return false;
    return memcmp(p, p + 16, len - 16) == 0;
tail:
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

double img_pct(uint64_t a, uint64_t b)
{
    return b ? (double)a * 100.0 / (double)b : 0.0;
}

/* ---- sizes and snapshot tables ------------------------------------------ */

void img_size_str(uint64_t v, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    unsigned u = 0;
    double d = (double)v;
    /* move to the next unit once the integer part reaches 1000 */
    while (d >= 1000.0 && u + 1 < VK_ARRAY_SIZE(units)) {
        d /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%0.3g %s", d, units[u]);
}

void img_snapshot_header(FILE *out)
{
    fprintf(out, "%-9s %-17s %7s%20s %12s %10s\n", "ID", "TAG", "VM SIZE", "DATE",
            "VM CLOCK", "ICOUNT");
}

void img_snapshot_row(FILE *out, const struct blk_snapshot_info *s)
{
    char size[32], date[64], clock[64], icount[32] = "";
    time_t t = (time_t)s->date_sec;
    struct tm tm;
    img_size_str(s->vm_state_size, size, sizeof(size));
    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    uint64_t ms = s->vm_clock_nsec / 1000000;
    snprintf(clock, sizeof(clock), "%02llu:%02llu:%02llu.%03llu",
             (unsigned long long)(ms / 3600000), (unsigned long long)(ms / 60000 % 60),
             (unsigned long long)(ms / 1000 % 60), (unsigned long long)(ms % 1000));
    if (s->icount != UINT64_MAX)
        snprintf(icount, sizeof(icount), "%llu", (unsigned long long)s->icount);
    fprintf(out, "%-9s %-17s %7s%20s %12s %10s\n", s->id, s->name, size, date, clock, icount);
}

json_object *img_snapshot_json(const struct blk_snapshot_info *s)
{
    json_object *o = json_object_new_object();
    if (s->icount != UINT64_MAX)
        json_object_object_add(o, "icount", json_object_new_int64((int64_t)s->icount));
    json_object_object_add(o, "vm-clock-nsec",
                           json_object_new_int64((int64_t)(s->vm_clock_nsec % 1000000000)));
    json_object_object_add(o, "name", json_object_new_string(s->name));
    json_object_object_add(o, "date-sec", json_object_new_int64(s->date_sec));
    json_object_object_add(o, "date-nsec", json_object_new_int64(s->date_nsec));
    json_object_object_add(o, "vm-clock-sec",
                           json_object_new_int64((int64_t)(s->vm_clock_nsec / 1000000000)));
    json_object_object_add(o, "id", json_object_new_string(s->id));
    json_object_object_add(o, "vm-state-size", json_object_new_int64((int64_t)s->vm_state_size));
    return o;
}

json_object *img_info_json(const struct blk_info *in)
{
    json_object *o = json_object_new_object();
    if (in->nb_snapshots) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < in->nb_snapshots; i++)
            json_object_array_add(a, img_snapshot_json(&in->snapshots[i]));
        json_object_object_add(o, "snapshots", a);
    }
    if (in->backing_fmt && in->backing_filename)
        json_object_object_add(o, "backing-filename-format", json_object_new_string(in->backing_fmt));
    json_object_object_add(o, "virtual-size", json_object_new_int64((int64_t)in->virtual_size));
    json_object_object_add(o, "filename", json_object_new_string(in->filename ? in->filename : ""));
    if (in->cluster_size)
        json_object_object_add(o, "cluster-size", json_object_new_int64(in->cluster_size));
    json_object_object_add(o, "format", json_object_new_string(in->format));
    json_object_object_add(o, "actual-size", json_object_new_int64((int64_t)in->actual_size));
    if (in->encrypted)
        json_object_object_add(o, "encrypted", json_object_new_boolean(1));
    if (in->has_qcow2) {
        json_object *d = json_object_new_object();
        bool v3 = strcmp(in->qcow2.compat, "0.10") != 0;
        json_object_object_add(d, "compat", json_object_new_string(in->qcow2.compat));
        json_object_object_add(d, "compression-type",
                               json_object_new_string(in->qcow2.compression_type));
        if (v3)
            json_object_object_add(d, "lazy-refcounts", json_object_new_boolean(in->qcow2.lazy_refcounts));
        json_object_object_add(d, "refcount-bits", json_object_new_int64(in->qcow2.refcount_bits));
        if (v3 && in->qcow2.data_file) {
            json_object_object_add(d, "data-file", json_object_new_string(in->qcow2.data_file));
            json_object_object_add(d, "data-file-raw", json_object_new_boolean(in->qcow2.data_file_raw));
        }
        if (v3) {
            json_object_object_add(d, "corrupt", json_object_new_boolean(in->qcow2.corrupt));
            json_object_object_add(d, "extended-l2", json_object_new_boolean(in->qcow2.extended_l2));
        }
        json_object *fs = json_object_new_object();
        json_object_object_add(fs, "type", json_object_new_string("qcow2"));
        json_object_object_add(fs, "data", d);
        json_object_object_add(o, "format-specific", fs);
    }
    if (in->backing_filename) {
        json_object_object_add(o, "full-backing-filename",
                               json_object_new_string(in->full_backing_filename ?
                                                      in->full_backing_filename : in->backing_filename));
        json_object_object_add(o, "backing-filename", json_object_new_string(in->backing_filename));
    }
    json_object_object_add(o, "dirty-flag", json_object_new_boolean(in->dirty_flag));
    return o;
}
