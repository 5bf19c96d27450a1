/* MC146818 CMOS real-time clock and NVRAM (ports 0x70 index, 0x71 data).
 *
 * Time comes from the host clock plus an offset that guest writes to the
 * time registers adjust; values are BCD or binary and 12/24-hour as status
 * register B says. Status A reports update-in-progress during the last
 * 244 us of each second, as the chip does, since guests poll it. The NVRAM
 * holds the memory size fields SeaBIOS and older guests read (0x15-0x18,
 * 0x30-0x31, 0x34-0x35, 0x5b-0x5d) and the CPU count (0x5f).
 * Status C reports the update-ended, alarm and periodic flags as a poller
 * sees them (computed when C is read: an update happened if the guest
 * second changed since the last read); the IRQ line itself is not driven.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../machine.h"
#include "mc146818.h"

#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define B_SET  0x80
#define B_DM   0x04   /* binary mode */
#define B_24H  0x02

struct mc146818 {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t nvram[128];
    int64_t offset;           /* guest time - host time, seconds */
    int64_t last_c_sec;       /* guest second at the last status C read */
    int64_t last_c_ns;        /* host time of the last status C read */
};

static uint8_t to_reg(const struct mc146818 *r, int v)
{
    if (r->nvram[REG_B] & B_DM)
        return (uint8_t)v;
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_reg(const struct mc146818 *r, uint8_t v)
{
    if (r->nvram[REG_B] & B_DM)
        return v;
    return ((v >> 4) & 0x0f) * 10 + (v & 0x0f);
}

static void guest_tm(const struct mc146818 *r, struct tm *tm, long *nsec)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t t = ts.tv_sec + r->offset;
    gmtime_r(&t, tm);
    if (nsec)
        *nsec = ts.tv_nsec;
}

static uint8_t read_hours(const struct mc146818 *r, int h)
{
    if (r->nvram[REG_B] & B_24H)
        return to_reg(r, h);
    int h12 = h % 12 == 0 ? 12 : h % 12;
    return to_reg(r, h12) | (h >= 12 ? 0x80 : 0);
}

uint8_t mc146818_read_reg(struct mc146818 *r, uint8_t idx)
{
    struct tm tm;
    long nsec;
    idx &= 0x7f;
    switch (idx) {
    case 0x00: guest_tm(r, &tm, NULL); return to_reg(r, tm.tm_sec);
    case 0x02: guest_tm(r, &tm, NULL); return to_reg(r, tm.tm_min);
    case 0x04: guest_tm(r, &tm, NULL); return read_hours(r, tm.tm_hour);
    case 0x06: guest_tm(r, &tm, NULL); return to_reg(r, tm.tm_wday + 1);
    case 0x07: guest_tm(r, &tm, NULL); return to_reg(r, tm.tm_mday);
    case 0x08: guest_tm(r, &tm, NULL); return to_reg(r, tm.tm_mon + 1);
    case 0x09: guest_tm(r, &tm, NULL); return to_reg(r, tm.tm_year % 100);
    case 0x32: guest_tm(r, &tm, NULL); return to_reg(r, (tm.tm_year + 1900) / 100);
    case REG_A:
        guest_tm(r, &tm, &nsec);
        return (r->nvram[REG_A] & 0x7f) |
               ((nsec >= 1000000000L - 244000 && !(r->nvram[REG_B] & B_SET)) ? 0x80 : 0);
    case REG_C: {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now_sec = ts.tv_sec + r->offset;
        int64_t now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        uint8_t v = 0;
        if (r->last_c_sec && now_sec != r->last_c_sec && !(r->nvram[REG_B] & B_SET)) {
            v |= 0x10;                                     /* UF: an update ended */
            guest_tm(r, &tm, NULL);
            /* AF: the alarm matches (0xc0-0xff in a field is "don't care") */
            uint8_t want[3] = { r->nvram[1], r->nvram[3], r->nvram[5] };
            uint8_t have[3] = { to_reg(r, tm.tm_sec), to_reg(r, tm.tm_min),
                                read_hours(r, tm.tm_hour) };
            bool match = true;
            for (int i = 0; i < 3; i++)
                match &= (want[i] & 0xc0) == 0xc0 || want[i] == have[i];
            if (match)
                v |= 0x20;
        }
        unsigned rate = r->nvram[REG_A] & 0x0f;   /* period 2^(rate-1) / 32768 s */
        if (rate && r->last_c_ns) {
            int64_t period = rate <= 2 ? (1LL << (rate + 6)) * 1000000000 / 32768
                                       : (1LL << (rate - 1)) * 1000000000 / 32768;
            if (now_ns - r->last_c_ns >= period)
                v |= 0x40;                                 /* PF */
        }
        if (v & r->nvram[REG_B] & 0x70)
            v |= 0x80;                                     /* IRQF: an enabled one */
        r->last_c_sec = now_sec;
        r->last_c_ns = now_ns;
        return v;                  /* read clears the flags */
    }
    case REG_D: return 0x80;       /* valid RAM and time */
    default: return r->nvram[idx];
    }
}

void mc146818_write_reg(struct mc146818 *r, uint8_t idx, uint8_t v)
{
    idx &= 0x7f;
    struct tm tm;
    int field = -1;
    switch (idx) {
    case 0x00: field = 0; break;
    case 0x02: field = 1; break;
    case 0x04: field = 2; break;
    case 0x07: field = 3; break;
    case 0x08: field = 4; break;
    case 0x09: field = 5; break;
    case 0x32: field = 6; break;
    case REG_A: r->nvram[REG_A] = v & 0x7f; return;
    case REG_B: r->nvram[REG_B] = v; return;
    case REG_C: case REG_D: return;  /* read-only */
    case 0x01: case 0x03: case 0x05: case 0x06:
    default: r->nvram[idx] = v; return;
    }
    /* A time register: move the guest clock so that it reads back v. */
    guest_tm(r, &tm, NULL);
    int val = from_reg(r, idx == 0x04 ? (uint8_t)(v & 0x7f) : v);
    switch (field) {
    case 0: tm.tm_sec = val; break;
    case 1: tm.tm_min = val; break;
    case 2:
        if (!(r->nvram[REG_B] & B_24H))
            val = (val % 12) + ((v & 0x80) ? 12 : 0);
        tm.tm_hour = val;
        break;
    case 3: tm.tm_mday = val; break;
    case 4: tm.tm_mon = val - 1; break;
    case 5: tm.tm_year = (tm.tm_year / 100) * 100 + val; break;
    case 6: tm.tm_year = val * 100 + tm.tm_year % 100 - 1900; break;
    }
    time_t want = timegm(&tm);
    if (want != (time_t)-1)
        r->offset = (int64_t)want - (int64_t)time(NULL);
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
    struct mc146818 *r = opaque;
    pthread_mutex_lock(&r->lock);
    uint8_t v = off == 0 ? 0xff : mc146818_read_reg(r, r->index);
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void rtc_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct mc146818 *r = opaque;
    pthread_mutex_lock(&r->lock);
    if (off == 0)
        r->index = (uint8_t)(value & 0x7f);  /* bit 7 is the NMI mask */
    else
        mc146818_write_reg(r, r->index, (uint8_t)value);
    pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = { .read = rtc_read, .write = rtc_write };

void mc146818_set_memory(struct mc146818 *r, uint64_t below_4g, uint64_t above_4g,
                         unsigned ncpus)
{
    uint8_t *n = r->nvram;
    n[0x15] = 640 & 0xff;          /* base memory, KiB */
    n[0x16] = 640 >> 8;
    uint64_t ext = below_4g > (1 << 20) ? (below_4g - (1 << 20)) >> 10 : 0;  /* KiB above 1 MiB */
    if (ext > 0xfc00)
        ext = 0xfc00;
    n[0x17] = n[0x30] = (uint8_t)ext;
    n[0x18] = n[0x31] = (uint8_t)(ext >> 8);
    uint64_t mid = below_4g > (16 << 20) ? (below_4g - (16 << 20)) >> 16 : 0;  /* 64 KiB above 16 MiB */
    if (mid > 0xffff)
        mid = 0xffff;
    n[0x34] = (uint8_t)mid;
    n[0x35] = (uint8_t)(mid >> 8);
    uint64_t high = above_4g >> 16;
    n[0x5b] = (uint8_t)high;
    n[0x5c] = (uint8_t)(high >> 8);
    n[0x5d] = (uint8_t)(high >> 16);
    n[0x5f] = (uint8_t)(ncpus ? ncpus - 1 : 0);
}

struct mc146818 *mc146818_new(void)
{
    struct mc146818 *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    r->nvram[REG_A] = 0x26;         /* 32.768 kHz divider, 1024 Hz rate */
    r->nvram[REG_B] = B_24H;        /* BCD, 24-hour, as PC firmware leaves it */
    r->nvram[0x14] = 0x06;          /* equipment: FPU, display */
    return r;
}

void mc146818_free(void *opaque)
{
    struct mc146818 *r = opaque;
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static int rtc_init(struct machine *m, const struct device_config *cfg, void **state,
                    struct vk_err *err)
{
    struct mc146818 *r = mc146818_new();
    if (!r)
        return vk_err_set(err, -ENOMEM, "out of memory");
    uint64_t low = 0, high = 0;
    for (unsigned i = 0; i < m->nr_ram; i++) {
        if (m->ram[i].gpa == 0)
            low += m->ram[i].size;
        else if (m->ram[i].gpa >= MACHINE_HIGH_RAM_START)
            high += m->ram[i].size;   /* (the firmware window is not RAM) */
    }
    mc146818_set_memory(r, low, high, m->cfg ? m->cfg->smp : 1);
    int rc = bus_register(&m->pio, cfg->base, 2, &rtc_ops, r, "mc146818", err);
    if (rc < 0) {
        mc146818_free(r);
        return rc;
    }
    *state = r;
    return 0;
}

const struct device_ops mc146818_ops = {
    .name = "mc146818", .init = rtc_init, .destroy = mc146818_free,
};
