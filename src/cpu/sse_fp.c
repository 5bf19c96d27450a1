/* SSE/SSE2/SSE3 floating point: moves and shuffles of packed/scalar single
 * and double (0F 10-17, 28-2B, 50, C6, 14/15), arithmetic (51-5F, C2,
 * SSE3 7C/7D/D0), logic (54-57), conversions (2A-2D, 5A, 5B, E6) and
 * compares setting EFLAGS (2E/2F).
 *
 * Arithmetic runs on the host's SSE unit through C float/double, which has
 * the same IEEE semantics; the host's exception flags are folded into
 * MXCSR after each operation and the guest's rounding mode is applied when
 * it is not round-to-nearest. DAZ/FZ come from the host unit; here every
 * exception behaves as masked, and cpu_op_sse (sse.c) undoes the results
 * and raises #XM when one was unmasked. */
#include <math.h>
#include <immintrin.h>

#include "simd.h"

enum fop { F_ADD, F_MUL, F_SUB, F_MIN, F_DIV, F_MAX, F_SQRT, F_RSQRT, F_RCP };

/* The host operation is forced through a volatile so it runs (and raises
 * its flags) even when the NaN fix-up discards its result. */
#define NANF(expr) do { volatile float r_ = (expr); return simd_nan_f32(r_, a, b); } while (0)
#define NAND(expr) do { volatile double r_ = (expr); return simd_nan_f64(r_, a, b); } while (0)

static float op_f32(enum fop op, float a, float b)
{
    switch (op) {
    case F_ADD: NANF(a + b);
    case F_MUL: NANF(a * b);
    case F_SUB: NANF(a - b);
    case F_MIN: return a < b ? a : b;
    case F_DIV: NANF(a / b);
    case F_MAX: return a > b ? a : b;
    case F_SQRT: { volatile float r_ = sqrtf(b); return simd_nan_f32(r_, b, b); }
    case F_RSQRT: return 1.0f / sqrtf(b);
    default: return 1.0f / b;
    }
}

static double op_f64(enum fop op, double a, double b)
{
    switch (op) {
    case F_ADD: NAND(a + b);
    case F_MUL: NAND(a * b);
    case F_SUB: NAND(a - b);
    case F_MIN: return a < b ? a : b;
    case F_DIV: NAND(a / b);
    case F_MAX: return a > b ? a : b;
    default: { volatile double r_ = sqrt(b); return simd_nan_f64(r_, b, b); }
    }
}

/* Bracket host FP work: the guest's rounding mode, DAZ and FZ go into the
 * host MXCSR (all exceptions masked) and the exception flags the host
 * raised come back into the guest's MXCSR, denormal flag included. */
static uint32_t fp_begin(struct cpu_x86 *cpu)
{
    uint32_t saved, m = MXCSR_MASKS | (cpu->fpu.mxcsr & (0x6000u | MXCSR_DAZ | MXCSR_FZ));
    __asm__ volatile("stmxcsr %0" : "=m"(saved) : : "memory");
    __asm__ volatile("ldmxcsr %0" : : "m"(m) : "memory");
    return saved;
}

static void fp_end(struct cpu_x86 *cpu, uint32_t saved)
{
    uint32_t m;
    __asm__ volatile("stmxcsr %0" : "=m"(m) : : "memory");
    cpu->fpu.mxcsr |= m & 0x3f;
    __asm__ volatile("ldmxcsr %0" : : "m"(saved) : "memory");
}

/* Packed/scalar arithmetic for 0F 51-5F: pfx 0 ps, 66 pd, F3 ss, F2 sd. */
static void arith(struct cpu_x86 *cpu, const struct cpu_insn *in, enum fop op)
{
    unsigned pfx = in->pfx_mand;
    bool dbl = pfx == 0x66 || pfx == 0xf2, scalar = pfx == 0xf3 || pfx == 0xf2;
    if (dbl && (op == F_RSQRT || op == F_RCP))
        cpu_ud(cpu);
    simd_check_sse(cpu);
    xmm_t s, d = *xreg(cpu, in->reg);
    simd_read_rm(cpu, in, &s, scalar ? (dbl ? 8 : 4) : 16, false, !scalar);
    unsigned n = scalar ? 1 : dbl ? 2 : 4;
    uint32_t saved = fp_begin(cpu);
    for (unsigned i = 0; i < n; i++) {
        if (dbl) {
            if ((op == F_MIN || op == F_MAX) && (isnan(d.fd[i]) || isnan(s.fd[i])))
                cpu->fpu.mxcsr |= MXCSR_IE;
            d.fd[i] = op_f64(op, d.fd[i], s.fd[i]);
        } else {
            if ((op == F_MIN || op == F_MAX) && (isnan(d.f[i]) || isnan(s.f[i])))
                cpu->fpu.mxcsr |= MXCSR_IE;
            d.f[i] = op_f32(op, d.f[i], s.f[i]);
        }
    }
    fp_end(cpu, saved);
    *xreg(cpu, in->reg) = d;
}

/* LT/LE/NLT/NLE signal invalid on any NaN, the others on SNaN only. */
static bool cmp_pred(struct cpu_x86 *cpu, unsigned p, double a, double b, bool snan)
{
    bool un = isnan(a) || isnan(b);
    if ((un && ((p & 3) == 1 || (p & 3) == 2)) || snan)
        cpu->fpu.mxcsr |= MXCSR_IE;
    switch (p & 7) {
    case 0: return !un && a == b;
    case 1: return !un && a < b;
    case 2: return !un && a <= b;
    case 3: return un;
    case 4: return un || a != b;
    case 5: return un || !(a < b);
    case 6: return un || !(a <= b);
    default: return !un;
    }
}

static void cmp_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned pfx = in->pfx_mand;
    bool dbl = pfx == 0x66 || pfx == 0xf2, scalar = pfx == 0xf3 || pfx == 0xf2;
    simd_check_sse(cpu);
    xmm_t s, d = *xreg(cpu, in->reg);
    simd_read_rm(cpu, in, &s, scalar ? (dbl ? 8 : 4) : 16, false, !scalar);
    unsigned n = scalar ? 1 : dbl ? 2 : 4, p = (unsigned)in->imm;
    for (unsigned i = 0; i < n; i++) {
        if (dbl)
            d.q[i] = cmp_pred(cpu, p, d.fd[i], s.fd[i],
                              issignaling(d.fd[i]) || issignaling(s.fd[i])) ? ~0ULL : 0;
        else
            d.d[i] = cmp_pred(cpu, p, d.f[i], s.f[i],
                              issignaling(d.f[i]) || issignaling(s.f[i])) ? ~0u : 0;
    }
    *xreg(cpu, in->reg) = d;
}

static void comis(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    bool dbl = in->pfx_mand == 0x66;
    simd_check_sse(cpu);
    xmm_t s;
    simd_read_rm(cpu, in, &s, dbl ? 8 : 4, false, false);
    const xmm_t *d = xreg(cpu, in->reg);
    double a = dbl ? d->fd[0] : d->f[0], b = dbl ? s.fd[0] : s.f[0];
    bool snan = dbl ? issignaling(d->fd[0]) || issignaling(s.fd[0])
                    : issignaling(d->f[0]) || issignaling(s.f[0]);
    uint32_t saved = fp_begin(cpu);
    bool denormal = dbl ? (fpclassify(d->fd[0]) == FP_SUBNORMAL || fpclassify(s.fd[0]) == FP_SUBNORMAL)
                        : (fpclassify(d->f[0]) == FP_SUBNORMAL || fpclassify(s.f[0]) == FP_SUBNORMAL);
    fp_end(cpu, saved);
    if (denormal && !(cpu->fpu.mxcsr & MXCSR_DAZ) && !isnan(a) && !isnan(b))
        cpu->fpu.mxcsr |= MXCSR_DE;
    uint32_t fl;
    if (isnan(a) || isnan(b)) {
        fl = F_ZF | F_PF | F_CF;
        if (in->op == 0x2f || snan)
            cpu->fpu.mxcsr |= MXCSR_IE;
    } else if (a < b) {
        fl = F_CF;
    } else if (a == b) {
        fl = F_ZF;
    } else {
        fl = 0;
    }
    cpu_set_arith_flags(cpu, fl);
}

/* Float/double -> int32/int64 with x86 semantics (integer indefinite on
 * overflow, MXCSR rounding unless truncating), done by the host's own
 * conversion instructions. */
static int64_t to_int(struct cpu_x86 *cpu, double v, bool trunc, bool is64)
{
    __m128d x = _mm_set_sd(v);
    uint32_t saved = fp_begin(cpu);
    int64_t r;
    if (is64)
        r = trunc ? _mm_cvttsd_si64(x) : _mm_cvtsd_si64(x);
    else
        r = trunc ? _mm_cvttsd_si32(x) : _mm_cvtsd_si32(x);
    fp_end(cpu, saved);
    return r;
}

static int64_t to_int_f(struct cpu_x86 *cpu, float v, bool trunc, bool is64)
{
    __m128 x = _mm_set_ss(v);
    uint32_t saved = fp_begin(cpu);
    int64_t r;
    if (is64)
        r = trunc ? _mm_cvttss_si64(x) : _mm_cvtss_si64(x);
    else
        r = trunc ? _mm_cvttss_si32(x) : _mm_cvtss_si32(x);
    fp_end(cpu, saved);
    return r;
}

static void cvt_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned pfx = in->pfx_mand, op = in->op;
    xmm_t s, d;
    bool is64 = in->rex & 8;
    switch (op) {
    case 0x2a:
        if (pfx == 0xf3 || pfx == 0xf2) {           /* CVTSI2SS/SD */
            simd_check_sse(cpu);
            int64_t v = is64 ? (int64_t)cpu_rm_read(cpu, in, 8) : (int32_t)cpu_rm_read(cpu, in, 4);
            d = *xreg(cpu, in->reg);
            uint32_t saved = fp_begin(cpu);
            if (pfx == 0xf3)
                d.f[0] = (float)v;
            else
                d.fd[0] = (double)v;
            fp_end(cpu, saved);
            *xreg(cpu, in->reg) = d;
        } else {                                    /* CVTPI2PS / CVTPI2PD */
            simd_check_sse(cpu);
            simd_read_rm(cpu, in, &s, 8, true, false);
            if (!simd_mem(in))
                mmx_enter(cpu);
            d = *xreg(cpu, in->reg);
            if (pfx == 0) {
                uint32_t saved = fp_begin(cpu);
                d.f[0] = (float)(int32_t)s.d[0];
                d.f[1] = (float)(int32_t)s.d[1];
                fp_end(cpu, saved);
            } else {
                d.fd[0] = (int32_t)s.d[0];
                d.fd[1] = (int32_t)s.d[1];
            }
            *xreg(cpu, in->reg) = d;
        }
        return;
    case 0x2c:
    case 0x2d: {
        bool tr = op == 0x2c;
        simd_check_sse(cpu);
        if (pfx == 0xf3 || pfx == 0xf2) {           /* CVT(T)SS2SI / SD2SI */
            simd_read_rm(cpu, in, &s, pfx == 0xf3 ? 4 : 8, false, false);
            int64_t r = pfx == 0xf3 ? to_int_f(cpu, s.f[0], tr, is64)
                                    : to_int(cpu, s.fd[0], tr, is64);
            cpu_set_reg(cpu, in->reg, is64 ? 8 : 4, (uint64_t)r);
        } else {                                    /* to MMX */
            simd_read_rm(cpu, in, &s, pfx == 0 ? 8 : 16, false, pfx == 0x66);
            mmx_enter(cpu);
            uint32_t lo, hi;
            if (pfx == 0) {
                lo = (uint32_t)to_int_f(cpu, s.f[0], tr, false);
                hi = (uint32_t)to_int_f(cpu, s.f[1], tr, false);
            } else {
                lo = (uint32_t)to_int(cpu, s.fd[0], tr, false);
                hi = (uint32_t)to_int(cpu, s.fd[1], tr, false);
            }
            mm_write(cpu, in->reg, lo | (uint64_t)hi << 32);
        }
        return;
    }
    case 0x5a: {
        simd_check_sse(cpu);
        d = *xreg(cpu, in->reg);
        static const unsigned len[4] = { 8, 16, 4, 8 };   /* by prefix: none 66 F3 F2 */
        unsigned k = pfx == 0 ? 0 : pfx == 0x66 ? 1 : pfx == 0xf3 ? 2 : 3;
        simd_read_rm(cpu, in, &s, len[k], false, k == 1);
        uint32_t saved = fp_begin(cpu);
        switch (k) {
        case 0:                                     /* CVTPS2PD */
            d.fd[0] = s.f[0];
            d.fd[1] = s.f[1];
            break;
        case 1:                                     /* CVTPD2PS */
            d.f[0] = (float)s.fd[0];
            d.f[1] = (float)s.fd[1];
            d.q[1] = 0;
            break;
        case 2:                                     /* CVTSS2SD */
            d.fd[0] = s.f[0];
            break;
        default:                                    /* CVTSD2SS */
            d.f[0] = (float)s.fd[0];
            break;
        }
        fp_end(cpu, saved);
        *xreg(cpu, in->reg) = d;
        return;
    }
    case 0x5b:
        if (pfx == 0xf2)
            cpu_ud(cpu);
        simd_check_sse(cpu);
        simd_read_rm(cpu, in, &s, 16, false, true);
        for (unsigned i = 0; i < 4; i++) {
            if (pfx == 0) {                         /* CVTDQ2PS */
                uint32_t saved = fp_begin(cpu);
                d.f[i] = (float)(int32_t)s.d[i];
                fp_end(cpu, saved);
            } else {                                /* CVT(T)PS2DQ */
                d.d[i] = (uint32_t)to_int_f(cpu, s.f[i], pfx == 0xf3, false);
            }
        }
        *xreg(cpu, in->reg) = d;
        return;
    default:                                        /* 0xe6 */
        if (pfx == 0)
            cpu_ud(cpu);
        simd_check_sse(cpu);
        if (pfx == 0xf3) {                          /* CVTDQ2PD */
            simd_read_rm(cpu, in, &s, 8, false, false);
            d.fd[0] = (int32_t)s.d[0];
            d.fd[1] = (int32_t)s.d[1];
        } else {                                    /* CVTTPD2DQ / CVTPD2DQ */
            simd_read_rm(cpu, in, &s, 16, false, true);
            d.d[0] = (uint32_t)to_int(cpu, s.fd[0], pfx == 0x66, false);
            d.d[1] = (uint32_t)to_int(cpu, s.fd[1], pfx == 0x66, false);
            d.q[1] = 0;
        }
        *xreg(cpu, in->reg) = d;
        return;
    }
}

/* 0F 10-17, 28, 29, 2B: loads, stores and half moves. */
static bool move_fp(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned pfx = in->pfx_mand, op = in->op;
    xmm_t s, *d = xreg(cpu, in->reg);
    simd_check_sse(cpu);
    switch (op) {
    case 0x10:
        if (pfx == 0xf3 || pfx == 0xf2) {
            unsigned len = pfx == 0xf3 ? 4 : 8;
            if (simd_mem(in)) {
                simd_read_rm(cpu, in, &s, len, false, false);
                *d = s;
            } else if (len == 4) {
                d->d[0] = xreg(cpu, in->rm)->d[0];
            } else {
                d->q[0] = xreg(cpu, in->rm)->q[0];
            }
        } else {
            simd_read_rm(cpu, in, &s, 16, false, false);
            *d = s;
        }
        return true;
    case 0x11:
    case 0x29:
    case 0x2b: {
        bool aligned = op != 0x11;
        if (op != 0x11 && pfx != 0 && pfx != 0x66)
            return false;
        if (op == 0x2b && !simd_mem(in))
            cpu_ud(cpu);
        if (op == 0x11 && (pfx == 0xf3 || pfx == 0xf2)) {
            unsigned len = pfx == 0xf3 ? 4 : 8;
            if (simd_mem(in)) {
                simd_write_mem(cpu, in, d, len, false);
            } else if (len == 4) {
                xreg(cpu, in->rm)->d[0] = d->d[0];
            } else {
                xreg(cpu, in->rm)->q[0] = d->q[0];
            }
            return true;
        }
        if (simd_mem(in))
            simd_write_mem(cpu, in, d, 16, aligned);
        else
            *xreg(cpu, in->rm) = *d;
        return true;
    }
    case 0x28:
        if (pfx != 0 && pfx != 0x66)
            return false;
        simd_read_rm(cpu, in, &s, 16, false, true);
        *d = s;
        return true;
    case 0x12:
        if (pfx == 0xf2) {                          /* MOVDDUP */
            simd_read_rm(cpu, in, &s, 8, false, false);
            d->q[0] = d->q[1] = s.q[0];
        } else if (pfx == 0xf3) {                   /* MOVSLDUP */
            simd_read_rm(cpu, in, &s, 16, false, true);
            d->d[0] = d->d[1] = s.d[0];
            d->d[2] = d->d[3] = s.d[2];
        } else if (!simd_mem(in)) {                 /* MOVHLPS */
            if (pfx)
                cpu_ud(cpu);
            d->q[0] = xreg(cpu, in->rm)->q[1];
        } else {                                    /* MOVLPS / MOVLPD */
            simd_read_rm(cpu, in, &s, 8, false, false);
            d->q[0] = s.q[0];
        }
        return true;
    case 0x16:
        if (pfx == 0xf3) {                          /* MOVSHDUP */
            simd_read_rm(cpu, in, &s, 16, false, true);
            d->d[0] = d->d[1] = s.d[1];
            d->d[2] = d->d[3] = s.d[3];
        } else if (pfx == 0xf2) {
            return false;
        } else if (!simd_mem(in)) {                 /* MOVLHPS */
            if (pfx)
                cpu_ud(cpu);
            d->q[1] = xreg(cpu, in->rm)->q[0];
        } else {                                    /* MOVHPS / MOVHPD */
            simd_read_rm(cpu, in, &s, 8, false, false);
            d->q[1] = s.q[0];
        }
        return true;
    case 0x13:
    case 0x17:
        if (!simd_mem(in) || (pfx != 0 && pfx != 0x66))
            cpu_ud(cpu);
        s.q[0] = op == 0x13 ? d->q[0] : d->q[1];
        simd_write_mem(cpu, in, &s, 8, false);
        return true;
    case 0x14:
    case 0x15: {
        if (pfx != 0 && pfx != 0x66)
            return false;
        simd_read_rm(cpu, in, &s, 16, false, true);
        xmm_t r;
        bool hi = op == 0x15;
        if (pfx == 0) {
            r.d[0] = d->d[hi ? 2 : 0]; r.d[1] = s.d[hi ? 2 : 0];
            r.d[2] = d->d[hi ? 3 : 1]; r.d[3] = s.d[hi ? 3 : 1];
        } else {
            r.q[0] = d->q[hi]; r.q[1] = s.q[hi];
        }
        *d = r;
        return true;
    }
    default:
        return false;
    }
}

static void logic(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    simd_check_sse(cpu);
    xmm_t s, *d = xreg(cpu, in->reg);
    simd_read_rm(cpu, in, &s, 16, false, true);
    for (unsigned i = 0; i < 2; i++) {
        switch (in->op) {
        case 0x54: d->q[i] &= s.q[i]; break;
        case 0x55: d->q[i] = ~d->q[i] & s.q[i]; break;
        case 0x56: d->q[i] |= s.q[i]; break;
        default:   d->q[i] ^= s.q[i]; break;
        }
    }
}

static void horizontal(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned pfx = in->pfx_mand;
    simd_check_sse(cpu);
    xmm_t s, d = *xreg(cpu, in->reg), r;
    simd_read_rm(cpu, in, &s, 16, false, true);
    uint32_t saved = fp_begin(cpu);
    if (in->op == 0xd0) {                           /* ADDSUBPD / ADDSUBPS */
        r = d;
        if (pfx == 0x66) {
            r.fd[0] = op_f64(F_SUB, d.fd[0], s.fd[0]);
            r.fd[1] = op_f64(F_ADD, d.fd[1], s.fd[1]);
        } else {
            for (unsigned i = 0; i < 4; i++)
                r.f[i] = op_f32((i & 1) ? F_ADD : F_SUB, d.f[i], s.f[i]);
        }
    } else {
        enum fop o = in->op == 0x7d ? F_SUB : F_ADD;
        if (pfx == 0x66) {
            r.fd[0] = op_f64(o, d.fd[0], d.fd[1]);
            r.fd[1] = op_f64(o, s.fd[0], s.fd[1]);
        } else {
            r.f[0] = op_f32(o, d.f[0], d.f[1]);
            r.f[1] = op_f32(o, d.f[2], d.f[3]);
            r.f[2] = op_f32(o, s.f[0], s.f[1]);
            r.f[3] = op_f32(o, s.f[2], s.f[3]);
        }
    }
    fp_end(cpu, saved);
    *xreg(cpu, in->reg) = r;
}

bool sse_fp_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned pfx = in->pfx_mand, op = in->op;
    switch (op) {
    case 0x10: case 0x11: case 0x12: case 0x13: case 0x14: case 0x15: case 0x16: case 0x17:
    case 0x28: case 0x29: case 0x2b:
        return move_fp(cpu, in);
    case 0x2a: case 0x2c: case 0x2d: case 0x5a: case 0x5b: case 0xe6:
        cvt_op(cpu, in);
        return true;
    case 0x2e: case 0x2f:
        if (pfx != 0 && pfx != 0x66)
            return false;
        comis(cpu, in);
        return true;
    case 0x50: {                                    /* MOVMSKPS / MOVMSKPD */
        if (!(pfx == 0 || pfx == 0x66) || simd_mem(in))
            return false;
        simd_check_sse(cpu);
        const xmm_t *s = xreg(cpu, in->rm);
        uint32_t m = 0;
        if (pfx == 0)
            for (unsigned i = 0; i < 4; i++)
                m |= (s->d[i] >> 31) << i;
        else
            m = (uint32_t)(s->q[0] >> 63) | (uint32_t)(s->q[1] >> 63) << 1;
        cpu->r[in->reg] = m;
        return true;
    }
    case 0x51: arith(cpu, in, F_SQRT); return true;
    case 0x52: if (pfx != 0 && pfx != 0xf3) return false; arith(cpu, in, F_RSQRT); return true;
    case 0x53: if (pfx != 0 && pfx != 0xf3) return false; arith(cpu, in, F_RCP); return true;
    case 0x54: case 0x55: case 0x56: case 0x57:
        if (pfx != 0 && pfx != 0x66)
            return false;
        logic(cpu, in);
        return true;
    case 0x58: arith(cpu, in, F_ADD); return true;
    case 0x59: arith(cpu, in, F_MUL); return true;
    case 0x5c: arith(cpu, in, F_SUB); return true;
    case 0x5d: arith(cpu, in, F_MIN); return true;
    case 0x5e: arith(cpu, in, F_DIV); return true;
    case 0x5f: arith(cpu, in, F_MAX); return true;
    case 0xc2: cmp_op(cpu, in); return true;
    case 0xc6: {                                    /* SHUFPS / SHUFPD */
        if (pfx != 0 && pfx != 0x66)
            return false;
        simd_check_sse(cpu);
        xmm_t s, d = *xreg(cpu, in->reg), r;
        simd_read_rm(cpu, in, &s, 16, false, true);
        unsigned imm = (unsigned)in->imm;
        if (pfx == 0) {
            r.d[0] = d.d[imm & 3];
            r.d[1] = d.d[(imm >> 2) & 3];
            r.d[2] = s.d[(imm >> 4) & 3];
            r.d[3] = s.d[(imm >> 6) & 3];
        } else {
            r.q[0] = d.q[imm & 1];
            r.q[1] = s.q[(imm >> 1) & 1];
        }
        *xreg(cpu, in->reg) = r;
        return true;
    }
    case 0x7c: case 0x7d:
        if (pfx != 0x66 && pfx != 0xf2)
            return false;
        horizontal(cpu, in);
        return true;
    case 0xd0:
        if (pfx != 0x66 && pfx != 0xf2)
            return false;
        horizontal(cpu, in);
        return true;
    case 0xf0:                                      /* LDDQU */
        if (pfx != 0xf2 || !simd_mem(in))
            return false;
        simd_check_sse(cpu);
        {
            xmm_t s;
            simd_read_rm(cpu, in, &s, 16, false, false);
            *xreg(cpu, in->reg) = s;
        }
        return true;
    default:
        return false;
    }
}
