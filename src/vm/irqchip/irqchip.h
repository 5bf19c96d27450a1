/* The user-space PC interrupt controllers and timers used by the software
 * CPU (accel/tcg.c): one local APIC per vCPU, an IOAPIC, the master/slave
 * 8259 PIC pair and the 8254 PIT (with the port 0x61 gate/out bits).
 *
 * Wiring, as on a PC (see docs/cpu-platform.md):
 *   - GSI 0..15 are the ISA lines: each drives PIC input n and IOAPIC pin n,
 *     except that the PIT's IRQ0 drives PIC input 0 and IOAPIC pin 2 (the
 *     MADT carries the matching interrupt source override 0 -> 2);
 *   - GSI 16..23 drive IOAPIC pins only (PCI INTx);
 *   - the PIC's INT output drives LINT0 of every local APIC (virtual wire;
 *     only the BSP's LINT0 is ExtINT-unmasked at reset);
 *   - local APICs, IOAPIC and MSIs meet on one logical APIC bus.
 *
 * Locking: one mutex guards all the chips (interrupt traffic is light next
 * to instruction execution, and one lock makes cross-chip paths such as
 * IOAPIC -> LAPIC -> EOI -> IOAPIC simple and race-free). The hot per-vCPU
 * question "is anything pending?" is answered lock-free by lapic_pending().
 *
 * Time: timers run from host monotonic time (hooks->now_ns). A timer thread
 * started by irqchip_start_timers() fires them; unit tests instead call
 * irqchip_poll_timers() with a fake clock and never start the thread.
 */
#ifndef VK_VM_IRQCHIP_H
#define VK_VM_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct bus;
struct irqchip;

#define IRQCHIP_MAX_CPUS    64
#define IRQCHIP_IOAPIC_PINS 24
#define IRQCHIP_LAPIC_BASE  0xFEE00000ULL
#define IRQCHIP_IOAPIC_BASE 0xFEC00000ULL
/* Default local APIC timer input clock: 1 GHz (one tick per ns before the
 * divider). */
#define IRQCHIP_APIC_BUS_HZ 1000000000ULL
#define IRQCHIP_PIT_HZ      1193182ULL

struct irqchip_hooks {
    void *opaque;
    /* vCPU `cpu` gained a pending event (lapic_pending() became non-zero or
     * gained a bit): wake it from HLT / make it leave its run loop. Called
     * with the irqchip lock held, from any thread: it must not call back
     * into the irqchip. NULL: nobody to wake (tests poll). */
    void (*kick)(void *opaque, unsigned cpu);
    /* Host monotonic time in ns. NULL: vk_now_ns(). */
    int64_t (*now_ns)(void *opaque);
    /* Guest TSC value of vCPU `cpu` -> host ns on the now_ns clock, for the
     * TSC-deadline timer. NULL: the TSC counts ns of now_ns. */
    int64_t (*tsc_to_ns)(void *opaque, unsigned cpu, uint64_t tsc);
};

/* Create the chips for `ncpus` vCPUs (APIC IDs 0..ncpus-1; CPU 0 is the
 * BSP, the others wait for INIT/SIPI). `hooks` is copied. */
int irqchip_create(unsigned ncpus, const struct irqchip_hooks *hooks,
                   struct irqchip **out, struct vk_err *err) VK_MUST_CHECK;
/* Stops the timer thread if running; the chips must be unregistered from
 * any bus first (or the buses already destroyed). */
void irqchip_destroy(struct irqchip *ic);
/* Register the PIC (0x20, 0xa0, ELCR 0x4d0), PIT (0x40-0x43, 0x61) on the
 * port bus and the IOAPIC (0xfec00000) on the MMIO bus. The local APIC
 * page is per-vCPU and relocatable: the accelerator routes it with
 * lapic_mmio_read/write, not through the bus. */
int irqchip_attach(struct irqchip *ic, struct bus *pio, struct bus *mmio,
                   struct vk_err *err) VK_MUST_CHECK;
void irqchip_detach(struct irqchip *ic, struct bus *pio, struct bus *mmio);
/* Start the timer thread (fires PIT and LAPIC timers from host time). */
int irqchip_start_timers(struct irqchip *ic, struct vk_err *err) VK_MUST_CHECK;
/* Fire every timer due at `now`; returns the next deadline (INT64_MAX if
 * none). For tests and for accelerators that run timers themselves. */
int64_t irqchip_poll_timers(struct irqchip *ic, int64_t now);
/* Set the local APIC timer's input clock (before the guest runs). Guests
 * take it from CPUID 0x15's crystal frequency when that leaf exists (Linux
 * does, without calibrating), so the accelerator passes that value. */
void irqchip_set_apic_hz(struct irqchip *ic, uint64_t hz);
/* Wait until no hook call is in progress: after it returns, a hook that
 * starts reads whatever the caller stored before calling it. */
void irqchip_quiesce(struct irqchip *ic);
/* Machine reset: every chip to its power-on state. */
void irqchip_reset(struct irqchip *ic);

/* Drive GSI `gsi` (asserted = level != 0); see the wiring above. Out of
 * range GSIs are ignored. Any thread. */
void irqchip_set_irq(struct irqchip *ic, unsigned gsi, int level);
/* Deliver an MSI write (address 0xFEExxxxx, data). -EINVAL if the address
 * is not in the MSI window. Any thread. */
int irqchip_msi(struct irqchip *ic, uint64_t addr, uint32_t data);

/* ---- per vCPU (called on the vCPU's thread) ---------------------------- */

enum {
    LAPIC_EV_INTR = 1u << 0,   /* a maskable interrupt may be deliverable */
    LAPIC_EV_NMI  = 1u << 1,
    LAPIC_EV_INIT = 1u << 2,
    LAPIC_EV_SIPI = 1u << 3,
};

/* Bitmask of LAPIC_EV_* pending for `cpu`; lock-free, may be stale by the
 * time the caller acts (the take/ack calls below decide under the lock).
 * INTR ignores RFLAGS.IF: the CPU checks IF itself. */
unsigned lapic_pending(struct irqchip *ic, unsigned cpu);
/* Acknowledge the highest-priority deliverable maskable interrupt (the CPU
 * has IF=1 and no interrupt shadow): returns its vector, moving it from
 * IRR to ISR (or acknowledging the PIC for ExtINT), or -1 if nothing is
 * deliverable any more. */
int lapic_ack(struct irqchip *ic, unsigned cpu);
/* Consume a pending NMI; true if there was one. */
bool lapic_take_nmi(struct irqchip *ic, unsigned cpu);
/* Consume a pending INIT: resets the local APIC (keeping its ID and base)
 * and puts the vCPU in wait-for-SIPI. True if there was one: the caller
 * resets the CPU to its INIT state and stops executing. */
bool lapic_take_init(struct irqchip *ic, unsigned cpu);
/* Consume a pending SIPI: returns its vector (start at vector << 12 in real
 * mode) if the vCPU was waiting for SIPI, else -1 (ignored, as on hardware). */
int lapic_take_sipi(struct irqchip *ic, unsigned cpu);
/* True while the vCPU waits for SIPI (APs from power-on, any CPU after INIT). */
bool lapic_waiting_for_sipi(struct irqchip *ic, unsigned cpu);

/* IA32_APIC_BASE (MSR 0x1b) value: base | BSP(8) | EXTD(10) | EN(11). */
uint64_t lapic_get_base(struct irqchip *ic, unsigned cpu);
/* True if `gpa` lies in this vCPU's enabled xAPIC MMIO page. Lock-free. */
bool lapic_is_mmio(struct irqchip *ic, unsigned cpu, uint64_t gpa);
/* xAPIC MMIO page access; offset within the 4 KiB page, size 1..8. */
uint64_t lapic_mmio_read(struct irqchip *ic, unsigned cpu, uint64_t offset, unsigned size);
void lapic_mmio_write(struct irqchip *ic, unsigned cpu, uint64_t offset, uint64_t value,
                      unsigned size);
/* MSRs owned by the local APIC: 0x1b (APIC base), 0x6e0 (TSC deadline),
 * 0x800-0x8ff (x2APIC). Returns 0, -ENOENT for an MSR not owned here, or
 * -EINVAL when the access must raise #GP. */
int lapic_msr_read(struct irqchip *ic, unsigned cpu, uint32_t msr, uint64_t *value);
int lapic_msr_write(struct irqchip *ic, unsigned cpu, uint32_t msr, uint64_t value);
/* CR8 <-> TPR[7:4]. */
uint8_t lapic_get_cr8(struct irqchip *ic, unsigned cpu);
void lapic_set_cr8(struct irqchip *ic, unsigned cpu, uint8_t cr8);

#endif
