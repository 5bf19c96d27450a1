/* Port 0x80 (POST codes / I/O delay): writes are ignored, reads return 0. */
#include "../machine.h"

static uint64_t p80_read(void *opaque, uint64_t off, unsigned size) { return 0; }
static void p80_write(void *opaque, uint64_t off, uint64_t value, unsigned size) { }
static const struct bus_ops p80_ops = { .read = p80_read, .write = p80_write };

static int p80_init(struct machine *m, const struct device_config *cfg, void **state,
                    struct vk_err *err)
{
    *state = NULL;
    return bus_register(&m->pio, cfg->base, cfg->size ? cfg->size : 1, &p80_ops, NULL, "port80", err);
}

const struct device_ops port80_ops = { .name = "port80", .init = p80_init };
