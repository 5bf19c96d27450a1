/* The software-CPU accelerator: struct accel_ops over src/cpu (cpu.h) and
 * the user-space irqchips (irqchip/irqchip.h).
 *
 * Threads (see docs/cpu-platform.md):
 *  - one host thread per vCPU (started by the machine) runs cpu_x86_run()
 *    in slices; port I/O and MMIO are dispatched straight from the CPU's
 *    callbacks to the machine's buses on that thread, so no vk_exit record
 *    is made per access (the generic loop only sees INTR/SHUTDOWN/FAIL);
 *  - the irqchip's timer thread fires PIT and LAPIC timers from host time.
 *    It (and devices raising lines, and other vCPUs sending IPIs) only sets
 *    IRR bits and calls our kick hook, which wakes a halted vCPU and, for
 *    NMI/INIT/SIPI, makes cpu_x86_run return so the event is handed over.
 *
 * Interrupt acceptance: the CPU asks irq_pending() at each block boundary
 * when IF=1; that is one atomic load unless the LAPIC has something, and
 * then lapic_ack() moves the vector to ISR (or does the PIC's INTA).
 *
 * HLT: cpu_x86_run returns STOP_HLT; the vCPU thread sleeps on its condvar
 * until the LAPIC has a wake-up event for it (an interrupt if IF=1; NMI,
 * INIT or SIPI always) or vcpu_kick asks it to return to the generic loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "irqchip/irqchip.h"
#include "machine.h"

/* Instructions per cpu_x86_run slice; kicks end a slice early anyway. */
#define TCG_SLICE 4000000

struct tcg_vm {
    struct irqchip *ic;
    struct cpu_x86_shared *shared;
    struct ram_region ram[MACHINE_MAX_RAM_REGIONS];
    unsigned nr_ram;
    int64_t tsc_epoch_ns;                /* host ns at guest TSC 0 */
    struct vcpu *vcpus[MACHINE_MAX_VCPUS];
};

struct tcg_vcpu {
    struct vcpu *v;
    struct machine *m;
    struct tcg_vm *vm;
    struct cpu_x86 *cpu;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_bool exit_req;                /* vcpu_kick: return VK_EXIT_INTR */
    uint64_t insns;                      /* retired, for statistics */
};

static struct tcg_vm *vm_of(struct machine *m) { return m->accel_state; }
static struct tcg_vcpu *vs_of(struct vcpu *v) { return v->accel_state; }

static int tcg_probe(struct vk_err *err)
{
    return 0;
}

/* ---- irqchip hooks --------------------------------------------------------- */

/* Called with the irqchip lock held, from any thread. */
static void hook_kick(void *opaque, unsigned cpu)
{
    struct tcg_vm *vm = opaque;
    struct vcpu *v = cpu < MACHINE_MAX_VCPUS ? vm->vcpus[cpu] : NULL;
    if (!v || !v->accel_state)
        return;
    struct tcg_vcpu *vs = vs_of(v);
    if (lapic_pending(vm->ic, cpu) & (LAPIC_EV_NMI | LAPIC_EV_INIT | LAPIC_EV_SIPI))
        cpu_x86_kick(vs->cpu);
    pthread_mutex_lock(&vs->lock);
    pthread_cond_signal(&vs->cond);
    pthread_mutex_unlock(&vs->lock);
}

static int64_t hook_tsc_to_ns(void *opaque, unsigned cpu, uint64_t tsc)
{
    struct tcg_vm *vm = opaque;
    if (tsc > (uint64_t)(INT64_MAX - vm->tsc_epoch_ns))
        return INT64_MAX - 1;
    return vm->tsc_epoch_ns + (int64_t)tsc;     /* 1 GHz TSC */
}

/* ---- VM ------------------------------------------------------------------ */

static int tcg_vm_init(struct machine *m, struct vk_err *err)
{
    struct tcg_vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return vk_err_set(err, -ENOMEM, "tcg: out of memory");
    m->accel_state = vm;
    vm->tsc_epoch_ns = vk_now_ns();
    vm->shared = cpu_x86_shared_create();
    if (!vm->shared)
        return vk_err_set(err, -ENOMEM, "tcg: out of memory");
    struct irqchip_hooks hooks = { .opaque = vm, .kick = hook_kick,
                                   .tsc_to_ns = hook_tsc_to_ns };
    int rc = irqchip_create(m->nr_vcpus ? m->nr_vcpus : 1, &hooks, &vm->ic, err);
    if (rc < 0)
        return rc;
    rc = irqchip_attach(vm->ic, &m->pio, &m->mmio, err);
    if (rc < 0) {
        irqchip_destroy(vm->ic);
        vm->ic = NULL;
        return rc;
    }
    return irqchip_start_timers(vm->ic, err);
}

static void tcg_vm_exit(struct machine *m)
{
    struct tcg_vm *vm = vm_of(m);
    if (!vm)
        return;
    if (vm->ic) {
        irqchip_detach(vm->ic, &m->pio, &m->mmio);
        irqchip_destroy(vm->ic);
    }
    if (vm->shared)
        cpu_x86_shared_destroy(vm->shared);
    free(vm);
    m->accel_state = NULL;
}

static void tcg_invalidate_code(struct machine *m, uint64_t gpa, uint64_t len)
{
    struct tcg_vm *vm = vm_of(m);
    if (vm && vm->shared)
        cpu_x86_invalidate_code(vm->shared, gpa, len);
}

static int tcg_map_ram(struct machine *m, uint64_t gpa, uint64_t size, void *hva,
                       struct vk_err *err)
{
    struct tcg_vm *vm = vm_of(m);
    if (vm->nr_ram == MACHINE_MAX_RAM_REGIONS)
        return vk_err_set(err, -ENOSPC, "tcg: too many RAM regions");
    vm->ram[vm->nr_ram++] = (struct ram_region){ gpa, size, hva };
    return 0;
}

static void tcg_set_irq(struct machine *m, unsigned gsi, int level)
{
    struct tcg_vm *vm = vm_of(m);
    if (vm && vm->ic)
        irqchip_set_irq(vm->ic, gsi, level);
}

static int tcg_signal_msi(struct machine *m, uint64_t addr, uint32_t data)
{
    struct tcg_vm *vm = vm_of(m);
    return vm && vm->ic ? irqchip_msi(vm->ic, addr, data) : -ENODEV;
}

/* ---- CPU callbacks (vCPU thread) ------------------------------------------ */

static uint8_t *cb_ram_ptr(void *o, uint64_t gpa, uint64_t len)
{
    struct tcg_vcpu *vs = o;
    const struct tcg_vm *vm = vs->vm;
    for (unsigned i = 0; i < vm->nr_ram; i++) {
        const struct ram_region *r = &vm->ram[i];
        if (gpa >= r->gpa && vk_range_ok(gpa - r->gpa, len, r->size))
            return r->hva + (gpa - r->gpa);
    }
    return NULL;
}

static uint64_t cb_mmio_read(void *o, uint64_t gpa, unsigned size)
{
    struct tcg_vcpu *vs = o;
    if (lapic_is_mmio(vs->vm->ic, vs->v->index, gpa))
        return lapic_mmio_read(vs->vm->ic, vs->v->index, gpa & 0xfff, size);
    uint64_t v;
    bus_read(&vs->m->mmio, gpa, size, &v);
    return v;
}

static void cb_mmio_write(void *o, uint64_t gpa, unsigned size, uint64_t value)
{
    struct tcg_vcpu *vs = o;
    if (lapic_is_mmio(vs->vm->ic, vs->v->index, gpa)) {
        lapic_mmio_write(vs->vm->ic, vs->v->index, gpa & 0xfff, value, size);
        return;
    }
    bus_write(&vs->m->mmio, gpa, size, value);
}

static uint32_t cb_pio_in(void *o, uint16_t port, unsigned size)
{
    struct tcg_vcpu *vs = o;
    uint64_t v;
    bus_read(&vs->m->pio, port, size, &v);
    return (uint32_t)v;
}

static void cb_pio_out(void *o, uint16_t port, unsigned size, uint32_t value)
{
    struct tcg_vcpu *vs = o;
    bus_write(&vs->m->pio, port, size, value);
}

static int cb_irq_pending(void *o)
{
    struct tcg_vcpu *vs = o;
    if (!(lapic_pending(vs->vm->ic, vs->v->index) & LAPIC_EV_INTR))
        return -1;
    /* The CPU acknowledges right after a non-negative answer, so the
     * acknowledge cycle happens here, atomically with the choice. */
    return lapic_ack(vs->vm->ic, vs->v->index);
}

static void cb_irq_ack(void *o, int vector)
{
}

static int cb_apic_read_msr(void *o, uint32_t msr, uint64_t *value)
{
    struct tcg_vcpu *vs = o;
    int rc = lapic_msr_read(vs->vm->ic, vs->v->index, msr, value);
    return rc == -ENOENT ? -EINVAL : rc;
}

static int cb_apic_write_msr(void *o, uint32_t msr, uint64_t value)
{
    struct tcg_vcpu *vs = o;
    int rc = lapic_msr_write(vs->vm->ic, vs->v->index, msr, value);
    return rc == -ENOENT ? -EINVAL : rc;
}

static uint8_t cb_get_cr8(void *o)
{
    struct tcg_vcpu *vs = o;
    return lapic_get_cr8(vs->vm->ic, vs->v->index);
}

static void cb_set_cr8(void *o, uint8_t cr8)
{
    struct tcg_vcpu *vs = o;
    lapic_set_cr8(vs->vm->ic, vs->v->index, cr8);
}

static uint64_t cb_tsc(void *o)
{
    struct tcg_vcpu *vs = o;
    return (uint64_t)(vk_now_ns() - vs->vm->tsc_epoch_ns);
}

/* ---- vCPU ------------------------------------------------------------------ */

static int tcg_vcpu_init(struct vcpu *v, struct vk_err *err)
{
    struct tcg_vm *vm = vm_of(v->m);
    struct tcg_vcpu *vs = calloc(1, sizeof(*vs));
    if (!vs)
        return vk_err_set(err, -ENOMEM, "tcg: out of memory");
    vs->v = v;
    vs->m = v->m;
    vs->vm = vm;
    pthread_mutex_init(&vs->lock, NULL);
    pthread_cond_init(&vs->cond, NULL);
    struct cpu_x86_env env = {
        .opaque = vs, .shared = vm->shared,
        .ram_ptr = cb_ram_ptr, .mmio_read = cb_mmio_read, .mmio_write = cb_mmio_write,
        .pio_in = cb_pio_in, .pio_out = cb_pio_out,
        .irq_pending = cb_irq_pending, .irq_ack = cb_irq_ack,
        .apic_read_msr = cb_apic_read_msr, .apic_write_msr = cb_apic_write_msr,
        .get_cr8 = cb_get_cr8, .set_cr8 = cb_set_cr8,
        .tsc = cb_tsc, .tsc_hz = 1000000000ULL,
    };
    vs->cpu = cpu_x86_create(&env, v->index);
    if (!vs->cpu) {
        pthread_cond_destroy(&vs->cond);
        pthread_mutex_destroy(&vs->lock);
        free(vs);
        return vk_err_set(err, -ENOMEM, "tcg: creating vCPU %u", v->index);
    }
    v->accel_state = vs;
    if (v->index < MACHINE_MAX_VCPUS)
        vm->vcpus[v->index] = v;
    if (v->index == 0) {
        /* The LAPIC timer counts at the CPUID 0x15 crystal frequency, which
         * is what guests (Linux) assume when that leaf is present. */
        uint32_t r[4];
        cpu_x86_cpuid(vs->cpu, 0, 0, r);
        if (r[0] >= 0x15) {
            cpu_x86_cpuid(vs->cpu, 0x15, 0, r);
            irqchip_set_apic_hz(vm->ic, r[2]);
        }
    }
    return 0;
}

static void tcg_vcpu_exit(struct vcpu *v)
{
    struct tcg_vcpu *vs = vs_of(v);
    if (!vs)
        return;
    struct tcg_vm *vm = vs->vm;
    if (vm && vm->ic) {
        /* The timer thread may still kick: unhook, then wait out a hook
         * call that may have read the old pointer. */
        vm->vcpus[v->index] = NULL;
        irqchip_quiesce(vm->ic);
    }
    if (getenv("VIRTKIT_TCG_STATS"))
        vk_info("vCPU %u: %llu guest instructions", v->index, (unsigned long long)vs->insns);
    cpu_x86_destroy(vs->cpu);
    pthread_cond_destroy(&vs->cond);
    pthread_mutex_destroy(&vs->lock);
    free(vs);
    v->accel_state = NULL;
}

static void tcg_vcpu_kick(struct vcpu *v)
{
    struct tcg_vcpu *vs = vs_of(v);
    if (!vs)
        return;
    atomic_store(&vs->exit_req, true);
    cpu_x86_kick(vs->cpu);
    pthread_mutex_lock(&vs->lock);
    pthread_cond_signal(&vs->cond);
    pthread_mutex_unlock(&vs->lock);
}

/* Hand NMI/INIT/SIPI from the LAPIC to the CPU. INIT is applied here, on
 * the vCPU thread between two runs (an INIT event posted to the CPU would
 * swallow a SIPI posted right after it); the SIPI that usually follows is
 * then posted to a CPU already waiting for it. */
static void transfer_events(struct tcg_vcpu *vs)
{
    struct irqchip *ic = vs->vm->ic;
    unsigned idx = vs->v->index;
    unsigned ev = lapic_pending(ic, idx);
    if (!(ev & (LAPIC_EV_NMI | LAPIC_EV_INIT | LAPIC_EV_SIPI)))
        return;
    if ((ev & LAPIC_EV_INIT) && lapic_take_init(ic, idx)) {
        cpu_x86_reset(vs->cpu, true);
        ev = lapic_pending(ic, idx);
    }
    if (ev & LAPIC_EV_SIPI) {
        int vec = lapic_take_sipi(ic, idx);
        if (vec >= 0)
            cpu_x86_post_event(vs->cpu, CPU_X86_EV_SIPI, (uint8_t)vec);
    }
    if ((ev & LAPIC_EV_NMI) && lapic_take_nmi(ic, idx))
        cpu_x86_post_event(vs->cpu, CPU_X86_EV_NMI, 0);
}

/* Sleep until something can wake a halted (or waiting-for-SIPI) CPU. */
static void wait_for_wakeup(struct tcg_vcpu *vs, bool wait_sipi)
{
    unsigned mask = LAPIC_EV_NMI | LAPIC_EV_INIT | LAPIC_EV_SIPI;
    if (!wait_sipi) {
        struct cpu_x86_regs r;
        cpu_x86_get_regs(vs->cpu, &r);
        if (r.rflags & 0x200)
            mask |= LAPIC_EV_INTR;
    }
    pthread_mutex_lock(&vs->lock);
    while (!atomic_load(&vs->exit_req) &&
           !(lapic_pending(vs->vm->ic, vs->v->index) & mask))
        pthread_cond_wait(&vs->cond, &vs->lock);
    pthread_mutex_unlock(&vs->lock);
}

static int tcg_vcpu_run(struct vcpu *v, struct vk_exit *exit)
{
    struct tcg_vcpu *vs = vs_of(v);
    struct cpu_x86_exit ce;
    memset(exit, 0, sizeof(*exit));
    for (;;) {
        if (atomic_exchange(&vs->exit_req, false)) {
            exit->reason = VK_EXIT_INTR;
            return 0;
        }
        transfer_events(vs);
        cpu_x86_run(vs->cpu, TCG_SLICE, &ce);
        vs->insns += ce.insns;
        switch (ce.reason) {
        case CPU_X86_STOP_BUDGET:
        case CPU_X86_STOP_KICK:
            break;
        case CPU_X86_STOP_HLT:
            wait_for_wakeup(vs, false);
            break;
        case CPU_X86_STOP_WAIT_SIPI:
            wait_for_wakeup(vs, true);
            break;
        case CPU_X86_STOP_SHUTDOWN:
            exit->reason = VK_EXIT_SHUTDOWN;
            return 0;
        case CPU_X86_STOP_ERROR:
        default:
            exit->reason = VK_EXIT_FAIL;
            snprintf(exit->fail, sizeof(exit->fail), "software CPU: %s", ce.msg);
            return 0;
        }
    }
}

/* ---- registers ------------------------------------------------------------ */

#define COPY_REGS(d, s) do {                                                      \
        (d)->rax = (s)->rax; (d)->rbx = (s)->rbx; (d)->rcx = (s)->rcx;            \
        (d)->rdx = (s)->rdx; (d)->rsi = (s)->rsi; (d)->rdi = (s)->rdi;            \
        (d)->rsp = (s)->rsp; (d)->rbp = (s)->rbp; (d)->r8 = (s)->r8;              \
        (d)->r9 = (s)->r9; (d)->r10 = (s)->r10; (d)->r11 = (s)->r11;              \
        (d)->r12 = (s)->r12; (d)->r13 = (s)->r13; (d)->r14 = (s)->r14;            \
        (d)->r15 = (s)->r15; (d)->rip = (s)->rip; (d)->rflags = (s)->rflags;      \
    } while (0)

#define COPY_SEG(D_, S_) do {                                                     \
        (D_).base = (S_).base; (D_).limit = (S_).limit;                           \
        (D_).selector = (S_).selector; (D_).type = (S_).type;                     \
        (D_).present = (S_).present; (D_).dpl = (S_).dpl; (D_).db = (S_).db;      \
        (D_).s = (S_).s; (D_).l = (S_).l; (D_).g = (S_).g; (D_).avl = (S_).avl;   \
        (D_).unusable = (S_).unusable;                                            \
    } while (0)

#define COPY_SREGS(d, s) do {                                                     \
        COPY_SEG((d)->cs, (s)->cs); COPY_SEG((d)->ds, (s)->ds);                   \
        COPY_SEG((d)->es, (s)->es); COPY_SEG((d)->fs, (s)->fs);                   \
        COPY_SEG((d)->gs, (s)->gs); COPY_SEG((d)->ss, (s)->ss);                   \
        COPY_SEG((d)->tr, (s)->tr); COPY_SEG((d)->ldt, (s)->ldt);                 \
        (d)->gdt.base = (s)->gdt.base; (d)->gdt.limit = (s)->gdt.limit;           \
        (d)->idt.base = (s)->idt.base; (d)->idt.limit = (s)->idt.limit;           \
        (d)->cr0 = (s)->cr0; (d)->cr2 = (s)->cr2; (d)->cr3 = (s)->cr3;            \
        (d)->cr4 = (s)->cr4; (d)->cr8 = (s)->cr8; (d)->efer = (s)->efer;          \
        (d)->apic_base = (s)->apic_base;                                          \
    } while (0)

static int tcg_get_regs(struct vcpu *v, struct vk_regs *r)
{
    struct cpu_x86_regs c;
    cpu_x86_get_regs(vs_of(v)->cpu, &c);
    COPY_REGS(r, &c);
    return 0;
}

static int tcg_set_regs(struct vcpu *v, const struct vk_regs *r)
{
    struct cpu_x86_regs c;
    COPY_REGS(&c, r);
    cpu_x86_set_regs(vs_of(v)->cpu, &c);
    return 0;
}

static int tcg_get_sregs(struct vcpu *v, struct vk_sregs *s)
{
    struct tcg_vcpu *vs = vs_of(v);
    struct cpu_x86_sregs c;
    cpu_x86_get_sregs(vs->cpu, &c);
    COPY_SREGS(s, &c);
    s->apic_base = lapic_get_base(vs->vm->ic, v->index);
    s->cr8 = lapic_get_cr8(vs->vm->ic, v->index);
    return 0;
}

static int tcg_set_sregs(struct vcpu *v, const struct vk_sregs *s)
{
    struct tcg_vcpu *vs = vs_of(v);
    struct cpu_x86_sregs c;
    COPY_SREGS(&c, s);
    int rc = cpu_x86_set_sregs(vs->cpu, &c);
    if (rc < 0)
        return rc;
    if (s->apic_base && s->apic_base != lapic_get_base(vs->vm->ic, v->index))
        lapic_msr_write(vs->vm->ic, v->index, 0x1b, s->apic_base);
    lapic_set_cr8(vs->vm->ic, v->index, (uint8_t)s->cr8);
    return 0;
}

static int tcg_set_msr(struct vcpu *v, uint32_t index, uint64_t value)
{
    struct tcg_vcpu *vs = vs_of(v);
    int rc = lapic_msr_write(vs->vm->ic, v->index, index, value);
    if (rc != -ENOENT)
        return rc;
    return cpu_x86_set_msr(vs->cpu, index, value);
}

static int tcg_vcpu_reset(struct vcpu *v)
{
    cpu_x86_reset(vs_of(v)->cpu, false);
    return 0;
}

const struct accel_ops accel_tcg = {
    .name = "tcg",
    .probe = tcg_probe,
    .vm_init = tcg_vm_init,
    .invalidate_code = tcg_invalidate_code,
    .vm_exit = tcg_vm_exit,
    .map_ram = tcg_map_ram,
    .set_irq = tcg_set_irq,
    .signal_msi = tcg_signal_msi,
    .vcpu_init = tcg_vcpu_init,
    .vcpu_exit = tcg_vcpu_exit,
    .vcpu_run = tcg_vcpu_run,
    .vcpu_kick = tcg_vcpu_kick,
    .get_regs = tcg_get_regs,
    .set_regs = tcg_set_regs,
    .get_sregs = tcg_get_sregs,
    .set_sregs = tcg_set_sregs,
    .set_msr = tcg_set_msr,
    .vcpu_reset = tcg_vcpu_reset,
};
