/* Internal state shared by the irqchip files. Every function here expects
 * ic->lock held unless its name ends in _unlocked. */
#ifndef VK_VM_IRQCHIP_INT_H
#define VK_VM_IRQCHIP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "irqchip.h"

/* ---- 8259 PIC ------------------------------------------------------------ */

struct pic8259 {
    uint8_t irr, isr, imr;
    uint8_t lines;          /* current input levels (edge detection) */
    uint8_t elcr, elcr_mask;/* level-triggered inputs (ELCR) */
    uint8_t base;           /* ICW2 vector base */
    uint8_t prio_add;       /* rotation: IR with priority 0 */
    uint8_t init_step;      /* 0 = operational, 2..4 = next ICW expected */
    bool icw4_needed, single, ltim, auto_eoi, rotate_aeoi, special_mask, sfnm;
    bool read_isr, poll;
    bool int_out;           /* master only: INT output as last signalled */
};

/* ---- 8254 PIT ------------------------------------------------------------ */

struct pit_channel {
    uint32_t count;         /* reload value, 1..0x10000 */
    int64_t load_ns;        /* when counting (re)started */
    int64_t frozen_ticks;   /* ticks elapsed when the gate went low; -1 if running */
    uint8_t mode, rw, bcd;
    bool gate;
    bool armed;             /* count written since the control word */
    uint16_t latch; bool latched; bool latch_msb_next;
    uint8_t status; bool status_latched;
    bool read_msb_next, write_msb_next;
    uint8_t write_lsb;
    int64_t next_irq_ns;    /* channel 0 only: next IRQ0 edge, INT64_MAX if none */
    int64_t grid_ns;        /* channel 0 only: next tick due (periodic modes) */
};

struct pit8254 {
    struct pit_channel ch[3];
    bool speaker_data;      /* port 0x61 bit 1 */
    uint8_t port61_low;     /* port 0x61 bits 3:2, stored */
};

/* ---- IOAPIC -------------------------------------------------------------- */

struct ioapic {
    uint32_t id;
    uint8_t sel;
    uint64_t redir[IRQCHIP_IOAPIC_PINS];
    uint32_t lines;         /* asserted pins */
};

/* ---- local APIC ---------------------------------------------------------- */

enum { LVT_CMCI, LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_NR };

struct lapic {
    struct irqchip *ic;
    unsigned index;
    uint32_t id;            /* APIC ID */
    uint64_t base_msr;
    _Atomic uint64_t mmio_page; /* enabled xAPIC page base, or 1 when none */
    uint32_t tpr, ldr, dfr, svr, esr, esr_pending;
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[LVT_NR];
    uint32_t isr[8], tmr[8], irr[8];
    uint32_t timer_icr, timer_dcr;
    int64_t timer_start_ns; /* one-shot/periodic: when the count was loaded */
    int64_t timer_next_ns;  /* next expiry, INT64_MAX if disarmed */
    uint64_t tsc_deadline;
    bool nmi, init, sipi, wait_sipi;
    uint8_t sipi_vector;
    atomic_uint pending;    /* LAPIC_EV_* hint */
};

struct irqchip {
    pthread_mutex_t lock;
    struct irqchip_hooks hooks;
    unsigned ncpus;
    uint64_t apic_hz;       /* local APIC timer input clock */
    struct lapic *lapics;
    struct pic8259 pic[2];
    struct pit8254 pit;
    struct ioapic ioapic;
    uint32_t gsi_levels;

    pthread_t timer_thread;
    pthread_cond_t timer_cond;
    bool timer_running, timer_stop;
};

static inline int64_t ic_now(struct irqchip *ic)
{
    return ic->hooks.now_ns ? ic->hooks.now_ns(ic->hooks.opaque) : vk_now_ns();
}
/* Deadlines changed: wake the timer thread to recompute its sleep. */
void ic_timers_changed(struct irqchip *ic);

/* i8259.c */
void pic_reset(struct irqchip *ic);
void pic_set_irq(struct irqchip *ic, unsigned irq, int level);
bool pic_output(struct irqchip *ic);
/* Unmasked input `irq` requested and not yet acknowledged. */
bool pic_irq_pending(struct irqchip *ic, unsigned irq);
int pic_intack(struct irqchip *ic);
uint64_t pic_io_read(struct irqchip *ic, unsigned chip, unsigned port);
void pic_io_write(struct irqchip *ic, unsigned chip, unsigned port, uint8_t v);
uint8_t pic_elcr_read(struct irqchip *ic, unsigned chip);
void pic_elcr_write(struct irqchip *ic, unsigned chip, uint8_t v);

/* i8254.c */
void pit_reset(struct irqchip *ic);
uint8_t pit_io_read(struct irqchip *ic, unsigned port, int64_t now);
void pit_io_write(struct irqchip *ic, unsigned port, uint8_t v, int64_t now);
uint8_t pit_port61_read(struct irqchip *ic, int64_t now);
void pit_port61_write(struct irqchip *ic, uint8_t v, int64_t now);
int64_t pit_poll(struct irqchip *ic, int64_t now);

/* ioapic.c */
void ioapic_reset(struct irqchip *ic);
void ioapic_set_irq(struct irqchip *ic, unsigned pin, int level);
void ioapic_eoi(struct irqchip *ic, uint8_t vector);
/* The last interrupt of unmasked `pin` is still in some LAPIC's IRR. */
bool ioapic_pin_pending(struct irqchip *ic, unsigned pin);
uint32_t ioapic_mmio_read(struct irqchip *ic, uint64_t offset);
void ioapic_mmio_write(struct irqchip *ic, uint64_t offset, uint32_t v);

/* lapic.c */
enum apic_dm {
    APIC_DM_FIXED = 0, APIC_DM_LOWEST = 1, APIC_DM_SMI = 2, APIC_DM_NMI = 4,
    APIC_DM_INIT = 5, APIC_DM_SIPI = 6, APIC_DM_EXTINT = 7,
};
void lapic_reset(struct lapic *l, bool power_on);
/* Deliver an interrupt message on the APIC bus: destination `dest` in
 * physical (APIC ID) or logical (LDR match) mode; `from` is the sending
 * local APIC for lowest-priority tie breaks (NULL for IOAPIC/MSI). */
void apic_bus_deliver(struct irqchip *ic, uint32_t dest, bool logical, unsigned dm,
                      uint8_t vector, bool level_trig);
/* The PIC output changed: recompute ExtINT pending on every LAPIC. */
void lapic_extint_changed(struct irqchip *ic);
int64_t lapic_poll(struct lapic *l, int64_t now);

#endif
