/* qcow2 compressed clusters: raw deflate (zlib, window 4 KiB as QEMU
 * writes them) or a zstd frame, per the header's compression_type.
 * Compression touches no image state, so callers may run it on many
 * threads (convert -c -m N). Each thread keeps its (de)compression
 * contexts: setting them up per cluster costs more than compressing. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
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
    z->def.next_in = (Bytef *)in;
    z->def.avail_in = (uInt)len;
    z->def.next_out = out;
    z->def.avail_out = (uInt)limit;
    int zr = deflate(&z->def, Z_FINISH);
    return zr == Z_STREAM_END ? (long)(limit - z->def.avail_out) : -ENOSPC;
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
