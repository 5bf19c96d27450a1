/* isa-debug-exit: the guest writes v to the port and the VMM exits with
 * status (v << 1) | 1, exactly as QEMU does, so QEMU-based test runners
 * (kvm-unit-tests) read results the same way. Only with
 * `--device isa-debug-exit[,iobase=0xf4][,iosize=0x4]`. */
#include <errno.h>
#include <stdlib.h>

#include "../machine.h"

struct debug_exit { struct machine *m; };

static uint64_t dbg_read(void *opaque, uint64_t off, unsigned size) { return 0; }

static void dbg_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct debug_exit *d = opaque;
    machine_request(d->m, MACHINE_DEBUG_EXIT, (int)(((uint32_t)value << 1) | 1));
}

static const struct bus_ops dbg_ops = { .read = dbg_read, .write = dbg_write };

static int dbg_init(struct machine *m, const struct device_config *cfg, void **state,
                    struct vk_err *err)
{
    uint64_t base = cfg->base, size = cfg->size ? cfg->size : 4;
    struct vk_kvlist kv = { 0 };
    int rc = vk_kv_parse(cfg->args ? cfg->args : "", "driver", &kv, err);
    if (rc < 0)
        return rc;
    const char *s;
    if ((s = vk_kv_get(&kv, "iobase")) && (vk_parse_u64(s, &base) < 0 || base > 0xffff))
        rc = vk_err_set(err, -EINVAL, "isa-debug-exit: bad iobase '%s'", s);
    if ((s = vk_kv_get(&kv, "iosize")) && (vk_parse_u64(s, &size) < 0 || size == 0 ||
                                           size > 0x10000 - base))
        rc = vk_err_set(err, -EINVAL, "isa-debug-exit: bad iosize '%s'", s);
    vk_kv_free(&kv);
    if (rc < 0)
        return rc;
    struct debug_exit *d = calloc(1, sizeof(*d));
    if (!d)
        return vk_err_set(err, -ENOMEM, "out of memory");
    d->m = m;
    rc = bus_register(&m->pio, base, size, &dbg_ops, d, "isa-debug-exit", err);
    if (rc < 0) {
        free(d);
        return rc;
    }
    *state = d;
    return 0;
}

const struct device_ops debug_exit_ops = {
    .name = "isa-debug-exit",
    .init = dbg_init,
    .destroy = free,
};
