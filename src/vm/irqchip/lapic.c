/* The local APIC, one per vCPU: xAPIC registers in a relocatable 4 KiB
 * MMIO page and x2APIC MSRs 0x800-0x8ff, IRR/ISR/TMR with TPR/PPR
 * priority, EOI (broadcast to the IOAPIC for level-triggered vectors),
 * IPIs through the ICR (fixed, lowest priority, NMI, INIT, SIPI; physical
 * and logical flat/cluster destinations; self/all/all-but-self shorthands),
 * the six LVT entries, ESR, and the timer (one-shot, periodic and
 * TSC-deadline) running from host time on the APIC bus clock (1 GHz unless
 * the accelerator sets another, see irqchip_set_apic_hz).
 *
 * The register model follows the Intel SDM vol. 3 chapter 11 "Advanced
 * Programmable Interrupt Controller". Version 0x14, max LVT 5 (no CMCI), no
 * directed EOI. */
#include "irqchip_int.h"

#include <errno.h>
#include <string.h>

#define APIC_BASE_BSP   (1ULL << 8)
#define APIC_BASE_EXTD  (1ULL << 10)
#define APIC_BASE_EN    (1ULL << 11)
#define APIC_BASE_ADDR  0x000ffffffffff000ULL

#define LVT_MASKED      (1u << 16)
#define LVT_LEVEL       (1u << 15)
#define TIMER_ONESHOT   0
#define TIMER_PERIODIC  1
#define TIMER_TSCDL     2
#define SVR_ENABLE      (1u << 8)

#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)
#define ESR_ILLEGAL_REG  (1u << 7)

#define APIC_VERSION    0x00050014u
/* Periodic timers faster than this are stretched (guest-proof timer thread). */
#define LAPIC_MIN_PERIOD_NS 20000

enum {
    REG_ID = 0x20, REG_VER = 0x30, REG_TPR = 0x80, REG_APR = 0x90, REG_PPR = 0xa0,
    REG_EOI = 0xb0, REG_RRD = 0xc0, REG_LDR = 0xd0, REG_DFR = 0xe0, REG_SVR = 0xf0,
    REG_ISR = 0x100, REG_TMR = 0x180, REG_IRR = 0x200, REG_ESR = 0x280,
    REG_LVT_CMCI = 0x2f0, REG_ICR_LO = 0x300, REG_ICR_HI = 0x310, REG_LVT_TIMER = 0x320,
    REG_LVT_ERROR = 0x370, REG_TMICT = 0x380, REG_TMCCT = 0x390, REG_TDCR = 0x3e0,
    REG_SELF_IPI = 0x3f0,
};

static struct lapic *lapic_of(struct irqchip *ic, unsigned cpu)
{
    return cpu < ic->ncpus ? &ic->lapics[cpu] : NULL;
}

static bool x2apic(const struct lapic *l)
{
    return l->base_msr & APIC_BASE_EXTD;
}

static int highest_bit(const uint32_t v[8])
{
    for (int i = 7; i >= 0; i--)
        if (v[i])
            return i * 32 + 31 - __builtin_clz(v[i]);
    return -1;
}

static bool test_vec(const uint32_t v[8], unsigned vec) { return v[vec >> 5] & (1u << (vec & 31)); }
static void set_vec(uint32_t v[8], unsigned vec) { v[vec >> 5] |= 1u << (vec & 31); }
static void clr_vec(uint32_t v[8], unsigned vec) { v[vec >> 5] &= ~(1u << (vec & 31)); }

static uint32_t lapic_ppr(const struct lapic *l)
{
    int isrv = highest_bit(l->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    return (l->tpr & 0xf0) >= isr_class ? (l->tpr & 0xff) : isr_class;
}

static bool accepts_extint(struct irqchip *ic, const struct lapic *l)
{
    if (!pic_output(ic))
        return false;
    if (!(l->base_msr & APIC_BASE_EN))
        return l->index == 0;             /* APIC off: LINT0 is the INTR pin */
    uint32_t lvt0 = l->lvt[LVT_LINT0];
    return !(lvt0 & LVT_MASKED) && ((lvt0 >> 8) & 7) == APIC_DM_EXTINT;
}

/* Recompute the lock-free pending hint; wake the vCPU if it gained bits. */
static void lapic_update(struct lapic *l)
{
    struct irqchip *ic = l->ic;
    unsigned ev = 0;
    if (accepts_extint(ic, l)) {
        ev |= LAPIC_EV_INTR;
    } else {
        int v = highest_bit(l->irr);
        if (v >= 0 && ((uint32_t)v & 0xf0) > (lapic_ppr(l) & 0xf0))
            ev |= LAPIC_EV_INTR;
    }
    if (l->nmi)
        ev |= LAPIC_EV_NMI;
    if (l->init)
        ev |= LAPIC_EV_INIT;
    if (l->sipi)
        ev |= LAPIC_EV_SIPI;
    unsigned old = atomic_exchange(&l->pending, ev);
    if ((ev & ~old) && ic->hooks.kick)
        ic->hooks.kick(ic->hooks.opaque, l->index);
}

void lapic_extint_changed(struct irqchip *ic)
{
    for (unsigned i = 0; i < ic->ncpus; i++)
        lapic_update(&ic->lapics[i]);
}

static void lapic_update_page(struct lapic *l)
{
    uint64_t page = 1;                     /* never matches a page address */
    if ((l->base_msr & APIC_BASE_EN) && !x2apic(l))
        page = l->base_msr & APIC_BASE_ADDR;
    atomic_store(&l->mmio_page, page);
}

void lapic_reset(struct lapic *l, bool power_on)
{
    if (power_on) {
        l->id = l->index;
        l->base_msr = IRQCHIP_LAPIC_BASE | APIC_BASE_EN | (l->index == 0 ? APIC_BASE_BSP : 0);
    }
    l->tpr = l->ldr = l->esr = l->esr_pending = 0;
    l->dfr = 0xffffffffu;
    l->svr = 0xff;
    l->icr_lo = l->icr_hi = 0;
    for (unsigned i = 0; i < LVT_NR; i++)
        l->lvt[i] = LVT_MASKED;
    /* No BIOS ran: wire the BSP's LINT0 as ExtINT (virtual wire mode) so the
     * PIC works before the OS touches the APIC, as firmware would leave it. */
    if (l->index == 0)
        l->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
    memset(l->isr, 0, sizeof(l->isr));
    memset(l->tmr, 0, sizeof(l->tmr));
    memset(l->irr, 0, sizeof(l->irr));
    l->timer_icr = l->timer_dcr = 0;
    l->timer_start_ns = 0;
    l->timer_next_ns = INT64_MAX;
    l->tsc_deadline = 0;
    l->nmi = l->init = l->sipi = false;
    l->sipi_vector = 0;
    l->wait_sipi = power_on ? l->index != 0 : true;
    if (x2apic(l))
        l->ldr = ((l->id >> 4) << 16) | (1u << (l->id & 15));
    lapic_update_page(l);
    lapic_update(l);
}

/* ---- accepting interrupts ------------------------------------------------ */

static void lapic_accept(struct lapic *l, unsigned dm, uint8_t vector, bool level);

static void lapic_error(struct lapic *l, uint32_t bit)
{
    l->esr_pending |= bit;
    uint32_t lvt = l->lvt[LVT_ERROR];
    if (!(lvt & LVT_MASKED) && (lvt & 0xff) >= 16)
        lapic_accept(l, APIC_DM_FIXED, lvt & 0xff, false);
}

static void lapic_accept(struct lapic *l, unsigned dm, uint8_t vector, bool level)
{
    switch (dm) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        if (vector < 16) {
            lapic_error(l, ESR_RECV_ILLEGAL);
            return;
        }
        set_vec(l->irr, vector);
        if (level)
            set_vec(l->tmr, vector);
        else
            clr_vec(l->tmr, vector);
        break;
    case APIC_DM_NMI:
        l->nmi = true;
        break;
    case APIC_DM_INIT:
        l->init = true;
        break;
    case APIC_DM_SIPI:
        l->sipi = true;
        l->sipi_vector = vector;
        break;
    default:                               /* SMI, ExtINT message: not modelled */
        vk_warn_ratelimited("lapic %u: delivery mode %u ignored", l->index, dm);
        return;
    }
    lapic_update(l);
}

static bool lapic_match(const struct lapic *l, uint32_t dest, bool logical, bool x2dest)
{
    uint32_t bcast = x2dest ? 0xffffffffu : 0xffu;
    if (dest == bcast)
        return true;
    if (!logical)
        return x2dest || x2apic(l) ? l->id == dest : (l->id & 0xff) == dest;
    if (x2apic(l)) {
        if (!x2dest)
            return false;
        return (l->ldr >> 16) == (dest >> 16) && (l->ldr & dest & 0xffff);
    }
    uint32_t ldr = l->ldr >> 24;
    if ((l->dfr >> 28) == 0xf)             /* flat */
        return ldr & dest;
    return (ldr >> 4) == ((dest >> 4) & 0xf) && (ldr & dest & 0xf);
}

static void deliver_set(struct irqchip *ic, uint64_t set, unsigned dm, uint8_t vector,
                        bool level)
{
    if (!set)
        return;
    if (dm == APIC_DM_LOWEST) {
        /* Lowest priority: the CPU with the lowest TPR class wins, ties go to
         * the lowest index. */
        unsigned best = 64, best_prio = 0x100;
        for (unsigned i = 0; i < ic->ncpus; i++) {
            if (!(set & (1ULL << i)))
                continue;
            unsigned prio = ic->lapics[i].tpr & 0xf0;
            if (prio < best_prio) {
                best = i;
                best_prio = prio;
            }
        }
        set = 1ULL << best;
    }
    for (unsigned i = 0; i < ic->ncpus; i++)
        if (set & (1ULL << i))
            lapic_accept(&ic->lapics[i], dm, vector, level);
}

static uint64_t match_set(struct irqchip *ic, uint32_t dest, bool logical, bool x2dest)
{
    uint64_t set = 0;
    for (unsigned i = 0; i < ic->ncpus; i++) {
        const struct lapic *l = &ic->lapics[i];
        if ((l->base_msr & APIC_BASE_EN) && lapic_match(l, dest, logical, x2dest))
            set |= 1ULL << i;
    }
    return set;
}

void apic_bus_deliver(struct irqchip *ic, uint32_t dest, bool logical, unsigned dm,
                      uint8_t vector, bool level_trig)
{
    deliver_set(ic, match_set(ic, dest, logical, false), dm, vector, level_trig);
}

static void lapic_send_ipi(struct lapic *l)
{
    struct irqchip *ic = l->ic;
    uint32_t lo = l->icr_lo;
    uint8_t vector = lo & 0xff;
    unsigned dm = (lo >> 8) & 7;
    bool logical = lo & (1u << 11);
    bool assert = lo & (1u << 14);
    bool level = lo & (1u << 15);
    unsigned shorthand = (lo >> 18) & 3;

    if (dm == APIC_DM_INIT && level && !assert)
        return;                            /* INIT level de-assert: no-op */
    if ((dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST) && vector < 16) {
        lapic_error(l, ESR_SEND_ILLEGAL);
        return;
    }
    uint64_t self = 1ULL << l->index, all = ic->ncpus >= 64 ? ~0ULL : (1ULL << ic->ncpus) - 1;
    uint64_t set;
    switch (shorthand) {
    case 1: set = self; break;
    case 2: set = all; break;
    case 3: set = all & ~self; break;
    default: {
        uint32_t dest = x2apic(l) ? l->icr_hi : l->icr_hi >> 24;
        set = match_set(ic, dest, logical, x2apic(l));
        break;
    }
    }
    if (dm == APIC_DM_SIPI || dm == APIC_DM_INIT)
        level = false;
    deliver_set(ic, set, dm, vector, level);
}

static void lapic_eoi(struct lapic *l)
{
    int v = highest_bit(l->isr);
    if (v < 0)
        return;
    clr_vec(l->isr, (unsigned)v);
    if (test_vec(l->tmr, (unsigned)v)) {
        clr_vec(l->tmr, (unsigned)v);
        ioapic_eoi(l->ic, (uint8_t)v);
    }
    lapic_update(l);
}

/* ---- timer --------------------------------------------------------------- */

static unsigned timer_mode(const struct lapic *l)
{
    return (l->lvt[LVT_TIMER] >> 17) & 3;
}

static int64_t timer_divisor(const struct lapic *l)
{
    unsigned v = (l->timer_dcr & 3) | ((l->timer_dcr & 8) >> 1);
    return 1LL << ((v + 1) & 7);
}

/* APIC bus clock ticks <-> ns (the clock is ic->apic_hz). */
static int64_t ticks_to_ns(const struct lapic *l, uint64_t ticks)
{
    return (int64_t)((unsigned __int128)ticks * 1000000000ULL / l->ic->apic_hz);
}

static int64_t ns_to_ticks(const struct lapic *l, int64_t ns)
{
    return ns <= 0 ? 0 : (int64_t)((unsigned __int128)ns * l->ic->apic_hz / 1000000000ULL);
}

static int64_t timer_period_ns(const struct lapic *l)
{
    return ticks_to_ns(l, (uint64_t)l->timer_icr * (uint64_t)timer_divisor(l));
}

static void timer_disarm(struct lapic *l)
{
    l->timer_next_ns = INT64_MAX;
    ic_timers_changed(l->ic);
}

static void timer_start(struct lapic *l, int64_t now)
{
    l->timer_start_ns = now;
    if (l->timer_icr == 0 || timer_mode(l) == TIMER_TSCDL) {
        timer_disarm(l);
        return;
    }
    int64_t p = timer_period_ns(l);
    if (timer_mode(l) == TIMER_PERIODIC && p < LAPIC_MIN_PERIOD_NS)
        p = LAPIC_MIN_PERIOD_NS;
    l->timer_next_ns = now + p;
    ic_timers_changed(l->ic);
}

static uint32_t timer_current(const struct lapic *l, int64_t now)
{
    if (l->timer_icr == 0 || timer_mode(l) == TIMER_TSCDL)
        return 0;
    if (timer_mode(l) == TIMER_ONESHOT && l->timer_next_ns == INT64_MAX)
        return 0;
    int64_t ticks = ns_to_ticks(l, now - l->timer_start_ns) / timer_divisor(l);
    if (ticks < 0)
        ticks = 0;
    if (timer_mode(l) == TIMER_PERIODIC)
        return l->timer_icr - (uint32_t)(ticks % l->timer_icr);
    return ticks >= l->timer_icr ? 0 : l->timer_icr - (uint32_t)ticks;
}

int64_t lapic_poll(struct lapic *l, int64_t now)
{
    if (l->timer_next_ns > now)
        return l->timer_next_ns;
    uint32_t lvt = l->lvt[LVT_TIMER];
    if (!(lvt & LVT_MASKED))
        lapic_accept(l, APIC_DM_FIXED, lvt & 0xff, false);
    switch (timer_mode(l)) {
    case TIMER_PERIODIC: {
        int64_t p = timer_period_ns(l);
        if (p < LAPIC_MIN_PERIOD_NS)
            p = LAPIC_MIN_PERIOD_NS;
        int64_t next = l->timer_next_ns + p;
        if (next <= now)                   /* late: coalesce missed periods */
            next = now + p - (now - l->timer_next_ns) % p;
        l->timer_next_ns = next;
        break;
    }
    case TIMER_TSCDL:
        l->tsc_deadline = 0;
        l->timer_next_ns = INT64_MAX;
        break;
    default:
        l->timer_next_ns = INT64_MAX;
        break;
    }
    return l->timer_next_ns;
}

static void tsc_deadline_write(struct lapic *l, uint64_t tsc)
{
    struct irqchip *ic = l->ic;
    if (timer_mode(l) != TIMER_TSCDL)
        return;                            /* ignored outside TSC-deadline mode */
    l->tsc_deadline = tsc;
    if (tsc == 0) {
        timer_disarm(l);
        return;
    }
    l->timer_next_ns = ic->hooks.tsc_to_ns ? ic->hooks.tsc_to_ns(ic->hooks.opaque, l->index, tsc)
                                           : (int64_t)(tsc > INT64_MAX ? INT64_MAX - 1 : tsc);
    ic_timers_changed(ic);
}

/* ---- register file ------------------------------------------------------- */

static const uint32_t lvt_writable[LVT_NR] = {
    [LVT_CMCI] = 0x107ff, [LVT_TIMER] = 0x700ff, [LVT_THERMAL] = 0x107ff,
    [LVT_PERF] = 0x107ff, [LVT_LINT0] = 0x1a7ff, [LVT_LINT1] = 0x1a7ff,
    [LVT_ERROR] = 0x100ff,
};

static int lvt_index(uint32_t reg)
{
    if (reg == REG_LVT_CMCI)
        return LVT_CMCI;
    if (reg >= REG_LVT_TIMER && reg <= REG_LVT_ERROR)
        return LVT_TIMER + (int)((reg - REG_LVT_TIMER) >> 4);
    return -1;
}

/* Returns 0, or -EINVAL for a register that does not exist. */
static int reg_read(struct lapic *l, uint32_t reg, uint32_t *out)
{
    int64_t now = ic_now(l->ic);
    uint32_t v = 0;
    switch (reg) {
    case REG_ID:    v = x2apic(l) ? l->id : l->id << 24; break;
    case REG_VER:   v = APIC_VERSION; break;
    case REG_TPR:   v = l->tpr; break;
    case REG_APR:   v = 0; break;
    case REG_PPR:   v = lapic_ppr(l); break;
    case REG_LDR:   v = l->ldr; break;
    case REG_DFR:   if (x2apic(l)) return -EINVAL; v = l->dfr; break;
    case REG_SVR:   v = l->svr; break;
    case REG_ESR:   v = l->esr; break;
    case REG_ICR_LO: v = l->icr_lo; break;
    case REG_ICR_HI: if (x2apic(l)) return -EINVAL; v = l->icr_hi; break;
    case REG_TMICT: v = l->timer_icr; break;
    case REG_TMCCT: v = timer_current(l, now); break;
    case REG_TDCR:  v = l->timer_dcr; break;
    case REG_EOI:   if (x2apic(l)) return -EINVAL; v = 0; break;
    case REG_SELF_IPI: return -EINVAL;
    case REG_LVT_CMCI: return -EINVAL;     /* max LVT 5: no CMCI entry */
    default:
        if (reg >= REG_ISR && reg < REG_ISR + 0x80)
            v = l->isr[(reg - REG_ISR) >> 4];
        else if (reg >= REG_TMR && reg < REG_TMR + 0x80)
            v = l->tmr[(reg - REG_TMR) >> 4];
        else if (reg >= REG_IRR && reg < REG_IRR + 0x80)
            v = l->irr[(reg - REG_IRR) >> 4];
        else if (lvt_index(reg) >= 0)
            v = l->lvt[lvt_index(reg)];
        else if (reg == REG_RRD)
            v = 0;
        else
            return -EINVAL;
    }
    *out = v;
    return 0;
}

static int reg_write(struct lapic *l, uint32_t reg, uint32_t v)
{
    int64_t now = ic_now(l->ic);
    switch (reg) {
    case REG_ID:
        if (x2apic(l))
            return -EINVAL;
        l->id = v >> 24;
        break;
    case REG_TPR:
        l->tpr = v & 0xff;
        lapic_update(l);
        break;
    case REG_EOI:
        lapic_eoi(l);
        break;
    case REG_LDR:
        if (x2apic(l))
            return -EINVAL;
        l->ldr = v & 0xff000000u;
        break;
    case REG_DFR:
        if (x2apic(l))
            return -EINVAL;
        l->dfr = v | 0x0fffffffu;
        break;
    case REG_SVR:
        l->svr = v & 0x3ff;
        if (!(l->svr & SVR_ENABLE)) {
            for (unsigned i = 0; i < LVT_NR; i++)
                l->lvt[i] |= LVT_MASKED;
        }
        lapic_update(l);
        break;
    case REG_ESR:
        l->esr = l->esr_pending;
        l->esr_pending = 0;
        break;
    case REG_ICR_LO:
        l->icr_lo = v & ~(1u << 12);
        lapic_send_ipi(l);
        break;
    case REG_ICR_HI:
        if (x2apic(l))
            return -EINVAL;
        l->icr_hi = v & 0xff000000u;
        break;
    case REG_TMICT:
        l->timer_icr = v;
        timer_start(l, now);
        break;
    case REG_TDCR: {
        uint32_t cur = timer_current(l, now);
        l->timer_dcr = v & 0xb;
        /* Keep the current count; continue at the new rate. */
        if (l->timer_next_ns != INT64_MAX && timer_mode(l) != TIMER_TSCDL) {
            l->timer_start_ns = now - ticks_to_ns(l, (uint64_t)(l->timer_icr - cur) *
                                                        (uint64_t)timer_divisor(l));
            l->timer_next_ns = now + ticks_to_ns(l, (uint64_t)cur * (uint64_t)timer_divisor(l));
            ic_timers_changed(l->ic);
        }
        break;
    }
    case REG_SELF_IPI:
        if (!x2apic(l))
            return -EINVAL;
        lapic_accept(l, APIC_DM_FIXED, v & 0xff, false);
        break;
    case REG_LVT_CMCI:
        return -EINVAL;
    default: {
        int i = lvt_index(reg);
        if (i < 0) {
            if (reg == REG_VER || reg == REG_PPR || reg == REG_APR || reg == REG_RRD ||
                reg == REG_TMCCT || (reg >= REG_ISR && reg < REG_IRR + 0x80))
                return x2apic(l) ? -EINVAL : 0;    /* read-only */
            return -EINVAL;
        }
        uint32_t old = l->lvt[i];
        uint32_t nv = (v & lvt_writable[i]) | (old & ~lvt_writable[i] & ~LVT_MASKED);
        if (!(l->svr & SVR_ENABLE))
            nv |= LVT_MASKED;
        if (i == LVT_TIMER && ((nv >> 17) & 3) == 3)
            nv &= ~(3u << 17);             /* reserved mode: treat as one-shot */
        l->lvt[i] = nv;
        if (i == LVT_TIMER && ((old ^ nv) >> 17) & 3) {
            l->timer_icr = 0;              /* mode change disarms the timer */
            l->tsc_deadline = 0;
            timer_disarm(l);
        }
        if (i == LVT_LINT0)
            lapic_update(l);
        break;
    }
    }
    return 0;
}

/* ---- public per-vCPU entry points ---------------------------------------- */

unsigned lapic_pending(struct irqchip *ic, unsigned cpu)
{
    struct lapic *l = lapic_of(ic, cpu);
    return l ? atomic_load_explicit(&l->pending, memory_order_acquire) : 0;
}

int lapic_ack(struct irqchip *ic, unsigned cpu)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return -1;
    int v = -1;
    pthread_mutex_lock(&ic->lock);
    if (accepts_extint(ic, l)) {
        v = pic_intack(ic);
    } else {
        int irrv = highest_bit(l->irr);
        if (irrv >= 0 && ((uint32_t)irrv & 0xf0) > (lapic_ppr(l) & 0xf0)) {
            clr_vec(l->irr, (unsigned)irrv);
            set_vec(l->isr, (unsigned)irrv);
            v = irrv;
        }
    }
    lapic_update(l);
    pthread_mutex_unlock(&ic->lock);
    return v;
}

bool lapic_take_nmi(struct irqchip *ic, unsigned cpu)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return false;
    pthread_mutex_lock(&ic->lock);
    bool r = l->nmi;
    l->nmi = false;
    lapic_update(l);
    pthread_mutex_unlock(&ic->lock);
    return r;
}

bool lapic_take_init(struct irqchip *ic, unsigned cpu)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return false;
    pthread_mutex_lock(&ic->lock);
    bool r = l->init;
    if (r) {
        /* On hardware INIT acts on delivery, so a SIPI that followed it is
         * still pending afterwards: keep it across the reset. */
        bool sipi = l->sipi;
        uint8_t vec = l->sipi_vector;
        lapic_reset(l, false);
        l->sipi = sipi;
        l->sipi_vector = vec;
        lapic_update(l);
        ic_timers_changed(ic);
    }
    pthread_mutex_unlock(&ic->lock);
    return r;
}

int lapic_take_sipi(struct irqchip *ic, unsigned cpu)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return -1;
    int v = -1;
    pthread_mutex_lock(&ic->lock);
    if (l->sipi) {
        l->sipi = false;
        if (l->wait_sipi) {
            l->wait_sipi = false;
            v = l->sipi_vector;
        }
        lapic_update(l);
    }
    pthread_mutex_unlock(&ic->lock);
    return v;
}

bool lapic_waiting_for_sipi(struct irqchip *ic, unsigned cpu)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return false;
    pthread_mutex_lock(&ic->lock);
    bool r = l->wait_sipi;
    pthread_mutex_unlock(&ic->lock);
    return r;
}

uint64_t lapic_get_base(struct irqchip *ic, unsigned cpu)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return 0;
    pthread_mutex_lock(&ic->lock);
    uint64_t r = l->base_msr;
    pthread_mutex_unlock(&ic->lock);
    return r;
}

bool lapic_is_mmio(struct irqchip *ic, unsigned cpu, uint64_t gpa)
{
    struct lapic *l = lapic_of(ic, cpu);
    return l && (gpa & ~0xfffULL) == atomic_load_explicit(&l->mmio_page, memory_order_relaxed);
}

uint64_t lapic_mmio_read(struct irqchip *ic, unsigned cpu, uint64_t offset, unsigned size)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l || offset >= 0x1000)
        return 0;
    uint32_t v = 0;
    pthread_mutex_lock(&ic->lock);
    if (reg_read(l, (uint32_t)offset & 0xff0, &v) < 0)
        v = 0;
    pthread_mutex_unlock(&ic->lock);
    unsigned shift = (offset & 3) * 8;
    if ((offset & 0xf) >= 4)
        return 0;                          /* the rest of each 16-byte slot */
    uint64_t r = v >> shift;
    if (size < 4)
        r &= (1ULL << (size * 8)) - 1;
    return r;
}

void lapic_mmio_write(struct irqchip *ic, unsigned cpu, uint64_t offset, uint64_t value,
                      unsigned size)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l || offset >= 0x1000)
        return;
    if ((offset & 0xf) != 0 || size < 4) {
        vk_warn_ratelimited("lapic %u: ignoring %u-byte write at offset 0x%llx", cpu, size,
                            (unsigned long long)offset);
        return;
    }
    pthread_mutex_lock(&ic->lock);
    uint32_t reg = (uint32_t)offset;
    if (reg == REG_SELF_IPI || reg_write(l, reg, (uint32_t)value) < 0)
        lapic_error(l, ESR_ILLEGAL_REG);
    pthread_mutex_unlock(&ic->lock);
}

static int apic_base_write(struct lapic *l, uint64_t v)
{
    uint64_t old = l->base_msr;
    if (v & ~(APIC_BASE_ADDR | APIC_BASE_BSP | APIC_BASE_EXTD | APIC_BASE_EN))
        return -EINVAL;
    bool en = v & APIC_BASE_EN, extd = v & APIC_BASE_EXTD;
    if (extd && !en)
        return -EINVAL;
    if ((old & APIC_BASE_EXTD) && en && !extd)
        return -EINVAL;                    /* x2APIC -> xAPIC needs a disable first */
    v = (v & ~APIC_BASE_BSP) | (old & APIC_BASE_BSP);
    if ((old & APIC_BASE_EN) && !en) {
        l->base_msr = v;
        lapic_reset(l, false);
        l->wait_sipi = false;
    }
    l->base_msr = v;
    if (extd && !(old & APIC_BASE_EXTD))
        l->ldr = ((l->id >> 4) << 16) | (1u << (l->id & 15));
    lapic_update_page(l);
    lapic_update(l);
    return 0;
}

int lapic_msr_read(struct irqchip *ic, unsigned cpu, uint32_t msr, uint64_t *value)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return -ENOENT;
    int rc = 0;
    pthread_mutex_lock(&ic->lock);
    if (msr == 0x1b) {
        *value = l->base_msr;
    } else if (msr == 0x6e0) {
        *value = timer_mode(l) == TIMER_TSCDL ? l->tsc_deadline : 0;
    } else if (msr >= 0x800 && msr <= 0x8ff) {
        uint32_t reg = (msr - 0x800) << 4, v;
        if (!x2apic(l)) {
            rc = -EINVAL;
        } else if (reg == REG_ICR_LO) {
            *value = (uint64_t)l->icr_hi << 32 | l->icr_lo;
        } else if ((rc = reg_read(l, reg, &v)) == 0) {
            *value = v;
        }
    } else {
        rc = -ENOENT;
    }
    pthread_mutex_unlock(&ic->lock);
    return rc;
}

int lapic_msr_write(struct irqchip *ic, unsigned cpu, uint32_t msr, uint64_t value)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return -ENOENT;
    int rc = 0;
    pthread_mutex_lock(&ic->lock);
    if (msr == 0x1b) {
        rc = apic_base_write(l, value);
    } else if (msr == 0x6e0) {
        tsc_deadline_write(l, value);
    } else if (msr >= 0x800 && msr <= 0x8ff) {
        uint32_t reg = (msr - 0x800) << 4;
        if (!x2apic(l)) {
            rc = -EINVAL;
        } else if (reg == REG_ICR_LO) {
            l->icr_hi = (uint32_t)(value >> 32);
            l->icr_lo = (uint32_t)value & ~(1u << 12);
            lapic_send_ipi(l);
        } else if (value >> 32) {
            rc = -EINVAL;
        } else {
            rc = reg_write(l, reg, (uint32_t)value);
        }
    } else {
        rc = -ENOENT;
    }
    pthread_mutex_unlock(&ic->lock);
    return rc;
}

uint8_t lapic_get_cr8(struct irqchip *ic, unsigned cpu)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return 0;
    pthread_mutex_lock(&ic->lock);
    uint8_t r = (uint8_t)((l->tpr >> 4) & 0xf);
    pthread_mutex_unlock(&ic->lock);
    return r;
}

void lapic_set_cr8(struct irqchip *ic, unsigned cpu, uint8_t cr8)
{
    struct lapic *l = lapic_of(ic, cpu);
    if (!l)
        return;
    pthread_mutex_lock(&ic->lock);
    l->tpr = (uint32_t)(cr8 & 0xf) << 4;
    lapic_update(l);
    pthread_mutex_unlock(&ic->lock);
}
