/* Internal helpers shared by the x87/MMX/SSE files (cpu-platform): operand
 * access for MMX and XMM registers and 16-byte memory operands, and the
 * family entry points that sse.c's dispatcher calls. */
#ifndef VK_CPU_SIMD_H
#define VK_CPU_SIMD_H

#include "cpu_int.h"

typedef union cpu_xmm xmm_t;

#define MXCSR_IE   0x0001u
#define MXCSR_DE   0x0002u
#define MXCSR_ZE   0x0004u
#define MXCSR_OE   0x0008u
#define MXCSR_UE   0x0010u
#define MXCSR_PE   0x0020u
#define MXCSR_DAZ  0x0040u
#define MXCSR_MASKS 0x1f80u
#define MXCSR_RC_SHIFT 13
#define MXCSR_FZ   0x8000u
#define MXCSR_WRITABLE 0xffffu   /* MXCSR_MASK advertised by FXSAVE */

static inline bool simd_mem(const struct cpu_insn *in) { return in->mod != 3; }

static inline xmm_t *xreg(struct cpu_x86 *cpu, unsigned r) { return &cpu->fpu.xmm[r & 15]; }
static inline uint64_t *mmreg(struct cpu_x86 *cpu, unsigned r) { return &cpu->fpu.st[r & 7].mant; }

/* An MMX instruction makes the x87 stack all-valid with TOP = 0. */
static inline void mmx_enter(struct cpu_x86 *cpu)
{
    cpu->fpu.ftw = 0;
    cpu->fpu.fsw &= ~0x3800u;
}
/* Writing an MMX register sets its exponent field to all ones. */
static inline void mm_write(struct cpu_x86 *cpu, unsigned r, uint64_t v)
{
    cpu->fpu.st[r & 7].mant = v;
    cpu->fpu.st[r & 7].sexp = 0xffff;
}

/* Checks before an SSE instruction (CR0.EM/TS, CR4.OSFXSR) or an MMX one
 * (CR0.EM: #UD, CR0.TS: #NM). */
void simd_check_sse(struct cpu_x86 *cpu);
void simd_check_mmx(struct cpu_x86 *cpu);

/* Memory operand: linear address of the ModRM operand for `len` bytes, with
 * the 16-byte alignment check (#GP(0)) when `align` is set. */
uint64_t simd_lin(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned len, bool align,
                  int acc);
/* Read/write `len` (4, 8 or 16) bytes of the ModRM r/m operand, register
 * (XMM, or MMX when `mmx`) or memory. Reads zero the rest of *v. */
void simd_read_rm(struct cpu_x86 *cpu, const struct cpu_insn *in, xmm_t *v, unsigned len,
                  bool mmx, bool align);
void simd_write_mem(struct cpu_x86 *cpu, const struct cpu_insn *in, const xmm_t *v,
                    unsigned len, bool align);
/* Linear 16-byte accesses (FXSAVE area, etc.). */
void simd_lin_read16(struct cpu_x86 *cpu, uint64_t lin, xmm_t *v);
void simd_lin_write16(struct cpu_x86 *cpu, uint64_t lin, const xmm_t *v);

/* FXSAVE-layout legacy region (sse.c), by parts. simd_fx_load reads into
 * *f (a copy of cpu->fpu, committed by the caller) and raises #GP(0) on
 * reserved MXCSR bits. */
#define FX_X87   1u
#define FX_SSE   2u
#define FX_MXCSR 4u
void simd_fx_store(struct cpu_x86 *cpu, uint64_t lin, bool w64, unsigned parts);
void simd_fx_load(struct cpu_x86 *cpu, uint64_t lin, bool w64, unsigned parts, struct cpu_fpu *f);
/* XCR0 bits this CPU supports: x87 and SSE state (CPUID 0xD, XSETBV). */
#define XCR0_SUPPORTED 3ull
/* 0F AE /4 /5 /6 memory forms: XSAVE, XRSTOR, XSAVEOPT (xsave.c). */
void cpu_xsave_op(struct cpu_x86 *cpu, const struct cpu_insn *in);

/* Packed integer op on the ModRM reg operand with the r/m source
 * (MMX, 8 bytes, when `mmx`; else XMM, 16 bytes, aligned memory). */
void sse_int_binop(struct cpu_x86 *cpu, const struct cpu_insn *in, bool mmx,
                   void (*fn)(xmm_t *d, const xmm_t *s, unsigned n));

/* Family handlers: return false if the encoding is not theirs (the
 * dispatcher then raises #UD). */
bool sse_int_op(struct cpu_x86 *cpu, const struct cpu_insn *in);    /* sse_int.c */
bool sse_fp_op(struct cpu_x86 *cpu, const struct cpu_insn *in);     /* sse_fp.c */
bool sse_map38_op(struct cpu_x86 *cpu, const struct cpu_insn *in);  /* sse4.c */
bool sse_map3a_op(struct cpu_x86 *cpu, const struct cpu_insn *in);  /* sse4.c */
bool sse41_map38_op(struct cpu_x86 *cpu, const struct cpu_insn *in); /* sse41.c */
bool sse41_map3a_op(struct cpu_x86 *cpu, const struct cpu_insn *in); /* sse41.c */

/* NaN propagation of the SSE arithmetic instructions: when an operand is a
 * NaN the result is the first operand's NaN (destination before source),
 * quieted. Host C code cannot be trusted to keep the operand order of a
 * commutative `a + b` / `a * b`, so results are fixed up with these. */
static inline float simd_nan_f32(float r, float a, float b)
{
    uint32_t u;
    if (__builtin_isnan(a))
        memcpy(&u, &a, 4);
    else if (__builtin_isnan(b))
        memcpy(&u, &b, 4);
    else
        return r;
    u |= 0x00400000u;
    memcpy(&r, &u, 4);
    return r;
}

static inline double simd_nan_f64(double r, double a, double b)
{
    uint64_t u;
    if (__builtin_isnan(a))
        memcpy(&u, &a, 8);
    else if (__builtin_isnan(b))
        memcpy(&u, &b, 8);
    else
        return r;
    u |= 0x0008000000000000ull;
    memcpy(&r, &u, 8);
    return r;
}

/* x87 tag of a register's contents: 0 valid, 1 zero, 2 special (x87.c). */
unsigned x87_tag_of(const struct cpu_f80 *r);

#endif
