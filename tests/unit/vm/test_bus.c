/* bus.c: registration (overlap refusal), dispatch with offsets, unclaimed
 * accesses, unregistration. */
#include <errno.h>

#include "bus.h"
#include "tap.h"

struct rec { uint64_t last_off, last_val; unsigned last_size, reads, writes; };

static uint64_t rec_read(void *o, uint64_t off, unsigned size)
{
    struct rec *r = o;
    r->last_off = off;
    r->last_size = size;
    r->reads++;
    return 0x1100 + off;
}

static void rec_write(void *o, uint64_t off, uint64_t v, unsigned size)
{
    struct rec *r = o;
    r->last_off = off;
    r->last_val = v;
    r->last_size = size;
    r->writes++;
}

static const struct bus_ops ops = { .read = rec_read, .write = rec_write };

int main(void)
{
    struct bus b;
    struct rec a = { 0 }, c = { 0 }, d = { 0 };
    struct vk_err err = { 0 };
    uint64_t v;

    tap_is_int(bus_init(&b, "pio"), 0, "bus_init");
    tap_is_int(bus_register(&b, 0x3f8, 8, &ops, &a, "com1", &err), 0, "register com1 0x3f8+8");
    tap_is_int(bus_register(&b, 0x2f8, 8, &ops, &c, "com2", &err), 0, "register com2 0x2f8+8");
    tap_is_int(bus_register(&b, 0x3f0, 8, &ops, &d, "x", &err), 0, "adjacent range below is fine");

    tap_is_int(bus_register(&b, 0x3fc, 2, &ops, &d, "inside", &err), -EBUSY, "range inside com1 refused");
    tap_ok(strstr(err.msg, "com1") != NULL, "error names the owner: %s", err.msg);
    tap_is_int(bus_register(&b, 0x3f7, 2, &ops, &d, "straddle", NULL), -EBUSY, "range straddling the start refused");
    tap_is_int(bus_register(&b, 0x3ff, 1, &ops, &d, "last", NULL), -EBUSY, "last byte refused");
    tap_is_int(bus_register(&b, 0x200, 0x1000, &ops, &d, "cover", NULL), -EBUSY, "covering range refused");
    tap_is_int(bus_register(&b, 0x500, 0, &ops, &d, "empty", NULL), -EINVAL, "zero length refused");
    tap_is_int(bus_register(&b, UINT64_MAX, 2, &ops, &d, "wrap", NULL), -EINVAL, "wrapping range refused");
    tap_is_int(bus_register(&b, 0x400, 8, &ops, &d, "above", NULL), 0, "adjacent range above is fine");

    tap_ok(bus_write(&b, 0x3fb, 1, 0x83), "write to com1 claimed");
    tap_is_int(a.last_off, 3, "handler sees offset 3, not the address");
    tap_is_int(a.last_val, 0x83, "value passed");
    tap_is_int(c.writes, 0, "com2 untouched");
    tap_ok(bus_read(&b, 0x2fd, 1, &v), "read from com2 claimed");
    tap_is_int(v, 0x1105, "read value from handler (offset 5)");
    tap_ok(bus_read(&b, 0x3fc, 4, &v), "4-byte read inside com1");
    tap_is_int(a.last_size, 4, "size passed");

    tap_ok(!bus_read(&b, 0x100, 1, &v), "unclaimed read");
    tap_is_int(v, 0xff, "unclaimed 1-byte read is all ones");
    tap_ok(!bus_read(&b, 0x100, 2, &v) && v == 0xffff, "unclaimed 2-byte read is 0xffff");
    tap_ok(!bus_read(&b, 0x100, 8, &v) && v == UINT64_MAX, "unclaimed 8-byte read is all ones");
    tap_ok(!bus_write(&b, 0x100, 1, 1), "unclaimed write ignored");
    tap_ok(!bus_read(&b, 0x3fe, 4, &v), "access running past the end is not claimed");

    tap_is_int(bus_unregister(&b, 0x2f8, &a), -ENOENT, "unregister with the wrong owner refused");
    tap_is_int(bus_unregister(&b, 0x2f8, &c), 0, "unregister com2");
    tap_ok(!bus_read(&b, 0x2f8, 1, &v), "com2 range now unclaimed");
    tap_is_int(bus_register(&b, 0x2f8, 8, &ops, &c, "com2", NULL), 0, "re-register after unregister");

    /* many ranges stay sorted and found */
    struct bus big;
    bus_init(&big, "mmio");
    int ok = 1;
    for (unsigned i = 0; i < 200; i++)
        ok &= bus_register(&big, (uint64_t)(199 - i) * 0x1000, 0x800, &ops, &a, "r", NULL) == 0;
    tap_ok(ok, "200 ranges registered in reverse order");
    unsigned hits = 0;
    for (unsigned i = 0; i < 200; i++)
        hits += bus_read(&big, i * 0x1000ULL + 0x7ff, 1, &v) && !bus_read(&big, i * 0x1000ULL + 0x800, 1, &v);
    tap_is_int(hits, 200, "every range found, the gaps after them unclaimed");
    bus_destroy(&big);
    bus_destroy(&b);
    return tap_done();
}
