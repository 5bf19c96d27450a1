/* mc146818.c: BCD and binary time, 12-hour mode, time writes, memory size
 * fields; interrupts (periodic, alarm, update-ended, status C, IRQ 8) on a
 * clock the test steps by hand. */
#include <stdatomic.h>
#include <time.h>

#include "devices/mc146818.h"
#include "fake_machine.h"
#include "tap.h"

extern const struct device_ops mc146818_ops;

static int bcd(int v) { return ((v / 10) << 4) | (v % 10); }

#define NS 1000000000LL
static _Atomic int64_t fake_now;
static int64_t fake_clock(void *opaque) { return atomic_load(&fake_now); }
static void step(int64_t ns) { atomic_fetch_add(&fake_now, ns); }

static void reg_w(struct fake_machine *f, uint8_t idx, uint8_t v)
{
    bus_write(&f->m.pio, 0x70, 1, idx);
    bus_write(&f->m.pio, 0x71, 1, v);
}

static uint8_t reg_r(struct fake_machine *f, uint8_t idx)
{
    uint64_t v;
    bus_write(&f->m.pio, 0x70, 1, idx);
    bus_read(&f->m.pio, 0x71, 1, &v);
    return (uint8_t)v;
}

/* Interrupts through the board device: IRQ 8 follows IRQF. */
static void test_interrupts(void)
{
    struct fake_machine *f = fake_machine_new(16 << 20, 1);
    struct mc146818 *r = fake_machine_add(f, &mc146818_ops, 0x70, 8, NULL);
    tap_ok(r != NULL, "irq: device on the board");
    /* 2026-01-01 10:00:00.5 UTC, a fixed day so alarms are predictable */
    struct tm tm = { .tm_year = 126, .tm_mon = 0, .tm_mday = 1, .tm_hour = 10 };
    atomic_store(&fake_now, (int64_t)timegm(&tm) * NS + NS / 2);
    mc146818_set_clock(r, fake_clock, NULL);
    reg_w(f, 0x0b, 0x06);                 /* binary, 24h, no interrupts */
    reg_r(f, 0x0c);
    tap_is_int(f->irq_level[8], 0, "irq: line low at start");

    /* periodic: rate 0xa = 64 Hz (15.625 ms) */
    reg_w(f, 0x0a, 0x2a);
    step(10 * 1000000);
    mc146818_poll(r);
    tap_is_int(reg_r(f, 0x0c) & 0x40, 0, "periodic: no PF before one period");
    step(6 * 1000000);
    mc146818_poll(r);
    tap_is_int(f->irq_level[8], 0, "periodic: PF without PIE keeps the line low");
    reg_w(f, 0x0b, 0x46);                 /* PIE: the pending PF raises IRQF at once */
    tap_is_int(f->irq_level[8], 1, "periodic: enabling PIE with PF pending raises IRQ 8");
    uint8_t c = reg_r(f, 0x0c);
    tap_is_int(c, 0xc0, "periodic: C = IRQF | PF (0x%02x)", c);
    tap_is_int(f->irq_level[8], 0, "periodic: reading C drops the line");
    tap_is_int(reg_r(f, 0x0c), 0, "periodic: C reads 0 right after");
    /* (the device's timer thread may raise the line before the test's
     * poll does: count line changes, not who made them) */
    unsigned ticks = 0, changes0 = f->irq_changes;
    for (int i = 0; i < 64; i++) {        /* half a second in 1/128 s steps */
        step(NS / 128);
        mc146818_poll(r);
        if (f->irq_level[8] && (reg_r(f, 0x0c) & 0xc0) == 0xc0)
            ticks++;
    }
    tap_ok(ticks >= 31 && ticks <= 33, "periodic: 32 ticks in half a second at 64 Hz (%u)", ticks);
    tap_is_int(f->irq_changes - changes0, 2 * ticks, "periodic: one rise and one fall per tick");
    step(NS);                             /* unread ticks coalesce into one PF */
    tap_is_int(reg_r(f, 0x0c) & 0x40, 0x40, "periodic: missed ticks leave PF set");
    tap_is_int(reg_r(f, 0x0c) & 0x40, 0, "periodic: and one read clears it");
    reg_w(f, 0x0a, 0x20);                 /* rate 0: off */
    step(NS);
    tap_is_int(reg_r(f, 0x0c) & 0x40, 0, "periodic: rate 0 stops PF");
    reg_w(f, 0x0b, 0x06);

    /* update-ended: UF once per second, UIE raises the line */
    reg_r(f, 0x0c);
    reg_w(f, 0x0b, 0x16);                 /* UIE */
    step(NS / 4);
    mc146818_poll(r);
    tap_is_int(f->irq_level[8], 0, "update: nothing within the second");
    atomic_store(&fake_now, (atomic_load(&fake_now) / NS + 1) * NS);   /* the boundary */
    mc146818_poll(r);
    tap_is_int(f->irq_level[8], 1, "update: IRQ 8 at the second boundary");
    c = reg_r(f, 0x0c);
    tap_is_int(c, 0x90, "update: C = IRQF | UF (0x%02x)", c);
    reg_w(f, 0x0b, 0x96);                 /* SET: updates stop, UIE cleared */
    tap_is_int(reg_r(f, 0x0b), 0x86, "update: setting SET clears UIE");
    step(2 * NS);
    tap_is_int(reg_r(f, 0x0c) & 0x10, 0, "update: no UF while SET");
    reg_w(f, 0x0b, 0x06);

    /* alarm: fixed second, don't-care minute and hour */
    reg_r(f, 0x0c);
    uint8_t now_s = reg_r(f, 0x00);
    reg_w(f, 0x01, (uint8_t)((now_s + 3) % 60));
    reg_w(f, 0x03, 0xc0);
    reg_w(f, 0x05, 0xff);
    reg_w(f, 0x0b, 0x26);                 /* AIE */
    unsigned af_at = 0;
    for (unsigned s = 1; s <= 5 && !af_at; s++) {
        step(NS);
        mc146818_poll(r);
        if (f->irq_level[8]) {
            c = reg_r(f, 0x0c);
            if ((c & 0xa0) == 0xa0)
                af_at = s;
        }
    }
    tap_is_int(af_at, 3, "alarm: AF and IRQ 8 three seconds later");
    tap_is_int(f->irq_level[8], 0, "alarm: line low after the C read");
    /* every field don't care: fires every second; UF without UIE: no IRQ */
    reg_w(f, 0x01, 0xff);
    reg_w(f, 0x03, 0xff);
    step(NS);
    mc146818_poll(r);
    c = reg_r(f, 0x0c);
    tap_is_int(c, 0xb0, "alarm: all don't care matches each second (C 0x%02x)", c);
    /* an alarm missed while nobody looked is still reported */
    reg_w(f, 0x0b, 0x06);
    uint8_t m0 = reg_r(f, 0x02);
    reg_w(f, 0x01, 0x00);
    reg_w(f, 0x03, (uint8_t)((m0 + 1) % 60));
    reg_w(f, 0x05, 0xc0);
    reg_r(f, 0x0c);
    step(5 * 60 * NS);
    tap_is_int(reg_r(f, 0x0c) & 0x20, 0x20, "alarm: a match minutes ago sets AF at the next read");

    /* machine reset clears the enables and the flags */
    reg_w(f, 0x0b, 0x56);
    step(NS);
    mc146818_poll(r);
    tap_is_int(f->irq_level[8], 1, "reset: line high before");
    mc146818_ops.reset(r);
    tap_is_int(f->irq_level[8], 0, "reset: line low after");
    tap_is_int(reg_r(f, 0x0b), 0x06, "reset: B keeps mode, loses PIE/AIE/UIE");
    mc146818_set_clock(r, NULL, NULL);
    fake_machine_free(f);
}

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
    test_interrupts();
    return tap_done();
}
