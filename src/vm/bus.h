/* The device model's address spaces: port I/O and MMIO dispatch.
 *
 * A device registers {base, len, ops, opaque}; accesses are dispatched to
 * its ops with an offset from base, never an absolute address. Overlapping
 * registrations are refused. Lookups take a read lock, so PCI BAR moves can
 * re-register while vCPUs run. An access nobody claims reads as all ones and
 * ignores writes (logged at debug level), as on real hardware.
 */
#ifndef VK_VM_BUS_H
#define VK_VM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct bus_ops {
    /* size is 1, 2, 4 or 8; return the value (zero-extended). */
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

struct bus_entry {
    uint64_t base, len;
    const struct bus_ops *ops;
    void *opaque;
    const char *name;
};

struct bus {
    const char *name;            /* "pio", "mmio" */
    pthread_rwlock_t lock;
    struct bus_entry *entries;   /* sorted by base, non-overlapping */
    size_t n, cap;
};

int bus_init(struct bus *b, const char *name);
void bus_destroy(struct bus *b);
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
                 void *opaque, const char *name, struct vk_err *err) VK_MUST_CHECK;
int bus_unregister(struct bus *b, uint64_t base, void *opaque);
/* Returns true if a device claimed the access. */
bool bus_read(struct bus *b, uint64_t addr, unsigned size, uint64_t *value);
bool bus_write(struct bus *b, uint64_t addr, unsigned size, uint64_t value);

#endif
