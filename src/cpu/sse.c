/* MMX/SSE entry point: cpu_op_sse() dispatches the 0F, 0F 38 and 0F 3A
 * SIMD opcodes to the family files (sse_int.c integer, sse_fp.c floating
 * point, sse4.c three-byte maps) and implements what belongs to no family:
 * operand access, the state instructions (FXSAVE/FXRSTOR, LDMXCSR/STMXCSR,
 * EMMS) and the register moves between GPRs, MMX and XMM registers.
 *
 * Memory operands of 16 bytes are two 8-byte accesses; the aligned forms
 * (MOVAPS, MOVDQA, most packed arithmetic) check 16-byte alignment first
 * (#GP(0)), and stores are idempotent on restart if the second half faults.
 */
#include "simd.h"

/* ---- checks and operand access ------------------------------------------ */

void simd_check_sse(struct cpu_x86 *cpu)
{
    cpu_fpu_check_nm(cpu, true);
}

void simd_check_mmx(struct cpu_x86 *cpu)
{
    if (cpu->cr0 & CR0_EM)
        cpu_ud(cpu);
    if (cpu->cr0 & CR0_TS)
        cpu_raise_noerr(cpu, EXC_NM);
}

uint64_t simd_lin(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned len, bool align,
                  int acc)
{
    uint64_t off = cpu_ea(cpu, in);
    uint64_t lin = cpu_lin(cpu, in->seg, off, len, acc);
    if (align && (lin & 15))
        cpu_gp0(cpu);
    return lin;
}

void simd_lin_read16(struct cpu_x86 *cpu, uint64_t lin, xmm_t *v)
{
    uint64_t lo = cpu_lin_read(cpu, lin, 8, ACC_R);
    uint64_t hi = cpu_lin_read(cpu, lin + 8, 8, ACC_R);
    v->q[0] = lo;
    v->q[1] = hi;
}

void simd_lin_write16(struct cpu_x86 *cpu, uint64_t lin, const xmm_t *v)
{
    /* Probe the high half first so a fault leaves memory untouched when
     * the operand crosses into an unmapped page. */
    cpu_lin_write(cpu, lin + 8, 8, v->q[1], ACC_W);
    cpu_lin_write(cpu, lin, 8, v->q[0], ACC_W);
}

void simd_read_rm(struct cpu_x86 *cpu, const struct cpu_insn *in, xmm_t *v, unsigned len,
                  bool mmx, bool align)
{
    if (!simd_mem(in)) {
        if (mmx) {
            v->q[0] = *mmreg(cpu, in->rm);
            v->q[1] = 0;
        } else {
            *v = *xreg(cpu, in->rm);
        }
        return;
    }
    uint64_t lin = simd_lin(cpu, in, len, align, ACC_R);
    v->q[0] = v->q[1] = 0;
    switch (len) {
    case 4: v->d[0] = (uint32_t)cpu_lin_read(cpu, lin, 4, ACC_R); break;
    case 8: v->q[0] = cpu_lin_read(cpu, lin, 8, ACC_R); break;
    default: simd_lin_read16(cpu, lin, v); break;
    }
}

void simd_write_mem(struct cpu_x86 *cpu, const struct cpu_insn *in, const xmm_t *v,
                    unsigned len, bool align)
{
    uint64_t lin = simd_lin(cpu, in, len, align, ACC_W);
    switch (len) {
    case 4: cpu_lin_write(cpu, lin, 4, v->d[0], ACC_W); break;
    case 8: cpu_lin_write(cpu, lin, 8, v->q[0], ACC_W); break;
    default: simd_lin_write16(cpu, lin, v); break;
    }
}

/* ---- FXSAVE / FXRSTOR / MXCSR -------------------------------------------- */

static unsigned nxmm(const struct cpu_x86 *cpu)
{
    return cpu->code64 ? 16 : 8;
}

/* The legacy region (FXSAVE layout, also the first 512 bytes of an XSAVE
 * area), written or read by parts: FX_X87 (bytes 0-23 and ST0-7), FX_SSE
 * (XMM registers), FX_MXCSR (MXCSR and MXCSR_MASK). `w64` selects the
 * 64-bit FIP/FDP format (REX.W forms). */
void simd_fx_store(struct cpu_x86 *cpu, uint64_t lin, bool w64, unsigned parts)
{
    const struct cpu_fpu *f = &cpu->fpu;
    if (parts & FX_X87) {
        uint8_t abridged = 0;
        for (unsigned i = 0; i < 8; i++)
            if (((f->ftw >> (2 * i)) & 3) != 3)
                abridged |= 1u << i;
        xmm_t w;
        w.q[0] = f->fcw | (uint64_t)f->fsw << 16 | (uint64_t)abridged << 32 |
                 (uint64_t)f->fop << 48;
        w.q[1] = w64 ? f->fip : (uint32_t)f->fip | (uint64_t)f->fcs << 32;
        simd_lin_write16(cpu, lin, &w);
        cpu_lin_write(cpu, lin + 16, 8, w64 ? f->fdp : (uint32_t)f->fdp | (uint64_t)f->fds << 32,
                      ACC_W);
        unsigned top = (f->fsw >> 11) & 7;
        for (unsigned i = 0; i < 8; i++) {
            const struct cpu_f80 *r = &f->st[(top + i) & 7];
            w.q[0] = r->mant;
            w.q[1] = r->sexp;
            simd_lin_write16(cpu, lin + 32 + 16 * i, &w);
        }
    }
    if (parts & FX_MXCSR)
        cpu_lin_write(cpu, lin + 24, 8, f->mxcsr | (uint64_t)MXCSR_WRITABLE << 32, ACC_W);
    if (parts & FX_SSE)
        for (unsigned i = 0; i < nxmm(cpu); i++)
            simd_lin_write16(cpu, lin + 160 + 16 * i, &f->xmm[i]);
}

void simd_fx_load(struct cpu_x86 *cpu, uint64_t lin, bool w64, unsigned parts, struct cpu_fpu *f)
{
    if (parts & FX_MXCSR) {
        uint32_t mxcsr = (uint32_t)cpu_lin_read(cpu, lin + 24, 4, ACC_R);
        if (mxcsr & ~MXCSR_WRITABLE)
            cpu_gp0(cpu);
        f->mxcsr = mxcsr;
    }
    if (parts & FX_X87) {
        xmm_t h0;
        simd_lin_read16(cpu, lin, &h0);
        uint64_t dp = cpu_lin_read(cpu, lin + 16, 8, ACC_R);
        struct cpu_f80 regs[8];
        for (unsigned i = 0; i < 8; i++) {
            xmm_t r;
            simd_lin_read16(cpu, lin + 32 + 16 * i, &r);
            regs[i].mant = r.q[0];
            regs[i].sexp = (uint16_t)r.q[1];
        }
        f->fcw = (uint16_t)h0.q[0];
        f->fsw = (uint16_t)(h0.q[0] >> 16);
        uint8_t abridged = (uint8_t)(h0.q[0] >> 32);
        f->fop = (uint16_t)(h0.q[0] >> 48) & 0x7ff;
        if (w64) {
            f->fip = h0.q[1];
            f->fdp = dp;
        } else {
            f->fip = (uint32_t)h0.q[1];
            f->fcs = (uint16_t)(h0.q[1] >> 32);
            f->fdp = (uint32_t)dp;
            f->fds = (uint16_t)(dp >> 32);
        }
        unsigned top = (f->fsw >> 11) & 7;
        for (unsigned i = 0; i < 8; i++) {
            struct cpu_f80 *r = &f->st[(top + i) & 7];
            r->mant = regs[i].mant;
            r->sexp = regs[i].sexp;
            memset(r->pad, 0, sizeof(r->pad));
        }
        f->ftw = 0;
        for (unsigned i = 0; i < 8; i++) {
            unsigned tag = (abridged & (1u << i)) ? x87_tag_of(&f->st[i]) : 3;
            f->ftw |= (uint16_t)(tag << (2 * i));
        }
    }
    if (parts & FX_SSE)
        for (unsigned i = 0; i < nxmm(cpu); i++)
            simd_lin_read16(cpu, lin + 160 + 16 * i, &f->xmm[i]);
}

static void op_fxsave(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_fpu_check_nm(cpu, false);
    uint64_t lin = simd_lin(cpu, in, 512, true, ACC_W);
    simd_fx_store(cpu, lin, in->rex & 8, FX_X87 | FX_SSE | FX_MXCSR);
}

static void op_fxrstor(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_fpu_check_nm(cpu, false);
    uint64_t lin = simd_lin(cpu, in, 512, true, ACC_R);
    struct cpu_fpu f = cpu->fpu;
    simd_fx_load(cpu, lin, in->rex & 8, FX_X87 | FX_SSE | FX_MXCSR, &f);
    cpu->fpu = f;   /* every read done: commit */
}

static void op_grp15_mem(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    switch (in->reg & 7) {
    case 0:
        op_fxsave(cpu, in);
        return;
    case 1:
        op_fxrstor(cpu, in);
        return;
    case 2: {                               /* LDMXCSR */
        simd_check_sse(cpu);
        uint32_t v = (uint32_t)cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), 4);
        if (v & ~MXCSR_WRITABLE)
            cpu_gp0(cpu);
        cpu->fpu.mxcsr = v;
        return;
    }
    case 3:                                 /* STMXCSR */
        simd_check_sse(cpu);
        cpu_write_mem(cpu, in->seg, cpu_ea(cpu, in), 4, cpu->fpu.mxcsr);
        return;
    case 4: case 5: case 6:                 /* XSAVE, XRSTOR, XSAVEOPT (xsave.c) */
        cpu_xsave_op(cpu, in);
        return;
    default:
        cpu_ud(cpu);
    }
}

/* ---- moves between GPRs, MMX and XMM ------------------------------------- */

static void op_movd_to_vec(struct cpu_x86 *cpu, const struct cpu_insn *in, bool mmx)
{
    unsigned len = (in->rex & 8) ? 8 : 4;
    uint64_t v = cpu_rm_read(cpu, in, len);
    if (mmx) {
        mm_write(cpu, in->reg, v);
    } else {
        xmm_t *d = xreg(cpu, in->reg);
        d->q[0] = v;
        d->q[1] = 0;
    }
}

static void op_movd_from_vec(struct cpu_x86 *cpu, const struct cpu_insn *in, bool mmx)
{
    unsigned len = (in->rex & 8) ? 8 : 4;
    uint64_t v = mmx ? *mmreg(cpu, in->reg) : xreg(cpu, in->reg)->q[0];
    if (len == 4)
        v = (uint32_t)v;
    cpu_rm_write(cpu, in, len, v);
}

/* 0F 6F / 7F and their 66/F3 forms; 0F D6; F3 0F 7E; 0F E7. */
static bool move_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned pfx = in->pfx_mand;
    xmm_t t;
    switch (in->op) {
    case 0x6e:
        if (pfx == 0) { simd_check_mmx(cpu); mmx_enter(cpu); op_movd_to_vec(cpu, in, true); return true; }
        if (pfx == 0x66) { simd_check_sse(cpu); op_movd_to_vec(cpu, in, false); return true; }
        return false;
    case 0x7e:
        if (pfx == 0) { simd_check_mmx(cpu); mmx_enter(cpu); op_movd_from_vec(cpu, in, true); return true; }
        if (pfx == 0x66) { simd_check_sse(cpu); op_movd_from_vec(cpu, in, false); return true; }
        if (pfx == 0xf3) {                  /* MOVQ xmm, xmm/m64 */
            simd_check_sse(cpu);
            simd_read_rm(cpu, in, &t, 8, false, false);
            t.q[1] = 0;
            *xreg(cpu, in->reg) = t;
            return true;
        }
        return false;
    case 0x6f:
        if (pfx == 0) {
            simd_check_mmx(cpu);
            simd_read_rm(cpu, in, &t, 8, true, false);
            mmx_enter(cpu);
            mm_write(cpu, in->reg, t.q[0]);
            return true;
        }
        if (pfx == 0x66 || pfx == 0xf3) {
            simd_check_sse(cpu);
            simd_read_rm(cpu, in, &t, 16, false, pfx == 0x66);
            *xreg(cpu, in->reg) = t;
            return true;
        }
        return false;
    case 0x7f:
    case 0xe7:
        if (pfx == 0) {
            simd_check_mmx(cpu);
            if (in->op == 0xe7 && !simd_mem(in))
                cpu_ud(cpu);
            mmx_enter(cpu);
            uint64_t v = *mmreg(cpu, in->reg);
            if (simd_mem(in)) {
                t.q[0] = v;
                simd_write_mem(cpu, in, &t, 8, false);
            } else {
                mm_write(cpu, in->rm, v);
            }
            return true;
        }
        if (pfx == 0x66 || (pfx == 0xf3 && in->op == 0x7f)) {
            simd_check_sse(cpu);
            if (in->op == 0xe7 && !simd_mem(in))
                cpu_ud(cpu);
            t = *xreg(cpu, in->reg);
            if (simd_mem(in))
                simd_write_mem(cpu, in, &t, 16, pfx == 0x66);
            else
                *xreg(cpu, in->rm) = t;
            return true;
        }
        return false;
    case 0xd6:
        simd_check_sse(cpu);
        if (pfx == 0x66) {                  /* MOVQ xmm/m64, xmm */
            t.q[0] = xreg(cpu, in->reg)->q[0];
            t.q[1] = 0;
            if (simd_mem(in))
                simd_write_mem(cpu, in, &t, 8, false);
            else
                *xreg(cpu, in->rm) = t;
            return true;
        }
        if (!simd_mem(in) && pfx == 0xf3) { /* MOVQ2DQ xmm, mm */
            mmx_enter(cpu);
            t.q[0] = *mmreg(cpu, in->rm);
            t.q[1] = 0;
            *xreg(cpu, in->reg) = t;
            return true;
        }
        if (!simd_mem(in) && pfx == 0xf2) { /* MOVDQ2Q mm, xmm */
            mmx_enter(cpu);
            mm_write(cpu, in->reg, xreg(cpu, in->rm)->q[0]);
            return true;
        }
        return false;
    case 0xc3:                              /* MOVNTI m32/m64, r */
        if (pfx != 0 || !simd_mem(in))
            return false;
        {
            unsigned len = (in->rex & 8) ? 8 : 4;
            cpu_rm_write(cpu, in, len, cpu_greg(cpu, in, len));
        }
        return true;
    case 0x77:                              /* EMMS */
        if (pfx != 0)
            return false;
        simd_check_mmx(cpu);
        cpu->fpu.ftw = 0xffff;
        return true;
    default:
        return false;
    }
}

static void sse_exec(struct cpu_x86 *cpu, const struct cpu_insn *in);

/* Unmasked SIMD floating-point exceptions. With every exception masked
 * (what operating systems leave user code) instructions run directly.
 * Otherwise the instruction runs on a copy-backed state: the MXCSR flags
 * it raises are collected and, if one is unmasked, its results are undone
 * (registers, flags), only the exceptions detected before the computation
 * are flagged when one of those is unmasked (invalid, denormal, divide by
 * zero), and #XM is raised (#UD when CR4.OSXMMEXCPT is clear), as the SDM
 * describes for SSE. Instructions that store to memory raise no SIMD
 * floating-point exceptions, so memory never needs undoing. */
void cpu_op_sse(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint32_t mx = cpu->fpu.mxcsr;
    /* 0F AE (LDMXCSR, FXRSTOR, XRSTOR...) replaces MXCSR and raises none */
    if ((mx & MXCSR_MASKS) == MXCSR_MASKS || (in->map == 1 && in->op == 0xae)) {
        sse_exec(cpu, in);
        return;
    }
    xmm_t x[16];
    struct cpu_f80 st[8];
    uint64_t r[16];
    memcpy(x, cpu->fpu.xmm, sizeof(x));
    memcpy(st, cpu->fpu.st, sizeof(st));
    memcpy(r, cpu->r, sizeof(r));
    uint32_t fl = cpu_arith_flags(cpu);
    /* the flags are collected from zero: a fault (#PF, #GP) on the way out
     * must put the guest's flags back before it propagates */
    static _Thread_local uint32_t mx_saved;
    mx_saved = mx;
    jmp_buf outer;
    memcpy(outer, cpu->jb, sizeof(jmp_buf));
    int code = setjmp(cpu->jb);
    if (code) {
        cpu->fpu.mxcsr = (cpu->fpu.mxcsr & ~0x3fu) | (mx_saved & 0x3f);
        memcpy(cpu->jb, outer, sizeof(jmp_buf));
        longjmp(cpu->jb, code);
    }
    cpu->fpu.mxcsr &= ~0x3fu;
    sse_exec(cpu, in);
    memcpy(cpu->jb, outer, sizeof(jmp_buf));
    uint32_t raised = cpu->fpu.mxcsr & 0x3f;
    uint32_t unmasked = raised & ~(mx >> 7) & 0x3f;
    cpu->fpu.mxcsr = (cpu->fpu.mxcsr & ~0x3fu) | (mx & 0x3f);
    if (!unmasked) {
        cpu->fpu.mxcsr |= raised;
        return;
    }
    uint32_t pre = MXCSR_IE | MXCSR_DE | MXCSR_ZE;
    cpu->fpu.mxcsr |= (unmasked & pre) ? (raised & pre) : raised;
    memcpy(cpu->fpu.xmm, x, sizeof(x));
    memcpy(cpu->fpu.st, st, sizeof(st));
    memcpy(cpu->r, r, sizeof(r));
    cpu_set_arith_flags(cpu, fl);
    if (cpu->cr4 & CR4_OSXMMEXCPT)
        cpu_raise_noerr(cpu, EXC_XM);
    cpu_ud(cpu);
}

static void sse_exec(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    bool done = false;
    switch (in->map) {
    case 1:
        if (in->op == 0xae) {
            if (!simd_mem(in) || in->pfx_mand)
                cpu_ud(cpu);
            op_grp15_mem(cpu, in);
            return;
        }
        done = move_op(cpu, in) || sse_int_op(cpu, in) || sse_fp_op(cpu, in);
        break;
    case 2:
        done = sse_map38_op(cpu, in);
        break;
    case 3:
        done = sse_map3a_op(cpu, in);
        break;
    default:
        break;
    }
    if (!done)
        cpu_ud(cpu);
}

/* For CPUID (cpuid.c): MMX, SSE, SSE2, SSE3 (sse_fp.c), SSSE3 (sse4.c),
 * SSE4.1 and SSE4.2 (sse41.c), FXSR; all covered by test_diff_sse. */
const int cpu_sse_level = 6;
