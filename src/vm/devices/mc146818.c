/* MC146818 CMOS real-time clock and NVRAM (ports 0x70 index, 0x71 data),
 * interrupts on IRQ 8.
 *
 * Time comes from the host clock plus an offset that guest writes to the
 * time registers adjust; values are BCD or binary and 12/24-hour as status
 * register B says. Status A reports update-in-progress during the last
 * 244 us of each second, as the chip does, since guests poll it. The NVRAM
 * holds the memory size fields SeaBIOS and older guests read (0x15-0x18,
 * 0x30-0x31, 0x34-0x35, 0x5b-0x5d) and the CPU count (0x5f).
 *
 * Interrupts: status C holds the periodic (PF), alarm (AF) and
 * update-ended (UF) flags; IRQF is set while a flag is set whose enable bit
 * (PIE, AIE, UIE) in status B is set, and the IRQ line follows IRQF, as on
 * the chip. Reading C returns and clears the flags (and so drops the line).
 * Flags are brought up to date from the clock whenever the guest looks
 * (advance()); a timer thread does the same at each event an enabled
 * interrupt waits for (the next periodic tick, the next second), so the
 * line rises on time. Missed ticks coalesce into one PF, as on hardware
 * when the guest does not read C.
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
#define B_PIE  0x40
#define B_AIE  0x20
#define B_UIE  0x10
#define B_SQWE 0x08
#define B_DM   0x04   /* binary mode */
#define B_24H  0x02
#define C_IRQF 0x80
#define C_PF   0x40
#define C_AF   0x20
#define C_UF   0x10
#define NS     1000000000LL
/* Bound on the seconds scanned for an alarm match when nobody looked at
 * the clock for a long time (one day covers every alarm pattern). */
#define ALARM_SCAN_MAX 86400

struct mc146818 {
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* register writes that change the timer's plan */
    pthread_t thread;
    bool thread_started, stop;
    struct machine *m;          /* NULL when not on a board (unit tests) */
    unsigned irq;
    bool line;                  /* level last driven on irq */
    int64_t (*now)(void *);     /* host time, ns (CLOCK_REALTIME by default) */
    void *now_opaque;
    uint8_t index;
    uint8_t nvram[128];
    uint8_t flags;              /* status C: PF | AF | UF */
    int64_t offset;             /* guest time - host time, seconds */
    int64_t last_sec;           /* guest second at the last advance() */
    int64_t next_pf;            /* host ns of the next periodic tick (0: off) */
};

static int64_t realtime_ns(void *opaque)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

static int64_t guest_sec(const struct mc146818 *r, int64_t now)
{
    return floor_div(now, NS) + r->offset;
}

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

static void sec_tm(int64_t sec, struct tm *tm)
{
    time_t t = (time_t)sec;
    if (!gmtime_r(&t, tm))
        memset(tm, 0, sizeof(*tm));
}

static void guest_tm(const struct mc146818 *r, struct tm *tm, long *nsec)
{
    int64_t now = r->now(r->now_opaque);
    sec_tm(guest_sec(r, now), tm);
    if (nsec)
        *nsec = (long)(now - floor_div(now, NS) * NS);
}

static uint8_t read_hours(const struct mc146818 *r, int h)
{
    if (r->nvram[REG_B] & B_24H)
        return to_reg(r, h);
    int h12 = h % 12 == 0 ? 12 : h % 12;
    return to_reg(r, h12) | (h >= 12 ? 0x80 : 0);
}

/* Periodic interrupt period from the rate select bits of status A (32.768
 * kHz time base): 2^(rate-1) / 32768 s; rates 1 and 2 repeat 8 and 9. */
static int64_t period_ns(const struct mc146818 *r)
{
    unsigned rate = r->nvram[REG_A] & 0x0f;
    if (!rate)
        return 0;
    unsigned shift = rate <= 2 ? rate + 6 : rate - 1;
    return (int64_t)(1u << shift) * NS / 32768;
}

/* Does the alarm (0xc0-0xff in a field is "don't care") match guest second s? */
static bool alarm_matches(const struct mc146818 *r, int64_t s)
{
    struct tm tm;
    sec_tm(s, &tm);
    const uint8_t want[3] = { r->nvram[1], r->nvram[3], r->nvram[5] };
    const uint8_t have[3] = { to_reg(r, tm.tm_sec), to_reg(r, tm.tm_min),
                              read_hours(r, tm.tm_hour) };
    for (int i = 0; i < 3; i++)
        if ((want[i] & 0xc0) != 0xc0 && want[i] != have[i])
            return false;
    return true;
}

/* Bring the status C flags up to host time `now`. */
static void advance(struct mc146818 *r, int64_t now)
{
    int64_t sec = guest_sec(r, now);
    if (sec != r->last_sec) {
        if (!(r->nvram[REG_B] & B_SET) && sec > r->last_sec) {
            r->flags |= C_UF;
            int64_t from = sec - r->last_sec > ALARM_SCAN_MAX ? sec - ALARM_SCAN_MAX + 1
                                                              : r->last_sec + 1;
            for (int64_t s = sec; s >= from && !(r->flags & C_AF); s--)
                if (alarm_matches(r, s))
                    r->flags |= C_AF;
        }
        r->last_sec = sec;
    }
    int64_t p = period_ns(r);
    if (p && r->next_pf && now >= r->next_pf) {
        r->flags |= C_PF;
        r->next_pf += ((now - r->next_pf) / p + 1) * p;
    }
}

static void update_irq(struct mc146818 *r)
{
    bool level = (r->flags & r->nvram[REG_B] & 0x70) != 0;
    if (level == r->line)
        return;
    r->line = level;
    if (r->m)
        machine_set_irq(r->m, r->irq, level);
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
               ((nsec >= NS - 244000 && !(r->nvram[REG_B] & B_SET)) ? 0x80 : 0);
    case REG_C: {
        advance(r, r->now(r->now_opaque));
        uint8_t v = r->flags;
        if (v & r->nvram[REG_B] & 0x70)
            v |= C_IRQF;
        r->flags = 0;              /* read clears the flags, and IRQF with them */
        update_irq(r);
        return v;
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
    int64_t now = r->now(r->now_opaque);
    switch (idx) {
    case 0x00: field = 0; break;
    case 0x02: field = 1; break;
    case 0x04: field = 2; break;
    case 0x07: field = 3; break;
    case 0x08: field = 4; break;
    case 0x09: field = 5; break;
    case 0x32: field = 6; break;
    case REG_A: {
        advance(r, now);
        uint8_t old_rate = r->nvram[REG_A] & 0x0f;
        r->nvram[REG_A] = v & 0x7f;
        int64_t p = period_ns(r);
        if (!p)
            r->next_pf = 0;
        else if ((v & 0x0f) != old_rate || !r->next_pf)
            r->next_pf = now + p;  /* a new rate starts a new period */
        pthread_cond_signal(&r->wake);
        return;
    }
    case REG_B:
        advance(r, now);
        if (v & B_SET)
            v &= (uint8_t)~B_UIE;  /* setting SET clears UIE (datasheet) */
        r->nvram[REG_B] = v;
        update_irq(r);
        pthread_cond_signal(&r->wake);
        return;
    case REG_C: case REG_D: return;  /* read-only */
    case 0x01: case 0x03: case 0x05: case 0x06:
    default: r->nvram[idx] = v; return;
    }
    /* A time register: move the guest clock so that it reads back v. */
    advance(r, now);
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
    if (want != (time_t)-1) {
        r->offset = (int64_t)want - floor_div(now, NS);
        r->last_sec = guest_sec(r, now);   /* a clock set is not an update */
    }
}

void mc146818_poll(struct mc146818 *r)
{
    pthread_mutex_lock(&r->lock);
    advance(r, r->now(r->now_opaque));
    update_irq(r);
    pthread_mutex_unlock(&r->lock);
}

void mc146818_set_clock(struct mc146818 *r, int64_t (*now_ns)(void *), void *opaque)
{
    pthread_mutex_lock(&r->lock);
    r->now = now_ns ? now_ns : realtime_ns;
    r->now_opaque = opaque;
    r->last_sec = guest_sec(r, r->now(r->now_opaque));
    int64_t p = period_ns(r);
    r->next_pf = p ? r->now(r->now_opaque) + p : 0;
    pthread_mutex_unlock(&r->lock);
}

/* The timer thread: sleeps until the next event an enabled interrupt
 * waits for, then raises the line. Nothing to wait for: sleeps until a
 * register write signals `wake`. */
static void *timer_main(void *arg)
{
    struct mc146818 *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        int64_t now = r->now(r->now_opaque);
        advance(r, now);
        update_irq(r);
        int64_t deadline = INT64_MAX;
        uint8_t b = r->nvram[REG_B];
        if ((b & B_PIE) && r->next_pf)
            deadline = r->next_pf;
        if ((b & (B_UIE | B_AIE)) && !(b & B_SET))
            deadline = VK_MIN(deadline, (floor_div(now, NS) + 1) * NS);
        if (deadline == INT64_MAX) {
            pthread_cond_wait(&r->wake, &r->lock);
            continue;
        }
        /* `now` may be a test clock: wait the same span of real time. */
        int64_t abs = realtime_ns(NULL) + (deadline - now);
        struct timespec ts = { .tv_sec = (time_t)(abs / NS), .tv_nsec = (long)(abs % NS) };
        pthread_cond_timedwait(&r->wake, &r->lock, &ts);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
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
    pthread_cond_init(&r->wake, NULL);
    r->now = realtime_ns;
    r->nvram[REG_A] = 0x26;         /* 32.768 kHz divider, 1024 Hz rate */
    r->nvram[REG_B] = B_24H;        /* BCD, 24-hour, as PC firmware leaves it */
    r->nvram[0x14] = 0x06;          /* equipment: FPU, display */
    int64_t now = r->now(NULL);
    r->last_sec = guest_sec(r, now);
    r->next_pf = now + period_ns(r);
    return r;
}

void mc146818_free(void *opaque)
{
    struct mc146818 *r = opaque;
    if (!r)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->lock);
        r->stop = true;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Machine reset: the chip's RESET pin clears the interrupt enables and
 * flags (and SQWE); time, mode and NVRAM survive. */
static void rtc_reset(void *opaque)
{
    struct mc146818 *r = opaque;
    pthread_mutex_lock(&r->lock);
    r->nvram[REG_B] &= (uint8_t)~(B_PIE | B_AIE | B_UIE | B_SQWE);
    r->flags = 0;
    r->line = true;                 /* force the line low on the new irqchip */
    update_irq(r);
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

static int rtc_init(struct machine *m, const struct device_config *cfg, void **state,
                    struct vk_err *err)
{
    struct mc146818 *r = mc146818_new();
    if (!r)
        return vk_err_set(err, -ENOMEM, "out of memory");
    r->m = m;
    r->irq = cfg->irq;
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
    rc = pthread_create(&r->thread, NULL, timer_main, r);
    if (rc) {
        bus_unregister(&m->pio, cfg->base, r);
        mc146818_free(r);
        return vk_err_errno(err, -rc, "starting the RTC timer thread");
    }
    r->thread_started = true;
    *state = r;
    return 0;
}

const struct device_ops mc146818_ops = {
    .name = "mc146818", .init = rtc_init, .reset = rtc_reset, .destroy = mc146818_free,
};
