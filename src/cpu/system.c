/* System instructions: flags control, HLT, descriptor-table and control
 * register access, LLDT/LTR, SYSCALL/SYSRET, SYSENTER/SYSEXIT, SWAPGS,
 * CPUID, RDTSC(P), RDMSR/WRMSR, fences, XGETBV/XSETBV. */
#include "simd.h"

static void need_cpl0(struct cpu_x86 *cpu)
{
    if (cpu_pe(cpu) && cpu->cpl != 0)
        cpu_gp0(cpu);
}

static void end_block(struct cpu_x86 *cpu)
{
    if (cpu->stop == -1)
        cpu->stop = -2;
}

void op_ud(struct cpu_x86 *cpu, const struct cpu_insn *in) { cpu_ud(cpu); }
void op_gp0(struct cpu_x86 *cpu, const struct cpu_insn *in) { cpu_gp0(cpu); }

void op_hlt(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    need_cpl0(cpu);
    cpu->halted = 1;
    end_block(cpu);
}

static bool iopl_ok(struct cpu_x86 *cpu)
{
    if (!cpu_pe(cpu))
        return true;
    return cpu->cpl <= ((cpu->eflags >> 12) & 3);
}

void op_cli(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (!iopl_ok(cpu))
        cpu_gp0(cpu);
    cpu->eflags &= ~F_IF;
}

void op_sti(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (!iopl_ok(cpu))
        cpu_gp0(cpu);
    if (!(cpu->eflags & F_IF))
        cpu->inhibit_irq = 1;
    cpu->eflags |= F_IF;
}

void op_clc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{ cpu_set_arith_flags(cpu, cpu_arith_flags(cpu) & ~F_CF); }
void op_stc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{ cpu_set_arith_flags(cpu, cpu_arith_flags(cpu) | F_CF); }
void op_cmc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{ cpu_set_arith_flags(cpu, cpu_arith_flags(cpu) ^ F_CF); }
void op_cld(struct cpu_x86 *cpu, const struct cpu_insn *in) { cpu->eflags &= ~F_DF; }
void op_std(struct cpu_x86 *cpu, const struct cpu_insn *in) { cpu->eflags |= F_DF; }

void op_fwait(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if ((cpu->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
        cpu_raise_noerr(cpu, EXC_NM);
    cpu_op_x87(cpu, in);
}

void op_invd(struct cpu_x86 *cpu, const struct cpu_insn *in) { need_cpl0(cpu); }
void op_rsm(struct cpu_x86 *cpu, const struct cpu_insn *in) { cpu_ud(cpu); }
void op_grp9_sys(struct cpu_x86 *cpu, const struct cpu_insn *in) { cpu_ud(cpu); }

void op_bound(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (in->mod == 3)
        cpu_ud(cpu);
    unsigned size = in->opsize;
    uint64_t ea = cpu_ea(cpu, in);
    int64_t lo = sext(cpu_read_mem(cpu, in->seg, ea, size), size);
    int64_t hi = sext(cpu_read_mem(cpu, in->seg, (ea + size) & size_mask(in->adsize), size), size);
    int64_t v = sext(cpu_greg(cpu, in, size), size);
    if (v < lo || v > hi)
        cpu_raise_noerr(cpu, EXC_BR);
}

void op_rdpmc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (cpu->cpl != 0 && !(cpu->cr4 & CR4_PCE))
        cpu_gp0(cpu);
    cpu_gp0(cpu);   /* no counters advertised */
}

/* ---- control and debug registers --------------------------------------- */

void cpu_write_cr0(struct cpu_x86 *cpu, uint64_t v)
{
    uint64_t old = cpu->cr0;
    if (v >> 32)
        cpu_gp0(cpu);
    v |= CR0_ET;
    if ((v & CR0_PG) && !(v & CR0_PE))
        cpu_gp0(cpu);
    if ((v & CR0_NW) && !(v & CR0_CD))
        cpu_gp0(cpu);
    if ((v & CR0_PG) && !(old & CR0_PG) && (cpu->efer & EFER_LME)) {
        if (!(cpu->cr4 & CR4_PAE))
            cpu_gp0(cpu);
        cpu->efer |= EFER_LMA;
    }
    if (!(v & CR0_PG) && (old & CR0_PG) && cpu_lma(cpu)) {
        if (cpu->code64)
            cpu_gp0(cpu);
        cpu->efer &= ~(uint64_t)EFER_LMA;
    }
    cpu->cr0 = v;
    if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE))
        cpu_tlb_flush(cpu, true);
    cpu_update_mode(cpu);
}

void cpu_write_cr3(struct cpu_x86 *cpu, uint64_t v)
{
    cpu->cr3 = v;
    cpu_tlb_flush(cpu, false);
}

#define CR4_OK (CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | \
                CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_FSGSBASE | CR4_OSXSAVE)

void cpu_write_cr4(struct cpu_x86 *cpu, uint64_t v)
{
    uint64_t old = cpu->cr4;
    if (v & ~(uint64_t)CR4_OK)
        cpu_gp0(cpu);
    if (cpu_lma(cpu) && !(v & CR4_PAE))
        cpu_gp0(cpu);
    cpu->cr4 = v;
    if ((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE))
        cpu_tlb_flush(cpu, true);
}

void op_mov_cr(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = cpu->code64 ? 8 : 4;
    unsigned cr = in->reg, r = in->rm;
    bool dr = in->op == 0x21 || in->op == 0x23;
    bool to = in->op == 0x22 || in->op == 0x23;

    need_cpl0(cpu);
    if (cpu_vm86(cpu))
        cpu_gp0(cpu);
    if (dr) {
        unsigned n = cr & 7;
        if (cr > 7)
            cpu_ud(cpu);
        if ((n == 4 || n == 5) && (cpu->cr4 & CR4_DE))
            cpu_ud(cpu);
        if (n == 4) n = 6;
        if (n == 5) n = 7;
        if (to) {
            uint64_t v = cpu->r[r] & size_mask(size);
            if (n >= 6 && (v >> 32))
                cpu_gp0(cpu);
            if (n == 6) v = (v & 0xe00f) | 0xffff0ff0;
            if (n == 7) v = (v & 0xffff2bff) | 0x400;
            cpu->dr[n] = v;
        } else {
            cpu_set_reg(cpu, r, size, cpu->dr[n]);
        }
        return;
    }
    if (!to) {
        uint64_t v;
        switch (cr) {
        case 0: v = cpu->cr0; break;
        case 2: v = cpu->cr2; break;
        case 3: v = cpu->cr3; break;
        case 4: v = cpu->cr4; break;
        case 8: v = cpu->env.get_cr8 ? cpu->env.get_cr8(cpu->env.opaque) : cpu->cr8; break;
        default: cpu_ud(cpu);
        }
        cpu_set_reg(cpu, r, size, v);
        return;
    }
    uint64_t v = cpu->r[r] & size_mask(size);
    switch (cr) {
    case 0: cpu_write_cr0(cpu, v); break;
    case 2: cpu->cr2 = v; break;
    case 3: cpu_write_cr3(cpu, v); break;
    case 4: cpu_write_cr4(cpu, v); break;
    case 8:
        if (v > 15)
            cpu_gp0(cpu);
        cpu->cr8 = v;
        if (cpu->env.set_cr8)
            cpu->env.set_cr8(cpu->env.opaque, (uint8_t)v);
        break;
    default: cpu_ud(cpu);
    }
    end_block(cpu);
}

void op_mov_dr(struct cpu_x86 *cpu, const struct cpu_insn *in) { op_mov_cr(cpu, in); }

void op_clts(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    need_cpl0(cpu);
    cpu->cr0 &= ~(uint64_t)CR0_TS;
}

/* ---- descriptor tables ---------------------------------------------------- */

static void sys_seg_load(struct cpu_x86 *cpu, unsigned seg, uint16_t sel)
{
    uint64_t d, hi = 0;
    unsigned type;

    if (!(sel & 0xfffc)) {
        if (seg == S_TR)
            cpu_gp0(cpu);
        cpu->seg[S_LDTR].sel = sel;
        cpu->seg[S_LDTR].flags = 0;
        cpu->seg[S_LDTR].base = 0;
        cpu->seg[S_LDTR].limit = 0;
        return;
    }
    if (sel & 4)
        cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    d = cpu_read_desc(cpu, sel, EXC_GP);
    type = (d >> 40) & 0x1f;
    if (seg == S_LDTR ? type != 0x02 : (type != 0x09 && type != 0x01))
        cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (!((d >> 47) & 1))
        cpu_raise(cpu, EXC_NP, sel & 0xfffc);
    if (cpu_lma(cpu)) {
        if ((uint64_t)(sel & ~7u) + 15 > cpu->gdt.limit)
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        hi = cpu_lin_read(cpu, cpu->gdt.base + (sel & ~7u) + 8, 8, ACC_R | ACC_SUPER);
    }
    cpu_desc_to_seg(d, hi, sel, &cpu->seg[seg]);
    if (seg == S_TR) {
        /* mark busy */
        cpu_lin_write(cpu, cpu->gdt.base + (sel & ~7u) + 5, 1, ((d >> 40) & 0xff) | 2,
                      ACC_W | ACC_SUPER);
        cpu->seg[S_TR].flags |= 2;
    }
}

void op_grp6(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->reg & 7;
    if (!cpu_pe(cpu) || cpu_vm86(cpu))
        cpu_ud(cpu);
    switch (r) {
    case 0: case 1: {
        uint16_t v = cpu->seg[r == 0 ? S_LDTR : S_TR].sel;
        if (in->mod == 3)
            cpu_reg_write(cpu, in, in->rm, in->opsize == 1 ? 2 : in->opsize, v);
        else
            cpu_rm_write(cpu, in, 2, v);
        return;
    }
    case 2: case 3: {
        need_cpl0(cpu);
        uint16_t sel = (uint16_t)cpu_rm_read(cpu, in, 2);
        sys_seg_load(cpu, r == 2 ? S_LDTR : S_TR, sel);
        return;
    }
    case 4: case 5: {   /* VERR / VERW */
        uint16_t sel = (uint16_t)cpu_rm_read(cpu, in, 2);
        uint32_t f = cpu_arith_flags(cpu) & ~F_ZF;
        bool ok = false;
        if (sel & 0xfffc) {
            uint64_t base = (sel & 4) ? cpu->seg[S_LDTR].base : cpu->gdt.base;
            uint64_t lim = (sel & 4) ? cpu->seg[S_LDTR].limit : cpu->gdt.limit;
            if ((uint64_t)(sel & ~7u) + 7 <= lim) {
                uint64_t d = cpu_lin_read(cpu, base + (sel & ~7u), 8, ACC_R | ACC_SUPER);
                unsigned type = (d >> 40) & 0xf, dpl = (d >> 45) & 3;
                bool s = (d >> 44) & 1, conf = (type & 0xc) == 0xc;
                if (s && (conf || (dpl >= cpu->cpl && dpl >= (sel & 3u)))) {
                    if (r == 4)
                        ok = !(type & 8) || (type & 2);
                    else
                        ok = !(type & 8) && (type & 2);
                }
            }
        }
        cpu_set_arith_flags(cpu, f | (ok ? F_ZF : 0));
        return;
    }
    default:
        cpu_ud(cpu);
    }
}

static void lar_lsl(struct cpu_x86 *cpu, const struct cpu_insn *in, bool lsl)
{
    if (!cpu_pe(cpu) || cpu_vm86(cpu))
        cpu_ud(cpu);
    uint16_t sel = (uint16_t)cpu_rm_read(cpu, in, 2);
    uint32_t f = cpu_arith_flags(cpu) & ~F_ZF;
    if (sel & 0xfffc) {
        uint64_t base = (sel & 4) ? cpu->seg[S_LDTR].base : cpu->gdt.base;
        uint64_t lim = (sel & 4) ? cpu->seg[S_LDTR].limit : cpu->gdt.limit;
        if ((uint64_t)(sel & ~7u) + 7 <= lim) {
            uint64_t d = cpu_lin_read(cpu, base + (sel & ~7u), 8, ACC_R | ACC_SUPER);
            unsigned type = (d >> 40) & 0xf, dpl = (d >> 45) & 3;
            bool s = (d >> 44) & 1, conf = s && (type & 0xc) == 0xc;
            bool type_ok = s || type == 1 || type == 2 || type == 3 || type == 9 || type == 0xb ||
                           (!lsl && (type == 4 || type == 0xc || type == 5));
            if (cpu_lma(cpu) && !s)
                type_ok = type == 2 || type == 9 || type == 0xb || (!lsl && type == 0xc);
            if (type_ok && (conf || (dpl >= cpu->cpl && dpl >= (sel & 3u)))) {
                uint64_t v;
                if (lsl) {
                    v = (d & 0xffff) | ((d >> 32) & 0xf0000);
                    if ((d >> 55) & 1)
                        v = (v << 12) | 0xfff;
                } else {
                    v = (d >> 32) & 0x00f0ff00;
                }
                cpu_sreg(cpu, in, in->opsize, v);
                f |= F_ZF;
            }
        }
    }
    cpu_set_arith_flags(cpu, f);
}

void op_lar(struct cpu_x86 *cpu, const struct cpu_insn *in) { lar_lsl(cpu, in, false); }
void op_lsl(struct cpu_x86 *cpu, const struct cpu_insn *in) { lar_lsl(cpu, in, true); }

static void swapgs(struct cpu_x86 *cpu)
{
    uint64_t t = cpu->seg[S_GS].base;
    cpu->seg[S_GS].base = cpu->kernel_gs_base;
    cpu->kernel_gs_base = t;
}

void op_grp7(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->reg & 7;

    if (in->mod == 3) {
        switch (in->modrm) {
        case 0xd0:   /* XGETBV: only XCR0 (no XGETBV with ECX=1) */
            if (!(cpu->cr4 & CR4_OSXSAVE) || in->pfx_mand)
                cpu_ud(cpu);
            if ((uint32_t)cpu->r[R_CX] != 0)
                cpu_gp0(cpu);
            cpu_set_reg(cpu, R_AX, 4, cpu->xcr0);
            cpu_set_reg(cpu, R_DX, 4, cpu->xcr0 >> 32);
            return;
        case 0xd1: { /* XSETBV: XCR0 with x87 set, only supported components */
            if (!(cpu->cr4 & CR4_OSXSAVE) || in->pfx_mand)
                cpu_ud(cpu);
            need_cpl0(cpu);
            uint64_t v = (uint32_t)cpu->r[R_AX] | cpu->r[R_DX] << 32;
            if ((uint32_t)cpu->r[R_CX] != 0 || !(v & 1) || (v & ~XCR0_SUPPORTED))
                cpu_gp0(cpu);
            cpu->xcr0 = v;
            return;
        }
        case 0xf8:   /* SWAPGS */
            if (!cpu->code64)
                cpu_ud(cpu);
            need_cpl0(cpu);
            swapgs(cpu);
            return;
        case 0xf9:   /* RDTSCP */
            if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0)
                cpu_gp0(cpu);
            {
                uint64_t t = cpu_rdtsc(cpu);
                cpu_set_reg(cpu, R_AX, 4, t);
                cpu_set_reg(cpu, R_DX, 4, t >> 32);
                cpu_set_reg(cpu, R_CX, 4, cpu->tsc_aux);
            }
            return;
        default:
            break;
        }
        if (r == 4) {
            cpu_reg_write(cpu, in, in->rm, in->opsize == 1 ? 2 : in->opsize, cpu->cr0);
            return;
        }
        if (r == 6) {
            need_cpl0(cpu);
            uint64_t v = cpu_reg_read(cpu, in, in->rm, 2);
            /* LMSW cannot clear PE */
            cpu_write_cr0(cpu, (cpu->cr0 & ~0xeull) | (v & 0xf) | (cpu->cr0 & CR0_PE));
            end_block(cpu);
            return;
        }
        cpu_ud(cpu);
    }
    uint64_t ea = cpu_ea(cpu, in);
    switch (r) {
    case 0: case 1: {
        const uint64_t base = r == 0 ? cpu->gdt.base : cpu->idt.base;
        const uint16_t lim = r == 0 ? cpu->gdt.limit : cpu->idt.limit;
        cpu_write_mem(cpu, in->seg, ea, 2, lim);
        if (cpu->code64)
            cpu_write_mem(cpu, in->seg, (ea + 2) & size_mask(in->adsize), 8, base);
        else
            cpu_write_mem(cpu, in->seg, (ea + 2) & size_mask(in->adsize), 4,
                          in->opsize == 2 ? base & 0xffffff : base);
        return;
    }
    case 2: case 3: {
        need_cpl0(cpu);
        uint16_t lim = (uint16_t)cpu_read_mem(cpu, in->seg, ea, 2);
        uint64_t base;
        if (cpu->code64)
            base = cpu_read_mem(cpu, in->seg, (ea + 2) & size_mask(in->adsize), 8);
        else
            base = cpu_read_mem(cpu, in->seg, (ea + 2) & size_mask(in->adsize), 4) &
                   (in->opsize == 2 ? 0xffffff : 0xffffffff);
        if (r == 2) {
            cpu->gdt.base = base;
            cpu->gdt.limit = lim;
        } else {
            cpu->idt.base = base;
            cpu->idt.limit = lim;
        }
        return;
    }
    case 4:
        cpu_write_mem(cpu, in->seg, ea, 2, cpu->cr0);
        return;
    case 6: {
        need_cpl0(cpu);
        uint64_t v = cpu_read_mem(cpu, in->seg, ea, 2);
        cpu_write_cr0(cpu, (cpu->cr0 & ~0xeull) | (v & 0xf) | (cpu->cr0 & CR0_PE));
        end_block(cpu);
        return;
    }
    case 7:
        need_cpl0(cpu);
        cpu_tlb_flush_page(cpu, cpu->code64 ? ea + ((in->seg == S_FS || in->seg == S_GS) ? cpu->seg[in->seg].base : 0)
                                            : (uint32_t)(cpu->seg[in->seg].base + ea));
        end_block(cpu);
        return;
    default:
        cpu_ud(cpu);
    }
}

/* 0F AE: fences and CLFLUSH here; FXSAVE & co. belong to the SSE family. */
void op_grp15(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->reg & 7;
    if (in->mod == 3) {
        if (in->pfx_mand == 0xf3 && r <= 3 && cpu->code64) {   /* RD/WR FS/GS BASE */
            if (!(cpu->cr4 & CR4_FSGSBASE))
                cpu_ud(cpu);
            unsigned s = (r & 1) ? S_GS : S_FS;
            unsigned size = in->opsize == 8 ? 8 : 4;
            if (r < 2)
                cpu_reg_write(cpu, in, in->rm, size, cpu->seg[s].base);
            else
                cpu->seg[s].base = cpu_reg_read(cpu, in, in->rm, size);
            return;
        }
        if (r >= 5 && !in->pfx_mand) {   /* LFENCE/MFENCE/SFENCE */
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            return;
        }
        cpu_ud(cpu);
    }
    if (r == 7 && (in->pfx_mand == 0 || in->pfx_mand == 0x66)) {   /* CLFLUSH(OPT) */
        cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), 1);
        return;
    }
    cpu_op_sse(cpu, in);
}

/* ---- fast system calls ---------------------------------------------------- */

/* SYSCALL/SYSRET single-step on the TF they end with (a #DB trap). */
static void tf_trap(struct cpu_x86 *cpu)
{
    if (cpu->eflags & F_TF) {
        cpu->dr[6] |= 0x4000;
        cpu->insn_rip = cpu->rip;
        cpu_raise_noerr(cpu, EXC_DB);
    }
}

static void flat_seg(struct cpu_seg *s, uint16_t sel, bool code, unsigned dpl, bool l)
{
    s->sel = sel;
    s->base = 0;
    s->limit = 0xffffffff;
    s->flags = (uint16_t)(SEGF_P | SEGF_S | (code ? 0xb : 0x3) | (dpl << 5) | SEGF_G |
                          (l ? SEGF_L : SEGF_DB));
}

void op_syscall(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (!(cpu->efer & EFER_SCE) || !cpu_pe(cpu))
        cpu_ud(cpu);
    uint16_t sel = (uint16_t)(cpu->star >> 32) & 0xfffc;
    uint64_t fl = cpu_flags(cpu);
    if (cpu_lma(cpu)) {
        cpu->r[R_CX] = cpu->rip;
        cpu->r[R_R11] = fl & ~(uint64_t)F_RF;
        cpu->rip = cpu->code64 ? cpu->lstar : cpu->cstar;
        flat_seg(&cpu->seg[S_CS], sel, true, 0, true);
        cpu_set_flags(cpu, fl & ~cpu->sfmask & ~(uint64_t)F_RF, ~0ull);
    } else {
        cpu->r[R_CX] = (uint32_t)cpu->rip;
        cpu->rip = (uint32_t)cpu->star;
        flat_seg(&cpu->seg[S_CS], sel, true, 0, false);
        cpu->eflags &= ~(F_VM | F_IF | F_RF);
    }
    flat_seg(&cpu->seg[S_SS], (uint16_t)(sel + 8), false, 0, false);
    cpu_update_mode(cpu);
    tf_trap(cpu);
}

void op_sysret(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (!(cpu->efer & EFER_SCE) || !cpu_pe(cpu))
        cpu_ud(cpu);
    if (cpu->cpl != 0)
        cpu_gp0(cpu);
    uint16_t sel = (uint16_t)(cpu->star >> 48);
    if (cpu_lma(cpu)) {
        if (in->opsize == 8) {
            uint64_t rip = cpu->r[R_CX];
            if (!cpu_canonical(rip))
                cpu_gp0(cpu);
            flat_seg(&cpu->seg[S_CS], (uint16_t)((sel + 16) | 3), true, 3, true);
            cpu->rip = rip;
        } else {
            flat_seg(&cpu->seg[S_CS], (uint16_t)(sel | 3), true, 3, false);
            cpu->rip = (uint32_t)cpu->r[R_CX];
        }
        cpu_set_flags(cpu, cpu->r[R_R11], 0x3c7fd7);
    } else {
        flat_seg(&cpu->seg[S_CS], (uint16_t)(sel | 3), true, 3, false);
        cpu->rip = (uint32_t)cpu->r[R_CX];
        cpu->eflags |= F_IF;
    }
    /* SS keeps its cached attributes except DPL/selector (as on Intel) */
    cpu->seg[S_SS].sel = (uint16_t)((sel + 8) | 3);
    cpu->seg[S_SS].flags = (uint16_t)((cpu->seg[S_SS].flags & ~(3u << 5)) | (3u << 5) | SEGF_P);
    cpu_update_mode(cpu);
    tf_trap(cpu);
}

void op_sysenter(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint16_t cs = (uint16_t)cpu->sysenter_cs & 0xfffc;
    if (!cpu_pe(cpu) || !cs)
        cpu_gp0(cpu);
    cpu->eflags &= ~(F_VM | F_IF | F_RF);
    flat_seg(&cpu->seg[S_CS], cs, true, 0, cpu_lma(cpu));
    flat_seg(&cpu->seg[S_SS], (uint16_t)(cs + 8), false, 0, false);
    cpu->r[R_SP] = cpu_lma(cpu) ? cpu->sysenter_esp : (uint32_t)cpu->sysenter_esp;
    cpu->rip = cpu_lma(cpu) ? cpu->sysenter_eip : (uint32_t)cpu->sysenter_eip;
    cpu_update_mode(cpu);
}

void op_sysexit(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint16_t cs = (uint16_t)cpu->sysenter_cs & 0xfffc;
    if (!cpu_pe(cpu) || !cs || cpu->cpl != 0)
        cpu_gp0(cpu);
    if (in->opsize == 8) {
        flat_seg(&cpu->seg[S_CS], (uint16_t)((cs + 32) | 3), true, 3, true);
        flat_seg(&cpu->seg[S_SS], (uint16_t)((cs + 40) | 3), false, 3, false);
        cpu->r[R_SP] = cpu->r[R_CX];
        cpu->rip = cpu->r[R_DX];
    } else {
        flat_seg(&cpu->seg[S_CS], (uint16_t)((cs + 16) | 3), true, 3, false);
        flat_seg(&cpu->seg[S_SS], (uint16_t)((cs + 24) | 3), false, 3, false);
        cpu->r[R_SP] = (uint32_t)cpu->r[R_CX];
        cpu->rip = (uint32_t)cpu->r[R_DX];
    }
    cpu_update_mode(cpu);
}

/* ---- CPUID, TSC, MSRs ---------------------------------------------------- */

void op_cpuid(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint32_t o[4];
    cpu_cpuid_fill(cpu, (uint32_t)cpu->r[R_AX], (uint32_t)cpu->r[R_CX], o);
    cpu->r[R_AX] = o[0];
    cpu->r[R_BX] = o[1];
    cpu->r[R_CX] = o[2];
    cpu->r[R_DX] = o[3];
}

void op_rdtsc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0 && cpu_pe(cpu))
        cpu_gp0(cpu);
    uint64_t t = cpu_rdtsc(cpu);
    cpu_set_reg(cpu, R_AX, 4, t);
    cpu_set_reg(cpu, R_DX, 4, t >> 32);
}

void op_rdmsr(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t v;
    need_cpl0(cpu);
    if (cpu_msr_read(cpu, (uint32_t)cpu->r[R_CX], &v) < 0)
        cpu_gp0(cpu);
    cpu_set_reg(cpu, R_AX, 4, v);
    cpu_set_reg(cpu, R_DX, 4, v >> 32);
}

void op_wrmsr(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    need_cpl0(cpu);
    uint64_t v = (cpu->r[R_AX] & 0xffffffffu) | (cpu->r[R_DX] << 32);
    if (cpu_msr_write(cpu, (uint32_t)cpu->r[R_CX], v) < 0)
        cpu_gp0(cpu);
    end_block(cpu);
}
