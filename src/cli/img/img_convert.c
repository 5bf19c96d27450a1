/* virtkit img convert: copy one or more images (concatenated) into a new
 * image, skipping zeroes (-S), optionally compressing (-c).
 *
 * Work is split in chunks handed to -m worker threads. A worker reads its
 * chunk (block status first, so holes are never read), finds zero runs,
 * compresses clusters for -c (the CPU-heavy part, in parallel), then writes.
 * Without -W writes happen in chunk order, as qemu-img does, so the target
 * is written sequentially; with -W they go out as soon as they are ready.
 * Chunks with nothing to write never wait. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgutil.h"

#define CHUNK (1u << 20)

struct conv {
    struct blk **src;
    uint64_t *src_len;
    int nsrc;
    struct blk *dst;
    uint64_t total;
    uint64_t chunk;          /* bytes per work unit, multiple of cluster */
    uint32_t cluster;        /* target cluster size (compression unit) */
    uint64_t sparse;         /* -S: zero runs of this size are skipped; 0 = never */
    bool compress, ordered, target_zero, has_backing;
    /* work distribution */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t next_chunk, next_write, nchunks, done_bytes;
    /* Ordered mode: per chunk 0 = in progress, CH_READY = processed, its
     * writes waiting in slot_of[idx], CH_DONE = written (or nothing to write). */
    uint8_t *done;
    int *slot_of;
    bool writing;            /* a thread is writing ready chunks in order */
    /* Buffer sets (twice the threads): a worker whose chunk waits for its
     * turn to be written goes on with the next chunk in another slot. */
    struct slot *slots;
    int *free_slots, nfree;
    unsigned waiters;        /* threads blocked on `cond` */
    bool failed;
    char errmsg[600];
    struct img_progress prog;
};

static void conv_fail(struct conv *c, const char *fmt, const char *what, uint64_t off, const char *why)
{
    pthread_mutex_lock(&c->lock);
    if (!c->failed) {
        c->failed = true;
        snprintf(c->errmsg, sizeof(c->errmsg), fmt, what, (unsigned long long)off, why);
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Locate global offset `g` in the list of sources. */
static int src_at(struct conv *c, uint64_t g, uint64_t *local, uint64_t *avail)
{
    for (int i = 0; i < c->nsrc; i++) {
        if (g < c->src_len[i]) {
            *local = g;
            *avail = c->src_len[i] - g;
            return i;
        }
        g -= c->src_len[i];
    }
    return -1;
}

/* One planned write: data (plain or precompressed) or zeroes. */
struct op {
    uint64_t off, len;
    enum { OP_DATA, OP_ZERO, OP_CDATA } kind;
    const uint8_t *buf;
};

struct slot {
    struct conv *c;
    uint8_t *buf;       /* chunk data */
    uint8_t *cbuf;      /* compressed clusters, cluster-sized slots */
    uint8_t *cmpbuf;    /* with a backing file: target's current content */
    struct op *ops;
    size_t nops, capops;
    uint64_t len;       /* bytes of the chunk being handled */
};

static int add_op(struct slot *w, uint64_t off, uint64_t len, int kind, const uint8_t *buf)
{
    if (w->nops && kind == OP_ZERO && w->ops[w->nops - 1].kind == OP_ZERO &&
        w->ops[w->nops - 1].off + w->ops[w->nops - 1].len == off) {
        w->ops[w->nops - 1].len += len;
        return 0;
    }
    if (w->nops && kind == OP_DATA && w->ops[w->nops - 1].kind == OP_DATA &&
        w->ops[w->nops - 1].off + w->ops[w->nops - 1].len == off &&
        w->ops[w->nops - 1].buf + w->ops[w->nops - 1].len == buf) {
        w->ops[w->nops - 1].len += len;
        return 0;
    }
    if (w->nops == w->capops) {
        size_t n = w->capops ? w->capops * 2 : 64;
        struct op *o = realloc(w->ops, n * sizeof(*o));
        if (!o)
            return -ENOMEM;
        w->ops = o;
        w->capops = n;
    }
    w->ops[w->nops++] = (struct op){ off, len, kind, buf };
    return 0;
}

/* Plan the writes for data at buf (target offset off, len bytes): zero runs
 * of -S granularity become zero ops (or nothing on a zeroed target). */
static int plan_data(struct slot *w, uint64_t off, uint8_t *buf, uint64_t len)
{
    struct conv *c = w->c;
    if (c->compress) {
        /* whole clusters: zero clusters are skipped, others compressed */
        for (uint64_t p = 0; p < len; p += c->cluster) {
            uint64_t n = VK_MIN((uint64_t)c->cluster, len - p);
            if (img_is_zero(buf + p, n)) {
                if (!c->target_zero && add_op(w, off + p, n, OP_ZERO, NULL) < 0)
                    return -ENOMEM;
                continue;
            }
            /* the compressed slot matching this cluster's position */
            uint8_t *slot = w->cbuf + (buf - w->buf) + p;
            struct vk_err e = { 0 };
            long cl = blk_compress_cluster(c->dst, buf + p, n, slot, c->cluster, &e);
            if (cl == -ENOSPC || cl == -ENOTSUP) {
                if (add_op(w, off + p, n, OP_DATA, buf + p) < 0)
                    return -ENOMEM;
            } else if (cl < 0) {
                return (int)cl;
            } else if (add_op(w, off + p, (uint64_t)cl, OP_CDATA, slot) < 0) {
                return -ENOMEM;
            }
        }
        return 0;
    }
    if (!c->sparse)
        return add_op(w, off, len, OP_DATA, buf);
    for (uint64_t p = 0; p < len;) {
        /* runs aligned on the sparse unit, relative to the target offset */
        uint64_t end = VK_ALIGN_DOWN(off + p + c->sparse, c->sparse) - off;
        uint64_t n = VK_MIN(end - p, len - p);
        if (n == c->sparse && img_is_zero(buf + p, n)) {
            if (!c->target_zero && add_op(w, off + p, n, OP_ZERO, NULL) < 0)
                return -ENOMEM;
        } else if (add_op(w, off + p, n, OP_DATA, buf + p) < 0) {
            return -ENOMEM;
        }
        p += n;
    }
    return 0;
}

static int process_chunk(struct slot *w, uint64_t g, uint64_t len)
{
    struct conv *c = w->c;
    struct vk_err e = { 0 };
    uint64_t local, avail;
    int si = src_at(c, g, &local, &avail);
    if (si < 0)
        return 0;
    len = VK_MIN(len, avail);
    w->nops = 0;
    uint64_t p = 0;
    while (p < len) {
        struct blk_status st;
        int r = blk_block_status(c->src[si], local + p, len - p, true, &st, &e);
        if (r < 0) {
            conv_fail(c, "error while reading %s at byte %llu: %s", "block status", g + p, img_errstr(&e, r));
            return r;
        }
        uint64_t n = VK_MIN(st.len, len - p);
        if (!n)
            n = len - p;
        bool zero = (st.flags & (BLK_ST_ZERO | BLK_ST_EOF)) && !(st.flags & BLK_ST_DATA);
        /* compression works on whole clusters: gather the chunk first */
        bool whole = c->compress || c->has_backing;
        if (zero && c->sparse && !whole) {
            if (!c->target_zero && add_op(w, g + p, n, OP_ZERO, NULL) < 0)
                return -ENOMEM;
        } else {
            if (zero)
                memset(w->buf + p, 0, n);
            else if ((r = blk_pread(c->src[si], local + p, w->buf + p, n, &e)) < 0) {
                conv_fail(c, "error while %s at byte %llu: %s", "reading", g + p, img_errstr(&e, r));
                return r;
            }
            if (!whole && (r = plan_data(w, g + p, w->buf + p, n)) < 0) {
                conv_fail(c, "error while %s at byte %llu: %s", "compressing", g + p, strerror(-r));
                return r;
            }
        }
        p += n;
    }
    if (c->compress && !c->has_backing) {
        int r = plan_data(w, g, w->buf, len);
        if (r < 0) {
            conv_fail(c, "error while %s at byte %llu: %s", "compressing", g, strerror(-r));
            return r;
        }
    } else if (c->has_backing) {
        /* Target reads its new backing file where it has no data: write only
         * the clusters whose content differs from what the target shows. */
        int r = blk_pread(c->dst, g, w->cmpbuf, len, &e);
        if (r < 0) {
            conv_fail(c, "error while %s at byte %llu: %s", "reading target", g, img_errstr(&e, r));
            return r;
        }
        uint64_t unit = c->cluster ? c->cluster : 65536;
        for (uint64_t q = 0; q < len;) {
            uint64_t m = VK_MIN(VK_ALIGN_DOWN(g + q + unit, unit) - g - q, len - q);
            if (memcmp(w->buf + q, w->cmpbuf + q, m)) {
                if ((r = plan_data(w, g + q, w->buf + q, m)) < 0)
                    return r;
            }
            q += m;
        }
    }
    return 0;
}

static int write_ops(struct slot *w)
{
    struct conv *c = w->c;
    struct vk_err e = { 0 };
    for (size_t i = 0; i < w->nops; i++) {
        struct op *o = &w->ops[i];
        int r;
        if (o->kind == OP_DATA)
            r = blk_pwrite(c->dst, o->off, o->buf, o->len, &e);
        else if (o->kind == OP_CDATA)
            r = blk_pwrite_precompressed(c->dst, o->off, o->buf, o->len, &e);
        else
            r = blk_pwrite_zeroes(c->dst, o->off, o->len, c->sparse ? BLK_ZERO_MAY_UNMAP : 0, &e);
        if (r < 0) {
            conv_fail(c, "error while %s at byte %llu: %s", "writing", o->off, img_errstr(&e, r));
            return r;
        }
    }
    return 0;
}

enum { CH_RUNNING, CH_READY, CH_DONE };

/* Ordered mode, lock held: write every chunk that is next in line and
 * ready, unless another thread is at it already (it will see ours). */
static void write_in_order(struct conv *c)
{
    while (!c->writing && !c->failed && c->next_write < c->nchunks &&
           c->done[c->next_write] != CH_RUNNING) {
        uint64_t idx = c->next_write;
        if (c->done[idx] == CH_READY) {
            struct slot *w = &c->slots[c->slot_of[idx]];
            c->writing = true;
            pthread_mutex_unlock(&c->lock);
            int r = write_ops(w);
            pthread_mutex_lock(&c->lock);
            c->writing = false;
            c->done[idx] = CH_DONE;
            c->free_slots[c->nfree++] = c->slot_of[idx];
            c->done_bytes += w->len;
            img_progress_update(&c->prog, c->done_bytes, c->total);
            pthread_cond_broadcast(&c->cond);
            if (r < 0)
                return;
        }
        c->next_write++;
    }
}

static void *worker_main(void *arg)
{
    struct conv *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->failed && c->next_chunk < c->nchunks && !c->nfree) {
            c->waiters++;
            pthread_cond_wait(&c->cond, &c->lock);
            c->waiters--;
        }
        if (c->failed || c->next_chunk >= c->nchunks)
            break;
        uint64_t idx = c->next_chunk++;
        int si = c->free_slots[--c->nfree];
        pthread_mutex_unlock(&c->lock);

        struct slot *w = &c->slots[si];
        uint64_t g = idx * c->chunk, len = VK_MIN(c->chunk, c->total - g);
        w->len = len;
        int r = process_chunk(w, g, len);
        if (r < 0) {
            /* first failure's message wins; this one wakes the waiters */
            conv_fail(c, "error while %s at byte %llu: %s", "converting", g, strerror(-r));
            pthread_mutex_lock(&c->lock);
            break;
        }
        if (!c->ordered)
            r = write_ops(w);
        pthread_mutex_lock(&c->lock);
        if (c->ordered && w->nops) {
            /* Hand the writes over: whoever finds this chunk next in line
             * writes it, and this thread goes on with another chunk. */
            c->done[idx] = CH_READY;
            c->slot_of[idx] = si;
        } else {
            if (c->ordered)
                c->done[idx] = CH_DONE;
            c->free_slots[c->nfree++] = si;
            c->done_bytes += len;
            img_progress_update(&c->prog, c->done_bytes, c->total);
            if (c->waiters)
                pthread_cond_broadcast(&c->cond);
        }
        if (c->ordered)
            write_in_order(c);
        if (r < 0)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static int run_workers(struct conv *c, int nthreads)
{
    int nslots = 2 * nthreads;
    c->slots = calloc((size_t)nslots, sizeof(*c->slots));
    c->free_slots = calloc((size_t)nslots, sizeof(*c->free_slots));
    pthread_t *tids = calloc((size_t)nthreads, sizeof(*tids));
    int started = 0, ret = 0;
    if (!c->slots || !c->free_slots || !tids) {
        ret = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < nslots; i++) {
        struct slot *w = &c->slots[i];
        w->c = c;
        w->buf = img_alloc(c->chunk);
        w->cbuf = c->compress ? img_alloc(c->chunk) : NULL;
        w->cmpbuf = c->has_backing ? img_alloc(c->chunk) : NULL;
        if (!w->buf || (c->compress && !w->cbuf) || (c->has_backing && !w->cmpbuf)) {
            ret = -ENOMEM;
            goto out;
        }
        c->free_slots[c->nfree++] = i;
    }
    for (; started < nthreads; started++)
        if (pthread_create(&tids[started], NULL, worker_main, c))
            break;
    if (!started)      /* fewer threads than asked still finish the job */
        ret = -EAGAIN;
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
out:
    if (c->slots)
        for (int i = 0; i < nslots; i++) {
            free(c->slots[i].buf);
            free(c->slots[i].cbuf);
            free(c->slots[i].cmpbuf);
            free(c->slots[i].ops);
        }
    free(c->slots);
    free(c->free_slots);
    c->slots = NULL;
    free(tids);
    return ret;
}

int img_convert(int argc, char **argv)
{
    enum { OPT_OBJECT = 256, OPT_IMAGE_OPTS, OPT_TARGET_IMAGE_OPTS, OPT_TARGET_ZERO,
           OPT_SALVAGE, OPT_BITMAPS };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "object", required_argument, NULL, OPT_OBJECT },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { "target-image-opts", no_argument, NULL, OPT_TARGET_IMAGE_OPTS },
        { "target-is-zero", no_argument, NULL, OPT_TARGET_ZERO },
        { "salvage", no_argument, NULL, OPT_SALVAGE },
        { "bitmaps", no_argument, NULL, OPT_BITMAPS },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL, *out_fmt = NULL, *backing = NULL, *backing_fmt = NULL;
    const char *cache = "unsafe", *src_cache = "writeback";
    char *optstr = NULL;
    bool compress = false, progress = false, quiet = false, no_create = false;
    bool out_of_order = false, target_is_zero = false;
    uint64_t sparse = 4096;
    int nthreads = 8, c, ret = CLI_FAIL;
    bool threads_given = false;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt = optarg; break;
        case 'O': out_fmt = optarg; break;
        case 'B': backing = optarg; break;
        case 'F': backing_fmt = optarg; break;
        case 'C': break;
        case 'c': compress = true; break;
        case 'p': progress = true; break;
        case 'q': quiet = true; break;
        case 'n': no_create = true; break;
        case 'W': out_of_order = true; break;
        case 't': cache = optarg; break;
        case 'T': src_cache = optarg; break;
        case 'U': case OPT_OBJECT: case OPT_BITMAPS: case OPT_SALVAGE: break;
        case 'r': break; /* rate limit: accepted, not applied */
        case OPT_TARGET_ZERO: target_is_zero = true; break;
        case OPT_IMAGE_OPTS: case OPT_TARGET_IMAGE_OPTS:
            free(optstr);
            return img_usage("convert", "--image-opts is not supported");
        case 'l':
            free(optstr);
            return img_error("Converting from an internal snapshot (-l) is not supported; "
                             "apply it to a copy with 'virtkit img snapshot -a'");
        case 'o':
            if (img_opts_append(&optstr, optarg) < 0)
                return img_error("out of memory");
            break;
        case 'S':
            if (vk_parse_size(optarg, &sparse) < 0 || sparse % 512 || sparse > (1u << 30)) {
                free(optstr);
                return img_error("Invalid buffer size for sparse output specified. "
                                 "Valid sizes are multiples of 512 up to 1073741824.");
            }
            break;
        case 'm':
            threads_given = true;
            if (vk_parse_int(optarg, 1, 16, &nthreads) < 0) {
                free(optstr);
                return img_error("Invalid number of coroutines. Allowed number of coroutines is between 1 and 16");
            }
            break;
        case ':': free(optstr); return img_usage("convert", "option '%s' needs an argument", argv[optind - 1]);
        default: free(optstr); return img_usage("convert", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!out_fmt)
        out_fmt = "raw";
    if (img_opts_is_help(optstr)) {
        free(optstr);
        return img_print_create_help(out_fmt) ? CLI_FAIL : CLI_OK;
    }
    if (quiet)
        progress = false;
    int nsrc = argc - optind - 1;
    if (nsrc < 1) {
        free(optstr);
        return img_usage("convert", "Must specify image file name");
    }
    const char *out_path = argv[argc - 1];
    unsigned sflags = 0, dflags = BLK_O_RDWR;
    if (img_cache_flags(src_cache, &sflags) < 0 || img_cache_flags(cache, &dflags) < 0) {
        free(optstr);
        return img_usage("convert", "Invalid cache option: %s", cache);
    }
    if (!img_format_known(out_fmt)) {
        free(optstr);
        return img_error("Unknown file format '%s'", out_fmt);
    }
    if (compress && strcmp(out_fmt, "qcow2")) {
        free(optstr);
        return img_error("Compression not supported for this file format");
    }
    if (no_create && (backing || optstr)) {
        free(optstr);
        return img_error("-n cannot be used together with -B or -o");
    }
    if (out_of_order && nthreads == 1)
        out_of_order = false;

    struct conv cv = { 0 };
    struct vk_kvlist kv = { 0 };
    struct vk_err e = { 0 };
    pthread_mutex_init(&cv.lock, NULL);
    pthread_cond_init(&cv.cond, NULL);
    cv.nsrc = nsrc;
    cv.src = calloc((size_t)nsrc, sizeof(*cv.src));
    cv.src_len = calloc((size_t)nsrc, sizeof(*cv.src_len));
    if (!cv.src || !cv.src_len)
        goto out;
    for (int i = 0; i < nsrc; i++) {
        cv.src[i] = img_open(argv[optind + i], fmt, sflags, NULL);
        if (!cv.src[i])
            goto out;
        cv.src_len[i] = blk_getlength(cv.src[i]);
        cv.total += cv.src_len[i];
    }

    if (!no_create) {
        struct blk_create_opts co;
        uint64_t osize = 0;
        int r;
        if (optstr && (r = vk_kv_parse(optstr, NULL, &kv, &e)) < 0) {
            img_error("Invalid options: %s", img_errstr(&e, r));
            goto out;
        }
        if ((r = blk_create_opts_parse(&kv, out_fmt, &co, &osize, &e)) < 0) {
            img_error("%s", img_errstr(&e, r));
            goto out;
        }
        if (backing) {
            co.backing_file = backing;
            co.backing_fmt = backing_fmt;
        }
        if (co.backing_file && !strcmp(out_fmt, "raw")) {
            img_error("Backing file not supported for file format 'raw'");
            goto out;
        }
        if (co.preallocation != BLK_PREALLOC_OFF && co.backing_file) {
            img_error("Backing file and preallocation can only be used at the same time if "
                      "extended_l2 is on");
            goto out;
        }
        if ((r = blk_create(out_path, out_fmt, cv.total, &co, &e)) < 0) {
            img_error("%s: error while converting %s: %s", out_path, out_fmt, img_errstr(&e, r));
            goto out;
        }
        /* a fresh image without backing file reads as zeroes (unless preallocated with
         * data, which "full" does with zeroes too) */
        cv.target_zero = !co.backing_file;
        cv.has_backing = co.backing_file != NULL;
    } else {
        cv.target_zero = target_is_zero;
    }
    cv.dst = img_open(out_path, no_create ? NULL : out_fmt, dflags, NULL);
    if (!cv.dst)
        goto out;
    if (no_create && blk_backing(cv.dst))
        cv.has_backing = true;
    if (no_create && blk_getlength(cv.dst) < cv.total) {
        img_error("Target image is too small (%llu < %llu bytes)",
                  (unsigned long long)blk_getlength(cv.dst), (unsigned long long)cv.total);
        goto out;
    }
    cv.cluster = blk_cluster_size(cv.dst);
    cv.compress = compress;
    cv.sparse = sparse;
    /* In-order writes keep a qcow2 target's clusters sequential and give a
     * raw target's file system one sequential stream (measured faster than
     * several interleaved ones). */
    cv.ordered = !out_of_order;
    cv.chunk = VK_MAX((uint64_t)CHUNK, (uint64_t)cv.cluster);
    if (compress && !cv.cluster) {
        img_error("Compression not supported for this file format");
        goto out;
    }
    cv.nchunks = (cv.total + cv.chunk - 1) / cv.chunk;
    /* chunks must not span two sources: a chunk that does is cut at the
     * source end (process_chunk clips), and the rest belongs to the next
     * chunk only when sources are chunk-aligned, so fall back to units
     * that divide every source length */
    for (int i = 0; i + 1 < nsrc; i++) {
        while (cv.src_len[i] % cv.chunk && cv.chunk > 512)
            cv.chunk /= 2;
    }
    if (nsrc > 1) {
        if (cv.chunk < 512 || (cv.compress && cv.chunk < cv.cluster)) {
            img_error("Source image sizes must be multiples of the target cluster size");
            goto out;
        }
        cv.nchunks = (cv.total + cv.chunk - 1) / cv.chunk;
    }
    if (cv.ordered && (!(cv.done = calloc(cv.nchunks ? cv.nchunks : 1, 1)) ||
                       !(cv.slot_of = calloc(cv.nchunks ? cv.nchunks : 1, sizeof(int))))) {
        img_error("out of memory");
        goto out;
    }
    img_progress_init(&cv.prog, progress);
    /* Compression is the CPU-bound part: by default every online CPU gets a
     * worker (at least qemu-img's 8 in flight). A plain copy is page-cache
     * work: more threads than CPUs only add hand-offs (measured: 8 workers
     * on 2 CPUs took 1.3x as long as 2), so one per CPU, 2 to 8. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (compress && !threads_given && ncpu > nthreads)
        nthreads = (int)VK_MIN(ncpu, 64L);
    else if (!compress && !threads_given)
        nthreads = (int)VK_MAX(2L, VK_MIN(ncpu, 8L));
    int r = run_workers(&cv, nthreads);
    if (r < 0 && !cv.failed) {
        img_error("error while converting: %s", strerror(-r));
        goto out;
    }
    if (cv.failed) {
        img_error("%s", cv.errmsg);
        goto out;
    }
    if ((r = blk_flush(cv.dst, &e)) < 0) {
        img_error("error while flushing '%s': %s", out_path, img_errstr(&e, r));
        goto out;
    }
    img_progress_done(&cv.prog);
    ret = CLI_OK;
out:
    if (cv.dst && blk_close(cv.dst) < 0 && ret == CLI_OK)
        ret = img_error("error while closing '%s'", out_path);
    for (int i = 0; cv.src && i < nsrc; i++)
        blk_close(cv.src[i]);
    free(cv.src);
    free(cv.src_len);
    free(cv.done);
    free(cv.slot_of);
    vk_kv_free(&kv);
    free(optstr);
    pthread_mutex_destroy(&cv.lock);
    pthread_cond_destroy(&cv.cond);
    return ret;
}
