/* qcow2 cluster mapping: L1/L2 lookup, entry decoding (standard and
 * extended L2), L2 table allocation / copy-on-write, L1 growth. */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>

uint64_t l2_get(struct qcow2_state *s, const uint64_t *l2, uint64_t i, uint64_t *bitmap)
{
    if (s->extl2) {
        if (bitmap)
            *bitmap = be64toh(l2[2 * i + 1]);
        return be64toh(l2[2 * i]);
    }
    if (bitmap)
        *bitmap = 0;
    return be64toh(l2[i]);
}

void l2_set(struct qcow2_state *s, uint64_t *l2, uint64_t i, uint64_t e, uint64_t bitmap)
{
    if (s->extl2) {
        l2[2 * i] = htobe64(e);
        l2[2 * i + 1] = htobe64(bitmap);
    } else {
        l2[i] = htobe64(e);
    }
}

int qcow2_check_offset(struct qcow2_state *s, uint64_t off, const char *what, uint64_t where,
                       struct vk_err *err)
{
    if (off & (s->cluster_size - 1))
        return qcow2_signal_corruption(s, err, "qcow2: %s offset 0x%llx (index %llu) is not "
                                       "cluster-aligned", what, (unsigned long long)off,
                                       (unsigned long long)where);
    if (off < s->cluster_size)
        return qcow2_signal_corruption(s, err, "qcow2: %s offset 0x%llx (index %llu) overlaps "
                                       "the header", what, (unsigned long long)off,
                                       (unsigned long long)where);
    return 0;
}

bool qcow2_entry_decode(struct qcow2_state *s, uint64_t e, uint64_t bitmap, struct qcow2_map *m)
{
    memset(m, 0, sizeof(*m));
    m->l2e = e;
    m->bitmap = bitmap;
    if (e & QCOW_OFLAG_COMPRESSED) {
        m->type = QC_COMPRESSED;
        return true;
    }
    m->host = e & L2E_OFFSET_MASK;
    bool has = m->host || (s->data_fd != s->b->fd && (e & QCOW_OFLAG_COPIED));
    bool zero = !s->extl2 && s->version >= 3 && (e & QCOW_OFLAG_ZERO);
    if (has)
        m->type = zero ? QC_ZERO_ALLOC : QC_NORMAL;
    else
        m->type = zero ? QC_ZERO_PLAIN : QC_UNALLOC;
    return true;
}

void qcow2_compressed_range(struct qcow2_state *s, uint64_t e, uint64_t *off, uint64_t *len)
{
    uint64_t o = e & ((UINT64_C(1) << s->csize_shift) - 1);
    uint64_t nsec = ((e >> s->csize_shift) & s->csize_mask) + 1;
    *off = o;
    *len = nsec * 512 - (o & 511);
}

/* Subcluster type inside an extended-L2 cluster. */
static enum qcow2_ctype sub_type(const struct qcow2_map *m, unsigned sc)
{
    if (m->type == QC_COMPRESSED)
        return QC_COMPRESSED;
    if (m->bitmap & (UINT64_C(1) << sc))
        return QC_NORMAL;
    if (m->bitmap & (UINT64_C(1) << (32 + sc)))
        return QC_ZERO_PLAIN;
    return QC_UNALLOC;
}

int qcow2_get_mapping(struct qcow2_state *s, uint64_t off, uint64_t len, struct qcow2_map *m,
                      uint64_t *run, bool *sub_alloc_partial, struct vk_err *err)
{
    uint64_t cs = s->cluster_size;
    uint64_t l2_span = s->l2_entries << s->cluster_bits;
    uint64_t l1i = off / l2_span;
    uint64_t in_l2 = l2_span - off % l2_span;
    if (sub_alloc_partial)
        *sub_alloc_partial = false;
    memset(m, 0, sizeof(*m));
    if (l1i >= s->l1_size || !(s->l1[l1i] & L1E_OFFSET_MASK)) {
        m->type = QC_UNALLOC;
        *run = VK_MIN(len, in_l2);
        return 0;
    }
    uint64_t l2off = s->l1[l1i] & L1E_OFFSET_MASK;
    int r = qcow2_check_offset(s, l2off, "L2 table", l1i, err);
    if (r < 0)
        return r;
    uint64_t *l2;
    r = qcache_get(s, &s->l2_cache, l2off, false, (void **)&l2, err);
    if (r < 0)
        return r;
    uint64_t idx = (off >> s->cluster_bits) & (s->l2_entries - 1);
    uint64_t bm, e = l2_get(s, l2, idx, &bm);
    qcow2_entry_decode(s, e, bm, m);
    uint64_t intra = off & (cs - 1);
    if (m->type == QC_NORMAL || m->type == QC_ZERO_ALLOC) {
        if (m->host & (cs - 1)) {
            qcache_put(&s->l2_cache, l2off);
            return qcow2_signal_corruption(s, err, "qcow2: L2 entry at index %llu of the L2 "
                                           "table at 0x%llx has an unaligned cluster offset "
                                           "0x%llx", (unsigned long long)idx,
                                           (unsigned long long)l2off,
                                           (unsigned long long)m->host);
        }
        if (s->data_fd == s->b->fd && m->host && m->host < cs) {
            qcache_put(&s->l2_cache, l2off);
            return qcow2_signal_corruption(s, err, "qcow2: L2 entry at index %llu of the L2 "
                                           "table at 0x%llx points at the header",
                                           (unsigned long long)idx, (unsigned long long)l2off);
        }
    }
    if (s->extl2) {
        unsigned scb = s->cluster_bits - 5;
        unsigned sc = (unsigned)(intra >> scb);
        enum qcow2_ctype t = sub_type(m, sc);
        uint64_t n = (UINT64_C(1) << scb) - (intra & ((UINT64_C(1) << scb) - 1));
        for (unsigned k = sc + 1; k < 32 && t != QC_COMPRESSED && sub_type(m, k) == t; k++)
            n += UINT64_C(1) << scb;
        if (t == QC_COMPRESSED)
            n = cs - intra;
        if (sub_alloc_partial)
            *sub_alloc_partial = m->type != QC_COMPRESSED && (uint32_t)bm != 0xffffffffu;
        m->type = t;
        *run = VK_MIN(len, n);
        qcache_put(&s->l2_cache, l2off);
        return 0;
    }
    uint64_t n = cs - intra;
    if (m->type != QC_COMPRESSED) {
        for (uint64_t j = idx + 1; j < s->l2_entries && n < len; j++) {
            struct qcow2_map m2;
            qcow2_entry_decode(s, l2_get(s, l2, j, NULL), 0, &m2);
            if (m2.type != m->type)
                break;
            if (m->type == QC_NORMAL || m->type == QC_ZERO_ALLOC) {
                if (m2.host != m->host + ((j - idx) << s->cluster_bits))
                    break;
                if ((m2.l2e & QCOW_OFLAG_COPIED) != (m->l2e & QCOW_OFLAG_COPIED))
                    break;
            }
            n += cs;
        }
    }
    qcache_put(&s->l2_cache, l2off);
    *run = VK_MIN(len, n);
    return 0;
}

int qcow2_grow_l1(struct qcow2_state *s, uint64_t min_size, struct vk_err *err)
{
    if (min_size <= s->l1_size)
        return 0;
    uint64_t ns = VK_MAX(min_size, (uint64_t)s->l1_size + s->l1_size / 2);
    if (ns * 8 > QCOW2_MAX_L1_BYTES)
        ns = min_size;
    if (ns * 8 > QCOW2_MAX_L1_BYTES)
        return vk_err_set(err, -EFBIG, "qcow2: L1 table would need %llu entries (max %u)",
                          (unsigned long long)ns, QCOW2_MAX_L1_BYTES / 8);
    /* Everything the old L1 references goes to disk first. */
    int r = qcow2_meta_flush(s, err);
    if (r < 0)
        return r;
    uint64_t bytes = VK_ALIGN_UP(ns * 8, (uint64_t)s->cluster_size);
    uint64_t *nl1 = calloc(1, bytes);
    uint8_t *buf = blk_alloc_aligned(bytes);
    if (!nl1 || !buf) {
        free(nl1);
        free(buf);
        return vk_err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(nl1, s->l1, (size_t)s->l1_size * 8);
    memset(buf, 0, bytes);
    for (uint64_t i = 0; i < ns; i++)
        st64(buf + 8 * i, nl1[i]);
    uint64_t noff;
    r = qcow2_alloc_clusters(s, bytes >> s->cluster_bits, &noff, err);
    if (r == 0) {
        /* The refcounts of the new table first, then the table, then the header. */
        r = qcache_flush(s, &s->rb_cache, NULL, err);
    }
    if (r == 0) {
        r = blk_file_pwrite(s->b, s->b->fd, noff, buf, bytes);
        if (r < 0)
            vk_err_errno(err, r, "qcow2: writing the new L1 table");
    }
    if (r == 0)
        r = qcow2_sync(s, err);
    free(buf);
    if (r < 0) {
        free(nl1);
        return r;
    }
    uint64_t old_off = s->l1_offset, old_bytes = (uint64_t)s->l1_size * 8;
    free(s->l1);
    s->l1 = nl1;
    s->l1_offset = noff;
    s->l1_size = (uint32_t)ns;
    r = qcow2_write_header(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r == 0 && old_off && old_bytes)
        r = qcow2_update_refcount(s, old_off >> s->cluster_bits,
                                  qcow2_size_to_clusters(s, old_bytes), -1, err);
    return r;
}

int qcow2_get_l2_for_write(struct qcow2_state *s, uint64_t off, uint64_t **l2, uint64_t *l2_off,
                           uint64_t *idx, struct vk_err *err)
{
    uint64_t l2_span = s->l2_entries << s->cluster_bits;
    uint64_t l1i = off / l2_span;
    int r;
    if (l1i >= s->l1_size) {
        r = qcow2_grow_l1(s, l1i + 1, err);
        if (r < 0)
            return r;
    }
    *idx = (off >> s->cluster_bits) & (s->l2_entries - 1);
    uint64_t e = s->l1[l1i], old = e & L1E_OFFSET_MASK;
    if (old) {
        r = qcow2_check_offset(s, old, "L2 table", l1i, err);
        if (r < 0)
            return r;
    }
    if (old && (e & QCOW_OFLAG_COPIED)) {
        *l2_off = old;
        return qcache_get(s, &s->l2_cache, old, false, (void **)l2, err);
    }
    uint64_t noff;
    r = qcow2_alloc_clusters(s, 1, &noff, err);
    if (r < 0)
        return r;
    uint64_t *nt;
    r = qcache_get(s, &s->l2_cache, noff, true, (void **)&nt, err);
    if (r < 0)
        return r;
    if (old) {
        /* Shared with a snapshot: copy it; the data clusters stay shared. */
        uint64_t *ot;
        r = qcache_get(s, &s->l2_cache, old, false, (void **)&ot, err);
        if (r < 0) {
            qcache_put(&s->l2_cache, noff);
            return r;
        }
        memcpy(nt, ot, s->cluster_size);
        qcache_put(&s->l2_cache, old);
        qcow2_free_deferred(s, old, s->cluster_size);
    }
    qcache_mark_dirty(&s->l2_cache, noff);
    s->l1[l1i] = noff | QCOW_OFLAG_COPIED;
    s->l1_dirty = true;
    *l2 = nt;
    *l2_off = noff;
    return 0;
}
