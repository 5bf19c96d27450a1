/* mc146818.c: BCD and binary time, 12-hour mode, time writes, memory size
 * fields. */
#include <time.h>

#include "devices/mc146818.h"
#include "fake_machine.h"
#include "tap.h"

extern const struct device_ops mc146818_ops;

static int bcd(int v) { return ((v / 10) << 4) | (v % 10); }

int main(void)
{
    struct mc146818 *r = mc146818_new();
    tap_ok(r != NULL, "mc146818_new");
    tap_is_int(mc146818_read_reg(r, 0x0b) & 0x06, 0x02, "status B: BCD, 24-hour by default");
    tap_is_int(mc146818_read_reg(r, 0x0d), 0x80, "status D: valid RAM and time");

    /* Date fields change only at midnight UTC: read the host date around
     * the RTC read and accept either. */
    time_t t0 = time(NULL);
    int mday = mc146818_read_reg(r, 0x07), mon = mc146818_read_reg(r, 0x08),
        year = mc146818_read_reg(r, 0x09), cent = mc146818_read_reg(r, 0x32);
    time_t t1 = time(NULL);
    struct tm a, b;
    gmtime_r(&t0, &a);
    gmtime_r(&t1, &b);
    tap_ok(mday == bcd(a.tm_mday) || mday == bcd(b.tm_mday), "day of month in BCD (0x%02x)", mday);
    tap_ok(mon == bcd(a.tm_mon + 1) || mon == bcd(b.tm_mon + 1), "month in BCD (0x%02x)", mon);
    tap_ok(year == bcd(a.tm_year % 100) || year == bcd(b.tm_year % 100), "year in BCD (0x%02x)", year);
    tap_is_int(cent, bcd((a.tm_year + 1900) / 100), "century in BCD");
    int sec = mc146818_read_reg(r, 0x00);
    tap_ok((sec & 0x0f) <= 9 && (sec >> 4) <= 5, "seconds are valid BCD (0x%02x)", sec);

    mc146818_write_reg(r, 0x0b, 0x06);   /* binary, 24h */
    int bmday = mc146818_read_reg(r, 0x07);
    tap_ok(bmday == b.tm_mday || bmday == a.tm_mday, "binary mode: day of month %d", bmday);
    tap_ok(mc146818_read_reg(r, 0x00) < 60, "binary seconds < 60");

    /* set the clock: hours 13 in binary, read back in BCD 12-hour mode */
    mc146818_write_reg(r, 0x00, 0);      /* 13:00:00, so no hour change soon */
    mc146818_write_reg(r, 0x02, 0);
    mc146818_write_reg(r, 0x04, 13);
    tap_is_int(mc146818_read_reg(r, 0x04), 13, "hour write reads back (binary)");
    mc146818_write_reg(r, 0x0b, 0x00);   /* BCD, 12h */
    tap_is_int(mc146818_read_reg(r, 0x04), 0x80 | 0x01, "13:00 is 1 PM in 12-hour BCD");
    mc146818_write_reg(r, 0x0b, 0x02);
    tap_is_int(mc146818_read_reg(r, 0x04), 0x13, "and 0x13 in 24-hour BCD");
    mc146818_write_reg(r, 0x09, 0x42);
    tap_is_int(mc146818_read_reg(r, 0x09), 0x42, "year write reads back");

    /* status C: update-ended flag once the second changed (wait by polling
     * the clock itself, bounded by count) */
    mc146818_read_reg(r, 0x0c);
    mc146818_write_reg(r, 0x0b, 0x12);   /* UIE, 24h, BCD */
    uint8_t s0 = mc146818_read_reg(r, 0x00), c = 0;
    for (long i = 0; i < 400000000L && mc146818_read_reg(r, 0x00) == s0; i++)
        ;
    c = mc146818_read_reg(r, 0x0c);
    tap_is_int(c & 0x90, 0x90, "status C: UF and IRQF after a second boundary (0x%02x)", c);
    tap_is_int(mc146818_read_reg(r, 0x0c) & 0x10, 0, "reading C cleared UF");
    mc146818_write_reg(r, 0x0b, 0x02);

    mc146818_write_reg(r, 0x40, 0x5a);
    tap_is_int(mc146818_read_reg(r, 0x40), 0x5a, "NVRAM byte stores");
    mc146818_write_reg(r, 0x0d, 0);
    tap_is_int(mc146818_read_reg(r, 0x0d), 0x80, "status D is read-only");

    /* memory fields for 3 GiB low + 1 GiB high, 4 CPUs */
    mc146818_set_memory(r, 3ULL << 30, 1ULL << 30, 4);
    tap_is_int(mc146818_read_reg(r, 0x15) | mc146818_read_reg(r, 0x16) << 8, 640, "base memory 640 KiB");
    tap_is_int(mc146818_read_reg(r, 0x17) | mc146818_read_reg(r, 0x18) << 8, 0xfc00, "extended memory capped");
    tap_is_int(mc146818_read_reg(r, 0x30) | mc146818_read_reg(r, 0x31) << 8, 0xfc00, "0x30/0x31 mirror");
    tap_is_int(mc146818_read_reg(r, 0x34) | mc146818_read_reg(r, 0x35) << 8,
               ((3ULL << 30) - (16 << 20)) >> 16, "64 KiB units above 16 MiB");
    tap_is_int(mc146818_read_reg(r, 0x5b) | mc146818_read_reg(r, 0x5c) << 8 |
               mc146818_read_reg(r, 0x5d) << 16, (1ULL << 30) >> 16, "64 KiB units above 4 GiB");
    tap_is_int(mc146818_read_reg(r, 0x5f), 3, "CPU count - 1");
    mc146818_free(r);

    /* through the ports, as a board device with 64 MiB of RAM */
    struct fake_machine *f = fake_machine_new(64 << 20, 1);
    tap_ok(fake_machine_add(f, &mc146818_ops, 0x70, 8, NULL) != NULL, "device on the board");
    uint64_t v;
    bus_write(&f->m.pio, 0x70, 1, 0x80 | 0x17);   /* NMI-mask bit set */
    bus_read(&f->m.pio, 0x71, 1, &v);
    uint64_t lo = v;
    bus_write(&f->m.pio, 0x70, 1, 0x18);
    bus_read(&f->m.pio, 0x71, 1, &v);
    tap_is_int(lo | v << 8, (63ULL << 20) >> 10, "extended memory via ports (KiB above 1 MiB)");
    fake_machine_free(f);
    return tap_done();
}
