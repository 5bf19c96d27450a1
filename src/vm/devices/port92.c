/* System control port A (0x92): bit 0 is the fast reset, bit 1 the A20
 * gate (kept for read-back only: A20 is always enabled). */
#include <errno.h>
#include <stdlib.h>

#include "../machine.h"

struct port92 { struct machine *m; uint8_t val; };

static uint64_t p92_read(void *opaque, uint64_t off, unsigned size)
{
    struct port92 *p = opaque;
    return p->val;
}

static void p92_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct port92 *p = opaque;
    p->val = (uint8_t)(value & 0x02);
    if (value & 0x01)
        machine_request(p->m, MACHINE_RESET, 0);
}

static const struct bus_ops p92_ops = { .read = p92_read, .write = p92_write };

static void p92_reset(void *opaque)
{
    struct port92 *p = opaque;
    p->val = 0x02;
}

static int p92_init(struct machine *m, const struct device_config *cfg, void **state,
                    struct vk_err *err)
{
    struct port92 *p = calloc(1, sizeof(*p));
    if (!p)
        return vk_err_set(err, -ENOMEM, "out of memory");
    p->m = m;
    p92_reset(p);
    int rc = bus_register(&m->pio, cfg->base, 1, &p92_ops, p, "port92", err);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *state = p;
    return 0;
}

const struct device_ops port92_ops = {
    .name = "port92", .init = p92_init, .reset = p92_reset, .destroy = free,
};
