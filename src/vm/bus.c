/* Port I/O and MMIO dispatch: a sorted array of non-overlapping ranges.
 *
 * Registrations are rare (setup, PCI BAR moves) and lookups are hot (every
 * exit), so the array is kept sorted and searched by bisection under a read
 * lock. Handlers run with the read lock held: a handler must not register or
 * unregister ranges on the same bus (that would deadlock on the write lock).
 */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bus_init(struct bus *b, const char *name)
{
    memset(b, 0, sizeof(*b));
    b->name = name;
    return -pthread_rwlock_init(&b->lock, NULL);
}

void bus_destroy(struct bus *b)
{
    free(b->entries);
    b->entries = NULL;
    b->n = b->cap = 0;
    pthread_rwlock_destroy(&b->lock);
}

/* Index of the first entry whose base is > addr. */
static size_t upper_bound(const struct bus *b, uint64_t addr)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->entries[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
                 void *opaque, const char *name, struct vk_err *err)
{
    uint64_t last;
    if (len == 0 || vk_add_overflow_u64(base, len - 1, &last))
        return vk_err_set(err, -EINVAL, "%s: bad range 0x%llx+0x%llx for %s", b->name,
                          (unsigned long long)base, (unsigned long long)len, name);
    pthread_rwlock_wrlock(&b->lock);
    size_t i = upper_bound(b, base);
    /* Overlap with the entry before (it may extend past base) or after. */
    const struct bus_entry *clash = NULL;
    if (i > 0 && b->entries[i - 1].base + (b->entries[i - 1].len - 1) >= base)
        clash = &b->entries[i - 1];
    else if (i < b->n && b->entries[i].base <= last)
        clash = &b->entries[i];
    if (clash) {
        int rc = vk_err_set(err, -EBUSY, "%s: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx",
                            b->name, name, (unsigned long long)base, (unsigned long long)len,
                            clash->name, (unsigned long long)clash->base,
                            (unsigned long long)clash->len);
        pthread_rwlock_unlock(&b->lock);
        return rc;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct bus_entry *e = realloc(b->entries, cap * sizeof(*e));
        if (!e) {
            pthread_rwlock_unlock(&b->lock);
            return vk_err_set(err, -ENOMEM, "%s: out of memory", b->name);
        }
        b->entries = e;
        b->cap = cap;
    }
    memmove(&b->entries[i + 1], &b->entries[i], (b->n - i) * sizeof(b->entries[0]));
    b->entries[i] = (struct bus_entry){ base, len, ops, opaque, name };
    b->n++;
    pthread_rwlock_unlock(&b->lock);
    return 0;
}

int bus_unregister(struct bus *b, uint64_t base, void *opaque)
{
    int rc = -ENOENT;
    pthread_rwlock_wrlock(&b->lock);
    size_t i = upper_bound(b, base);
    if (i > 0 && b->entries[i - 1].base == base && b->entries[i - 1].opaque == opaque) {
        memmove(&b->entries[i - 1], &b->entries[i], (b->n - i) * sizeof(b->entries[0]));
        b->n--;
        rc = 0;
    }
    pthread_rwlock_unlock(&b->lock);
    return rc;
}

/* The entry containing [addr, addr+size), or NULL. An access straddling
 * the end of a range is not claimed. Caller holds the read lock. */
static const struct bus_entry *lookup(const struct bus *b, uint64_t addr, unsigned size)
{
    size_t i = upper_bound(b, addr);
    if (i == 0)
        return NULL;
    const struct bus_entry *e = &b->entries[i - 1];
    uint64_t off = addr - e->base;
    if (!vk_range_ok(off, size, e->len))
        return NULL;
    return e;
}

bool bus_read(struct bus *b, uint64_t addr, unsigned size, uint64_t *value)
{
    pthread_rwlock_rdlock(&b->lock);
    const struct bus_entry *e = lookup(b, addr, size);
    if (e && e->ops->read) {
        *value = e->ops->read(e->opaque, addr - e->base, size);
        pthread_rwlock_unlock(&b->lock);
        return true;
    }
    pthread_rwlock_unlock(&b->lock);
    *value = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
    if (!e)
        vk_debug("%s: unclaimed read 0x%llx/%u", b->name, (unsigned long long)addr, size);
    return e != NULL;
}

bool bus_write(struct bus *b, uint64_t addr, unsigned size, uint64_t value)
{
    pthread_rwlock_rdlock(&b->lock);
    const struct bus_entry *e = lookup(b, addr, size);
    if (e && e->ops->write)
        e->ops->write(e->opaque, addr - e->base, value, size);
    pthread_rwlock_unlock(&b->lock);
    if (!e)
        vk_debug("%s: unclaimed write 0x%llx/%u = 0x%llx", b->name, (unsigned long long)addr,
                 size, (unsigned long long)value);
    return e != NULL;
}
