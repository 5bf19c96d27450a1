/* qcow2 guest I/O: reads (normal, zero, compressed, backing, subclusters),
 * allocating writes with copy-on-write, zero writes, discard, block status,
 * preallocation and compressed cluster writes.
 *
 * Allocating writes hold the image lock; they allocate the clusters (refcount
 * +1 in the cache), write the data, then update the L2 entry in the cache.
 * qcow2_meta_flush later writes refcount blocks, syncs, writes L2 tables. */
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Data read from the image file must start inside it. The last cluster may
 * end past EOF (written only partly, as qemu allows too), but a cluster that
 * starts at or past EOF means a broken L2 entry: fail instead of inventing
 * zeroes. The file may have grown since we last looked (our own allocations,
 * or another process writing the image), so only a fresh size counts. */
static int check_in_file(struct qcow2_state *s, uint64_t host, uint64_t guest, const char *what,
                         struct vk_err *err)
{
    if (host < __atomic_load_n(&s->file_size_seen, __ATOMIC_RELAXED))
        return 0;
    struct stat st;
    if (fstat(s->b->fd, &st) < 0)
        return vk_err_errno(err, -errno, "qcow2: fstat of %s", s->b->filename);
    uint64_t size = (uint64_t)st.st_size;
    __atomic_store_n(&s->file_size_seen, size, __ATOMIC_RELAXED);
    if (host < size)
        return 0;
    return vk_err_set(err, -EIO, "qcow2: %s cluster at host offset 0x%llx (guest offset "
                      "0x%llx) lies past the end of the image file (%llu bytes); the image "
                      "is corrupt", what, (unsigned long long)host, (unsigned long long)guest,
                      (unsigned long long)size);
}

static int read_compressed(struct qcow2_state *s, uint64_t e, uint64_t guest, void *buf,
                           size_t len, struct vk_err *err)
{
    uint64_t coff, clen, intra = guest & (s->cluster_size - 1);
    qcow2_compressed_range(s, e, &coff, &clen);
    int rc = check_in_file(s, coff, guest, "compressed", err);
    if (rc < 0)
        return rc;
    uint8_t *cbuf = malloc(clen), *out = malloc(s->cluster_size);
    int r = 0;
    if (!cbuf || !out) {
        r = vk_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    r = blk_file_pread(s->b, s->b->fd, coff, cbuf, clen);
    if (r < 0) {
        vk_err_errno(err, r, "qcow2: reading compressed cluster at 0x%llx",
                     (unsigned long long)coff);
        goto out;
    }
    r = qcow2_decompress(s, cbuf, clen, out, s->cluster_size);
    if (r < 0) {
        vk_err_set(err, -EIO, "qcow2: compressed cluster at 0x%llx (%llu bytes) does not "
                   "decompress", (unsigned long long)coff, (unsigned long long)clen);
        goto out;
    }
    memcpy(buf, out + intra, len);
out:
    free(cbuf);
    free(out);
    return r;
}

/* Read guest data; `locked`: the caller holds s->lock (copy-on-write). */
static int do_read(struct qcow2_state *s, uint64_t off, uint8_t *buf, size_t len, bool locked,
                   struct vk_err *err)
{
    struct blk *b = s->b;
    while (len) {
        struct qcow2_map m;
        uint64_t run;
        if (!locked)
            pthread_mutex_lock(&s->lock);
        int r = qcow2_get_mapping(s, off, len, &m, &run, NULL, err);
        if (!locked)
            pthread_mutex_unlock(&s->lock);
        if (r < 0)
            return r;
        uint64_t intra = off & (s->cluster_size - 1);
        switch (m.type) {
        case QC_UNALLOC:
            r = blk_read_backing(b, off, buf, run, err);
            break;
        case QC_ZERO_PLAIN:
        case QC_ZERO_ALLOC:
            memset(buf, 0, run);
            break;
        case QC_NORMAL:
            if (s->data_fd == b->fd && (r = check_in_file(s, m.host, off, "data", err)) < 0)
                break;
            r = blk_file_pread(b, s->data_fd, m.host + intra, buf, run);
            if (r < 0)
                vk_err_errno(err, r, "qcow2: reading data at 0x%llx",
                             (unsigned long long)(m.host + intra));
            break;
        case QC_COMPRESSED:
            r = read_compressed(s, m.l2e, off, buf, run, err);
            break;
        }
        if (r < 0)
            return r;
        off += run;
        buf += run;
        len -= run;
    }
    return 0;
}

int qcow2_pread(struct blk *b, uint64_t off, void *buf, size_t len, struct vk_err *err)
{
    return do_read(Q(b), off, buf, len, false, err);
}

static int check_writable(struct qcow2_state *s, struct vk_err *err)
{
    if (s->corrupt)
        return vk_err_set(err, -EIO, "qcow2: %s is marked corrupt; not writing (repair it "
                          "with check -r all)", s->b->filename);
    if ((s->compat & QCOW2_COMPAT_LAZY) && !s->dirty_marked) {
        /* Lazy refcounts: the dirty bit tells the next opener to check. */
        s->incompat |= QCOW2_INCOMPAT_DIRTY;
        int r = qcow2_write_header(s, err);
        if (r == 0)
            r = qcow2_sync(s, err);
        if (r < 0)
            return r;
        s->dirty_marked = true;
    }
    return 0;
}

static int writev_full(int fd, struct iovec *iov, int n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwritev(fd, iov, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (uint64_t)w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static uint64_t full_bitmap(struct qcow2_state *s)
{
    return s->extl2 ? 0xffffffffull : 0;
}

static bool is_zero(const uint8_t *p, size_t len)
{
    if (!len)
        return true;
    return p[0] == 0 && !memcmp(p, p + 1, len - 1);
}

void qcow2_wait_inflight(struct qcow2_state *s, uint64_t start, uint64_t end)
{
    for (;;) {
        bool busy = s->nb_inflight >= (int)VK_ARRAY_SIZE(s->inflight);
        for (int i = 0; i < s->nb_inflight && !busy; i++)
            busy = s->inflight[i].start < end && start < s->inflight[i].end;
        if (!busy)
            return;
        pthread_cond_wait(&s->alloc_cond, &s->lock);
    }
}

static void inflight_add(struct qcow2_state *s, uint64_t start, uint64_t end)
{
    s->inflight[s->nb_inflight++] = (struct inflight){ start, end };
}

static void inflight_del(struct qcow2_state *s, uint64_t start)
{
    for (int i = 0; i < s->nb_inflight; i++) {
        if (s->inflight[i].start == start) {
            s->inflight[i] = s->inflight[--s->nb_inflight];
            break;
        }
    }
    pthread_cond_broadcast(&s->alloc_cond);
}

/* Allocate new clusters for guest [off, off+len) (inside one L2 table),
 * fill them with the new data plus the old content around it, and point the
 * L2 entries at them. Lock held. */
int qcow2_cow_write(struct qcow2_state *s, uint64_t off, const uint8_t *buf, uint64_t len,
                     struct vk_err *err)
{
    uint64_t cs = s->cluster_size;
    uint64_t cstart = off & ~(cs - 1);
    uint64_t cend = VK_ALIGN_UP(off + len, cs);
    uint64_t vend = VK_MIN(cend, s->size);
    uint64_t n = (cend - cstart) >> s->cluster_bits;
    uint64_t head = off - cstart, tail = cend - (off + len);
    uint8_t *hb = NULL, *tb = NULL, *whole = NULL;
    int r = 0;
    if (head) {
        hb = blk_alloc_aligned(head);
        if (!hb)
            return vk_err_set(err, -ENOMEM, "out of memory");
        r = do_read(s, cstart, hb, head, true, err);
    }
    if (r == 0 && tail) {
        tb = blk_alloc_aligned(tail);
        if (!tb) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
        } else {
            uint64_t toff = off + len;
            uint64_t tin = toff < vend ? vend - toff : 0;
            memset(tb, 0, tail);
            if (tin)
                r = do_read(s, toff, tb, tin, true, err);
        }
    }
    uint64_t host = 0;
    bool ext = s->data_fd != s->b->fd;
    int dfd = s->data_fd;
    if (r == 0 && ext)
        host = cstart;   /* external data file: guest offset = host offset */
    else if (r == 0)
        r = qcow2_alloc_clusters(s, n, &host, err);
    bool unlocked = false;
    if (r == 0 && s->nb_inflight < (int)VK_ARRAY_SIZE(s->inflight)) {
        /* The new clusters are ours and nobody else maps these guest
         * clusters until we are done: write the data without the lock. */
        inflight_add(s, cstart, cend);
        pthread_mutex_unlock(&s->lock);
        unlocked = true;
    }
    /* Zero COW regions need no writing when the file reads zeroes there
     * already (new clusters past EOF) or can be zeroed cheaply. */
    bool skip_cow = false;
    if (r == 0 && s->b->align <= 1 && (head || tail) && is_zero(hb, head) && is_zero(tb, tail)) {
        struct stat st;
        if (fstat(dfd, &st) == 0 && host >= (uint64_t)st.st_size)
            skip_cow = true;
        else if (fallocate(dfd, FALLOC_FL_ZERO_RANGE, (off_t)host, (off_t)(n * cs)) == 0)
            skip_cow = true;
    }
    if (r == 0 && skip_cow) {
        r = vk_pwrite_full(dfd, buf, len, (off_t)(host + head));
        if (r < 0)
            vk_err_errno(err, r, "qcow2: writing data at 0x%llx", (unsigned long long)host);
    } else if (r == 0) {
        if (s->b->align > 1) {
            whole = blk_alloc_aligned(n * cs);
            if (!whole) {
                r = vk_err_set(err, -ENOMEM, "out of memory");
            } else {
                if (head)
                    memcpy(whole, hb, head);
                memcpy(whole + head, buf, len);
                if (tail)
                    memcpy(whole + head + len, tb, tail);
                r = blk_file_pwrite(s->b, dfd, host, whole, n * cs);
            }
        } else {
            struct iovec iov[3];
            int k = 0;
            if (head)
                iov[k++] = (struct iovec){ hb, head };
            iov[k++] = (struct iovec){ (void *)buf, len };
            if (tail)
                iov[k++] = (struct iovec){ tb, tail };
            r = writev_full(dfd, iov, k, host);
        }
        if (r < 0) {
            vk_err_errno(err, r, "qcow2: writing data at 0x%llx", (unsigned long long)host);
            /* The clusters stay allocated but unreferenced: a leak at worst. */
        }
    }
    if (unlocked)
        pthread_mutex_lock(&s->lock);
    s->unsynced = true;   /* the new data must be durable before its L2 entry */
    if (r == 0) {
        uint64_t *l2, l2off, idx;
        r = qcow2_get_l2_for_write(s, cstart, &l2, &l2off, &idx, err);
        if (r == 0) {
            for (uint64_t k = 0; k < n; k++) {
                uint64_t old = l2_get(s, l2, idx + k, NULL);
                qcow2_free_entry(s, old);
                l2_set(s, l2, idx + k, (host + k * cs) | QCOW_OFLAG_COPIED, full_bitmap(s));
            }
            qcache_mark_dirty(&s->l2_cache, l2off);
            qcache_put(&s->l2_cache, l2off);
        }
    }
    if (unlocked)
        inflight_del(s, cstart);
    free(hb);
    free(tb);
    free(whole);
    return r;
}

/* Extended L2: write guest [off, off+len) (inside one cluster) at subcluster
 * granularity: only the touched subclusters become allocated (the partial
 * ones at the edges get their old content copied in); the cluster is
 * allocated first if it has none. -EAGAIN when the whole cluster has to be
 * copied instead (compressed, or shared with a snapshot). Lock held. */
static int subcluster_write(struct qcow2_state *s, uint64_t off, const uint8_t *buf,
                            uint64_t len, struct vk_err *err)
{
    uint64_t cs = s->cluster_size, scs = s->subcluster_size;
    uint64_t cstart = off & ~(cs - 1), intra = off - cstart;
    unsigned sc0 = (unsigned)(intra / scs), sc1 = (unsigned)((intra + len - 1) / scs);
    uint64_t *l2, l2off, idx;
    int r = qcow2_get_l2_for_write(s, cstart, &l2, &l2off, &idx, err);
    if (r < 0)
        return r;
    uint64_t bm, e = l2_get(s, l2, idx, &bm);
    struct qcow2_map m;
    qcow2_entry_decode(s, e, bm, &m);
    qcache_put(&s->l2_cache, l2off);
    bool has_host = m.type == QC_NORMAL || m.type == QC_ZERO_ALLOC;
    if (m.type == QC_COMPRESSED || (has_host && !(e & QCOW_OFLAG_COPIED)) ||
        s->data_fd != s->b->fd)
        return -EAGAIN;
    uint64_t span = (uint64_t)(sc1 - sc0 + 1) * scs, start = cstart + sc0 * scs;
    uint64_t head = off - start, tail = span - head - len;
    uint8_t *w = blk_alloc_aligned(span);
    if (!w)
        return vk_err_set(err, -ENOMEM, "out of memory");
    if (head)
        r = do_read(s, start, w, head, true, err);
    if (r == 0 && tail) {
        uint64_t toff = off + len, in = toff < s->size ? VK_MIN(tail, s->size - toff) : 0;
        memset(w + head + len, 0, tail);
        if (in)
            r = do_read(s, toff, w + head + len, in, true, err);
    }
    memcpy(w + head, buf, len);
    uint64_t host = m.host;
    if (r == 0 && !has_host)
        r = qcow2_alloc_clusters(s, 1, &host, err);
    if (r == 0) {
        r = blk_file_pwrite(s->b, s->b->fd, host + sc0 * scs, w, span);
        if (r < 0)
            vk_err_errno(err, r, "qcow2: writing data at 0x%llx",
                         (unsigned long long)(host + sc0 * scs));
        s->unsynced = true;
    }
    free(w);
    if (r < 0)
        return r;
    r = qcow2_get_l2_for_write(s, cstart, &l2, &l2off, &idx, err);
    if (r < 0)
        return r;
    uint64_t mask = 0;
    for (unsigned k = sc0; k <= sc1; k++)
        mask |= UINT64_C(1) << k;
    bm = l2_get(s, l2, idx, NULL) == e ? bm : 0;  /* unchanged under the lock */
    bm = (bm | mask) & ~(mask << 32);
    l2_set(s, l2, idx, host | QCOW_OFLAG_COPIED, bm);
    qcache_mark_dirty(&s->l2_cache, l2off);
    qcache_put(&s->l2_cache, l2off);
    return 0;
}

int qcow2_pwrite(struct blk *b, uint64_t off, const void *vbuf, size_t len, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    const uint8_t *buf = vbuf;
    pthread_mutex_lock(&s->lock);
    int r = check_writable(s, err);
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        return r;
    while (len) {
        struct qcow2_map m;
        uint64_t run;
        bool partial;
        pthread_mutex_lock(&s->lock);
        qcow2_wait_inflight(s, off & ~(uint64_t)(s->cluster_size - 1),
                            VK_ALIGN_UP(off + len, (uint64_t)s->cluster_size));
        r = qcow2_get_mapping(s, off, len, &m, &run, &partial, err);
        if (r < 0) {
            pthread_mutex_unlock(&s->lock);
            return r;
        }
        /* With subclusters, the run only covers subclusters of one type. */
        if (m.type == QC_NORMAL && (m.l2e & QCOW_OFLAG_COPIED) && (!partial || s->extl2)) {
            pthread_mutex_unlock(&s->lock);
            uint64_t host = m.host + (off & (s->cluster_size - 1));
            r = blk_file_pwrite(b, s->data_fd, host, buf, run);
            if (r < 0)
                return vk_err_errno(err, r, "qcow2: writing data at 0x%llx",
                                    (unsigned long long)host);
        } else {
            if (s->extl2 || m.type == QC_COMPRESSED) {
                /* One cluster at a time. */
                run = VK_MIN(len, s->cluster_size - (off & (s->cluster_size - 1)));
            }
            r = s->extl2 ? subcluster_write(s, off, buf, run, err) : -EAGAIN;
            if (r == -EAGAIN)
                r = qcow2_cow_write(s, off, buf, run, err);
            pthread_mutex_unlock(&s->lock);
            if (r < 0)
                return r;
        }
        off += run;
        buf += run;
        len -= run;
    }
    return 0;
}

/* Set the L2 entries of whole clusters [off, off+len) (cluster-aligned) to
 * zero (`discard` false) or discarded state. Lock held. */
static int zero_clusters(struct qcow2_state *s, uint64_t off, uint64_t len, bool discard,
                         bool may_unmap, struct vk_err *err)
{
    uint64_t cs = s->cluster_size;
    bool has_backing = s->b->backing_name != NULL;
    while (len) {
        uint64_t l2_span = s->l2_entries << s->cluster_bits;
        uint64_t l1i = off / l2_span;
        uint64_t n = VK_MIN(len, l2_span - off % l2_span) >> s->cluster_bits;
        if ((l1i >= s->l1_size || !(s->l1[l1i] & L1E_OFFSET_MASK)) && !has_backing) {
            /* Nothing allocated and no backing: already reads as zeroes. */
            off += n * cs;
            len -= n * cs;
            continue;
        }
        uint64_t *l2, l2off, idx;
        int r = qcow2_get_l2_for_write(s, off, &l2, &l2off, &idx, err);
        if (r < 0)
            return r;
        for (uint64_t k = 0; k < n; k++) {
            uint64_t bm, old = l2_get(s, l2, idx + k, &bm);
            struct qcow2_map m;
            qcow2_entry_decode(s, old, bm, &m);
            uint64_t ne, nbm = 0;
            if (discard || s->version < 3) {
                /* v2 only gets here without a backing file: unallocated reads zero. */
                if (s->extl2) {
                    ne = 0;
                    nbm = has_backing ? 0xffffffff00000000ull : 0;
                } else {
                    ne = (s->version >= 3 && has_backing) ? QCOW_OFLAG_ZERO : 0;
                }
            } else if (s->extl2) {
                ne = 0;
                nbm = 0xffffffff00000000ull;
            } else if (!may_unmap && m.type == QC_NORMAL && (old & QCOW_OFLAG_COPIED)) {
                ne = old | QCOW_OFLAG_ZERO;  /* keep the allocation */
            } else {
                ne = QCOW_OFLAG_ZERO;
            }
            if (ne == old && nbm == bm)
                continue;
            if (!(ne & L2E_OFFSET_MASK))
                qcow2_free_entry(s, old);
            l2_set(s, l2, idx + k, ne, nbm);
        }
        qcache_mark_dirty(&s->l2_cache, l2off);
        qcache_put(&s->l2_cache, l2off);
        off += n * cs;
        len -= n * cs;
    }
    return 0;
}

int qcow2_pwrite_zeroes(struct blk *b, uint64_t off, uint64_t len, unsigned flags,
                        struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    uint64_t cs = s->cluster_size;
    uint64_t a = VK_ALIGN_UP(off, cs), e = VK_ALIGN_DOWN(off + len, cs);
    if (off + len == s->size)
        e = VK_ALIGN_UP(off + len, cs);
    /* With a data file it must hold the guest's bytes: write real zeroes. */
    bool fast = s->data_fd == b->fd &&
                (s->version >= 3 || (!b->backing_name && (flags & BLK_ZERO_MAY_UNMAP)));
    if (!fast || a >= e) {
        a = e = off + len;  /* everything via the slow path below */
    }
    int r = 0;
    uint8_t *z = NULL;
    /* Partial clusters (and v2 images) get real zero writes. */
    uint64_t parts[2][2] = { { off, VK_MIN(a, off + len) - off }, { e, off + len > e ? off + len - e : 0 } };
    if (a >= e)
        parts[1][1] = 0;
    for (int i = 0; i < 2 && r == 0; i++) {
        uint64_t po = parts[i][0], pl = parts[i][1];
        while (pl && r == 0) {
            size_t chunk = (size_t)VK_MIN(pl, (uint64_t)1 << 20);
            if (!z) {
                z = blk_alloc_aligned(1 << 20);
                if (!z)
                    return vk_err_set(err, -ENOMEM, "out of memory");
                memset(z, 0, 1 << 20);
            }
            r = qcow2_pwrite(b, po, z, chunk, err);
            po += chunk;
            pl -= chunk;
        }
    }
    free(z);
    if (r < 0 || a >= e)
        return r;
    pthread_mutex_lock(&s->lock);
    r = check_writable(s, err);
    if (r == 0)
        r = zero_clusters(s, a, e - a, false, flags & BLK_ZERO_MAY_UNMAP, err);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int qcow2_discard(struct blk *b, uint64_t off, uint64_t len, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    uint64_t cs = s->cluster_size;
    uint64_t a = VK_ALIGN_UP(off, cs), e = VK_ALIGN_DOWN(off + len, cs);
    if (off + len == s->size)
        e = VK_ALIGN_UP(off + len, cs);
    if (a >= e || s->data_fd != b->fd)
        return 0;   /* discard is a hint; a data file keeps its bytes */
    pthread_mutex_lock(&s->lock);
    qcow2_wait_inflight(s, a, e);
    int r = check_writable(s, err);
    if (r == 0)
        r = zero_clusters(s, a, e - a, true, true, err);
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* Punch holes (best effort) into the clusters of `r` whose refcount is now
 * 0: the tables that referenced them are durable, so their content is dead
 * even if a crash follows. Lock held. */
static void punch_free(struct qcow2_state *s, const struct freed_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t run = 0, start = 0;
        for (uint64_t c = r[i].cluster; c <= r[i].cluster + r[i].n; c++) {
            uint64_t rc = 1;
            if (c < r[i].cluster + r[i].n && qcow2_get_refcount(s, c, &rc, NULL) < 0)
                rc = 1;
            if (rc == 0 && c < r[i].cluster + r[i].n) {
                if (!run++)
                    start = c;
                continue;
            }
            if (run)
                (void)fallocate(s->b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                (off_t)(start << s->cluster_bits), (off_t)(run << s->cluster_bits));
            run = 0;
        }
    }
}

/* Drop every cluster of the active L1 so all reads fall through to the
 * backing file (qemu-img commit's "make empty"). Tables shared with a
 * snapshot only lose this L1's reference. Order: the L1 entries are cleared
 * and written (synced) before any refcount drops (deferred frees), so a
 * crash leaves at worst leaked clusters. */
int qcow2_make_empty(struct blk *b, struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    pthread_mutex_lock(&s->lock);
    qcow2_wait_inflight(s, 0, UINT64_MAX);
    int r = check_writable(s, err);
    for (uint32_t i = 0; i < s->l1_size && r == 0; i++) {
        uint64_t l2off = s->l1[i] & L1E_OFFSET_MASK, rc;
        if (!l2off)
            continue;
        if ((r = qcow2_check_offset(s, l2off, "L2 table", i, err)) < 0 ||
            (r = qcow2_get_refcount(s, l2off >> s->cluster_bits, &rc, err)) < 0)
            break;
        if (rc == 1) {
            /* Only this L1 uses the table: its entries' references go too. */
            uint64_t *l2;
            if ((r = qcache_get(s, &s->l2_cache, l2off, false, (void **)&l2, err)) < 0)
                break;
            for (uint64_t j = 0; j < s->l2_entries; j++)
                qcow2_free_entry(s, l2_get(s, l2, j, NULL));
            qcache_put(&s->l2_cache, l2off);
            qcache_drop(&s->l2_cache, l2off);
        }
        qcow2_free_deferred(s, l2off, s->cluster_size);
        s->l1[i] = 0;
        s->l1_dirty = true;
    }
    /* A partly filled cluster for packing compressed data may be freed. */
    s->free_byte_offset = 0;
    struct freed_range *copy = NULL;
    size_t ncopy = s->nb_freed;
    if (r == 0 && ncopy && (copy = malloc(ncopy * sizeof(*copy))))
        memcpy(copy, s->freed, ncopy * sizeof(*copy));
    if (r == 0)
        r = qcow2_meta_flush(s, err);
    if (r == 0)
        r = qcow2_sync(s, err);
    if (r == 0 && copy && s->data_fd == b->fd)
        punch_free(s, copy, ncopy);
    free(copy);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int qcow2_block_status(struct blk *b, uint64_t off, uint64_t len, struct blk_status *st,
                       struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    struct qcow2_map m;
    uint64_t run;
    pthread_mutex_lock(&s->lock);
    int r = qcow2_get_mapping(s, off, len, &m, &run, NULL, err);
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        return r;
    st->len = run;
    uint64_t intra = off & (s->cluster_size - 1);
    switch (m.type) {
    case QC_UNALLOC:
        st->flags = 0;
        break;
    case QC_ZERO_PLAIN:
        st->flags = BLK_ST_ZERO | BLK_ST_ALLOCATED;
        break;
    case QC_ZERO_ALLOC:
        st->flags = BLK_ST_ZERO | BLK_ST_ALLOCATED | BLK_ST_OFFSET_VALID;
        st->host_offset = m.host + intra;
        break;
    case QC_NORMAL:
        st->flags = BLK_ST_DATA | BLK_ST_ALLOCATED | BLK_ST_OFFSET_VALID;
        st->host_offset = m.host + intra;
        if (s->data_fd != b->fd)
            st->filename = s->data_file_name;
        break;
    case QC_COMPRESSED:
        st->flags = BLK_ST_DATA | BLK_ST_ALLOCATED | BLK_ST_COMPRESSED;
        break;
    }
    return 0;
}

int qcow2_preallocate(struct qcow2_state *s, uint64_t from, uint64_t to, enum blk_prealloc mode,
                      struct vk_err *err)
{
    uint64_t cs = s->cluster_size;
    uint64_t off = VK_ALIGN_DOWN(from, cs), end = VK_ALIGN_UP(to, cs);
    uint64_t max_host = 0;
    if (s->data_fd != s->b->fd)
        return 0;   /* the data file was sized already; nothing to place */
    while (off < end) {
        uint64_t l2_span = s->l2_entries << s->cluster_bits;
        uint64_t n = VK_MIN(end - off, l2_span - off % l2_span) >> s->cluster_bits;
        uint64_t *l2, l2off, idx;
        int r = qcow2_get_l2_for_write(s, off, &l2, &l2off, &idx, err);
        if (r < 0)
            return r;
        uint64_t need = 0;
        for (uint64_t k = 0; k < n; k++) {
            struct qcow2_map m;
            qcow2_entry_decode(s, l2_get(s, l2, idx + k, NULL), 0, &m);
            if (m.type == QC_UNALLOC || m.type == QC_ZERO_PLAIN)
                need++;
        }
        uint64_t host = 0;
        if (need)
            r = qcow2_alloc_clusters(s, need, &host, err);
        if (r == 0 && need) {
            /* Pinned L2 may have been swapped by an eviction: re-fetch via the cache. */
            uint64_t h = host;
            for (uint64_t k = 0; k < n; k++) {
                struct qcow2_map m;
                qcow2_entry_decode(s, l2_get(s, l2, idx + k, NULL), 0, &m);
                if (m.type == QC_UNALLOC || m.type == QC_ZERO_PLAIN) {
                    l2_set(s, l2, idx + k, h | QCOW_OFLAG_COPIED, full_bitmap(s));
                    h += cs;
                }
            }
            qcache_mark_dirty(&s->l2_cache, l2off);
            if (mode == BLK_PREALLOC_FALLOC) {
                int fr = posix_fallocate(s->b->fd, (off_t)host, (off_t)(need * cs));
                if (fr)
                    r = vk_err_errno(err, -fr, "qcow2: preallocating");
            } else if (mode == BLK_PREALLOC_FULL) {
                uint8_t *z = blk_alloc_aligned(1 << 20);
                if (!z) {
                    r = vk_err_set(err, -ENOMEM, "out of memory");
                } else {
                    memset(z, 0, 1 << 20);
                    for (uint64_t o = 0; o < need * cs && r == 0; o += 1 << 20) {
                        size_t c = (size_t)VK_MIN((uint64_t)1 << 20, need * cs - o);
                        r = blk_file_pwrite(s->b, s->b->fd, host + o, z, c);
                    }
                    free(z);
                    if (r < 0)
                        vk_err_errno(err, r, "qcow2: preallocating");
                }
            }
            max_host = VK_MAX(max_host, host + need * cs);
        }
        qcache_put(&s->l2_cache, l2off);
        if (r < 0)
            return r;
        off += n * cs;
    }
    /* Metadata mode: make the clusters exist (sparse) in the file. */
    struct stat st;
    if (max_host && fstat(s->b->fd, &st) == 0 && (uint64_t)st.st_size < max_host &&
        ftruncate(s->b->fd, (off_t)max_host) < 0)
        return vk_err_errno(err, -errno, "qcow2: extending the image file");
    return 0;
}

int qcow2_write_compressed(struct blk *b, uint64_t off, const void *cbuf, size_t clen,
                           struct vk_err *err)
{
    struct qcow2_state *s = Q(b);
    uint64_t cs = s->cluster_size;
    if (clen == 0 || clen >= cs)
        return vk_err_set(err, -EINVAL, "qcow2: compressed cluster of %zu bytes does not fit",
                          clen);
    if (s->data_fd != b->fd)
        return vk_err_set(err, -ENOTSUP, "qcow2: compression is not supported with an "
                          "external data file");
    pthread_mutex_lock(&s->lock);
    qcow2_wait_inflight(s, off, off + cs);
    int r = check_writable(s, err);
    if (r < 0)
        goto out;
    uint64_t pos;
    uint64_t fbo = s->free_byte_offset, fbo_rc = 0;
    /* Packing adds a reference to the current cluster: not when it is full
     * (refcount_bits=1 can count only one user). */
    if (fbo && qcow2_get_refcount(s, fbo >> s->cluster_bits, &fbo_rc, err) == 0 &&
        fbo_rc >= s->refcount_max)
        fbo = 0;
    if (fbo && (fbo & (cs - 1)) && cs - (fbo & (cs - 1)) >= clen) {
        /* Fits in what is left of the current cluster. */
        pos = fbo;
        r = qcow2_update_refcount(s, fbo >> s->cluster_bits, 1, 1, err);
    } else {
        uint64_t host;
        r = qcow2_alloc_clusters(s, 1, &host, err);
        if (r < 0)
            goto out;
        pos = host;
        if (fbo && (fbo & (cs - 1)) && host == (fbo & ~(cs - 1)) + cs) {
            /* The next cluster is contiguous: start in the current one's
             * tail and run over (both clusters count this reference). */
            pos = fbo;
            r = qcow2_update_refcount(s, fbo >> s->cluster_bits, 1, 1, err);
        }
    }
    if (r < 0)
        goto out;
    s->free_byte_offset = (pos + clen) & (cs - 1) ? pos + clen : 0;
    r = blk_file_pwrite(b, b->fd, pos, cbuf, clen);
    if (r < 0) {
        vk_err_errno(err, r, "qcow2: writing compressed data at 0x%llx", (unsigned long long)pos);
        goto out;
    }
    s->unsynced = true;
    uint64_t nsec = ((pos + clen - 1) >> 9) - (pos >> 9) + 1;
    uint64_t e = QCOW_OFLAG_COMPRESSED | pos | ((nsec - 1) << s->csize_shift);
    uint64_t *l2, l2off, idx;
    r = qcow2_get_l2_for_write(s, off, &l2, &l2off, &idx, err);
    if (r < 0)
        goto out;
    qcow2_free_entry(s, l2_get(s, l2, idx, NULL));
    l2_set(s, l2, idx, e, 0);
    qcache_mark_dirty(&s->l2_cache, l2off);
    qcache_put(&s->l2_cache, l2off);
out:
    pthread_mutex_unlock(&s->lock);
    return r;
}
