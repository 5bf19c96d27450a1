/* Segmentation: descriptor loads and checks, mode bookkeeping, far control
 * transfers (JMP/CALL/RET far, IRET). */
#include "sys.h"

void cpu_update_mode(struct cpu_x86 *cpu)
{
    const struct cpu_seg *cs = &cpu->seg[S_CS];
    bool pe = cpu_pe(cpu), vm = pe && cpu_vm86(cpu);

    if (!pe)
        cpu->cpl = 0;
    else if (vm)
        cpu->cpl = 3;
    else
        cpu->cpl = SEGF_DPL(cpu->seg[S_SS].flags);
    cpu->code64 = cpu_lma(cpu) && (cs->flags & SEGF_L) && pe && !vm;
    cpu->code32 = !cpu->code64 && (cs->flags & SEGF_DB) && pe && !vm;
    cpu->stack32 = (cpu->seg[S_SS].flags & SEGF_DB) && pe && !vm;
    if (!pe || vm) {
        /* real mode keeps the cached flags (unreal mode), so D/B could be
         * set by a protected-mode load; the default sizes are still 16 */
        cpu->code32 = (cs->flags & SEGF_DB) && !vm && pe;
        cpu->stack32 = false;
        if (!pe) {
            cpu->code32 = (cs->flags & SEGF_DB) != 0;
            cpu->stack32 = (cpu->seg[S_SS].flags & SEGF_DB) != 0;
        }
    }
    uint8_t flat = 0;
    for (unsigned s = 0; s < 6; s++) {
        const struct cpu_seg *g = &cpu->seg[s];
        if (g->base || g->limit != 0xffffffffu)
            continue;
        if (pe && !vm) {
            unsigned t = SEGF_TYPE(g->flags);
            if (!(g->flags & SEGF_P) || !(g->flags & SEGF_S))
                continue;
            /* writable expand-up data only: code segments keep checks */
            if ((t & 0xa) != 2 || (t & 4))
                continue;
        }
        flat |= 1u << s;
    }
    cpu->seg_flat = flat;
}

void cpu_desc_to_seg(uint64_t d, uint64_t d_hi, uint16_t sel, struct cpu_seg *s)
{
    s->sel = sel;
    s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
    if (!((d >> 44) & 1))      /* system descriptor: 16 bytes in long mode */
        s->base |= (d_hi & 0xffffffffull) << 32;
    s->limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16));
    if ((d >> 55) & 1)
        s->limit = (s->limit << 12) | 0xfff;
    s->flags = (uint16_t)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12));
}

uint64_t cpu_read_desc(struct cpu_x86 *cpu, uint16_t sel, int exc)
{
    uint64_t base, limit;
    if (sel & 4) {
        if (!(cpu->seg[S_LDTR].flags & SEGF_P))
            cpu_raise(cpu, exc, sel & 0xfffc);
        base = cpu->seg[S_LDTR].base;
        limit = cpu->seg[S_LDTR].limit;
    } else {
        base = cpu->gdt.base;
        limit = cpu->gdt.limit;
    }
    if ((uint64_t)(sel & ~7u) + 7 > limit)
        cpu_raise(cpu, exc, sel & 0xfffc);
    return cpu_lin_read(cpu, base + (sel & ~7u), 8, ACC_R | ACC_SUPER);
}

static uint64_t desc_addr(struct cpu_x86 *cpu, uint16_t sel)
{
    return ((sel & 4) ? cpu->seg[S_LDTR].base : cpu->gdt.base) + (sel & ~7u);
}

/* Set the accessed bit of a descriptor in memory. */
static void set_accessed(struct cpu_x86 *cpu, uint16_t sel, uint64_t d)
{
    if ((d >> 40) & 1)
        return;
    uint64_t a = desc_addr(cpu, sel) + 5;
    cpu_lin_write(cpu, a, 1, ((d >> 40) & 0xff) | 1, ACC_W | ACC_SUPER);
}

void cpu_load_seg_real(struct cpu_x86 *cpu, unsigned seg, uint16_t sel)
{
    struct cpu_seg *s = &cpu->seg[seg];
    s->sel = sel;
    s->base = (uint64_t)sel << 4;
    if (cpu_vm86(cpu)) {
        s->limit = 0xffff;
        s->flags = SEGF_P | SEGF_S | 3 | (3 << 5) | (seg == S_CS ? 8 : 0);
    } else if (!(s->flags & SEGF_P)) {
        s->flags = SEGF_P | SEGF_S | 3;
    }
    cpu_update_mode(cpu);
}

void cpu_load_seg(struct cpu_x86 *cpu, unsigned seg, uint16_t sel)
{
    struct cpu_seg *s = &cpu->seg[seg];
    uint64_t d;
    unsigned rpl = sel & 3, dpl, type;

    if (!cpu_pe(cpu) || cpu_vm86(cpu)) {
        cpu_load_seg_real(cpu, seg, sel);
        return;
    }
    if (!(sel & 0xfffc)) {
        if (seg == S_SS && !(cpu->code64 && cpu->cpl < 3 && rpl == cpu->cpl))
            cpu_gp0(cpu);
        s->sel = sel;
        s->base = 0;
        s->limit = 0;
        s->flags = seg == S_SS ? (uint16_t)(SEGF_S | 3 | (cpu->cpl << 5) | SEGF_DB) : 0;
        if (seg == S_SS)
            s->flags |= SEGF_P;   /* usable null SS in 64-bit mode */
        cpu_update_mode(cpu);
        return;
    }
    d = cpu_read_desc(cpu, sel, EXC_GP);
    dpl = (d >> 45) & 3;
    type = (d >> 40) & 0xf;
    if (!((d >> 44) & 1))
        cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (seg == S_SS) {
        if (rpl != cpu->cpl || dpl != cpu->cpl || (type & 8) || !(type & 2))
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        if (!((d >> 47) & 1))
            cpu_raise(cpu, EXC_SS, sel & 0xfffc);
    } else {
        if ((type & 0xa) == 8)   /* execute-only code */
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        if (!(type & 8) || !(type & 4)) {   /* data or non-conforming code */
            if (rpl > dpl || cpu->cpl > dpl)
                cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        }
        if (!((d >> 47) & 1))
            cpu_raise(cpu, EXC_NP, sel & 0xfffc);
    }
    set_accessed(cpu, sel, d);
    cpu_desc_to_seg(d | (1ull << 40), 0, sel, s);
    cpu_update_mode(cpu);
}

void cpu_load_cs_raw(struct cpu_x86 *cpu, uint16_t sel, uint64_t d, uint64_t d_hi, uint8_t cpl)
{
    cpu_desc_to_seg(d | (1ull << 40), d_hi, sel, &cpu->seg[S_CS]);
    cpu->seg[S_CS].sel = (uint16_t)((sel & 0xfffc) | cpl);
    cpu->cpl = cpl;
    cpu_update_mode(cpu);
    cpu->cpl = cpl;
}

/* Check a code segment descriptor as a far JMP/CALL/RET target. Returns the
 * new CPL. */
static unsigned check_code(struct cpu_x86 *cpu, uint16_t sel, uint64_t d, bool ret)
{
    unsigned dpl = (d >> 45) & 3, rpl = sel & 3, type = (d >> 40) & 0xf;
    if (!((d >> 44) & 1) || !(type & 8))
        cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (ret) {
        if (rpl < cpu->cpl)
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        if ((type & 4) ? dpl > rpl : dpl != rpl)
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    } else if (type & 4) {
        if (dpl > cpu->cpl)
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    } else if (rpl > cpu->cpl || dpl != cpu->cpl) {
        cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (cpu_lma(cpu) && ((d >> 53) & 1) && ((d >> 54) & 1))
        cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (!((d >> 47) & 1))
        cpu_raise(cpu, EXC_NP, sel & 0xfffc);
    return ret ? rpl : cpu->cpl;
}

static uint64_t seg_limit_of(uint64_t d)
{
    uint64_t l = (d & 0xffff) | (((d >> 48) & 0xf) << 16);
    return ((d >> 55) & 1) ? (l << 12) | 0xfff : l;
}

void cpu_far_jump(struct cpu_x86 *cpu, uint16_t sel, uint64_t off, unsigned opsize)
{
    uint64_t d;
    if (!cpu_pe(cpu) || cpu_vm86(cpu)) {
        cpu_load_seg_real(cpu, S_CS, sel);
        cpu->rip = off & size_mask(opsize);
        return;
    }
    if (!(sel & 0xfffc))
        cpu_gp0(cpu);
    d = cpu_read_desc(cpu, sel, EXC_GP);
    if (!((d >> 44) & 1)) {     /* TSS, task gate, call gate (task.c) */
        cpu_far_system(cpu, sel, d, false, opsize);
        return;
    }
    unsigned cpl = check_code(cpu, sel, d, false);
    bool l = cpu_lma(cpu) && ((d >> 53) & 1);
    if (!l && off > seg_limit_of(d))
        cpu_gp0(cpu);
    set_accessed(cpu, sel, d);
    cpu_load_cs_raw(cpu, sel, d, 0, (uint8_t)cpl);
    cpu->rip = off;
}

void cpu_far_call(struct cpu_x86 *cpu, uint16_t sel, uint64_t off, unsigned opsize)
{
    uint64_t d;
    if (!cpu_pe(cpu) || cpu_vm86(cpu)) {
        uint16_t old_cs = cpu->seg[S_CS].sel;
        uint64_t old_ip = cpu->rip;
        uint64_t sp = cpu->r[R_SP];
        cpu_push(cpu, opsize, old_cs);
        cpu_push(cpu, opsize, old_ip);
        (void)sp;
        cpu_load_seg_real(cpu, S_CS, sel);
        cpu->rip = off & size_mask(opsize);
        return;
    }
    if (!(sel & 0xfffc))
        cpu_gp0(cpu);
    d = cpu_read_desc(cpu, sel, EXC_GP);
    if (!((d >> 44) & 1)) {     /* TSS, task gate, call gate (task.c) */
        cpu_far_system(cpu, sel, d, true, opsize);
        return;
    }
    unsigned cpl = check_code(cpu, sel, d, false);
    uint64_t old_sp = cpu->r[R_SP];
    uint16_t old_cs = cpu->seg[S_CS].sel;
    uint64_t old_ip = cpu->rip;
    cpu_push(cpu, opsize, old_cs);
    cpu_push(cpu, opsize, old_ip);
    bool l = cpu_lma(cpu) && ((d >> 53) & 1);
    if (!l && off > seg_limit_of(d)) {
        cpu->r[R_SP] = old_sp;
        cpu_gp0(cpu);
    }
    set_accessed(cpu, sel, d);
    cpu_load_cs_raw(cpu, sel, d, 0, (uint8_t)cpl);
    cpu->rip = off;
}

/* After a return to an outer level, data segments the new CPL may not use
 * become null. */
static void null_outer_segs(struct cpu_x86 *cpu)
{
    static const unsigned segs[] = { S_ES, S_DS, S_FS, S_GS };
    for (unsigned i = 0; i < 4; i++) {
        struct cpu_seg *s = &cpu->seg[segs[i]];
        unsigned t = SEGF_TYPE(s->flags);
        bool conf_code = (t & 8) && (t & 4);
        if (!conf_code && SEGF_DPL(s->flags) < cpu->cpl && (s->flags & SEGF_S)) {
            s->sel = 0;
            s->flags = 0;
        }
    }
}

void cpu_far_ret(struct cpu_x86 *cpu, unsigned opsize, uint16_t imm)
{
    uint64_t ip = cpu_stack_peek(cpu, opsize, 0);
    uint16_t sel = (uint16_t)cpu_stack_peek(cpu, opsize, opsize);
    unsigned ssz = cpu_stack_size(cpu);

    if (!cpu_pe(cpu) || cpu_vm86(cpu)) {
        cpu_set_reg(cpu, R_SP, ssz, cpu->r[R_SP] + 2 * opsize + imm);
        cpu_load_seg_real(cpu, S_CS, sel);
        cpu->rip = ip;
        return;
    }
    if (!(sel & 0xfffc))
        cpu_gp0(cpu);
    uint64_t d = cpu_read_desc(cpu, sel, EXC_GP);
    unsigned new_cpl = check_code(cpu, sel, d, true);
    if (new_cpl == cpu->cpl) {
        cpu_set_reg(cpu, R_SP, ssz, cpu->r[R_SP] + 2 * opsize + imm);
        cpu_load_cs_raw(cpu, sel, d, 0, (uint8_t)new_cpl);
        cpu->rip = ip;
        return;
    }
    /* return to an outer privilege level: pop SS:SP too */
    uint64_t nsp = cpu_stack_peek(cpu, opsize, 2 * opsize + imm);
    uint16_t nss = (uint16_t)cpu_stack_peek(cpu, opsize, 3 * opsize + imm);
    cpu_load_cs_raw(cpu, sel, d, 0, (uint8_t)new_cpl);
    cpu->cpl = (uint8_t)new_cpl;
    cpu_load_seg(cpu, S_SS, nss);
    cpu_set_reg(cpu, R_SP, cpu_stack_size(cpu), nsp + imm);
    cpu->rip = ip;
    null_outer_segs(cpu);
}

void cpu_iret(struct cpu_x86 *cpu, unsigned opsize)
{
    uint64_t ip, fl;
    uint16_t sel;
    unsigned ssz = cpu_stack_size(cpu);
    uint64_t fmask = F_ARITH | F_TF | F_DF | F_NT | F_RF | F_AC | F_ID | F_IF | F_IOPL;

    cpu->nmi_blocked = false;
    if (!cpu_pe(cpu)) {
        ip = cpu_stack_peek(cpu, opsize, 0);
        sel = (uint16_t)cpu_stack_peek(cpu, opsize, opsize);
        fl = cpu_stack_peek(cpu, opsize, 2 * opsize);
        cpu_set_reg(cpu, R_SP, ssz, cpu->r[R_SP] + 3 * opsize);
        cpu_load_seg_real(cpu, S_CS, sel);
        cpu->rip = ip;
        cpu_set_flags(cpu, fl, opsize == 2 ? (fmask & 0xffff) : fmask);
        return;
    }
    if (cpu_vm86(cpu)) {
        if (((cpu->eflags >> 12) & 3) != 3)
            cpu_gp0(cpu);
        ip = cpu_stack_peek(cpu, opsize, 0);
        sel = (uint16_t)cpu_stack_peek(cpu, opsize, opsize);
        fl = cpu_stack_peek(cpu, opsize, 2 * opsize);
        cpu_set_reg(cpu, R_SP, ssz, cpu->r[R_SP] + 3 * opsize);
        cpu_load_seg_real(cpu, S_CS, sel);
        cpu->rip = ip;
        cpu_set_flags(cpu, fl, (opsize == 2 ? 0xffff : fmask) & ~(uint64_t)F_IOPL);
        return;
    }
    if (cpu->eflags & F_NT) {
        if (cpu_lma(cpu))
            cpu_gp0(cpu);
        cpu_task_return(cpu);   /* back to the task that called this one */
        return;
    }
    ip = cpu_stack_peek(cpu, opsize, 0);
    sel = (uint16_t)cpu_stack_peek(cpu, opsize, opsize);
    fl = cpu_stack_peek(cpu, opsize, 2 * opsize);
    if (!cpu_lma(cpu) && (fl & F_VM) && cpu->cpl == 0 && opsize == 4) {
        /* return to virtual-8086 mode */
        uint64_t nsp = cpu_stack_peek(cpu, 4, 12);
        uint16_t v[5];
        for (int i = 0; i < 5; i++)
            v[i] = (uint16_t)cpu_stack_peek(cpu, 4, 16 + 4 * i);
        cpu_set_flags(cpu, fl, fmask | F_VM | F_VIF | F_VIP);
        cpu_load_seg_real(cpu, S_CS, sel);
        cpu_load_seg_real(cpu, S_SS, v[0]);
        cpu_load_seg_real(cpu, S_ES, v[1]);
        cpu_load_seg_real(cpu, S_DS, v[2]);
        cpu_load_seg_real(cpu, S_FS, v[3]);
        cpu_load_seg_real(cpu, S_GS, v[4]);
        cpu->r[R_SP] = (uint32_t)nsp;
        cpu->rip = ip & 0xffff;
        cpu_update_mode(cpu);
        return;
    }
    if (!(sel & 0xfffc))
        cpu_gp0(cpu);
    uint64_t d = cpu_read_desc(cpu, sel, EXC_GP);
    unsigned new_cpl = check_code(cpu, sel, d, true);
    bool to64 = cpu_lma(cpu) && ((d >> 53) & 1);
    /* flags the current privilege may change */
    uint64_t m = fmask;
    if (cpu->cpl > 0)
        m &= ~(uint64_t)F_IOPL;
    if (cpu->cpl > ((cpu->eflags >> 12) & 3))
        m &= ~(uint64_t)F_IF;
    if (opsize == 2)
        m &= 0xffff;
    if (new_cpl == cpu->cpl && !cpu->code64) {
        cpu_set_reg(cpu, R_SP, ssz, cpu->r[R_SP] + 3 * opsize);
        cpu_load_cs_raw(cpu, sel, d, 0, (uint8_t)new_cpl);
        cpu->rip = ip;
        cpu_set_flags(cpu, fl, m);
        return;
    }
    /* outer level, or any IRET in 64-bit mode: pop SS:RSP */
    uint64_t nsp = cpu_stack_peek(cpu, opsize, 3 * opsize);
    uint16_t nss = (uint16_t)cpu_stack_peek(cpu, opsize, 4 * opsize);
    uint8_t old_cpl = cpu->cpl;
    cpu_load_cs_raw(cpu, sel, d, 0, (uint8_t)new_cpl);
    cpu->cpl = (uint8_t)new_cpl;
    if (!(nss & 0xfffc) && cpu_lma(cpu) && new_cpl < 3 && to64) {
        cpu->seg[S_SS].sel = nss;
        cpu->seg[S_SS].base = 0;
        cpu->seg[S_SS].limit = 0xffffffff;
        cpu->seg[S_SS].flags = (uint16_t)(SEGF_P | SEGF_S | 3 | (new_cpl << 5) | SEGF_DB | SEGF_G);
        cpu_update_mode(cpu);
    } else {
        cpu_load_seg(cpu, S_SS, nss);
    }
    if (cpu->code64)
        cpu->r[R_SP] = nsp;
    else
        cpu_set_reg(cpu, R_SP, cpu_stack_size(cpu), nsp);
    cpu->rip = ip;
    /* flag rights are those of the old privilege level */
    (void)old_cpl;
    cpu_set_flags(cpu, fl, m);
    if (new_cpl > old_cpl)
        null_outer_segs(cpu);
}
