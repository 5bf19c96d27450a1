/* qcow2 compressed clusters: raw deflate (zlib, window 4 KiB as QEMU
 * writes them) or a zstd frame, per the header's compression_type.
 * Compression touches no image state, so callers may run it on many
 * threads (convert -c -m N). */
#include "qcow2.h"

#include <errno.h>
#include <zlib.h>
#include <zstd.h>

long qcow2_compress(struct blk *b, const void *in, size_t len, void *out, size_t out_cap,
                    struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    /* Worth storing compressed only when it saves at least one sector. */
    size_t limit = VK_MIN(out_cap, (size_t)s->cluster_size - 512);
    if (s->cluster_size <= 512)
        limit = VK_MIN(out_cap, (size_t)s->cluster_size - 1);
    if (s->compression_type == 1) {
        size_t n = ZSTD_compress(out, limit, in, len, 3);
        if (ZSTD_isError(n))
            return -ENOSPC;  /* in practice: does not fit in `limit` */
        return (long)n;
    }
    z_stream z = { 0 };
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return vk_err_set(err, -ENOMEM, "zlib: deflateInit2 failed");
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)limit;
    int zr = deflate(&z, Z_FINISH);
    long res = zr == Z_STREAM_END ? (long)(limit - z.avail_out) : -ENOSPC;
    deflateEnd(&z);
    return res;
}

int qcow2_decompress(struct qcow2_state *s, const void *in, size_t in_len, void *out,
                     size_t out_len)
{
    if (s->compression_type == 1) {
        /* The stored length is rounded up to sectors: find the frame's end. */
        ZSTD_DCtx *dc = ZSTD_createDCtx();
        if (!dc)
            return -ENOMEM;
        ZSTD_inBuffer ib = { in, in_len, 0 };
        ZSTD_outBuffer ob = { out, out_len, 0 };
        int r = 0;
        while (ob.pos < ob.size) {
            size_t z = ZSTD_decompressStream(dc, &ob, &ib);
            if (ZSTD_isError(z)) {
                r = -EIO;
                break;
            }
            if (z == 0 || ib.pos == ib.size)
                break;
        }
        if (r == 0 && ob.pos != ob.size)
            r = -EIO;
        ZSTD_freeDCtx(dc);
        return r;
    }
    z_stream z = { 0 };
    if (inflateInit2(&z, -12) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)in_len;
    z.next_out = out;
    z.avail_out = (uInt)out_len;
    int zr = inflate(&z, Z_FINISH);
    int r = ((zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) && z.avail_out == 0) ? 0 : -EIO;
    inflateEnd(&z);
    return r;
}
