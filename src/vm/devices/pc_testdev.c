/* QEMU's pc-testdev, as kvm-unit-tests use it (only with --device pc-testdev):
 *   base+0 .. base+3  (0xe0) scratch register: reads return the last write;
 *   base+4 .. base+7  (0xe4) page flush: a 32-bit write of a guest physical
 *                     address drops and restores the host mapping of that
 *                     page, so the accelerator must re-fault it;
 *   0x2000 + n        (n < 24) drives interrupt line n to the value written.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../machine.h"

#define TESTDEV_IRQ_BASE 0x2000
#define TESTDEV_NR_IRQS  24

struct pc_testdev {
    struct machine *m;
    uint32_t scratch;
};

static uint64_t td_read(void *opaque, uint64_t off, unsigned size)
{
    struct pc_testdev *t = opaque;
    if (off < 4)
        return (t->scratch >> (off * 8)) & (size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1);
    return 0;
}

static void td_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct pc_testdev *t = opaque;
    if (off < 4) {
        if (size >= 4 || off + size > 4)
            t->scratch = (uint32_t)value;
        else {
            uint32_t mask = ((1u << (size * 8)) - 1) << (off * 8);
            t->scratch = (t->scratch & ~mask) | (((uint32_t)value << (off * 8)) & mask);
        }
        return;
    }
    if (off == 4 && size == 4) {
        long page = sysconf(_SC_PAGESIZE);
        uint64_t gpa = value & ~(uint64_t)(page - 1);
        void *hva = machine_gpa_to_hva(t->m, gpa, (uint64_t)page);
        if (hva) {
            mprotect(hva, (size_t)page, PROT_NONE);
            mprotect(hva, (size_t)page, PROT_READ | PROT_WRITE);
        }
    }
}

static uint64_t irq_read(void *opaque, uint64_t off, unsigned size) { return 0; }

static void irq_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct pc_testdev *t = opaque;
    if (off < TESTDEV_NR_IRQS)
        machine_set_irq(t->m, (unsigned)off, value != 0);
}

static const struct bus_ops td_ops = { .read = td_read, .write = td_write };
static const struct bus_ops irq_ops = { .read = irq_read, .write = irq_write };

static int td_init(struct machine *m, const struct device_config *cfg, void **state,
                   struct vk_err *err)
{
    struct pc_testdev *t = calloc(1, sizeof(*t));
    if (!t)
        return vk_err_set(err, -ENOMEM, "out of memory");
    t->m = m;
    int rc = bus_register(&m->pio, cfg->base, 8, &td_ops, t, "pc-testdev", err);
    if (rc == 0) {
        rc = bus_register(&m->pio, TESTDEV_IRQ_BASE, TESTDEV_NR_IRQS, &irq_ops, t,
                          "pc-testdev-irq", err);
        if (rc < 0)
            bus_unregister(&m->pio, cfg->base, t);
    }
    if (rc < 0) {
        free(t);
        return rc;
    }
    *state = t;
    return 0;
}

const struct device_ops pc_testdev_ops = {
    .name = "pc-testdev", .init = td_init, .destroy = free,
};
