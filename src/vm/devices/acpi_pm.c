/* ACPI PM registers (ACPI 6.4 §4.8 "ACPI Hardware Model"): PM1a event and
 * control, the PM timer, GPE0 and the reset register. Not hardware-reduced:
 * the FADT has no SMI command port, so the machine is always in ACPI mode
 * and SCI_EN reads as 1.
 *
 * Registers are handled byte by byte so any access width the guest picks
 * (16-bit PM1 registers read as one 32-bit word, say) works the same.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acpi_pm.h"
#include "../bus.h"
#include "../machine.h"

struct acpi_pm {
    struct machine *m;
    uint16_t base;
    unsigned irq;
    pthread_mutex_t lock;
    uint16_t pm1_sts, pm1_en, pm1_cnt;
    uint8_t gpe_sts[4], gpe_en[4];
    int64_t timer_start_ns;
    uint32_t timer_last;        /* last counter value seen, for TMR_STS */
    int sci_level;
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t timer_value(struct acpi_pm *pm)
{
    uint64_t ns = (uint64_t)(now_ns() - pm->timer_start_ns);
    uint64_t ticks = (ns / 1000000000) * ACPI_PM_TIMER_HZ +
                     (ns % 1000000000) * ACPI_PM_TIMER_HZ / 1000000000;
    return (uint32_t)ticks;
}

/* Recompute the SCI level and drive the line on a change. Lock held. */
static void update_sci(struct acpi_pm *pm)
{
    uint16_t pm1 = pm->pm1_sts & pm->pm1_en &
                   (ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN |
                    ACPI_PM1_RTC);
    int gpe = 0, level;

    for (unsigned i = 0; i < 4; i++)
        gpe |= pm->gpe_sts[i] & pm->gpe_en[i];
    level = (pm1 || gpe) && (pm->pm1_cnt & ACPI_PM1_SCI_EN);
    if (level != pm->sci_level) {
        pm->sci_level = level;
        machine_set_irq(pm->m, pm->irq, level);
    }
}

/* TMR_STS latches when bit 31 of the counter changes (TMR_VAL_EXT); it is
 * evaluated when the guest looks, so no host timer runs for it. */
static void update_timer_status(struct acpi_pm *pm)
{
    uint32_t now = timer_value(pm);

    if ((now ^ pm->timer_last) & 0x80000000u)
        pm->pm1_sts |= ACPI_PM1_TMR;
    pm->timer_last = now;
}

static uint8_t reg_byte(struct acpi_pm *pm, unsigned off, uint32_t tmr)
{
    switch (off) {
    case ACPI_PM1_STS:     return (uint8_t)pm->pm1_sts;
    case ACPI_PM1_STS + 1: return (uint8_t)(pm->pm1_sts >> 8);
    case ACPI_PM1_EN:      return (uint8_t)pm->pm1_en;
    case ACPI_PM1_EN + 1:  return (uint8_t)(pm->pm1_en >> 8);
    case ACPI_PM1_CNT:     return (uint8_t)pm->pm1_cnt;
    case ACPI_PM1_CNT + 1: return (uint8_t)(pm->pm1_cnt >> 8);   /* SLP_EN reads 0 */
    case ACPI_PM_TMR ... ACPI_PM_TMR + 3:
        return (uint8_t)(tmr >> (8 * (off - ACPI_PM_TMR)));
    case ACPI_GPE0_BLK ... ACPI_GPE0_BLK + 3:
        return pm->gpe_sts[off - ACPI_GPE0_BLK];
    case ACPI_GPE0_BLK + 4 ... ACPI_GPE0_BLK + 7:
        return pm->gpe_en[off - ACPI_GPE0_BLK - 4];
    default:
        return 0;
    }
}

static void sleep_request(struct acpi_pm *pm, unsigned typ)
{
    if (typ == ACPI_S5_SLP_TYP) {
        vk_debug("acpi: guest entered S5 (soft off)");
        machine_request(pm->m, MACHINE_SHUTDOWN, 0);
    } else {
        vk_warn_ratelimited("acpi: guest asked for unsupported sleep type %u, ignored", typ);
    }
}

static void write_byte(struct acpi_pm *pm, unsigned off, uint8_t v)
{
    switch (off) {
    case ACPI_PM1_STS:     pm->pm1_sts &= (uint16_t)~v; break;
    case ACPI_PM1_STS + 1: pm->pm1_sts &= (uint16_t)~((unsigned)v << 8); break;
    case ACPI_PM1_EN:
        pm->pm1_en = (uint16_t)((pm->pm1_en & 0xff00) | (v & (ACPI_PM1_TMR | ACPI_PM1_GBL)));
        break;
    case ACPI_PM1_EN + 1:
        pm->pm1_en = (uint16_t)((pm->pm1_en & 0x00ff) |
                                (((unsigned)v << 8) &
                                 (ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | ACPI_PM1_RTC)));
        break;
    case ACPI_PM1_CNT:
        /* SCI_EN stays set (no legacy mode); BM_RLD and GBL_RLS are
         * accepted and have no effect. */
        pm->pm1_cnt = (uint16_t)((pm->pm1_cnt & 0xff00) | (v & 0x06) | ACPI_PM1_SCI_EN);
        break;
    case ACPI_PM1_CNT + 1: {
        uint16_t hi = (uint16_t)((unsigned)v << 8);

        pm->pm1_cnt = (uint16_t)((pm->pm1_cnt & 0x00ff) | (hi & ACPI_PM1_SLP_TYP_MASK));
        if (hi & ACPI_PM1_SLP_EN)
            sleep_request(pm, (hi & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT);
        break;
    }
    case ACPI_RESET_REG:
        if (v == ACPI_RESET_VALUE)
            machine_request(pm->m, MACHINE_RESET, 0);
        break;
    case ACPI_GPE0_BLK ... ACPI_GPE0_BLK + 3:
        pm->gpe_sts[off - ACPI_GPE0_BLK] &= (uint8_t)~v;
        break;
    case ACPI_GPE0_BLK + 4 ... ACPI_GPE0_BLK + 7:
        pm->gpe_en[off - ACPI_GPE0_BLK - 4] = v;
        break;
    default:
        break;                          /* PM timer and holes: read-only */
    }
}

static uint64_t acpi_pm_read(void *opaque, uint64_t offset, unsigned size)
{
    struct acpi_pm *pm = opaque;
    uint64_t v = 0;
    uint32_t tmr;

    pthread_mutex_lock(&pm->lock);
    tmr = timer_value(pm);
    if (offset <= ACPI_PM1_STS + 1)
        update_timer_status(pm);
    for (unsigned i = 0; i < size && i < 8; i++)
        v |= (uint64_t)reg_byte(pm, (unsigned)(offset + i), tmr) << (8 * i);
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
    return v;
}

static void acpi_pm_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct acpi_pm *pm = opaque;

    pthread_mutex_lock(&pm->lock);
    for (unsigned i = 0; i < size && i < 8; i++)
        write_byte(pm, (unsigned)(offset + i), (uint8_t)(value >> (8 * i)));
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

const struct bus_ops acpi_pm_pio_ops = {
    .read = acpi_pm_read,
    .write = acpi_pm_write,
};

bool acpi_pm_press_power_button(struct acpi_pm *pm)
{
    bool enabled;

    pthread_mutex_lock(&pm->lock);
    pm->pm1_sts |= ACPI_PM1_PWRBTN;
    enabled = pm->pm1_en & ACPI_PM1_PWRBTN;
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
    return enabled;
}

void acpi_pm_set_gpe(struct acpi_pm *pm, unsigned bit)
{
    if (bit >= 32)
        return;
    pthread_mutex_lock(&pm->lock);
    pm->gpe_sts[bit / 8] |= (uint8_t)(1u << (bit % 8));
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

uint16_t acpi_pm_base(const struct acpi_pm *pm)
{
    return pm->base;
}

unsigned acpi_pm_sci(const struct acpi_pm *pm)
{
    return pm->irq;
}

static void acpi_pm_reset(void *state)
{
    struct acpi_pm *pm = state;

    pthread_mutex_lock(&pm->lock);
    pm->pm1_sts = pm->pm1_en = 0;
    pm->pm1_cnt = ACPI_PM1_SCI_EN;
    memset(pm->gpe_sts, 0, sizeof(pm->gpe_sts));
    memset(pm->gpe_en, 0, sizeof(pm->gpe_en));
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_destroy(void *state)
{
    struct acpi_pm *pm = state;

    pthread_mutex_destroy(&pm->lock);
    free(pm);
}

static int acpi_pm_init(struct machine *m, const struct device_config *cfg, void **state,
                        struct vk_err *err)
{
    struct acpi_pm *pm = calloc(1, sizeof(*pm));
    int r;

    if (!pm)
        return vk_err_errno(err, -ENOMEM, "acpi-pm");
    if (cfg->base > 0xffff - ACPI_PM_LEN) {
        free(pm);
        return vk_err_set(err, -EINVAL, "acpi-pm: base port 0x%llx out of range",
                          (unsigned long long)cfg->base);
    }
    pm->m = m;
    pm->base = (uint16_t)cfg->base;
    pm->irq = cfg->irq;
    pm->pm1_cnt = ACPI_PM1_SCI_EN;
    pm->timer_start_ns = now_ns();
    pthread_mutex_init(&pm->lock, NULL);
    r = bus_register(&m->pio, cfg->base, ACPI_PM_LEN, &acpi_pm_pio_ops, pm, "acpi-pm", err);
    if (r < 0) {
        acpi_pm_destroy(pm);
        return r;
    }
    *state = pm;
    return 0;
}

const struct device_ops acpi_pm_device = {
    .name = "acpi-pm",
    .init = acpi_pm_init,
    .reset = acpi_pm_reset,
    .destroy = acpi_pm_destroy,
};

struct acpi_pm *acpi_pm_find(struct machine *m)
{
    for (unsigned i = 0; i < m->nr_devices; i++)
        if (m->devices[i].ops == &acpi_pm_device)
            return m->devices[i].state;
    return NULL;
}
