/* qcow2 refcounts: refcount blocks of any width (1..64 bits), cluster
 * allocation, refcount table growth, deferred frees and tree-wide updates
 * for snapshots.
 *
 * Ordering (crash safety): refcount increments reach the disk before any
 * table that references the new clusters (qcow2_meta_flush); decrements
 * are deferred until the tables that stopped referencing the clusters are
 * on disk. A new refcount block is written and synced before the refcount
 * table entry pointing at it; a new refcount table before the header.
 * A crash leaves at worst leaked clusters. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t rb_get(struct qcow2_state *s, const void *blk, uint64_t i)
{
    const uint8_t *p = blk;
    switch (s->refcount_order) {
    case 0: case 1: case 2: {
        uint32_t bits = s->refcount_bits;
        uint64_t bit = i * bits;
        return (p[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    case 3: return p[i];
    case 4: return ld16(p + 2 * i);
    case 5: return ld32(p + 4 * i);
    default: return ld64(p + 8 * i);
    }
}

void rb_set(struct qcow2_state *s, void *blk, uint64_t i, uint64_t v)
{
    uint8_t *p = blk;
    switch (s->refcount_order) {
    case 0: case 1: case 2: {
        uint32_t bits = s->refcount_bits;
        uint64_t bit = i * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << (bit % 8));
        p[bit / 8] = (uint8_t)((p[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
        break;
    }
    case 3: p[i] = (uint8_t)v; break;
    case 4: st16(p + 2 * i, (uint16_t)v); break;
    case 5: st32(p + 4 * i, (uint32_t)v); break;
    default: st64(p + 8 * i, v); break;
    }
}

static int rb_offset(struct qcow2_state *s, uint64_t bi, uint64_t *off, struct vk_err *err)
{
    *off = 0;
    if (bi >= s->reftable_size)
        return 0;
    uint64_t o = s->reftable[bi] & REFT_OFFSET_MASK;
    if (o & (s->cluster_size - 1))
        return qcow2_signal_corruption(s, err, "qcow2: refcount block offset 0x%llx (refcount "
                                       "table index %llu) is not cluster-aligned",
                                       (unsigned long long)o, (unsigned long long)bi);
    *off = o;
    return 0;
}

int qcow2_get_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t *rc, struct vk_err *err)
{
    uint64_t bi = cluster / s->rb_entries, off;
    int r = rb_offset(s, bi, &off, err);
    if (r < 0)
        return r;
    if (!off) {
        *rc = 0;
        return 0;
    }
    void *blk;
    r = qcache_get(s, &s->rb_cache, off, false, &blk, err);
    if (r < 0)
        return r;
    *rc = rb_get(s, blk, cluster % s->rb_entries);
    qcache_put(&s->rb_cache, off);
    return 0;
}

static uint64_t alloc_end_cluster(struct qcow2_state *s)
{
    struct stat st;
    uint64_t end = 0;
    if (fstat(s->b->fd, &st) == 0)
        end = qcow2_size_to_clusters(s, (uint64_t)st.st_size);
    return end;
}

/* Cluster index past everything in use: the file end, and every cluster
 * counted in a refcount block (new tables may not be written yet). */
static int used_end(struct qcow2_state *s, uint64_t *end, struct vk_err *err)
{
    uint64_t e = alloc_end_cluster(s);
    for (uint64_t bi = s->reftable_size; bi-- > 0;) {
        uint64_t off;
        int r = rb_offset(s, bi, &off, err);
        if (r < 0)
            return r;
        if (!off)
            continue;
        void *blk;
        r = qcache_get(s, &s->rb_cache, off, false, &blk, err);
        if (r < 0)
            return r;
        uint64_t last = 0;
        for (uint64_t i = s->rb_entries; i-- > 0;) {
            if (rb_get(s, blk, i)) {
                last = bi * s->rb_entries + i + 1;
                break;
            }
        }
        qcache_put(&s->rb_cache, off);
        if (last) {
            if (last > e)
                e = last;
            break;
        }
    }
    *end = e;
    return 0;
}

static int grow_reftable(struct qcow2_state *s, uint64_t need_idx, struct vk_err *err)
{
    uint64_t per_cluster = s->cluster_size / 8;
    uint64_t start;
    int r = used_end(s, &start, err);
    if (r < 0)
        return r;
    uint64_t new_entries = VK_MAX(need_idx + 1, s->reftable_size * 2);
    uint64_t rt_clusters = 0, nb = 0;
    for (int iter = 0; iter < 64; iter++) {
        new_entries = VK_ALIGN_UP(new_entries, per_cluster);
        /* Bounded before anything is counted: corrupt refcount blocks can
         * claim clusters at absurd offsets. */
        if (new_entries > QCOW2_MAX_REFTABLE_BYTES / 8 ||
            start > (UINT64_C(1) << (56 - s->cluster_bits)))
            return vk_err_set(err, -EFBIG, "qcow2: refcount table would exceed %u bytes",
                              QCOW2_MAX_REFTABLE_BYTES);
        rt_clusters = new_entries / per_cluster;
        /* Count uncovered refcount blocks over [start, start + total). */
        uint64_t total = rt_clusters + nb;
        uint64_t first = start / s->rb_entries, last = (start + total - 1) / s->rb_entries;
        uint64_t k = 0;
        for (uint64_t bi = first; bi <= last; bi++)
            if (bi >= s->reftable_size || !(s->reftable[bi] & REFT_OFFSET_MASK))
                k++;
        if (last >= new_entries) {
            new_entries = last + 1;
            continue;
        }
        if (k == nb)
            break;
        nb = k;
    }
    if (new_entries * 8 > QCOW2_MAX_REFTABLE_BYTES)
        return vk_err_set(err, -EFBIG, "qcow2: refcount table would exceed %u bytes",
                          QCOW2_MAX_REFTABLE_BYTES);
    uint64_t total = rt_clusters + nb;
    uint64_t *nt = calloc(new_entries, 8);
    uint8_t *tbuf = blk_alloc_aligned(rt_clusters * s->cluster_size);
    uint8_t *rbuf = blk_alloc_aligned(s->cluster_size);
    if (!nt || !tbuf || !rbuf) {
        free(nt); free(tbuf); free(rbuf);
        return vk_err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(nt, s->reftable, s->reftable_size * 8);
    /* New refcount blocks go right after the new table. */
    uint64_t first = start / s->rb_entries, last = (start + total - 1) / s->rb_entries;
    uint64_t j = 0;
    for (uint64_t bi = first; bi <= last; bi++) {
        if (bi < s->reftable_size && (s->reftable[bi] & REFT_OFFSET_MASK))
            continue;
        uint64_t where = start + rt_clusters + j++;
        nt[bi] = where << s->cluster_bits;
        memset(rbuf, 0, s->cluster_size);
        for (uint64_t c = VK_MAX(start, bi * s->rb_entries);
             c < VK_MIN(start + total, (bi + 1) * s->rb_entries); c++)
            rb_set(s, rbuf, c % s->rb_entries, 1);
        r = blk_file_pwrite(s->b, s->b->fd, nt[bi], rbuf, s->cluster_size);
        if (r < 0) {
            vk_err_errno(err, r, "qcow2: writing a new refcount block");
            goto out;
        }
    }
    /* Clusters of the new area covered by existing blocks: count them there. */
    for (uint64_t c = start; c < start + total; c++) {
        uint64_t bi = c / s->rb_entries;
        if (bi < s->reftable_size && (s->reftable[bi] & REFT_OFFSET_MASK)) {
            r = qcow2_update_refcount(s, c, 1, 1, err);
            if (r < 0)
                goto out;
        }
    }
    r = qcache_flush(s, &s->rb_cache, NULL, err);
    if (r < 0)
        goto out;
    for (uint64_t i = 0; i < new_entries; i++)
        st64(tbuf + 8 * i, nt[i]);
    r = blk_file_pwrite(s->b, s->b->fd, start << s->cluster_bits, tbuf,
                        rt_clusters * s->cluster_size);
    if (r < 0) {
        vk_err_errno(err, r, "qcow2: writing the new refcount table");
        goto out;
    }
    r = qcow2_sync(s, err);
    if (r < 0)
        goto out;
    uint64_t old_off = s->reftable_offset, old_clusters = s->reftable_clusters;
    uint64_t *old = s->reftable;
    s->reftable = nt;
    s->reftable_size = new_entries;
    s->reftable_offset = start << s->cluster_bits;
    s->reftable_clusters = (uint32_t)rt_clusters;
    nt = NULL;
    r = qcow2_write_header(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    free(old);
    if (r == 0 && old_off)
        r = qcow2_update_refcount(s, old_off >> s->cluster_bits, old_clusters, -1, err);
out:
    free(nt);
    free(tbuf);
    free(rbuf);
    return r;
}

/* Make sure refcount block `bi` exists. A missing block means every cluster
 * it would cover is free, so it describes itself from its first cluster. */
static int ensure_refblock(struct qcow2_state *s, uint64_t bi, struct vk_err *err)
{
    int r;
    if (bi >= s->reftable_size) {
        r = grow_reftable(s, bi, err);
        if (r < 0)
            return r;
    }
    if (s->reftable[bi] & REFT_OFFSET_MASK)
        return 0;
    uint64_t c = bi * s->rb_entries;
    if (c == 0)
        return qcow2_signal_corruption(s, err, "qcow2: refcount table entry 0 is empty");
    uint64_t off = c << s->cluster_bits;
    void *blk;
    r = qcache_get(s, &s->rb_cache, off, true, &blk, err);
    if (r < 0)
        return r;
    rb_set(s, blk, 0, 1);
    r = blk_file_pwrite(s->b, s->b->fd, off, blk, s->cluster_size);
    qcache_put(&s->rb_cache, off);
    if (r < 0)
        return vk_err_errno(err, r, "qcow2: writing a new refcount block");
    r = qcow2_sync(s, err);
    if (r < 0)
        return r;
    uint8_t e[8];
    st64(e, off);
    s->reftable[bi] = off;
    r = blk_file_pwrite(s->b, s->b->fd, s->reftable_offset + bi * 8, e, 8);
    if (r < 0)
        return vk_err_errno(err, r, "qcow2: writing the refcount table");
    return 0;
}

int qcow2_set_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t rc, struct vk_err *err)
{
    uint64_t bi = cluster / s->rb_entries;
    int r = ensure_refblock(s, bi, err);
    if (r < 0)
        return r;
    uint64_t off = s->reftable[bi] & REFT_OFFSET_MASK;
    void *blk;
    r = qcache_get(s, &s->rb_cache, off, false, &blk, err);
    if (r < 0)
        return r;
    rb_set(s, blk, cluster % s->rb_entries, rc);
    qcache_mark_dirty(&s->rb_cache, off);
    qcache_put(&s->rb_cache, off);
    if (rc == 0 && cluster < s->free_cluster_hint)
        s->free_cluster_hint = cluster;
    return 0;
}

int qcow2_update_refcount(struct qcow2_state *s, uint64_t cluster, uint64_t n, int64_t delta,
                          struct vk_err *err)
{
    for (uint64_t c = cluster; c < cluster + n; c++) {
        uint64_t bi = c / s->rb_entries;
        int r;
        if (delta > 0) {
            r = ensure_refblock(s, bi, err);
            if (r < 0)
                return r;
        }
        uint64_t off;
        r = rb_offset(s, bi, &off, err);
        if (r < 0)
            return r;
        if (!off)
            return qcow2_signal_corruption(s, err, "qcow2: cluster 0x%llx has no refcount block",
                                           (unsigned long long)(c << s->cluster_bits));
        void *blk;
        r = qcache_get(s, &s->rb_cache, off, false, &blk, err);
        if (r < 0)
            return r;
        uint64_t i = c % s->rb_entries, old = rb_get(s, blk, i), nv = old + (uint64_t)delta;
        if ((delta > 0 && (nv > s->refcount_max || nv < old)) || (delta < 0 && old < (uint64_t)-delta)) {
            qcache_put(&s->rb_cache, off);
            if (delta > 0)
                return vk_err_set(err, -ERANGE, "qcow2: refcount of cluster 0x%llx would "
                                  "overflow (refcount_bits=%u)",
                                  (unsigned long long)(c << s->cluster_bits), s->refcount_bits);
            return qcow2_signal_corruption(s, err, "qcow2: refcount of cluster 0x%llx would "
                                           "drop below zero",
                                           (unsigned long long)(c << s->cluster_bits));
        }
        rb_set(s, blk, i, nv);
        qcache_mark_dirty(&s->rb_cache, off);
        qcache_put(&s->rb_cache, off);
        if (nv == 0) {
            if (c < s->free_cluster_hint)
                s->free_cluster_hint = c;
            qcache_drop(&s->l2_cache, c << s->cluster_bits);
            qcache_drop(&s->rb_cache, c << s->cluster_bits);
            if (s->free_byte_offset >> s->cluster_bits == c)
                s->free_byte_offset = 0;
        }
    }
    return 0;
}

static bool covered(struct qcow2_state *s, uint64_t bi)
{
    return bi < s->reftable_size && (s->reftable[bi] & REFT_OFFSET_MASK);
}

/* Allocate n clusters past everything in use. Refcount blocks missing for
 * that area are placed first, right before the run, and already count
 * themselves and the run: written and synced before the refcount table
 * points at them. */
static int alloc_at_end(struct qcow2_state *s, uint64_t n, uint64_t *first, struct vk_err *err)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t start;
        int r = used_end(s, &start, err);
        if (r < 0)
            return r;
        if (start == 0)
            start = 1;
        if (start + n > (UINT64_C(1) << (56 - s->cluster_bits)))
            return vk_err_set(err, -EFBIG, "qcow2: no room for new clusters (the refcounts "
                              "claim clusters up to offset 0x%llx)",
                              (unsigned long long)(start << s->cluster_bits));
        uint64_t k = 0;
        for (int iter = 0; iter < 64; iter++) {
            uint64_t b0 = start / s->rb_entries, b1 = (start + k + n - 1) / s->rb_entries, nk = 0;
            for (uint64_t bi = b0; bi <= b1; bi++)
                nk += !covered(s, bi);
            if (nk == k)
                break;
            k = nk;
        }
        uint64_t last_bi = (start + k + n - 1) / s->rb_entries;
        if (last_bi >= s->reftable_size) {
            r = grow_reftable(s, last_bi, err);
            if (r < 0)
                return r;
            continue;  /* the table moved things: recompute */
        }
        uint64_t end = start + k + n;
        uint8_t *rbuf = blk_alloc_aligned(s->cluster_size);
        if (!rbuf)
            return vk_err_set(err, -ENOMEM, "out of memory");
        uint64_t j = 0;
        uint64_t b0 = start / s->rb_entries;
        for (uint64_t bi = b0; bi <= last_bi && r == 0; bi++) {
            if (covered(s, bi))
                continue;
            uint64_t where = start + j++;
            memset(rbuf, 0, s->cluster_size);
            for (uint64_t c = VK_MAX(start, bi * s->rb_entries);
                 c < VK_MIN(end, (bi + 1) * s->rb_entries); c++)
                rb_set(s, rbuf, c % s->rb_entries, 1);
            uint64_t off = where << s->cluster_bits;
            qcache_drop(&s->rb_cache, off);
            qcache_drop(&s->l2_cache, off);
            r = blk_file_pwrite(s->b, s->b->fd, off, rbuf, s->cluster_size);
            if (r < 0) {
                vk_err_errno(err, r, "qcow2: writing a new refcount block");
                break;
            }
            s->reftable[bi] = off | (UINT64_C(1) << 63);  /* pending: not yet linked */
        }
        free(rbuf);
        /* Parts of [start, end) in blocks that already existed. */
        for (uint64_t c = start; c < end && r == 0; c++) {
            uint64_t bi = c / s->rb_entries;
            if (!(s->reftable[bi] >> 63))
                r = qcow2_update_refcount(s, c, 1, 1, err);
        }
        /* Those counts (new refcount blocks placed in an existing block's
         * range count themselves there) sit in the cache: write them out
         * and sync before the table links the new blocks, or a crash in
         * between leaves a linked block whose own refcount is 0. */
        if (r == 0 && k)
            r = qcache_flush(s, &s->rb_cache, NULL, err);
        if (r == 0 && k)
            r = qcow2_sync(s, err);
        uint8_t e8[8];
        for (uint64_t bi = b0; bi <= last_bi; bi++) {
            if (!(s->reftable[bi] >> 63))
                continue;
            s->reftable[bi] &= ~(UINT64_C(1) << 63);
            if (r < 0) {
                s->reftable[bi] = 0;
                continue;
            }
            st64(e8, s->reftable[bi]);
            r = blk_file_pwrite(s->b, s->b->fd, s->reftable_offset + bi * 8, e8, 8);
            if (r < 0)
                vk_err_errno(err, r, "qcow2: writing the refcount table");
        }
        if (r < 0)
            return r;
        *first = start + k;
        return 0;
    }
    return vk_err_set(err, -EIO, "qcow2: cannot place new refcount blocks");
}

int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *out, struct vk_err *err)
{
    if (s->corrupt)
        return vk_err_set(err, -EIO, "qcow2: image is corrupt; refusing to allocate");
    uint64_t i = s->free_cluster_hint, run_start = i, run = 0;
    if (i == 0)
        i = run_start = 1;
    bool found = false;
    int r;
    /* Look for a free run inside the area the refcount blocks cover. */
    while (covered(s, i / s->rb_entries)) {
        uint64_t rc;
        r = qcow2_get_refcount(s, i, &rc, err);
        if (r < 0)
            return r;
        if (rc == 0) {
            if (++run == n) {
                found = true;
                break;
            }
        } else {
            run = 0;
            run_start = i + 1;
        }
        i++;
    }
    if (found) {
        r = qcow2_update_refcount(s, run_start, n, 1, err);
    } else {
        r = alloc_at_end(s, n, &run_start, err);
    }
    if (r < 0)
        return r;
    if (run_start + n >= (UINT64_C(1) << (56 - s->cluster_bits)))
        return vk_err_set(err, -EFBIG, "qcow2: image file would exceed the maximum offset");
    /* Never hand out clusters that overlap the fixed metadata. */
    uint64_t lo = run_start << s->cluster_bits, hi = (run_start + n) << s->cluster_bits;
    if (s->l1_offset && lo < s->l1_offset + (uint64_t)s->l1_size * 8 && s->l1_offset < hi)
        return qcow2_signal_corruption(s, err, "qcow2: cluster allocation at 0x%llx overlaps "
                                       "the L1 table (refcounts are wrong)",
                                       (unsigned long long)lo);
    if (lo < s->reftable_offset + (uint64_t)s->reftable_clusters * s->cluster_size &&
        s->reftable_offset < hi)
        return qcow2_signal_corruption(s, err, "qcow2: cluster allocation at 0x%llx overlaps "
                                       "the refcount table (refcounts are wrong)",
                                       (unsigned long long)lo);
    if (found && (run_start <= s->free_cluster_hint || n == 1))
        s->free_cluster_hint = run_start + n;
    else if (!found && n == 1)
        s->free_cluster_hint = run_start + 1;  /* nothing free before the end */
    *out = lo;
    return 0;
}

int qcow2_free_deferred(struct qcow2_state *s, uint64_t host, uint64_t len)
{
    if (!len)
        return 0;
    uint64_t c = host >> s->cluster_bits, e = (host + len - 1) >> s->cluster_bits;
    if (s->nb_freed) {
        struct freed_range *l = &s->freed[s->nb_freed - 1];
        if (l->cluster + l->n == c) {
            l->n += e - c + 1;
            return 0;
        }
    }
    if (s->nb_freed == s->cap_freed) {
        size_t nc = s->cap_freed ? s->cap_freed * 2 : 64;
        struct freed_range *nf = realloc(s->freed, nc * sizeof(*nf));
        if (!nf)
            return -ENOMEM;  /* at worst a leak */
        s->freed = nf;
        s->cap_freed = nc;
    }
    s->freed[s->nb_freed++] = (struct freed_range){ c, e - c + 1 };
    return 0;
}

int qcow2_apply_deferred(struct qcow2_state *s, struct vk_err *err)
{
    int r = 0;
    for (size_t i = 0; i < s->nb_freed && r == 0; i++)
        r = qcow2_update_refcount(s, s->freed[i].cluster, s->freed[i].n, -1, err);
    s->nb_freed = 0;
    return r;
}

void qcow2_free_entry(struct qcow2_state *s, uint64_t e)
{
    struct qcow2_map m;
    if (!qcow2_entry_decode(s, e, 0, &m))
        return;
    if (m.type == QC_COMPRESSED) {
        uint64_t off, len;
        qcow2_compressed_range(s, e, &off, &len);
        qcow2_free_deferred(s, off, len);
    } else if ((m.type == QC_NORMAL || m.type == QC_ZERO_ALLOC) && s->data_fd == s->b->fd) {
        qcow2_free_deferred(s, m.host, s->cluster_size);
    }
}

int qcow2_update_tree_refcounts(struct qcow2_state *s, uint64_t *l1, uint32_t l1_size,
                                int delta, struct vk_err *err)
{
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2off = l1[i] & L1E_OFFSET_MASK;
        if (!l2off)
            continue;
        int r = qcow2_check_offset(s, l2off, "L2 table", i, err);
        if (r < 0)
            return r;
        uint64_t *l2;
        r = qcache_get(s, &s->l2_cache, l2off, false, (void **)&l2, err);
        if (r < 0)
            return r;
        for (uint64_t j = 0; j < s->l2_entries && r == 0; j++) {
            uint64_t e = l2_get(s, l2, j, NULL);
            struct qcow2_map m;
            if (!qcow2_entry_decode(s, e, 0, &m))
                continue;
            if (m.type == QC_COMPRESSED) {
                uint64_t off, len;
                qcow2_compressed_range(s, e, &off, &len);
                uint64_t c0 = off >> s->cluster_bits, c1 = (off + len - 1) >> s->cluster_bits;
                r = qcow2_update_refcount(s, c0, c1 - c0 + 1, delta, err);
            } else if ((m.type == QC_NORMAL || m.type == QC_ZERO_ALLOC) &&
                       s->data_fd == s->b->fd) {
                r = qcow2_update_refcount(s, m.host >> s->cluster_bits, 1, delta, err);
            }
        }
        qcache_put(&s->l2_cache, l2off);
        if (r < 0)
            return r;
        r = qcow2_update_refcount(s, l2off >> s->cluster_bits, 1, delta, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int qcow2_fix_copied(struct qcow2_state *s, struct vk_err *err)
{
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l2off = s->l1[i] & L1E_OFFSET_MASK;
        if (!l2off)
            continue;
        uint64_t rc;
        int r = qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc, err);
        if (r < 0)
            return r;
        uint64_t ne = l2off | (rc == 1 ? QCOW_OFLAG_COPIED : 0);
        if (ne != s->l1[i]) {
            s->l1[i] = ne;
            s->l1_dirty = true;
        }
        uint64_t *l2;
        r = qcache_get(s, &s->l2_cache, l2off, false, (void **)&l2, err);
        if (r < 0)
            return r;
        bool dirty = false;
        for (uint64_t j = 0; j < s->l2_entries && r == 0; j++) {
            uint64_t bm, e = l2_get(s, l2, j, &bm);
            struct qcow2_map m;
            if (!qcow2_entry_decode(s, e, bm, &m))
                continue;
            if (m.type != QC_NORMAL && m.type != QC_ZERO_ALLOC)
                continue;
            if (s->data_fd != s->b->fd)
                continue;
            r = qcow2_get_refcount(s, m.host >> s->cluster_bits, &rc, err);
            uint64_t want = (e & ~QCOW_OFLAG_COPIED) | (rc == 1 ? QCOW_OFLAG_COPIED : 0);
            if (r == 0 && want != e) {
                l2_set(s, l2, j, want, bm);
                dirty = true;
            }
        }
        if (dirty)
            qcache_mark_dirty(&s->l2_cache, l2off);
        qcache_put(&s->l2_cache, l2off);
        if (r < 0)
            return r;
    }
    return 0;
}

/* amend refcount_bits: build a complete new set of refcount structures of
 * the new width past the end of the file, switch the header to them, then
 * free the old ones through the new ones. Lock held, I/O quiesced. */
int qcow2_change_refcount_order(struct qcow2_state *s, uint32_t order, struct vk_err *err)
{
    int r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r < 0)
        return r;
    uint64_t end;
    r = used_end(s, &end, err);
    if (r < 0)
        return r;
    uint64_t nbits = UINT64_C(1) << order;
    uint64_t nmax = nbits == 64 ? UINT64_MAX : (UINT64_C(1) << nbits) - 1;
    uint64_t nrb = ((uint64_t)s->cluster_size * 8) >> order;
    uint64_t per = s->cluster_size / 8;
    /* Current refcounts, checked against the new width. */
    uint64_t *rc = calloc(end ? end : 1, sizeof(*rc));
    if (!rc)
        return vk_err_set(err, -ENOMEM, "out of memory");
    for (uint64_t c = 0; c < end && r == 0; c++) {
        r = qcow2_get_refcount(s, c, &rc[c], err);
        if (r == 0 && rc[c] > nmax)
            r = vk_err_set(err, -ERANGE, "qcow2: cluster %llu has refcount %llu, too large for "
                           "refcount_bits=%llu", (unsigned long long)c,
                           (unsigned long long)rc[c], (unsigned long long)nbits);
    }
    if (r < 0) {
        free(rc);
        return r;
    }
    /* New table + blocks at [end, end + t + k), covering everything. */
    uint64_t t = 1, k = 0;
    for (int iter = 0; iter < 64; iter++) {
        uint64_t total = end + t + k;
        uint64_t nk = (total + nrb - 1) / nrb;
        uint64_t nt = (nk + per - 1) / per;
        if (nk == k && nt == t)
            break;
        k = nk;
        t = nt;
    }
    if (t * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES) {
        free(rc);
        return vk_err_set(err, -EFBIG, "qcow2: refcount table would be too large");
    }
    uint64_t total = end + t + k;
    uint8_t *tab = blk_alloc_aligned(t * s->cluster_size), *blk = blk_alloc_aligned(s->cluster_size);
    if (!tab || !blk) {
        free(tab); free(blk); free(rc);
        return vk_err_set(err, -ENOMEM, "out of memory");
    }
    memset(tab, 0, t * s->cluster_size);
    struct qcow2_state tmp = *s;   /* rb_set with the new width */
    tmp.refcount_order = order;
    tmp.refcount_bits = (uint32_t)nbits;
    for (uint64_t bi = 0; bi < k && r == 0; bi++) {
        memset(blk, 0, s->cluster_size);
        for (uint64_t j = 0; j < nrb; j++) {
            uint64_t c = bi * nrb + j;
            uint64_t v = c < end ? rc[c] : (c < total ? 1 : 0);
            if (v)
                rb_set(&tmp, blk, j, v);
        }
        uint64_t off = (end + t + bi) << s->cluster_bits;
        st64(tab + 8 * bi, off);
        r = blk_file_pwrite(s->b, s->b->fd, off, blk, s->cluster_size);
    }
    if (r == 0)
        r = blk_file_pwrite(s->b, s->b->fd, end << s->cluster_bits, tab, t * s->cluster_size);
    free(blk);
    free(tab);
    free(rc);
    if (r < 0)
        return vk_err_errno(err, r, "qcow2: writing the new refcount structures");
    r = qcow2_sync(s, err);
    if (r < 0)
        return r;
    uint64_t *old = s->reftable, old_size = s->reftable_size, old_off = s->reftable_offset;
    uint32_t old_clusters = s->reftable_clusters;
    uint64_t *nt = calloc(t * per, 8);
    if (!nt)
        return vk_err_set(err, -ENOMEM, "out of memory");
    for (uint64_t bi = 0; bi < k; bi++)
        nt[bi] = (end + t + bi) << s->cluster_bits;
    qcache_clear(&s->rb_cache);
    s->reftable = nt;
    s->reftable_size = t * per;
    s->reftable_offset = end << s->cluster_bits;
    s->reftable_clusters = (uint32_t)t;
    s->refcount_order = order;
    s->refcount_bits = (uint32_t)nbits;
    s->refcount_max = nmax;
    s->rb_entries = nrb;
    s->free_cluster_hint = 0;
    r = qcow2_write_header(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    /* The old structures are garbage now: free them via the new ones. */
    for (uint64_t bi = 0; bi < old_size && r == 0; bi++) {
        uint64_t o = old[bi] & REFT_OFFSET_MASK;
        if (o)
            r = qcow2_update_refcount(s, o >> s->cluster_bits, 1, -1, err);
    }
    if (r == 0)
        r = qcow2_update_refcount(s, old_off >> s->cluster_bits, old_clusters, -1, err);
    free(old);
    if (r == 0)
        r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    return r;
}
