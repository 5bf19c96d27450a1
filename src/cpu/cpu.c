/* vCPU lifecycle, register access and the run loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cpu_int.h"

static uint8_t *null_ram(void *o, uint64_t gpa, uint64_t len) { return NULL; }

struct cpu_x86 *cpu_x86_create(const struct cpu_x86_env *env, unsigned index)
{
    struct cpu_x86 *cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
    if (!cpu)
        return NULL;
    memset(cpu, 0, sizeof(*cpu));
    cpu->env = *env;
    if (!cpu->env.ram_ptr)
        cpu->env.ram_ptr = null_ram;
    if (!cpu->env.tsc_hz)
        cpu->env.tsc_hz = 1000000000ull;
    cpu->index = index;
    {
        const char *t = getenv("VIRTKIT_CPU_TRACE");   /* 1: events, 2: + blocks */
        cpu->trace = t ? (uint8_t)atoi(t) : 0;
    }
    cpu->shared = env->shared;
    if (!cpu->shared) {
        cpu->shared = cpu_x86_shared_create();
        cpu->own_shared = true;
    }
    if (cpu->shared) {
        cpu->code_epoch_ptr = cpu_shared_code_epoch_ptr(cpu->shared);
        cpu->write_epoch_ptr = cpu_shared_write_epoch_ptr(cpu->shared);
    }
    if (!cpu->shared || cpu_block_cache_init(cpu) < 0) {
        cpu_x86_destroy(cpu);
        return NULL;
    }
    cpu_x86_reset(cpu, false);
    cpu->prof = cpu_prof_start(cpu);
    return cpu;
}

void cpu_x86_destroy(struct cpu_x86 *cpu)
{
    if (!cpu)
        return;
    cpu_prof_stop(cpu->prof);
    if (getenv("VIRTKIT_CPU_STATS"))
        fprintf(stderr, "cpu%u: %llu block runs, %llu jump-cache misses, %llu blocks decoded, "
                "%llu translated, %llu cache drops, %llu TLB flushes; chains end: stop %llu, page %llu, "
                "length %llu, no link %llu; write epochs %llu\n", cpu->index,
                (unsigned long long)cpu->st.blocks, (unsigned long long)cpu->st.jc_miss,
                (unsigned long long)cpu->st.decoded, (unsigned long long)cpu->st.translated,
                (unsigned long long)cpu->st.flushes, (unsigned long long)cpu->st.tlb_flush,
                (unsigned long long)cpu->st.end_stop, (unsigned long long)cpu->st.end_page,
                (unsigned long long)cpu->st.end_n, (unsigned long long)cpu->st.end_link,
                (unsigned long long)cpu->seen_write_epoch);
    cpu_block_cache_free(cpu);
    if (cpu->own_shared)
        cpu_x86_shared_destroy(cpu->shared);
    free(cpu);
}

void cpu_x86_reset(struct cpu_x86 *cpu, bool init_only)
{
    memset(cpu->r, 0, sizeof(cpu->r));
    cpu->r[R_DX] = 0x600 | 0x63;   /* family 6 stepping */
    cpu->eflags = 2;
    cpu_set_arith_flags(cpu, 0);
    cpu->rip = 0xfff0;
    for (unsigned s = 0; s < 6; s++) {
        cpu->seg[s].sel = 0;
        cpu->seg[s].base = 0;
        cpu->seg[s].limit = 0xffff;
        cpu->seg[s].flags = SEGF_P | SEGF_S | 3;
    }
    cpu->seg[S_CS].sel = 0xf000;
    cpu->seg[S_CS].base = 0xffff0000;
    cpu->seg[S_CS].flags = SEGF_P | SEGF_S | 0xb;
    cpu->seg[S_LDTR] = (struct cpu_seg){ 0, 0xffff, 0, SEGF_P | 2 };
    cpu->seg[S_TR] = (struct cpu_seg){ 0, 0xffff, 0, SEGF_P | 0xb };
    cpu->gdt.base = cpu->idt.base = 0;
    cpu->gdt.limit = cpu->idt.limit = 0xffff;
    cpu->cr0 = CR0_ET | CR0_NW | CR0_CD;
    cpu->cr2 = cpu->cr3 = cpu->cr4 = cpu->cr8 = 0;
    cpu->efer = 0;
    memset(cpu->dr, 0, sizeof(cpu->dr));
    cpu->dr[6] = 0xffff0ff0;
    cpu->dr[7] = 0x400;
    cpu->inhibit_irq = 0;
    cpu->nmi_blocked = false;
    cpu->in_delivery = 0;
    cpu->halted = cpu->index ? 2 : 0;
    if (!init_only) {
        cpu->pat = 0x0007040600070406ull;
        cpu->apic_base = 0xfee00000ull | (1u << 11) | (cpu->index ? 0 : (1u << 8));
        cpu->mtrr_def = 0x806;   /* MTRRs on, default WB (what firmware sets up) */
        memset(cpu->mtrr_fixed, 0, sizeof(cpu->mtrr_fixed));
        memset(cpu->mtrr_var, 0, sizeof(cpu->mtrr_var));
        cpu->misc_enable = 1;   /* fast strings */
        cpu->star = cpu->lstar = cpu->cstar = cpu->sfmask = cpu->kernel_gs_base = 0;
        cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
        cpu->tsc_aux = 0;
        cpu->tsc_offset = 0;
        cpu->tsc_adjust = 0;
        cpu_fpu_reset(cpu);
    }
    cpu->xcr0 = 1;
    cpu_update_mode(cpu);
    cpu_tlb_flush(cpu, true);
}

void cpu_x86_kick(struct cpu_x86 *cpu)
{
    atomic_store_explicit(&cpu->kick, 1, memory_order_release);
}

void cpu_x86_post_event(struct cpu_x86 *cpu, unsigned events, uint8_t sipi_vector)
{
    if (events & CPU_X86_EV_SIPI)
        atomic_store(&cpu->sipi_vector, sipi_vector);
    atomic_fetch_or(&cpu->events, events);
    cpu_x86_kick(cpu);
}

bool cpu_x86_halted(const struct cpu_x86 *cpu)
{
    return cpu->halted != 0;
}

/* ---- registers ------------------------------------------------------------ */

void cpu_x86_get_regs(const struct cpu_x86 *cpu, struct cpu_x86_regs *r)
{
    r->rax = cpu->r[R_AX]; r->rbx = cpu->r[R_BX]; r->rcx = cpu->r[R_CX];
    r->rdx = cpu->r[R_DX]; r->rsi = cpu->r[R_SI]; r->rdi = cpu->r[R_DI];
    r->rsp = cpu->r[R_SP]; r->rbp = cpu->r[R_BP];
    r->r8 = cpu->r[8]; r->r9 = cpu->r[9]; r->r10 = cpu->r[10]; r->r11 = cpu->r[11];
    r->r12 = cpu->r[12]; r->r13 = cpu->r[13]; r->r14 = cpu->r[14]; r->r15 = cpu->r[15];
    r->rip = cpu->rip;
    r->rflags = cpu_flags((struct cpu_x86 *)cpu);
}

void cpu_x86_set_regs(struct cpu_x86 *cpu, const struct cpu_x86_regs *r)
{
    cpu->r[R_AX] = r->rax; cpu->r[R_BX] = r->rbx; cpu->r[R_CX] = r->rcx;
    cpu->r[R_DX] = r->rdx; cpu->r[R_SI] = r->rsi; cpu->r[R_DI] = r->rdi;
    cpu->r[R_SP] = r->rsp; cpu->r[R_BP] = r->rbp;
    cpu->r[8] = r->r8; cpu->r[9] = r->r9; cpu->r[10] = r->r10; cpu->r[11] = r->r11;
    cpu->r[12] = r->r12; cpu->r[13] = r->r13; cpu->r[14] = r->r14; cpu->r[15] = r->r15;
    cpu->rip = r->rip;
    cpu->eflags = 2;
    cpu_set_flags(cpu, r->rflags, ~0ull);
    cpu_update_mode(cpu);
    if (cpu->halted == 2)
        cpu->halted = 0;
}

static void seg_out(const struct cpu_seg *s, struct cpu_x86_segment *o)
{
    o->base = s->base;
    o->limit = s->limit;
    o->selector = s->sel;
    o->type = SEGF_TYPE(s->flags);
    o->s = !!(s->flags & SEGF_S);
    o->dpl = SEGF_DPL(s->flags);
    o->present = !!(s->flags & SEGF_P);
    o->avl = !!(s->flags & SEGF_AVL);
    o->l = !!(s->flags & SEGF_L);
    o->db = !!(s->flags & SEGF_DB);
    o->g = !!(s->flags & SEGF_G);
    o->unusable = !o->present;
}

static void seg_in(struct cpu_seg *s, const struct cpu_x86_segment *o)
{
    s->base = o->base;
    s->limit = o->limit;
    s->sel = o->selector;
    s->flags = (uint16_t)((o->type & 0xf) | (o->s ? SEGF_S : 0) | ((o->dpl & 3) << 5) |
                          (o->present && !o->unusable ? SEGF_P : 0) | (o->avl ? SEGF_AVL : 0) |
                          (o->l ? SEGF_L : 0) | (o->db ? SEGF_DB : 0) | (o->g ? SEGF_G : 0));
}

void cpu_x86_get_sregs(const struct cpu_x86 *cpu, struct cpu_x86_sregs *s)
{
    seg_out(&cpu->seg[S_CS], &s->cs); seg_out(&cpu->seg[S_DS], &s->ds);
    seg_out(&cpu->seg[S_ES], &s->es); seg_out(&cpu->seg[S_FS], &s->fs);
    seg_out(&cpu->seg[S_GS], &s->gs); seg_out(&cpu->seg[S_SS], &s->ss);
    seg_out(&cpu->seg[S_TR], &s->tr); seg_out(&cpu->seg[S_LDTR], &s->ldt);
    s->gdt.base = cpu->gdt.base; s->gdt.limit = cpu->gdt.limit;
    s->idt.base = cpu->idt.base; s->idt.limit = cpu->idt.limit;
    s->cr0 = cpu->cr0; s->cr2 = cpu->cr2; s->cr3 = cpu->cr3; s->cr4 = cpu->cr4;
    s->cr8 = cpu->env.get_cr8 ? cpu->env.get_cr8(cpu->env.opaque) : cpu->cr8;
    s->efer = cpu->efer;
    s->apic_base = cpu->apic_base;
}

int cpu_x86_set_sregs(struct cpu_x86 *cpu, const struct cpu_x86_sregs *s)
{
    if ((s->efer & EFER_LMA) && !(s->cr0 & CR0_PG))
        return -EINVAL;
    seg_in(&cpu->seg[S_CS], &s->cs); seg_in(&cpu->seg[S_DS], &s->ds);
    seg_in(&cpu->seg[S_ES], &s->es); seg_in(&cpu->seg[S_FS], &s->fs);
    seg_in(&cpu->seg[S_GS], &s->gs); seg_in(&cpu->seg[S_SS], &s->ss);
    seg_in(&cpu->seg[S_TR], &s->tr); seg_in(&cpu->seg[S_LDTR], &s->ldt);
    /* real mode segments are always usable */
    if (!(s->cr0 & CR0_PE))
        for (unsigned i = 0; i < 6; i++)
            cpu->seg[i].flags |= SEGF_P;
    cpu->gdt.base = s->gdt.base; cpu->gdt.limit = s->gdt.limit;
    cpu->idt.base = s->idt.base; cpu->idt.limit = s->idt.limit;
    cpu->cr0 = s->cr0 | CR0_ET; cpu->cr2 = s->cr2; cpu->cr3 = s->cr3; cpu->cr4 = s->cr4;
    cpu->cr8 = s->cr8 & 15;
    if (cpu->env.set_cr8)
        cpu->env.set_cr8(cpu->env.opaque, (uint8_t)(s->cr8 & 15));
    cpu->efer = s->efer;
    if (s->apic_base && cpu->apic_base != s->apic_base) {
        if (cpu->env.apic_write_msr)
            cpu->env.apic_write_msr(cpu->env.opaque, 0x1b, s->apic_base);
        cpu->apic_base = s->apic_base;
    }
    cpu_update_mode(cpu);
    cpu_tlb_flush(cpu, true);
    if (cpu->halted == 2)
        cpu->halted = 0;
    return 0;
}

int cpu_x86_get_msr(struct cpu_x86 *cpu, uint32_t index, uint64_t *value)
{
    return cpu_msr_read(cpu, index, value);
}

int cpu_x86_set_msr(struct cpu_x86 *cpu, uint32_t index, uint64_t value)
{
    return cpu_msr_write(cpu, index, value);
}

void cpu_x86_cpuid(const struct cpu_x86 *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    cpu_cpuid_fill(cpu, leaf, subleaf, out);
}

/* ---- run loop ---------------------------------------------------------- */

static bool class_contributory(int v)
{
    return v == EXC_DE || (v >= EXC_TS && v <= EXC_GP);
}

/* Called after a longjmp with an exception recorded in cpu->exc_*. */
static void take_exception(struct cpu_x86 *cpu)
{
    int v = cpu->exc_vector;
    bool has_err = cpu->exc_has_error && cpu_exc_has_error(v);
    uint32_t err = cpu->exc_error;

    if (!cpu->exc_soft)
        cpu->rip = cpu->insn_rip;
    if (cpu->trap_exceptions) {
        cpu->trapped_vector = v;
        snprintf(cpu->errmsg, sizeof(cpu->errmsg), "exception %d (error %#x)", v, err);
        cpu->stop = CPU_X86_STOP_ERROR;
        return;
    }
    if (cpu->in_delivery) {
        int first = cpu->exc_first;
        if (first == EXC_DF) {
            cpu->stop = CPU_X86_STOP_SHUTDOWN;
            return;
        }
        if ((class_contributory(first) && class_contributory(v)) ||
            (first == EXC_PF && (class_contributory(v) || v == EXC_PF))) {
            v = EXC_DF;
            has_err = true;
            err = 0;
        }
    }
    if (cpu->trace)
        fprintf(stderr, "cpu%u: exception %d err %#x at %04x:%llx\n", cpu->index, v, err,
                cpu->seg[S_CS].sel, (unsigned long long)cpu->rip);
    cpu->in_delivery = 1;
    cpu->exc_first = v;
    if (!cpu_pe(cpu))
        has_err = false;
    cpu_deliver(cpu, v, has_err, err, cpu->exc_soft, cpu->in_delivery_ext);
    cpu->in_delivery = 0;
    cpu->in_delivery_ext = false;
}

/* Pending events and interrupts at an instruction boundary. Returns true if
 * the vCPU can run. */
static bool check_events(struct cpu_x86 *cpu)
{
    unsigned ev = atomic_load_explicit(&cpu->events, memory_order_acquire);

    if (ev) {
        if (cpu->trace)
            fprintf(stderr, "cpu%u: events %#x halted %u\n", cpu->index, ev, cpu->halted);
        if (ev & CPU_X86_EV_INIT) {
            atomic_fetch_and(&cpu->events, ~(unsigned)(CPU_X86_EV_INIT | CPU_X86_EV_SIPI));
            cpu_x86_reset(cpu, true);
            cpu->halted = 2;
            return false;
        }
        if (ev & CPU_X86_EV_SIPI) {
            atomic_fetch_and(&cpu->events, ~(unsigned)CPU_X86_EV_SIPI);
            if (cpu->halted == 2) {
                uint8_t vec = atomic_load(&cpu->sipi_vector);
                cpu->halted = 0;
                cpu->seg[S_CS].sel = (uint16_t)(vec << 8);
                cpu->seg[S_CS].base = (uint64_t)vec << 12;
                cpu->rip = 0;
                cpu_update_mode(cpu);
            }
        }
        if (ev & CPU_X86_EV_SMI)
            atomic_fetch_and(&cpu->events, ~(unsigned)CPU_X86_EV_SMI);
        if (ev & CPU_X86_EV_IRQ)
            atomic_fetch_and(&cpu->events, ~(unsigned)CPU_X86_EV_IRQ);
        if (cpu->halted == 2)
            return false;
        if ((ev & CPU_X86_EV_NMI) && !cpu->nmi_blocked && !cpu->inhibit_irq) {
            atomic_fetch_and(&cpu->events, ~(unsigned)CPU_X86_EV_NMI);
            cpu->halted = 0;
            cpu->nmi_blocked = true;
            cpu->insn_rip = cpu->rip;
            cpu->in_delivery = 1;
            cpu->exc_first = EXC_NMI;
            cpu->in_delivery_ext = true;
            cpu_deliver(cpu, EXC_NMI, false, 0, false, true);
            cpu->in_delivery = 0;
            cpu->in_delivery_ext = false;
        }
    }
    if (cpu->halted == 2)
        return false;
    if (cpu->inhibit_irq) {
        /* STI / MOV SS shadow: one instruction, then look again */
        cpu->inhibit_irq = 0;
        cpu->step_one = true;
        cpu->poll_now = true;   /* the window opens after that instruction */
    } else if ((cpu->eflags & F_IF) && cpu->env.irq_pending) {
        int vec = cpu->env.irq_pending(cpu->env.opaque);
        if (vec >= 0) {
            if (cpu->env.irq_ack)
                cpu->env.irq_ack(cpu->env.opaque, vec);
            cpu->halted = 0;
            cpu->insn_rip = cpu->rip;
            cpu->in_delivery = 1;
            cpu->exc_first = vec;
            cpu->in_delivery_ext = true;
            cpu_deliver(cpu, vec & 0xff, false, 0, false, true);
            cpu->in_delivery = 0;
            cpu->in_delivery_ext = false;
        }
    }
    return !cpu->halted;
}

/* Translated block `from` left through static exit k (or k < 0) to `to`,
 * both in one linear page (the caller checked): let the code jump there. */
static inline void link(struct cpu_x86 *cpu, struct cpu_block *from, int k, struct cpu_block *to,
                        uint64_t lin)
{
    if (k >= 0 && from->jit && to->jit && to->jit_user == from->jit_user &&
        (cpu->jit_links & (((from->lin ^ lin) >> 12) ? 2 : 1))) {
        struct cpu_link *l = &from->link[k];
        l->code = to->jit_body;
        l->gen = cpu->jit_link_gen;
        l->lin = lin;
        l->te = cpu_tlb_slot(cpu, lin, ACC_X);
        l->host = to->host_page;
    }
}

static void exec_block(struct cpu_x86 *cpu)
{
    /* the block executed just before, if it ended normally in this page */
    struct cpu_block *from = cpu->chain_from;
    cpu->chain_from = NULL;
    uint64_t lin = cpu->code64 ? cpu->rip : (uint32_t)(cpu->seg[S_CS].base + cpu->rip);
    unsigned h = (unsigned)(lin ^ (lin >> 11)) & (CPU_JC_SIZE - 1);
    struct cpu_block *b = cpu->jc[h].b;
    struct cpu_tlb_entry *te = cpu_tlb_slot(cpu, lin, ACC_X);

    /* a fault while fetching/decoding belongs to the instruction at RIP */
    cpu->insn_rip = cpu->rip;
    uint64_t we = atomic_load_explicit(cpu->write_epoch_ptr, memory_order_acquire);

    /* any code write anywhere: drop the jump cache, so blocks are looked
     * up again (with the generation check in cpu_block_get) */
    if (__builtin_expect(we != cpu->seen_write_epoch, 0)) {
        cpu->seen_write_epoch = we;
        cpu->jit_link_gen++;   /* translated code may link to stale blocks */
        memset(cpu->jc, 0, sizeof(cpu->jc));
        b = NULL;
    }
    /* hit: same linear address, same decode mode, and the TLB (for this
     * privilege class) still maps the page, executable, to the same RAM */
    if (!(b && cpu->jc[h].lin == lin && b->mode == cpu_decode_mode(cpu) &&
          te->tag_x == ((lin & ~0xfffull) | cpu->tlb_epoch) && te->host == b->host_page)) {
        unsigned flushes = cpu->bc_flushes;
        cpu->st.jc_miss++;
        b = cpu_block_get(cpu, lin);
        if (cpu->bc_flushes != flushes)
            from = NULL;   /* it pointed into the dropped arena */
        if (b->page) {
            cpu->jc[h].lin = lin;
            cpu->jc[h].b = b;
        }
    }
    if (__builtin_expect(cpu->trace >= 2, 0))
        fprintf(stderr, "cpu%u: block %04x:%llx lin %llx phys %llx mode %u cpl %u n %u fl %llx\n",
                cpu->index, cpu->seg[S_CS].sel, (unsigned long long)cpu->rip,
                (unsigned long long)lin, (unsigned long long)b->phys, b->mode, cpu->cpl,
                b->ninsns, (unsigned long long)cpu_flags(cpu));
    const struct cpu_insn *in = b->insns, *end = b->insns + b->ninsns;
    if (__builtin_expect(cpu->step_one, 0)) {
        cpu->step_one = false;
        end = in + 1;
    } else if (__builtin_expect(cpu->eflags & F_TF, 0)) {
        /* single-step: one instruction, then a #DB trap. SYSCALL/SYSRET
         * look at TF as it is after them, everything else before. */
        bool before = true;
        cpu->insn_rip = cpu->rip;
        cpu->rip += in->len;
        in->fn(cpu, in);
        cpu->retired++;
        if (in->fn == op_syscall || in->fn == op_sysret)
            before = false;   /* they trap themselves on their final TF */
        if (!cpu->code64)
            cpu->rip &= cpu->code32 ? 0xffffffffu : 0xffffu;
        if (before && cpu->stop < 0 && !cpu->halted) {
            cpu->dr[6] |= 0x4000;   /* BS */
            cpu->insn_rip = cpu->rip;
            cpu_raise_noerr(cpu, EXC_DB);
        }
        return;
    }
    /* Run the block, then follow cached successors inside the same linear
     * page without going back to the run loop (chaining): the page's TLB
     * entry and the decode mode/CPL checked for the first block still hold
     * as long as no instruction ended the block early (CR/INVLPG/MSR writes,
     * code writes, I/O: stop != -1) and CPL/mode did not change. */
    uint64_t page = lin & ~0xfffull;
    uint8_t cpl0 = cpu->cpl;
    uint32_t mode0 = b->mode;
    bool if0 = cpu->eflags & F_IF;
    if (from && cpu->chain_from_lin != lin)
        from = NULL;   /* an interrupt or exception came in between */
    if (from && cpu->chain_from_page == page && cpu->chain_from_cpl == cpl0 &&
        from->mode == mode0 && b->page) {
        unsigned k = from->succ[0] && from->succ_lin[0] != lin ? 1 : 0;
        from->succ[k] = b;
        from->succ_lin[k] = lin;
        from->succ_epoch[k] = cpu->seen_write_epoch;
        link(cpu, from, cpu->chain_from_exit, b, lin);
    } else if (from && cpu->chain_from_cpl == cpl0 && from->mode == mode0 && b->page) {
        link(cpu, from, cpu->chain_from_exit, b, lin);   /* another page: checked by the TLB */
    }
    for (unsigned n = 0;; n++) {
        cpu->st.blocks++;
        if (__builtin_expect(!b->jit, 0) && b->page && b->mode == 2 && cpu->jit_threshold &&
            ++b->execs == cpu->jit_threshold)
            cpu_jit_compile(cpu, b);
        if (b->jit && end == b->insns + b->ninsns && (cpu->cpl == 3) == b->jit_user) {
            /* may run linked successors in this page; returns the count
             * of the last one (jit_last), earlier ones are retired */
            cpu->jit_chain_left = 32;
            cpu->jit_page = page;
            unsigned cnt = b->jit(cpu);
            b = cpu->jit_last;
            in = b->insns + cnt;
            page = cpu->jit_page;
        } else {
            cpu->jit_exit = -1;
            for (; in < end; in++) {
                cpu->insn_rip = cpu->rip;
                cpu->rip += in->len;
                in->fn(cpu, in);
                if (__builtin_expect(cpu->stop != -1, 0)) {
                    in++;
                    break;
                }
            }
        }
        cpu->retired += (uint64_t)(in - b->insns);
        if (!cpu->code64)
            cpu->rip &= cpu->code32 ? 0xffffffffu : 0xffffu;
        if (cpu->stop != -1 || !b->page) {
            cpu->st.end_stop++;
            return;
        }
        /* POPF/IRET/... just opened the interrupt window: let the run loop
         * poll now, the window may be closed again by the next boundary */
        if (__builtin_expect((cpu->eflags & F_IF) && !if0, 0)) {
            cpu->poll_now = true;
            return;
        }
        uint64_t nlin = cpu->code64 ? cpu->rip : (uint32_t)(cpu->seg[S_CS].base + cpu->rip);
        /* remember where we came from: the run loop links the successor */
        cpu->chain_from = b;
        cpu->chain_from_exit = cpu->jit_exit;
        cpu->chain_from_lin = nlin;
        cpu->chain_from_page = page;
        cpu->chain_from_cpl = cpl0;
        if ((nlin & ~0xfffull) != page || cpu->cpl != cpl0 || cpu_decode_mode(cpu) != mode0) {
            cpu->st.end_page++;
            return;
        }
        if (n >= 7 || cpu->retired >= cpu->budget) {
            cpu->st.end_n++;
            return;
        }
        we = atomic_load_explicit(cpu->write_epoch_ptr, memory_order_acquire);
        unsigned k = b->succ_lin[0] == nlin ? 0 : b->succ_lin[1] == nlin ? 1 : 2;
        if (k == 2 || !b->succ[k] || b->succ_epoch[k] != we || we != cpu->seen_write_epoch) {
            cpu->st.end_link++;
            return;
        }
        cpu->chain_from = NULL;
        link(cpu, b, cpu->jit_exit, b->succ[k], nlin);
        b = b->succ[k];
        in = b->insns;
        end = b->insns + b->ninsns;
        if (__builtin_expect(cpu->trace >= 2, 0))
            fprintf(stderr, "cpu%u: chained %04x:%llx phys %llx n %u\n", cpu->index,
                    cpu->seg[S_CS].sel, (unsigned long long)cpu->rip,
                    (unsigned long long)b->phys, b->ninsns);
    }
}

int cpu_x86_run(struct cpu_x86 *cpu, uint64_t max_insns, struct cpu_x86_exit *exit)
{
    int jr;

    cpu->retired = 0;
    cpu->budget = max_insns;
    cpu->stop = -1;
    cpu->in_delivery = 0;
    cpu->poll_now = true;
    jr = setjmp(cpu->jb);
    if (jr == 1) {
        cpu->poll_now = true;
        take_exception(cpu);
        if (cpu->stop == -2)
            cpu->stop = -1;
    } else if (jr == 2) {
        cpu->stop = CPU_X86_STOP_ERROR;
    }
    for (;;) {
        if (cpu->stop >= 0)
            break;
        cpu->stop = -1;
        if (atomic_load_explicit(&cpu->kick, memory_order_relaxed) &&
            atomic_exchange_explicit(&cpu->kick, 0, memory_order_acq_rel)) {
            cpu->stop = CPU_X86_STOP_KICK;
            break;
        }
        if (__builtin_expect(cpu->code_epoch != atomic_load_explicit(cpu->code_epoch_ptr, memory_order_acquire), 0)) {
            cpu->code_epoch = atomic_load_explicit(cpu->code_epoch_ptr, memory_order_acquire);
            cpu_tlb_flush(cpu, true);
        }
        /* Maskable interrupts are polled every few blocks, and after any
         * block that ended early (I/O, MMIO writes, STI, HLT, ...). */
        bool poll = (cpu->eflags & F_IF) && (cpu->poll_now || ++cpu->poll_count >= 8);
        if (poll) {
            cpu->poll_count = 0;
            cpu->poll_now = false;
        }
        if ((atomic_load_explicit(&cpu->events, memory_order_relaxed) || cpu->halted ||
             cpu->inhibit_irq || poll) && !check_events(cpu)) {
            cpu->stop = cpu->halted == 2 ? CPU_X86_STOP_WAIT_SIPI : CPU_X86_STOP_HLT;
            break;
        }
        if (cpu->retired >= cpu->budget) {
            cpu->stop = CPU_X86_STOP_BUDGET;
            break;
        }
        if (__builtin_expect(cpu->jit_full, 0))
            cpu_block_cache_flush(cpu);   /* translated code fills its buffer */
        exec_block(cpu);
        if (cpu->stop == -2) {
            cpu->stop = -1;
            cpu->poll_now = true;
        }
    }
    exit->reason = (enum cpu_x86_stop)cpu->stop;
    exit->insns = cpu->retired;
    exit->msg[0] = 0;
    if (cpu->stop == CPU_X86_STOP_ERROR)
        snprintf(exit->msg, sizeof(exit->msg), "%s at %04x:%llx", cpu->errmsg,
                 cpu->seg[S_CS].sel, (unsigned long long)cpu->insn_rip);
    cpu->stop = -1;
    return 0;
}
