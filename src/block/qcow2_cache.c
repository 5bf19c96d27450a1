/* qcow2 metadata cache: L2 tables and refcount blocks, one cluster each,
 * kept as on disk (big endian). LRU eviction; dirty tables are written
 * back by qcache_flush, in the order qcow2_meta_flush imposes (refcount
 * blocks before the L2 tables that reference new clusters). */
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>

static int hash_of(const struct qcache *c, uint64_t off)
{
    uint64_t h = off * 0x9e3779b97f4a7c15ull;
    return (int)((h >> 32) & (uint64_t)(c->nbuckets - 1));
}

int qcache_init(struct qcache *c, int n, const char *what)
{
    memset(c, 0, sizeof(*c));
    if (n < 4)
        n = 4;
    c->n = n;
    c->what = what;
    c->nbuckets = 1;
    while (c->nbuckets < 2 * n)
        c->nbuckets <<= 1;
    c->e = calloc((size_t)n, sizeof(*c->e));
    c->buckets = malloc(sizeof(int) * (size_t)c->nbuckets);
    if (!c->e || !c->buckets) {
        free(c->e);
        free(c->buckets);
        return -ENOMEM;
    }
    for (int i = 0; i < c->nbuckets; i++)
        c->buckets[i] = -1;
    for (int i = 0; i < n; i++)
        c->e[i].next = -1;
    return 0;
}

void qcache_destroy(struct qcache *c)
{
    if (!c->e)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->e[i].buf);
    free(c->e);
    free(c->buckets);
    memset(c, 0, sizeof(*c));
}

static int find(const struct qcache *c, uint64_t off)
{
    for (int i = c->buckets[hash_of(c, off)]; i >= 0; i = c->e[i].next)
        if (c->e[i].offset == off)
            return i;
    return -1;
}

static void unlink_entry(struct qcache *c, int i)
{
    int *pp = &c->buckets[hash_of(c, c->e[i].offset)];
    while (*pp >= 0) {
        if (*pp == i) {
            *pp = c->e[i].next;
            break;
        }
        pp = &c->e[*pp].next;
    }
    c->e[i].next = -1;
    c->e[i].offset = 0;
    c->e[i].dirty = false;
}

static int write_entry(struct qcow2_state *s, struct qcache *c, int i, struct vk_err *err)
{
    int r = blk_file_pwrite(s->b, s->b->fd, c->e[i].offset, c->e[i].buf, s->cluster_size);
    if (r < 0)
        return vk_err_errno(err, r, "qcow2: writing %s table at 0x%llx", c->what,
                            (unsigned long long)c->e[i].offset);
    c->e[i].dirty = false;
    s->unsynced = true;
    return 0;
}

int qcache_get(struct qcow2_state *s, struct qcache *c, uint64_t offset, bool fresh,
               void **table, struct vk_err *err)
{
    int i = find(c, offset);
    if (i >= 0) {
        if (fresh)
            memset(c->e[i].buf, 0, s->cluster_size);
        goto hit;
    }
    /* Pick a victim: a free slot, else the least recently used unpinned one. */
    int victim = -1;
    for (int j = 0; j < c->n; j++) {
        if (c->e[j].pin)
            continue;
        if (!c->e[j].offset) {
            victim = j;
            break;
        }
        if (victim < 0 || c->e[j].stamp < c->e[victim].stamp)
            victim = j;
    }
    if (victim < 0)
        return vk_err_set(err, -ENOMEM, "qcow2: %s cache exhausted", c->what);
    if (c->e[victim].offset && c->e[victim].dirty) {
        /* An L2 table may reference clusters whose refcounts are still only
         * in the cache: those go first. Refcount blocks can go any time
         * (decrements are applied only after the L2 tables are written). */
        if (c == &s->l2_cache) {
            int r = qcache_flush(s, &s->rb_cache, NULL, err);
            if (r == 0)
                r = qcow2_barrier(s, err);
            if (r < 0)
                return r;
        }
        int r = write_entry(s, c, victim, err);
        if (r < 0)
            return r;
    }
    if (c->e[victim].offset)
        unlink_entry(c, victim);
    if (!c->e[victim].buf) {
        c->e[victim].buf = blk_alloc_aligned(s->cluster_size);
        if (!c->e[victim].buf)
            return vk_err_set(err, -ENOMEM, "out of memory");
    }
    if (fresh) {
        memset(c->e[victim].buf, 0, s->cluster_size);
    } else {
        int r = blk_file_pread(s->b, s->b->fd, offset, c->e[victim].buf, s->cluster_size);
        if (r < 0)
            return vk_err_errno(err, r, "qcow2: reading %s table at 0x%llx", c->what,
                                (unsigned long long)offset);
    }
    i = victim;
    c->e[i].offset = offset;
    c->e[i].dirty = false;
    int h = hash_of(c, offset);
    c->e[i].next = c->buckets[h];
    c->buckets[h] = i;
hit:
    c->e[i].stamp = ++c->clock;
    c->e[i].pin++;
    *table = c->e[i].buf;
    return 0;
}

void qcache_put(struct qcache *c, uint64_t offset)
{
    int i = find(c, offset);
    if (i >= 0 && c->e[i].pin > 0)
        c->e[i].pin--;
}

void qcache_mark_dirty(struct qcache *c, uint64_t offset)
{
    int i = find(c, offset);
    if (i >= 0)
        c->e[i].dirty = true;
}

bool qcache_has_dirty(struct qcache *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->e[i].offset && c->e[i].dirty)
            return true;
    return false;
}

int qcache_flush(struct qcow2_state *s, struct qcache *c, bool *wrote, struct vk_err *err)
{
    for (int i = 0; i < c->n; i++) {
        if (c->e[i].offset && c->e[i].dirty) {
            int r = write_entry(s, c, i, err);
            if (r < 0)
                return r;
            if (wrote)
                *wrote = true;
        }
    }
    return 0;
}

void qcache_drop(struct qcache *c, uint64_t offset)
{
    int i = find(c, offset);
    if (i >= 0 && !c->e[i].pin)
        unlink_entry(c, i);
    else if (i >= 0)
        c->e[i].dirty = false;
}

void qcache_clear(struct qcache *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->e[i].offset && !c->e[i].pin)
            unlink_entry(c, i);
}
