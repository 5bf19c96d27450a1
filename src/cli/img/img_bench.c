/* virtkit img bench: qemu-img bench compatible I/O benchmark.
 *   [-c count] [-d depth] [-f fmt] [--flush-interval=N] [-n] [--no-drain]
 *   [-o offset] [--pattern=N] [-q] [-s size] [-S step] [-t cache] [-w] [-U] file
 * Requests go out in order (offset, offset+step, ... modulo the image size)
 * from min(depth, 64) threads sharing one open image.
 * virtkit extension: --flushed-log=FILE appends, after each completed flush,
 * the number of leading requests that flush made durable (crash tests). */
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgutil.h"

#define BENCH_MAX_THREADS 64

struct bench {
    struct blk *b;
    bool write;
    uint64_t count, size, step, start, image_size, flush_interval;
    int pattern, log_fd;
    pthread_mutex_t lock;
    uint64_t issued, offset;
    /* completion tracking for durable-prefix logging */
    uint8_t *done;            /* per-request completion flags (with a log) */
    uint64_t prefix;          /* requests [0, prefix) are complete */
    bool failed;
    char errmsg[600];
};

static void *bench_thread(void *arg)
{
    struct bench *s = arg;
    uint8_t *buf = img_alloc(s->size);
    struct vk_err e = { 0 };
    if (!buf) {
        pthread_mutex_lock(&s->lock);
        s->failed = true;
        snprintf(s->errmsg, sizeof(s->errmsg), "out of memory");
        pthread_mutex_unlock(&s->lock);
        return NULL;
    }
    memset(buf, s->pattern, s->size);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        if (s->failed || s->issued >= s->count) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        uint64_t idx = s->issued++, off = s->offset;
        /* as qemu-img: advance by step modulo the image size */
        s->offset = (s->offset % s->image_size + s->step % s->image_size) % s->image_size;
        if (s->image_size - s->offset < s->size)
            s->offset = 0;
        pthread_mutex_unlock(&s->lock);

        int r = s->write ? blk_pwrite(s->b, off, buf, s->size, &e)
                         : blk_pread(s->b, off, buf, s->size, &e);
        pthread_mutex_lock(&s->lock);
        if (r < 0 && !s->failed) {
            s->failed = true;
            snprintf(s->errmsg, sizeof(s->errmsg), "%s failed: %s", s->write ? "Write" : "Read",
                     img_errstr(&e, r));
        }
        uint64_t durable = 0;
        bool flush = false;
        if (s->done) {
            s->done[idx] = 1;
            while (s->prefix < s->count && s->done[s->prefix])
                s->prefix++;
        }
        if (s->write && s->flush_interval && (idx + 1) % s->flush_interval == 0) {
            flush = true;
            durable = s->prefix;
        }
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
            break;
        if (flush) {
            r = blk_flush(s->b, &e);
            if (r < 0) {
                pthread_mutex_lock(&s->lock);
                s->failed = true;
                snprintf(s->errmsg, sizeof(s->errmsg), "Flush failed: %s", img_errstr(&e, r));
                pthread_mutex_unlock(&s->lock);
                break;
            }
            if (s->log_fd >= 0) {
                char line[32];
                int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)durable);
                pthread_mutex_lock(&s->lock);
                if (vk_write_full(s->log_fd, line, (size_t)n) < 0)
                    s->failed = true;
                pthread_mutex_unlock(&s->lock);
            }
        }
    }
    free(buf);
    return NULL;
}

static int parse_num(const char *s, uint64_t *out, bool size)
{
    return size ? vk_parse_size(s, out) : vk_parse_u64(s, out);
}

int img_bench(int argc, char **argv)
{
    enum { OPT_FLUSH = 256, OPT_NODRAIN, OPT_PATTERN, OPT_LOG, OPT_IMAGE_OPTS };
    static const struct option lopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "flush-interval", required_argument, NULL, OPT_FLUSH },
        { "no-drain", no_argument, NULL, OPT_NODRAIN },
        { "pattern", required_argument, NULL, OPT_PATTERN },
        { "flushed-log", required_argument, NULL, OPT_LOG },
        { "force-share", no_argument, NULL, 'U' },
        { "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt = NULL, *cache = "writeback", *log = NULL;
    struct bench s = { .count = 75000, .size = 4096, .log_fd = -1 };
    uint64_t depth = 64, v;
    bool quiet = false, step_set = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", lopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (parse_num(optarg, &s.count, false) < 0 || !s.count || s.count > INT32_MAX)
                return img_error("Invalid request count specified");
            break;
        case 'd':
            if (parse_num(optarg, &depth, false) < 0 || !depth || depth > 65536)
                return img_error("Invalid queue depth specified");
            break;
        case 'f': fmt = optarg; break;
        case 'n': case 'i': case 'U': break;
        case 'o':
            if (parse_num(optarg, &s.start, true) < 0)
                return img_error("Invalid offset specified");
            break;
        case 'q': quiet = true; break;
        case 's':
            if (parse_num(optarg, &s.size, true) < 0 || !s.size || s.size > INT32_MAX)
                return img_error("Invalid buffer size specified");
            break;
        case 'S':
            if (parse_num(optarg, &s.step, true) < 0 || s.step > INT64_MAX)
                return img_error("Invalid step size specified");
            step_set = true;
            break;
        case 't': cache = optarg; break;
        case 'w': s.write = true; break;
        case OPT_FLUSH:
            if (parse_num(optarg, &s.flush_interval, false) < 0 || s.flush_interval > INT32_MAX)
                return img_error("Invalid flush interval specified");
            break;
        case OPT_NODRAIN: break;
        case OPT_PATTERN:
            if (parse_num(optarg, &v, false) < 0 || v > 0xff)
                return img_error("Invalid pattern byte specified");
            s.pattern = (int)v;
            break;
        case OPT_LOG: log = optarg; break;
        case OPT_IMAGE_OPTS: return img_usage("bench", "--image-opts is not supported");
        case ':': return img_usage("bench", "option '%s' needs an argument", argv[optind - 1]);
        default: return img_usage("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return img_usage("bench", "Expecting one image file name");
    if (!step_set)
        s.step = s.size;
    if (s.flush_interval && !s.write)
        return img_error("--flush-interval is only available in write tests");
    unsigned flags = s.write ? BLK_O_RDWR : 0;
    if (img_cache_flags(cache, &flags) < 0)
        return img_usage("bench", "Invalid cache mode: %s", cache);
    s.b = img_open(argv[optind], fmt, flags, NULL);
    if (!s.b)
        return CLI_FAIL;
    int ret = CLI_FAIL;
    s.image_size = blk_getlength(s.b);
    if (s.image_size < s.size || s.start > s.image_size - s.size) {
        img_error("Image is too small for the requested offset and buffer size");
        goto out;
    }
    s.offset = s.start;
    if (log) {
        s.log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        s.done = calloc(s.count, 1);
        if (s.log_fd < 0 || !s.done) {
            img_error("Could not open '%s'", log);
            goto out;
        }
    }
    if (!quiet) {
        printf("Sending %llu %s requests, %llu bytes each, %llu in parallel "
               "(starting at offset %llu, step size %llu)\n",
               (unsigned long long)s.count, s.write ? "write" : "read",
               (unsigned long long)s.size, (unsigned long long)depth,
               (unsigned long long)s.start, (unsigned long long)s.step);
        if (s.flush_interval)
            printf("Sending flush every %llu requests\n", (unsigned long long)s.flush_interval);
        fflush(stdout);
    }
    pthread_mutex_init(&s.lock, NULL);
    int nth = (int)VK_MIN(depth, (uint64_t)BENCH_MAX_THREADS), started = 0;
    pthread_t tids[BENCH_MAX_THREADS];
    int64_t t0 = vk_now_ns();
    for (; started < nth; started++)
        if (pthread_create(&tids[started], NULL, bench_thread, &s))
            break;
    if (!started)
        bench_thread(&s);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    struct vk_err e = { 0 };
    int r = s.write && !s.failed ? blk_flush(s.b, &e) : 0;
    int64_t t1 = vk_now_ns();
    pthread_mutex_destroy(&s.lock);
    if (s.failed) {
        img_error("%s", s.errmsg);
        goto out;
    }
    if (r < 0) {
        img_error("Flush failed: %s", img_errstr(&e, r));
        goto out;
    }
    if (s.log_fd >= 0) {
        char line[32];
        int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)s.count);
        if (vk_write_full(s.log_fd, line, (size_t)n) < 0) {
            img_error("Could not write '%s'", log);
            goto out;
        }
    }
    if (!quiet)
        printf("Run completed in %.3f seconds.\n", (double)(t1 - t0) / 1e9);
    ret = CLI_OK;
out:
    if (s.log_fd >= 0)
        close(s.log_fd);
    free(s.done);
    if (blk_close(s.b) < 0 && ret == CLI_OK)
        ret = img_error("Could not close the image");
    return ret;
}
