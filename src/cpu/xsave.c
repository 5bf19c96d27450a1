/* XSAVE, XSAVEOPT and XRSTOR (0F AE /4 /6 /5, memory forms; REX.W selects
 * the 64-bit FIP/FDP format), standard (non-compacted) form, for the two
 * state components this CPU has: 0 (x87) and 1 (SSE). XCR0 itself
 * (XGETBV/XSETBV) is in system.c, CPUID leaf 0xD in cpuid.c.
 *
 * Layout: the 512-byte legacy region (FXSAVE layout, sse.c) and the 64-byte
 * XSAVE header at offset 512 (XSTATE_BV, XCOMP_BV). The CPU does not track
 * which components are in their initial configuration: XINUSE is always
 * all ones, which the SDM allows, so XSAVEOPT saves what XSAVE saves and
 * XSAVE sets XSTATE_BV for every requested component. */
#include "simd.h"

#define XSAVE_AREA 576u   /* legacy region + header; CPUID.(0xD,0).EBX/ECX */

static uint64_t xsave_begin(struct cpu_x86 *cpu, const struct cpu_insn *in, int acc,
                            uint64_t *rfbm)
{
    if (!(cpu->cr4 & CR4_OSXSAVE))
        cpu_ud(cpu);
    if (cpu->cr0 & CR0_TS)
        cpu_raise_noerr(cpu, EXC_NM);
    uint64_t lin = simd_lin(cpu, in, XSAVE_AREA, false, acc);
    if (lin & 63)
        cpu_gp0(cpu);
    *rfbm = cpu->xcr0 & ((uint32_t)cpu->r[R_AX] | cpu->r[R_DX] << 32);
    return lin;
}

static void op_xsave(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t rfbm;
    uint64_t lin = xsave_begin(cpu, in, ACC_W, &rfbm);
    unsigned parts = ((rfbm & 1) ? FX_X87 : 0) | ((rfbm & 2) ? FX_SSE | FX_MXCSR : 0);
    uint64_t bv = cpu_lin_read(cpu, lin + 512, 8, ACC_R);
    simd_fx_store(cpu, lin, in->rex & 8, parts);
    cpu_lin_write(cpu, lin + 512, 8, (bv & ~rfbm) | rfbm, ACC_W);
}

static void x87_init(struct cpu_fpu *f)
{
    f->fcw = 0x37f;
    f->fsw = 0;
    f->ftw = 0xffff;
    f->fop = 0;
    f->fip = f->fdp = 0;
    f->fcs = f->fds = 0;
    memset(f->st, 0, sizeof(f->st));
}

static void op_xrstor(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t rfbm;
    uint64_t lin = xsave_begin(cpu, in, ACC_R, &rfbm);
    uint64_t bv = cpu_lin_read(cpu, lin + 512, 8, ACC_R);
    uint64_t comp = cpu_lin_read(cpu, lin + 520, 8, ACC_R);
    uint64_t rsvd = cpu_lin_read(cpu, lin + 528, 8, ACC_R);
    /* standard form only (no XSAVEC): XCOMP_BV and the next 8 bytes are
     * zero, and XSTATE_BV names only components enabled in XCR0 */
    if (comp || rsvd || (bv & ~cpu->xcr0))
        cpu_gp0(cpu);
    unsigned parts = ((rfbm & bv & 1) ? FX_X87 : 0) | ((rfbm & bv & 2) ? FX_SSE : 0) |
                     ((rfbm & 2) ? FX_MXCSR : 0);
    struct cpu_fpu f = cpu->fpu;
    simd_fx_load(cpu, lin, in->rex & 8, parts, &f);
    if ((rfbm & 1) && !(bv & 1))
        x87_init(&f);
    if ((rfbm & 2) && !(bv & 2))
        memset(f.xmm, 0, sizeof(f.xmm));
    cpu->fpu = f;   /* every read done: commit */
}

void cpu_xsave_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    switch (in->reg & 7) {
    case 4: op_xsave(cpu, in); return;
    case 5: op_xrstor(cpu, in); return;
    case 6: op_xsave(cpu, in); return;      /* XSAVEOPT: XINUSE is all ones */
    default: cpu_ud(cpu);
    }
}
