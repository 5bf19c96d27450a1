/* The software x86-64 CPU: an interpreter with a decoded-block cache.
 *
 * One `struct cpu_x86` is one vCPU. All calls on a vCPU come from the thread
 * that runs it, except cpu_x86_kick() and cpu_x86_post_event(), which any
 * thread may call. vCPUs of one machine share a `struct cpu_x86_shared`
 * (code-page tracking for self-modifying code and DMA invalidation).
 *
 * The CPU never calls exit/abort on guest input: a guest fault becomes an
 * architectural exception; what cannot be emulated ends cpu_x86_run() with
 * CPU_X86_STOP_ERROR and a message.
 */
#ifndef VK_CPU_H
#define VK_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cpu_x86;
struct cpu_x86_shared;

/* Callbacks into the machine. All are called on the vCPU's thread, from
 * inside cpu_x86_run(); `opaque` is env->opaque. */
struct cpu_x86_env {
    void *opaque;
    /* Shared state of the machine's vCPUs (cpu_x86_shared_create). NULL:
     * the vCPU creates a private one (single vCPU, tests). */
    struct cpu_x86_shared *shared;

    /* Host pointer for guest-physical [gpa, gpa+len) when that range is
     * ordinary RAM contiguous in host memory, else NULL (MMIO or hole).
     * The CPU calls it with page-aligned gpa and len = 4096 and caches the
     * result in its TLB, so RAM mappings must not move while vCPUs run. */
    uint8_t *(*ram_ptr)(void *opaque, uint64_t gpa, uint64_t len);
    /* MMIO outside RAM; size 1, 2, 4 or 8. Reads return the value
     * zero-extended (all ones when nobody claims the address). */
    uint64_t (*mmio_read)(void *opaque, uint64_t gpa, unsigned size);
    void (*mmio_write)(void *opaque, uint64_t gpa, unsigned size, uint64_t value);
    /* Port I/O; size 1, 2 or 4. */
    uint32_t (*pio_in)(void *opaque, uint16_t port, unsigned size);
    void (*pio_out)(void *opaque, uint16_t port, unsigned size, uint32_t value);

    /* Maskable external interrupts (LAPIC/PIC). irq_pending returns the
     * vector the CPU would take now, or -1; it is called only when RFLAGS.IF
     * is set and no interrupt shadow is active. irq_ack(vector) is called
     * once the CPU commits to delivering it (LAPIC: IRR -> ISR; PIC: INTA). */
    int (*irq_pending)(void *opaque);
    void (*irq_ack)(void *opaque, int vector);

    /* APIC MSRs: IA32_APIC_BASE (0x1b) and the x2APIC range 0x800-0x8ff.
     * Return 0, or -errno to make the guest's RDMSR/WRMSR raise #GP.
     * NULL: APIC_BASE is plain storage and x2APIC MSRs #GP. */
    int (*apic_read_msr)(void *opaque, uint32_t msr, uint64_t *value);
    int (*apic_write_msr)(void *opaque, uint32_t msr, uint64_t value);
    /* CR8 <-> LAPIC TPR (CR8 = TPR[7:4]). NULL: CR8 is plain storage. */
    uint8_t (*get_cr8)(void *opaque);
    void (*set_cr8)(void *opaque, uint8_t cr8);

    /* Time stamp counter source in guest ticks. NULL: host monotonic time
     * scaled to tsc_hz. */
    uint64_t (*tsc)(void *opaque);
    uint64_t tsc_hz;            /* advertised TSC frequency; 0 = 1 GHz */
};

/* Why cpu_x86_run() returned. */
enum cpu_x86_stop {
    CPU_X86_STOP_BUDGET,     /* max_insns executed */
    CPU_X86_STOP_HLT,        /* halted; waiting for an interrupt or event.
                              * Call cpu_x86_run again after a wake-up: it
                              * returns HLT at once while nothing is pending */
    CPU_X86_STOP_WAIT_SIPI,  /* AP in wait-for-SIPI state after INIT */
    CPU_X86_STOP_KICK,       /* cpu_x86_kick() was called */
    CPU_X86_STOP_SHUTDOWN,   /* triple fault: the machine should reset */
    CPU_X86_STOP_ERROR,      /* internal error: message in exit->msg */
};

struct cpu_x86_exit {
    enum cpu_x86_stop reason;
    uint64_t insns;          /* instructions retired by this call */
    char msg[256];
};

/* Register state; field-for-field the same as struct vk_regs / vk_sregs in
 * src/vm/accel.h so an adapter can copy member by member. */
struct cpu_x86_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
};

struct cpu_x86_segment {
    uint64_t base;
    uint32_t limit;          /* byte granular (already scaled by G) */
    uint16_t selector;
    uint8_t type, present, dpl, db, s, l, g, avl, unusable;
};

struct cpu_x86_dtable { uint64_t base; uint16_t limit; };

struct cpu_x86_sregs {
    struct cpu_x86_segment cs, ds, es, fs, gs, ss, tr, ldt;
    struct cpu_x86_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

/* Events other threads post to a vCPU (then it is kicked). */
enum {
    CPU_X86_EV_NMI  = 1u << 0,
    CPU_X86_EV_INIT = 1u << 1,
    CPU_X86_EV_SIPI = 1u << 2,   /* vector given to cpu_x86_post_event */
    CPU_X86_EV_SMI  = 1u << 3,   /* accepted and ignored (no SMM) */
    CPU_X86_EV_IRQ  = 1u << 4,   /* "re-check irq_pending": wakes HLT */
};

struct cpu_x86_shared *cpu_x86_shared_create(void);
void cpu_x86_shared_destroy(struct cpu_x86_shared *sh);

/* `index` is the vCPU number (0 = BSP); it becomes the initial APIC ID
 * reported by CPUID. Returns NULL on allocation failure. env is copied. */
struct cpu_x86 *cpu_x86_create(const struct cpu_x86_env *env, unsigned index);
void cpu_x86_destroy(struct cpu_x86 *cpu);
/* Power-on reset (init_only = false) or INIT (init_only = true: keeps
 * caches, MSRs such as MTRRs/PAT/APIC base and x87/SSE state). After
 * either, index 0 starts at F000:FFF0 and APs wait for SIPI (a machine
 * booting an AP directly calls cpu_x86_set_* afterwards, which clears the
 * wait state). */
void cpu_x86_reset(struct cpu_x86 *cpu, bool init_only);

/* Run up to max_insns instructions. Returns 0 and fills *exit. */
int cpu_x86_run(struct cpu_x86 *cpu, uint64_t max_insns, struct cpu_x86_exit *exit);
/* Make a running (or the next) cpu_x86_run return CPU_X86_STOP_KICK soon. */
void cpu_x86_kick(struct cpu_x86 *cpu);
/* Post CPU_X86_EV_* events (any thread); `sipi_vector` for EV_SIPI. Also
 * kicks the vCPU. */
void cpu_x86_post_event(struct cpu_x86 *cpu, unsigned events, uint8_t sipi_vector);
/* True when halted (HLT or wait-for-SIPI). */
bool cpu_x86_halted(const struct cpu_x86 *cpu);

void cpu_x86_get_regs(const struct cpu_x86 *cpu, struct cpu_x86_regs *r);
void cpu_x86_set_regs(struct cpu_x86 *cpu, const struct cpu_x86_regs *r);
void cpu_x86_get_sregs(const struct cpu_x86 *cpu, struct cpu_x86_sregs *s);
/* Returns 0 or -EINVAL for inconsistent state (e.g. LMA without PG). */
int cpu_x86_set_sregs(struct cpu_x86 *cpu, const struct cpu_x86_sregs *s);
/* 0, or -EINVAL for an MSR the CPU does not implement. */
int cpu_x86_get_msr(struct cpu_x86 *cpu, uint32_t index, uint64_t *value);
int cpu_x86_set_msr(struct cpu_x86 *cpu, uint32_t index, uint64_t value);

/* Guest RAM [gpa, gpa+len) was written behind the CPU's back (device DMA):
 * drop decoded blocks made from it. Any thread. */
void cpu_x86_invalidate_code(struct cpu_x86_shared *sh, uint64_t gpa, uint64_t len);

/* CPUID as the guest sees it (for the machine's ACPI/MP tables and tests). */
void cpu_x86_cpuid(const struct cpu_x86 *cpu, uint32_t leaf, uint32_t subleaf,
                   uint32_t out[4]);
/* Name of the CPU model advertised. */
extern const char cpu_x86_model_name[];

#endif
