/* qcow2 consistency check and repair: recompute every cluster's expected
 * refcount from the metadata (header, L1/L2 tables of the active state and
 * every snapshot, refcount structures, snapshot table, bitmaps), compare
 * with the stored refcounts, and fix leaks / errors on request. Also checks
 * the COPIED flags of the active tables. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

struct chk {
    struct qcow2_state *s;
    uint32_t *ref;        /* expected refcount per host cluster (saturating) */
    uint64_t n;           /* entries in ref */
    struct blk_check_result *res;
    unsigned msgs;
    uint64_t last_data;   /* for fragmentation stats */
    uint64_t fsize;
    bool quiet;
};

#define MSG(c, ...) do {                                                  \
        if ((c)->quiet) vk_debug(__VA_ARGS__);                              \
        else if ((c)->msgs++ < 1000) vk_warn(__VA_ARGS__);                  \
    } while (0)

static int ref_add(struct chk *c, uint64_t off, uint64_t len)
{
    struct qcow2_state *s = c->s;
    if (!len)
        return 0;
    uint64_t c0 = off >> s->cluster_bits, c1 = (off + len - 1) >> s->cluster_bits;
    /* The last cluster may be written only partly, so a reference may end
     * past EOF -- but by less than a cluster (qemu-img's rule too). */
    if (off + len < off || off + len >= c->fsize + s->cluster_size) {
        c->res->corruptions++;
        MSG(c, "ERROR: cluster reference 0x%llx+%llu lies one cluster or more past the end "
            "of the image file (%llu bytes)", (unsigned long long)off,
            (unsigned long long)len, (unsigned long long)c->fsize);
        return 0;
    }
    if (c1 >= c->n) {
        uint64_t nn = VK_MAX(c1 + 1, c->n * 2);
        uint32_t *nr = realloc(c->ref, nn * sizeof(*nr));
        if (!nr)
            return -ENOMEM;
        memset(nr + c->n, 0, (nn - c->n) * sizeof(*nr));
        c->ref = nr;
        c->n = nn;
    }
    for (uint64_t i = c0; i <= c1; i++)
        if (c->ref[i] != UINT32_MAX)
            c->ref[i]++;
    return 0;
}

static int walk_l2(struct chk *c, uint64_t l2off, bool active, struct vk_err *err)
{
    struct qcow2_state *s = c->s;
    uint64_t *l2;
    int r = qcache_get(s, &s->l2_cache, l2off, false, (void **)&l2, err);
    if (r < 0) {
        c->res->check_errors++;
        return 0;
    }
    /* Fragmentation is counted within one L2 table, as qemu-img does: the
     * first allocated cluster of each table never counts as fragmented. */
    c->last_data = 0;
    for (uint64_t j = 0; j < s->l2_entries && r == 0; j++) {
        uint64_t bm, e = l2_get(s, l2, j, &bm);
        struct qcow2_map m;
        qcow2_entry_decode(s, e, bm, &m);
        if (m.type == QC_COMPRESSED) {
            uint64_t off, len;
            qcow2_compressed_range(s, e, &off, &len);
            if (active) {
                /* As qemu-img counts them: compressed clusters are
                 * fragmented by nature (sub-sector placement). */
                c->res->allocated_clusters++;
                c->res->compressed_clusters++;
                c->res->fragmented_clusters++;
            }
            if (e & QCOW_OFLAG_COPIED) {
                c->res->corruptions++;
                MSG(c, "ERROR: compressed cluster %llu has the COPIED flag set",
                    (unsigned long long)j);
            }
            r = ref_add(c, off, len);
        } else if (m.type == QC_NORMAL || m.type == QC_ZERO_ALLOC) {
            if (m.host & (s->cluster_size - 1)) {
                c->res->corruptions++;
                MSG(c, "ERROR: offset=%llx: cluster is not properly aligned; L2 entry corrupted",
                    (unsigned long long)m.host);
                continue;
            }
            if (active) {
                c->res->allocated_clusters++;
                if (c->last_data && m.host != c->last_data + s->cluster_size)
                    c->res->fragmented_clusters++;
                c->last_data = m.host;
            }
            if (s->data_fd == s->b->fd)
                r = ref_add(c, m.host, s->cluster_size);
        }
    }
    qcache_put(&s->l2_cache, l2off);
    return r;
}

static int walk_l1(struct chk *c, const uint64_t *l1, uint32_t n, bool active, struct vk_err *err)
{
    struct qcow2_state *s = c->s;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t l2off = l1[i] & L1E_OFFSET_MASK;
        if (!l2off)
            continue;
        if ((l2off & (s->cluster_size - 1)) || l2off < s->cluster_size) {
            c->res->corruptions++;
            MSG(c, "ERROR: L2 table offset 0x%llx (L1 index %u) is invalid",
                (unsigned long long)l2off, i);
            continue;
        }
        int r = ref_add(c, l2off, s->cluster_size);
        if (r == 0)
            r = walk_l2(c, l2off, active, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int walk_bitmaps(struct chk *c, const uint8_t *ext, uint32_t len)
{
    struct qcow2_state *s = c->s;
    if (len < 24)
        return 0;
    uint32_t nb = ld32(ext);
    uint64_t dsize = ld64(ext + 8), doff = ld64(ext + 16);
    if (dsize > (64u << 20) || (doff & (s->cluster_size - 1)) || !vk_range_ok(doff, dsize, c->fsize))
        return 0;
    int r = ref_add(c, doff, dsize);
    uint8_t *dir = malloc(dsize ? dsize : 1);
    if (r < 0 || !dir) {
        free(dir);
        return r < 0 ? r : -ENOMEM;
    }
    if (blk_file_pread(s->b, s->b->fd, doff, dir, dsize) < 0) {
        free(dir);
        c->res->check_errors++;
        return 0;
    }
    uint64_t pos = 0;
    for (uint32_t i = 0; i < nb && pos + 24 <= dsize && r == 0; i++) {
        uint64_t toff = ld64(dir + pos);
        uint32_t tsize = ld32(dir + pos + 8);
        uint16_t name_len = ld16(dir + pos + 18);
        uint32_t extra = ld32(dir + pos + 20);
        if (!(toff & (s->cluster_size - 1)) && tsize <= (1u << 24) &&
            vk_range_ok(toff, (uint64_t)tsize * 8, c->fsize)) {
            r = ref_add(c, toff, (uint64_t)tsize * 8);
            uint8_t *t = malloc((size_t)tsize * 8 + 1);
            if (r == 0 && t && blk_file_pread(s->b, s->b->fd, toff, t, (size_t)tsize * 8) == 0) {
                for (uint32_t k = 0; k < tsize && r == 0; k++) {
                    uint64_t e = ld64(t + 8 * k) & L1E_OFFSET_MASK;
                    if (e)
                        r = ref_add(c, e, s->cluster_size);
                }
            }
            free(t);
        }
        pos += VK_ALIGN_UP(24 + (uint64_t)extra + name_len, 8);
    }
    free(dir);
    return r;
}

/* Set a stored refcount during repair, refusing to create a refcount block
 * on top of a cluster that is in use. */
static int repair_set(struct chk *c, uint64_t cl, uint64_t v, struct vk_err *err)
{
    struct qcow2_state *s = c->s;
    uint64_t bi = cl / s->rb_entries;
    if (bi >= s->reftable_size || !(s->reftable[bi] & REFT_OFFSET_MASK)) {
        uint64_t place = bi * s->rb_entries;
        if (place < c->n && c->ref[place])
            return -ENOSPC;
        if (place < c->n)
            c->ref[place] = 1;  /* the new block will use it */
    }
    return qcow2_set_refcount(s, cl, v, err);
}

static void compare_one(struct chk *c, uint64_t i, uint64_t want, uint64_t have, unsigned fix,
                        struct vk_err *err)
{
    struct qcow2_state *s = c->s;
    if (want > s->refcount_max) {
        c->res->corruptions++;
        MSG(c, "ERROR: cluster %llu has %llu references, more than refcount_bits=%u can hold",
            (unsigned long long)i, (unsigned long long)want, s->refcount_bits);
        return;
    }
    bool leak = have > want;
    bool do_fix = leak ? (fix & BLK_CHECK_FIX_LEAKS) : (fix & BLK_CHECK_FIX_ERRORS);
    MSG(c, "%s cluster %llu refcount=%llu reference=%llu",
        do_fix ? "Repairing" : leak ? "Leaked" : "ERROR", (unsigned long long)i,
        (unsigned long long)have, (unsigned long long)want);
    if (do_fix && repair_set(c, i, want, err) == 0) {
        if (leak)
            c->res->leaks_fixed++;
        else
            c->res->corruptions_fixed++;
    } else if (leak) {
        c->res->leaks++;
    } else {
        c->res->corruptions++;
    }
}

static int compare_refcounts(struct chk *c, unsigned fix, uint64_t fsize, struct vk_err *err)
{
    struct qcow2_state *s = c->s;
    uint64_t nblocks = VK_MAX(s->reftable_size, (c->n + s->rb_entries - 1) / s->rb_entries);
    uint64_t *have = malloc(s->rb_entries * sizeof(*have));
    if (!have)
        return -ENOMEM;
    for (uint64_t bi = 0; bi < nblocks; bi++) {
        uint64_t base = bi * s->rb_entries;
        uint64_t off = bi < s->reftable_size ? s->reftable[bi] & REFT_OFFSET_MASK : 0;
        if (off && (off & (s->cluster_size - 1)))
            off = 0;   /* reported while counting */
        if (off && off >= fsize) {
            c->res->corruptions++;
            MSG(c, "ERROR refcount block %llu at 0x%llx is past the end of the file",
                (unsigned long long)bi, (unsigned long long)off);
            off = 0;
        }
        if (!off && base >= c->n)
            continue;
        if (off) {
            void *blk;
            if (qcache_get(s, &s->rb_cache, off, false, &blk, err) < 0) {
                c->res->check_errors++;
                continue;
            }
            for (uint64_t k = 0; k < s->rb_entries; k++)
                have[k] = rb_get(s, blk, k);
            qcache_put(&s->rb_cache, off);
        }
        for (uint64_t k = 0; k < s->rb_entries; k++) {
            uint64_t i = base + k;
            uint64_t want = i < c->n ? c->ref[i] : 0, h = off ? have[k] : 0;
            if (!off && i >= c->n)
                break;
            if (want != h)
                compare_one(c, i, want, h, fix, err);
        }
    }
    free(have);
    return 0;
}

static int check_copied(struct chk *c, unsigned fix, struct vk_err *err)
{
    struct qcow2_state *s = c->s;
    bool repair = fix & BLK_CHECK_FIX_ERRORS;
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t l2off = s->l1[i] & L1E_OFFSET_MASK;
        if (!l2off || (l2off & (s->cluster_size - 1)) || l2off < s->cluster_size)
            continue;
        uint64_t rc;
        if (qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc, err) < 0) {
            c->res->check_errors++;
            continue;
        }
        if ((rc == 1) != !!(s->l1[i] & QCOW_OFLAG_COPIED)) {
            MSG(c, "%s OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%llx refcount=%llu",
                repair ? "Repairing" : "ERROR", i, (unsigned long long)s->l1[i],
                (unsigned long long)rc);
            if (repair) {
                s->l1[i] = l2off | (rc == 1 ? QCOW_OFLAG_COPIED : 0);
                s->l1_dirty = true;
                c->res->corruptions_fixed++;
            } else {
                c->res->corruptions++;
            }
        }
        if (s->data_fd != s->b->fd)
            continue;
        uint64_t *l2;
        if (qcache_get(s, &s->l2_cache, l2off, false, (void **)&l2, err) < 0) {
            c->res->check_errors++;
            continue;
        }
        bool dirty = false;
        for (uint64_t j = 0; j < s->l2_entries; j++) {
            uint64_t bm, e = l2_get(s, l2, j, &bm);
            struct qcow2_map m;
            qcow2_entry_decode(s, e, bm, &m);
            if ((m.type != QC_NORMAL && m.type != QC_ZERO_ALLOC) || (m.host & (s->cluster_size - 1)))
                continue;
            if (qcow2_get_refcount(s, m.host >> s->cluster_bits, &rc, err) < 0) {
                c->res->check_errors++;
                continue;
            }
            if ((rc == 1) != !!(e & QCOW_OFLAG_COPIED)) {
                MSG(c, "%s OFLAG_COPIED data cluster: l2_entry=%llx refcount=%llu",
                    repair ? "Repairing" : "ERROR", (unsigned long long)e, (unsigned long long)rc);
                if (repair) {
                    l2_set(s, l2, j, (e & ~QCOW_OFLAG_COPIED) | (rc == 1 ? QCOW_OFLAG_COPIED : 0), bm);
                    dirty = true;
                    c->res->corruptions_fixed++;
                } else {
                    c->res->corruptions++;
                }
            }
        }
        if (dirty)
            qcache_mark_dirty(&s->l2_cache, l2off);
        qcache_put(&s->l2_cache, l2off);
    }
    return 0;
}

int qcow2_check(struct blk *b, unsigned fix, struct blk_check_result *res, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    struct chk c = { .s = s, .res = res, .quiet = fix & QCOW2_CHECK_QUIET };
    fix &= ~QCOW2_CHECK_QUIET;
    memset(res, 0, sizeof(*res));
    res->has_cluster_stats = true;
    res->total_clusters = qcow2_size_to_clusters(s, s->size);
    struct stat st;
    uint64_t fsize = fstat(b->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    c.fsize = fsize;
    pthread_mutex_lock(&s->lock);
    bool was_corrupt = s->corrupt;
    if (fix)
        s->corrupt = false;   /* repairing is the one write allowed on a corrupt image */
    int r = 0;
    if (fix) {
        r = qcow2_meta_flush(s, err);
        if (r < 0)
            goto out;
    }
    r = ref_add(&c, 0, s->cluster_size);
    if (r == 0 && s->l1_size)
        r = ref_add(&c, s->l1_offset, (uint64_t)s->l1_size * 8);
    if (r == 0)
        r = walk_l1(&c, s->l1, s->l1_size, true, err);
    for (uint32_t i = 0; r == 0 && i < s->nb_snapshots; i++) {
        struct qcow2_snapshot *sn = &s->snapshots[i];
        if (!sn->l1_size)
            continue;
        uint64_t *l1 = malloc((size_t)sn->l1_size * 8);
        if (!l1) {
            r = -ENOMEM;
            break;
        }
        if (blk_file_pread(b, b->fd, sn->l1_offset, l1, (size_t)sn->l1_size * 8) < 0) {
            res->check_errors++;
            free(l1);
            continue;
        }
        for (uint32_t k = 0; k < sn->l1_size; k++)
            l1[k] = be64toh(l1[k]);
        r = ref_add(&c, sn->l1_offset, (uint64_t)sn->l1_size * 8);
        if (r == 0)
            r = walk_l1(&c, l1, sn->l1_size, false, err);
        free(l1);
    }
    if (r == 0 && s->nb_snapshots)
        r = ref_add(&c, s->snapshots_offset, s->snapshots_size);
    if (r == 0)
        r = ref_add(&c, s->reftable_offset, (uint64_t)s->reftable_clusters * s->cluster_size);
    for (uint64_t bi = 0; r == 0 && bi < s->reftable_size; bi++) {
        uint64_t off = s->reftable[bi] & REFT_OFFSET_MASK;
        if (!off)
            continue;
        if (off & (s->cluster_size - 1)) {
            res->corruptions++;
            MSG(&c, "ERROR refcount block %llu is not cluster aligned; refcount table entry "
                "corrupted", (unsigned long long)bi);
            continue;
        }
        r = ref_add(&c, off, s->cluster_size);
    }
    for (int i = 0; r == 0 && i < s->nb_unknown; i++)
        if (s->unknown[i].type == QCOW2_EXT_BITMAPS && (s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
            r = walk_bitmaps(&c, s->unknown[i].data, s->unknown[i].len);
    if (r == 0)
        r = compare_refcounts(&c, fix, fsize, err);
    if (r == 0)
        r = check_copied(&c, fix, err);
    if (r < 0) {
        if (r == -ENOMEM)
            vk_err_set(err, r, "out of memory");
        goto out;
    }
    for (uint64_t i = c.n; i-- > 0;) {
        if (c.ref[i]) {
            res->image_end_offset = (i + 1) << s->cluster_bits;
            break;
        }
    }
    if (fix) {
        r = qcow2_meta_flush(s, err);
        if (r == 0)
            r = qcow2_sync(s, err);
        if (r == 0 && was_corrupt && res->corruptions == 0) {
            s->incompat &= ~QCOW2_INCOMPAT_CORRUPT;
            r = qcow2_write_header(s, err);
            if (r == 0)
                r = qcow2_sync(s, err);
            was_corrupt = false;
        }
    }
out:
    s->corrupt = was_corrupt || s->corrupt;
    if (!fix)
        s->corrupt = was_corrupt;
    pthread_mutex_unlock(&s->lock);
    free(c.ref);
    return r;
}
