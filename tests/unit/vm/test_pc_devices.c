/* The small PC devices: i8042 (self test, command byte, reset), port 0x92,
 * isa-debug-exit (options, exit request), pc-testdev (scratch, IRQ lines,
 * page flush with hostile addresses), port 0x80. */
#include "fake_machine.h"
#include "tap.h"

extern const struct device_ops i8042_ops, port92_ops, debug_exit_ops, pc_testdev_ops, port80_ops;

static struct bus *pio;
static uint64_t in(uint64_t port, unsigned size) { uint64_t v; bus_read(pio, port, size, &v); return v; }
static void out(uint64_t port, unsigned size, uint64_t v) { bus_write(pio, port, size, v); }

int main(void)
{
    struct fake_machine *f = fake_machine_new(1 << 20, 1);
    pio = &f->m.pio;
    tap_ok(fake_machine_add(f, &i8042_ops, 0x60, 1, NULL) != NULL, "i8042");
    tap_ok(fake_machine_add(f, &port92_ops, 0x92, 0, NULL) != NULL, "port 0x92");
    fake_machine_add(f, &port80_ops, 0x80, 0, NULL);   /* stateless: returns NULL */
    tap_ok(bus_read(pio, 0x80, 1, &(uint64_t){ 0 }), "port 0x80 claimed");
    tap_ok(fake_machine_add(f, &pc_testdev_ops, 0xe0, 0, NULL) != NULL, "pc-testdev");
    tap_ok(fake_machine_add(f, &debug_exit_ops, 0xf4, 0, "isa-debug-exit,iobase=0x501,iosize=2") != NULL,
           "isa-debug-exit moved by its options");
    tap_ok(fake_machine_add(f, &debug_exit_ops, 0xf4, 0, "isa-debug-exit,iobase=zzz") == NULL,
           "bad iobase refused");

    /* i8042 */
    uint64_t st = in(0x64, 1);
    tap_is_int(st & 0x01, 0, "i8042: output buffer empty");
    out(0x64, 1, 0xaa);
    tap_is_int(in(0x64, 1) & 0x01, 1, "self test: output buffer full");
    tap_is_int(in(0x60, 1), 0x55, "self test passed (0x55)");
    tap_is_int(in(0x64, 1) & 0x01, 0, "reading the data port empties it");
    out(0x64, 1, 0x60);
    out(0x60, 1, 0x47);
    out(0x64, 1, 0x20);
    tap_is_int(in(0x60, 1), 0x47, "command byte written and read back");
    tap_ok(!bus_read(pio, 0x61, 1, &st), "port 0x61 left to the PIT speaker gate");
    unsigned before = f->nr_requests;
    out(0x64, 1, 0xd1);
    out(0x60, 1, 0x03);
    tap_is_int(f->nr_requests, before, "output port with reset high: no reset");
    out(0x64, 1, 0xd1);
    out(0x60, 1, 0x02);
    tap_ok(f->nr_requests == before + 1 && f->last_request == MACHINE_RESET, "output port bit 0 low resets");
    out(0x64, 1, 0xfe);
    tap_ok(f->nr_requests == before + 2 && f->last_request == MACHINE_RESET, "0xFE pulses reset");

    /* port 0x92 */
    tap_is_int(in(0x92, 1) & 0x02, 0x02, "A20 reported on");
    before = f->nr_requests;
    out(0x92, 1, 0x02);
    tap_is_int(f->nr_requests, before, "A20 write alone does not reset");
    out(0x92, 1, 0x03);
    tap_ok(f->nr_requests == before + 1 && f->last_request == MACHINE_RESET, "bit 0 resets");

    /* port 0x80 */
    out(0x80, 1, 0x55);
    tap_is_int(in(0x80, 1), 0, "port 0x80 is a sink");

    /* isa-debug-exit at its moved port */
    tap_ok(!bus_read(pio, 0xf4, 1, &st), "nothing at 0xf4 after the move");
    before = f->nr_requests;
    out(0x501, 1, 0);
    tap_ok(f->nr_requests == before + 1 && f->last_request == MACHINE_DEBUG_EXIT, "write requests a debug exit");

    /* pc-testdev */
    out(0xe0, 4, 0xdeadbeef);
    tap_is_int(in(0xe0, 4), 0xdeadbeef, "scratch dword");
    out(0xe1, 1, 0x11);
    tap_is_int(in(0xe0, 4), 0xdead11ef, "byte write merges");
    tap_is_int(in(0xe2, 2), 0xdead, "word read at offset 2");
    out(0x2000 + 10, 1, 1);
    tap_is_int(f->irq_level[10], 1, "IRQ line 10 raised");
    out(0x2000 + 10, 1, 0);
    tap_is_int(f->irq_level[10], 0, "IRQ line 10 lowered");
    tap_ok(!bus_read(pio, 0x2000 + 24, 1, &st), "no line 24");
    out(0xe4, 4, 0x1000);
    out(0xe4, 4, 0xfffff000);      /* outside RAM: ignored */
    tap_ok(((volatile uint8_t *)f->m.ram[0].hva)[0x1000] == 0, "flushed page still readable");

    fake_machine_free(f);
    return tap_done();
}
