/* qcow2 compressed clusters: raw deflate (zlib, window 4 KiB as QEMU
 * writes them) or a zstd frame, per the header's compression_type.
 * Compression touches no image state, so callers may run it on many
 * threads (convert -c -m N). Each thread keeps its (de)compression
 * contexts: setting them up per cluster costs more than compressing. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

struct zctx {
    z_stream def, inf;
    bool def_ok, inf_ok;
    ZSTD_CCtx *zc;
    ZSTD_DCtx *zd;
};

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

static void zctx_free(void *p)
{
    struct zctx *z = p;
    if (z->def_ok)
        deflateEnd(&z->def);
    if (z->inf_ok)
        inflateEnd(&z->inf);
    ZSTD_freeCCtx(z->zc);
    ZSTD_freeDCtx(z->zd);
    free(z);
}

static void zkey_init(void)
{
    (void)pthread_key_create(&zkey, zctx_free);
}

static struct zctx *zctx_get(void)
{
    pthread_once(&zonce, zkey_init);
    struct zctx *z = pthread_getspecific(zkey);
    if (!z) {
        z = calloc(1, sizeof(*z));
        if (z && pthread_setspecific(zkey, z) != 0) {
            free(z);
            z = NULL;
        }
    }
    return z;
}

/* Deflate spends most of its time on bytes it cannot shrink (about 60 MB/s
 * for random data against ~1 GB/s for storing them), and disk images are
 * full of already-compressed data. So a cluster is deflated in 4 KiB blocks
 * (the window size), and a block that looks incompressible -- a flat byte
 * histogram and no repeated 4-byte sequence within reach of the window --
 * goes into stored blocks (level 0) instead. The result is one ordinary raw
 * deflate stream (window 4 KiB) that any inflate, QEMU's too, reads. */
#define DEFL_BLOCK 4096u

/* 4-byte sequences seen so far in the cluster (by hash), so each byte is
 * hashed once however the blocks are classified. */
struct lzscan {
    uint32_t table[4096];   /* last 4-byte value seen per hash */
    size_t hashed;          /* positions below this are in the table */
};

static bool block_incompressible(struct lzscan *z, const uint8_t *base, size_t start,
                                 size_t end)
{
    size_t n = end - start;
    if (n < 1024)
        return false;
    uint32_t hist[4][256];
    memset(hist, 0, sizeof(hist));
    size_t i = start;
    for (; i + 4 <= end; i += 4) {
        hist[0][base[i]]++;
        hist[1][base[i + 1]]++;
        hist[2][base[i + 2]]++;
        hist[3][base[i + 3]]++;
    }
    for (; i < end; i++)
        hist[0][base[i]]++;
    /* sum(c^2)/n^2 = 2^-H2 (collision entropy, <= Shannon entropy): refuse
     * unless H2 >= 7.8 bits per byte, where Huffman coding saves < 3 %. */
    uint64_t sq = 0;
    for (int k = 0; k < 256; k++) {
        uint64_t c = (uint64_t)hist[0][k] + hist[1][k] + hist[2][k] + hist[3][k];
        sq += c * c;
    }
    if ((double)sq > (double)n * (double)n / 222.9)   /* 2^7.8 */
        return false;
    /* LZ77 matches: a 4-byte sequence seen before (in this block or the
     * previous ones of the cluster) means deflate may gain. Branch-free: the
     * table keeps the last value per hash; an older or colliding match only
     * makes the test more careful. */
    size_t from = VK_MAX(z->hashed, start >= DEFL_BLOCK ? start - DEFL_BLOCK : 0), hits = 0;
    for (i = from; i + 4 <= end; i++) {
        uint32_t v;
        memcpy(&v, base + i, 4);
        uint32_t h = (v * 2654435761u) >> 20;
        hits += (i >= start) & (z->table[h] == v);
        z->table[h] = v;
    }
    z->hashed = i;
    return hits <= n / 256;
}

static long deflate_adaptive(z_stream *d, const uint8_t *in, size_t len, uint8_t *out,
                             size_t limit)
{
    /* deflateReset keeps the level of the last deflateParams. */
    int cur = Z_DEFAULT_COMPRESSION;
    if (deflateParams(d, cur, Z_DEFAULT_STRATEGY) != Z_OK)
        return -EIO;
    d->next_out = out;
    d->avail_out = (uInt)limit;
    size_t pos = 0, flat = 0;
    struct lzscan *zs = calloc(1, sizeof(*zs));
    if (!zs)
        return -ENOMEM;
    long ret = -ENOSPC;
    while (pos < len) {
        /* a run of blocks of the same kind */
        size_t end = VK_MIN(pos + DEFL_BLOCK, len);
        bool inc = len >= DEFL_BLOCK && block_incompressible(zs, in, pos, end);
        while (end < len) {
            size_t e2 = VK_MIN(end + DEFL_BLOCK, len);
            if ((len >= DEFL_BLOCK && block_incompressible(zs, in, end, e2)) != inc)
                break;
            end = e2;
        }
        if (inc)
            flat += end - pos;
        if (flat + 512 >= len)
            goto out;   /* stored almost whole: not worth compressing */
        int lvl = inc ? 0 : Z_DEFAULT_COMPRESSION;
        if (lvl != cur) {
            if (deflateParams(d, lvl, Z_DEFAULT_STRATEGY) != Z_OK)
                goto out;   /* Z_BUF_ERROR: the output is full */
            cur = lvl;
        }
        d->next_in = (Bytef *)(in + pos);
        d->avail_in = (uInt)(end - pos);
        if (deflate(d, Z_NO_FLUSH) != Z_OK || d->avail_in)
            goto out;
        pos = end;
    }
    if (deflate(d, Z_FINISH) == Z_STREAM_END)
        ret = (long)(limit - d->avail_out);
out:
    free(zs);
    return ret;
}

long qcow2_compress(struct blk *b, const void *in, size_t len, void *out, size_t out_cap,
                    struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    struct zctx *z = zctx_get();
    if (!z)
        return vk_err_set(err, -ENOMEM, "out of memory");
    /* Worth storing compressed only when it saves at least one sector. */
    size_t limit = VK_MIN(out_cap, (size_t)s->cluster_size - 512);
    if (s->cluster_size <= 512)
        limit = VK_MIN(out_cap, (size_t)s->cluster_size - 1);
    if (s->compression_type == 1) {
        if (!z->zc && !(z->zc = ZSTD_createCCtx()))
            return vk_err_set(err, -ENOMEM, "zstd: out of memory");
        size_t n = ZSTD_compressCCtx(z->zc, out, limit, in, len, 3);
        if (ZSTD_isError(n))
            return -ENOSPC;  /* in practice: does not fit in `limit` */
        return (long)n;
    }
    if (!z->def_ok) {
        if (deflateInit2(&z->def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return vk_err_set(err, -ENOMEM, "zlib: deflateInit2 failed");
        z->def_ok = true;
    } else if (deflateReset(&z->def) != Z_OK) {
        return vk_err_set(err, -EIO, "zlib: deflateReset failed");
    }
    return deflate_adaptive(&z->def, in, len, out, limit);
}

int qcow2_decompress(struct qcow2_state *s, const void *in, size_t in_len, void *out,
                     size_t out_len)
{
    struct zctx *z = zctx_get();
    if (!z)
        return -ENOMEM;
    if (s->compression_type == 1) {
        /* The stored length is rounded up to sectors: stop at the frame's end. */
        if (!z->zd && !(z->zd = ZSTD_createDCtx()))
            return -ENOMEM;
        ZSTD_DCtx_reset(z->zd, ZSTD_reset_session_only);
        ZSTD_inBuffer ib = { in, in_len, 0 };
        ZSTD_outBuffer ob = { out, out_len, 0 };
        while (ob.pos < ob.size) {
            size_t r = ZSTD_decompressStream(z->zd, &ob, &ib);
            if (ZSTD_isError(r))
                return -EIO;
            if (r == 0 || ib.pos == ib.size)
                break;
        }
        return ob.pos == ob.size ? 0 : -EIO;
    }
    if (!z->inf_ok) {
        if (inflateInit2(&z->inf, -12) != Z_OK)
            return -ENOMEM;
        z->inf_ok = true;
    } else if (inflateReset(&z->inf) != Z_OK) {
        return -EIO;
    }
    z->inf.next_in = (Bytef *)in;
    z->inf.avail_in = (uInt)in_len;
    z->inf.next_out = out;
    z->inf.avail_out = (uInt)out_len;
    int zr = inflate(&z->inf, Z_FINISH);
    return ((zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) && z->inf.avail_out == 0)
               ? 0 : -EIO;
}
