/* SSE4.1 and SSE4.2 (66 0F 38 / 66 0F 3A forms), PCLMULQDQ (66 0F 3A 44) and
 * CRC32 (F2 0F 38 F0/F1).
 *
 * sse4.c's map dispatchers call sse41_map38_op / sse41_map3a_op for what the
 * SSSE3 tables do not cover. Legacy-SSE rules: 128-bit memory operands must
 * be 16-byte aligned (#GP(0)) except for PCMPxSTRx; narrower operands
 * (PMOVSX/ZX, ROUNDSS/SD, INSERTPS, PINSR*, PEXTR*) have no alignment rule.
 *
 * Floating point (ROUND*, DPPS/DPPD) runs on the host's SSE unit bracketed by
 * the guest's MXCSR, so results and exception flags are the host's own. */
#include <math.h>
#include <immintrin.h>

#include "simd.h"

/* ---- operands ----------------------------------------------------------- */

/* Source operand of `len` bytes (2, 4, 8, 16): XMM register or memory.
 * Bytes above `len` are zero. */
static void src_read(struct cpu_x86 *cpu, const struct cpu_insn *in, xmm_t *v, unsigned len,
                     bool align)
{
    if (!simd_mem(in)) {
        *v = *xreg(cpu, in->rm);
        return;
    }
    if (len != 2) {
        simd_read_rm(cpu, in, v, len, false, align);
        return;
    }
    uint64_t lin = simd_lin(cpu, in, 2, false, ACC_R);
    v->q[0] = v->q[1] = 0;
    v->w[0] = (uint16_t)cpu_lin_read(cpu, lin, 2, ACC_R);
}

/* Store `len` bytes of `v` to the r/m operand: memory, or a GPR written as
 * a 32-bit value (zero-extended) or 64-bit one when `len` is 8. */
static void gpr_or_mem_write(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned len,
                             uint64_t v)
{
    if (simd_mem(in)) {
        uint64_t lin = simd_lin(cpu, in, len, false, ACC_W);
        cpu_lin_write(cpu, lin, len, v, ACC_W);
        return;
    }
    cpu->r[in->rm] = len == 8 ? v : (uint32_t)v;
}

static uint64_t gpr_or_mem_read(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned len)
{
    if (simd_mem(in)) {
        uint64_t lin = simd_lin(cpu, in, len, false, ACC_R);
        return cpu_lin_read(cpu, lin, len, ACC_R);
    }
    return cpu->r[in->rm] & size_mask(len);
}

/* ---- host FP bracket with an explicit rounding mode ---------------------- */

static uint32_t fp_enter(struct cpu_x86 *cpu, unsigned rc)
{
    uint32_t saved, m = MXCSR_MASKS | (rc << MXCSR_RC_SHIFT) |
                        (cpu->fpu.mxcsr & (MXCSR_DAZ | MXCSR_FZ));
    __asm__ volatile("stmxcsr %0" : "=m"(saved) : : "memory");
    __asm__ volatile("ldmxcsr %0" : : "m"(m) : "memory");
    return saved;
}

static void fp_leave(struct cpu_x86 *cpu, uint32_t saved)
{
    uint32_t m;
    __asm__ volatile("stmxcsr %0" : "=m"(m) : : "memory");
    cpu->fpu.mxcsr |= m & 0x3f;
    __asm__ volatile("ldmxcsr %0" : : "m"(saved) : "memory");
}

static unsigned guest_rc(const struct cpu_x86 *cpu)
{
    return (cpu->fpu.mxcsr >> MXCSR_RC_SHIFT) & 3;
}

/* ---- ROUNDPS/PD/SS/SD ------------------------------------------------------ */

/* With the host's own ROUNDPS/PD when it has SSE4.1 (the rounding mode is
 * set in the host MXCSR, so only "current direction" and the precision
 * suppression bit vary); otherwise rint/nearbyint in C. */
__attribute__((target("sse4.1")))
static void round_host(xmm_t *v, bool dbl, bool noprec)
{
    if (dbl) {
        __m128d x = _mm_load_pd(v->fd);
        x = noprec ? _mm_round_pd(x, _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC)
                   : _mm_round_pd(x, _MM_FROUND_CUR_DIRECTION);
        _mm_store_pd(v->fd, x);
    } else {
        __m128 x = _mm_load_ps(v->f);
        x = noprec ? _mm_round_ps(x, _MM_FROUND_CUR_DIRECTION | _MM_FROUND_NO_EXC)
                   : _mm_round_ps(x, _MM_FROUND_CUR_DIRECTION);
        _mm_store_ps(v->f, x);
    }
}

static void round_soft(xmm_t *v, bool dbl, bool noprec)
{
    for (unsigned i = 0; i < (dbl ? 2u : 4u); i++) {
        if (dbl)
            v->fd[i] = noprec ? nearbyint(v->fd[i]) : rint(v->fd[i]);
        else
            v->f[i] = noprec ? nearbyintf(v->f[i]) : rintf(v->f[i]);
    }
}

static void op_round(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    bool dbl = in->op & 1, scalar = in->op & 2;
    unsigned imm = (unsigned)in->imm & 0xff;
    xmm_t s, d = *xreg(cpu, in->reg);
    src_read(cpu, in, &s, scalar ? (dbl ? 8 : 4) : 16, !scalar);
    static int have = -1;
    if (have < 0)
        have = __builtin_cpu_supports("sse4.1");
    /* scalar forms: round element 0 alone (the others must raise nothing) */
    if (scalar) {
        if (dbl)
            s.q[1] = 0;
        else
            s.q[1] = s.d[1] = 0;
    }
    uint32_t saved = fp_enter(cpu, (imm & 4) ? guest_rc(cpu) : (imm & 3));
    if (have)
        round_host(&s, dbl, imm & 8);
    else
        round_soft(&s, dbl, imm & 8);
    fp_leave(cpu, saved);
    if (!scalar)
        d = s;
    else if (dbl)
        d.q[0] = s.q[0];
    else
        d.d[0] = s.d[0];
    *xreg(cpu, in->reg) = d;
}

/* ---- DPPS / DPPD ----------------------------------------------------------- */

static void op_dp(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned imm = (unsigned)in->imm & 0xff;
    xmm_t s, d = *xreg(cpu, in->reg), r;
    src_read(cpu, in, &s, 16, true);
    uint32_t saved = fp_enter(cpu, guest_rc(cpu));
    if (in->op == 0x40) {
        volatile float t[4];
        for (unsigned i = 0; i < 4; i++)
            if (imm & (0x10u << i)) {
                volatile float p = d.f[i] * s.f[i];
                t[i] = simd_nan_f32(p, d.f[i], s.f[i]);
            } else {
                t[i] = 0.0f;
            }
        volatile float lo0 = t[0] + t[1], hi0 = t[2] + t[3];
        float lo = simd_nan_f32(lo0, t[0], t[1]), hi = simd_nan_f32(hi0, t[2], t[3]);
        volatile float sum0 = lo + hi;
        float sum = simd_nan_f32(sum0, lo, hi);
        for (unsigned i = 0; i < 4; i++)
            r.f[i] = (imm & (1u << i)) ? sum : 0.0f;
    } else {
        volatile double t[2];
        for (unsigned i = 0; i < 2; i++)
            if (imm & (0x10u << i)) {
                volatile double p = d.fd[i] * s.fd[i];
                t[i] = simd_nan_f64(p, d.fd[i], s.fd[i]);
            } else {
                t[i] = 0.0;
            }
        volatile double sum0 = t[0] + t[1];
        double sum = simd_nan_f64(sum0, t[0], t[1]);
        for (unsigned i = 0; i < 2; i++)
            r.fd[i] = (imm & (1u << i)) ? sum : 0.0;
    }
    fp_leave(cpu, saved);
    *xreg(cpu, in->reg) = r;
}

/* ---- PCMPESTRI/ESTRM/ISTRI/ISTRM -------------------------------------------- */

static int str_elem(const xmm_t *v, unsigned i, unsigned fmt)
{
    switch (fmt) {
    case 0: return v->b[i];
    case 1: return v->w[i];
    case 2: return (int8_t)v->b[i];
    default: return (int16_t)v->w[i];
    }
}

static unsigned str_implicit_len(const xmm_t *v, unsigned n, unsigned fmt)
{
    unsigned i = 0;
    while (i < n && str_elem(v, i, fmt) != 0)
        i++;
    return i;
}

static unsigned str_explicit_len(uint64_t reg, bool w64, unsigned n)
{
    uint64_t mag;
    if (w64)
        mag = (int64_t)reg < 0 ? -reg : reg;
    else
        mag = (int32_t)reg < 0 ? (uint32_t)-(uint32_t)reg : (uint32_t)reg;
    return mag > n ? n : (unsigned)mag;
}

static void op_pcmpstr(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned imm = (unsigned)in->imm & 0xff, fmt = imm & 3, agg = (imm >> 2) & 3;
    unsigned pol = (imm >> 4) & 3, n = (imm & 1) ? 8 : 16;
    bool explicit_len = !(in->op & 2), index = in->op & 1;
    xmm_t b;
    src_read(cpu, in, &b, 16, false);
    const xmm_t *a = xreg(cpu, in->reg);
    unsigned la, lb;
    if (explicit_len) {
        bool w = in->rex & 8;
        la = str_explicit_len(cpu->r[R_AX], w, n);
        lb = str_explicit_len(cpu->r[R_DX], w, n);
    } else {
        la = str_implicit_len(a, n, fmt);
        lb = str_implicit_len(&b, n, fmt);
    }
    uint32_t res = 0;
    for (unsigned i = 0; i < n; i++) {
        bool hit = false;
        switch (agg) {
        case 0:                                     /* equal any */
            for (unsigned j = 0; j < la && i < lb && !hit; j++)
                hit = str_elem(a, j, fmt) == str_elem(&b, i, fmt);
            break;
        case 1:                                     /* ranges */
            if (i < lb) {
                int v = str_elem(&b, i, fmt);
                for (unsigned j = 0; j + 1 < la && !hit; j += 2)
                    hit = str_elem(a, j, fmt) <= v && v <= str_elem(a, j + 1, fmt);
            }
            break;
        case 2:                                     /* equal each */
            if (i >= la && i >= lb)
                hit = true;
            else if (i < la && i < lb)
                hit = str_elem(a, i, fmt) == str_elem(&b, i, fmt);
            break;
        default:                                    /* equal ordered */
            hit = true;
            for (unsigned k = 0; i + k < n && k < la && hit; k++)
                hit = i + k < lb && str_elem(a, k, fmt) == str_elem(&b, i + k, fmt);
            break;
        }
        if (hit)
            res |= 1u << i;
    }
    uint32_t all = (1u << n) - 1;
    if (pol == 1)
        res ^= all;
    else if (pol == 3)
        res ^= (1u << lb) - 1;
    uint32_t fl = 0;
    if (res)
        fl |= F_CF;
    if (lb < n)
        fl |= F_ZF;
    if (la < n)
        fl |= F_SF;
    if (res & 1)
        fl |= F_OF;
    if (index) {
        unsigned idx = n;
        if (res)
            idx = (imm & 0x40) ? 31u - (unsigned)__builtin_clz(res) : (unsigned)__builtin_ctz(res);
        cpu->r[R_CX] = idx;
    } else {
        xmm_t m = { .q = { 0, 0 } };
        if (!(imm & 0x40))
            m.d[0] = res;
        else
            for (unsigned i = 0; i < n; i++) {
                bool bit = res & (1u << i);
                if (n == 16)
                    m.b[i] = bit ? 0xff : 0;
                else
                    m.w[i] = bit ? 0xffff : 0;
            }
        cpu->fpu.xmm[0] = m;
    }
    cpu_set_arith_flags(cpu, fl);
}

/* ---- CRC32 (CRC-32C, reflected, no pre/post inversion) ------------------- */

static uint32_t crc32c_byte(uint32_t crc, uint8_t b)
{
    crc ^= b;
    for (unsigned k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
    return crc;
}

static void op_crc32(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->op == 0xf0 ? 1 : in->opsize;
    uint64_t v = cpu_rm_read(cpu, in, size);
    uint32_t crc = (uint32_t)cpu->r[in->reg];
    for (unsigned i = 0; i < size; i++)
        crc = crc32c_byte(crc, (uint8_t)(v >> (8 * i)));
    cpu->r[in->reg] = crc;
}

/* ---- 0F 38 --------------------------------------------------------------------- */

static void pmovx(xmm_t *d, const xmm_t *s, unsigned op)
{
    xmm_t r;
    bool sx = op < 0x30;
    switch (op & 7) {
    case 0: for (unsigned i = 0; i < 8; i++) r.w[i] = sx ? (uint16_t)(int8_t)s->b[i] : s->b[i]; break;
    case 1: for (unsigned i = 0; i < 4; i++) r.d[i] = sx ? (uint32_t)(int8_t)s->b[i] : s->b[i]; break;
    case 2: for (unsigned i = 0; i < 2; i++) r.q[i] = sx ? (uint64_t)(int8_t)s->b[i] : s->b[i]; break;
    case 3: for (unsigned i = 0; i < 4; i++) r.d[i] = sx ? (uint32_t)(int16_t)s->w[i] : s->w[i]; break;
    case 4: for (unsigned i = 0; i < 2; i++) r.q[i] = sx ? (uint64_t)(int16_t)s->w[i] : s->w[i]; break;
    default: for (unsigned i = 0; i < 2; i++) r.q[i] = sx ? (uint64_t)(int32_t)s->d[i] : s->d[i]; break;
    }
    *d = r;
}

static void minmax(xmm_t *d, const xmm_t *s, unsigned op)
{
    bool max = op >= 0x3c;
    for (unsigned i = 0; i < 16; i++) {
        switch (op & 3) {
        case 0: {                                   /* PMINSB / PMAXSB */
            int8_t a = (int8_t)d->b[i], b = (int8_t)s->b[i];
            d->b[i] = (uint8_t)((max ? b > a : b < a) ? b : a);
            break;
        }
        case 1:                                     /* PMINSD / PMAXSD */
            if (i < 4) {
                int32_t a = (int32_t)d->d[i], b = (int32_t)s->d[i];
                d->d[i] = (uint32_t)((max ? b > a : b < a) ? b : a);
            }
            break;
        case 2:                                     /* PMINUW / PMAXUW */
            if (i < 8) {
                uint16_t a = d->w[i], b = s->w[i];
                d->w[i] = (max ? b > a : b < a) ? b : a;
            }
            break;
        default:                                    /* PMINUD / PMAXUD */
            if (i < 4) {
                uint32_t a = d->d[i], b = s->d[i];
                d->d[i] = (max ? b > a : b < a) ? b : a;
            }
            break;
        }
    }
}

static bool map38_66(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned op = in->op;
    xmm_t s, *d = xreg(cpu, in->reg);
    const xmm_t *x0 = xreg(cpu, 0);
    switch (op) {
    case 0x10: case 0x14: case 0x15:                /* PBLENDVB, BLENDVPS/PD */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        for (unsigned i = 0; i < 16; i++) {
            unsigned sel = op == 0x10 ? i : op == 0x14 ? (i | 3) : (i | 7);
            if (x0->b[sel] & 0x80)
                d->b[i] = s.b[i];
        }
        return true;
    case 0x17: {                                    /* PTEST */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        uint32_t fl = 0;
        if (!((d->q[0] & s.q[0]) | (d->q[1] & s.q[1])))
            fl |= F_ZF;
        if (!((~d->q[0] & s.q[0]) | (~d->q[1] & s.q[1])))
            fl |= F_CF;
        cpu_set_arith_flags(cpu, fl);
        return true;
    }
    case 0x20 ... 0x25: case 0x30 ... 0x35: {       /* PMOVSX / PMOVZX */
        static const uint8_t len[6] = { 8, 4, 2, 8, 4, 8 };
        simd_check_sse(cpu);
        src_read(cpu, in, &s, len[op & 7], false);
        pmovx(d, &s, op);
        return true;
    }
    case 0x28:                                      /* PMULDQ */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        for (unsigned i = 0; i < 2; i++)
            d->q[i] = (uint64_t)((int64_t)(int32_t)d->d[2 * i] * (int32_t)s.d[2 * i]);
        return true;
    case 0x29: case 0x37:                           /* PCMPEQQ, PCMPGTQ */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        for (unsigned i = 0; i < 2; i++)
            d->q[i] = (op == 0x29 ? d->q[i] == s.q[i] : (int64_t)d->q[i] > (int64_t)s.q[i])
                      ? ~0ull : 0;
        return true;
    case 0x2a:                                      /* MOVNTDQA */
        simd_check_sse(cpu);
        if (!simd_mem(in))
            cpu_ud(cpu);
        src_read(cpu, in, &s, 16, true);
        *d = s;
        return true;
    case 0x2b: {                                    /* PACKUSDW */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        xmm_t r;
        for (unsigned i = 0; i < 8; i++) {
            int32_t v = (int32_t)(i < 4 ? d->d[i] : s.d[i - 4]);
            r.w[i] = v < 0 ? 0 : v > 65535 ? 65535 : (uint16_t)v;
        }
        *d = r;
        return true;
    }
    case 0x38 ... 0x3f:                             /* PMIN / PMAX */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        minmax(d, &s, op);
        return true;
    case 0x40:                                      /* PMULLD */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        for (unsigned i = 0; i < 4; i++)
            d->d[i] = d->d[i] * s.d[i];
        return true;
    case 0x41: {                                    /* PHMINPOSUW */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        unsigned best = 0;
        for (unsigned i = 1; i < 8; i++)
            if (s.w[i] < s.w[best])
                best = i;
        xmm_t r = { .q = { 0, 0 } };
        r.w[0] = s.w[best];
        r.w[1] = (uint16_t)best;
        *d = r;
        return true;
    }
    default:
        return false;
    }
}

bool sse41_map38_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (in->op == 0xf0 || in->op == 0xf1) {
        if (in->pfx_mand == 0xf2) {
            op_crc32(cpu, in);
            return true;
        }
        if (in->pfx_mand == 0 || in->pfx_mand == 0x66) {
            op_movbe(cpu, in);
            return true;
        }
        return false;
    }
    if (in->pfx_mand != 0x66)
        return false;
    return map38_66(cpu, in);
}

/* ---- 0F 3A ------------------------------------------------------------------- */

bool sse41_map3a_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (in->pfx_mand != 0x66)
        return false;
    unsigned op = in->op, imm = (unsigned)in->imm & 0xff;
    xmm_t s, *d = xreg(cpu, in->reg);
    switch (op) {
    case 0x08 ... 0x0b:
        simd_check_sse(cpu);
        op_round(cpu, in);
        return true;
    case 0x0c: case 0x0d: case 0x0e: {              /* BLENDPS/PD, PBLENDW */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        unsigned esize = op == 0x0c ? 4 : op == 0x0d ? 8 : 2;
        for (unsigned i = 0; i < 16 / esize; i++)
            if (imm & (1u << i))
                memcpy(d->b + i * esize, s.b + i * esize, esize);
        return true;
    }
    case 0x14:                                      /* PEXTRB */
        simd_check_sse(cpu);
        gpr_or_mem_write(cpu, in, 1, d->b[imm & 15]);
        return true;
    case 0x15:                                      /* PEXTRW */
        simd_check_sse(cpu);
        gpr_or_mem_write(cpu, in, 2, d->w[imm & 7]);
        return true;
    case 0x16:                                      /* PEXTRD/Q */
        simd_check_sse(cpu);
        if (in->rex & 8)
            gpr_or_mem_write(cpu, in, 8, d->q[imm & 1]);
        else
            gpr_or_mem_write(cpu, in, 4, d->d[imm & 3]);
        return true;
    case 0x17:                                      /* EXTRACTPS */
        simd_check_sse(cpu);
        gpr_or_mem_write(cpu, in, 4, d->d[imm & 3]);
        return true;
    case 0x20: {                                    /* PINSRB */
        simd_check_sse(cpu);
        uint8_t v = (uint8_t)gpr_or_mem_read(cpu, in, 1);
        d->b[imm & 15] = v;
        return true;
    }
    case 0x21: {                                    /* INSERTPS */
        simd_check_sse(cpu);
        uint32_t v;
        if (simd_mem(in)) {
            src_read(cpu, in, &s, 4, false);
            v = s.d[0];
        } else {
            v = xreg(cpu, in->rm)->d[(imm >> 6) & 3];
        }
        d->d[(imm >> 4) & 3] = v;
        for (unsigned i = 0; i < 4; i++)
            if (imm & (1u << i))
                d->d[i] = 0;
        return true;
    }
    case 0x22:                                      /* PINSRD/Q */
        simd_check_sse(cpu);
        if (in->rex & 8) {
            uint64_t v = gpr_or_mem_read(cpu, in, 8);
            d->q[imm & 1] = v;
        } else {
            uint32_t v = (uint32_t)gpr_or_mem_read(cpu, in, 4);
            d->d[imm & 3] = v;
        }
        return true;
    case 0x40: case 0x41:
        simd_check_sse(cpu);
        op_dp(cpu, in);
        return true;
    case 0x42: {                                    /* MPSADBW */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        unsigned so = (imm & 3) * 4, dof = (imm & 4) ? 4 : 0;
        xmm_t r;
        for (unsigned i = 0; i < 8; i++) {
            unsigned sum = 0;
            for (unsigned k = 0; k < 4; k++) {
                int t = (int)d->b[dof + i + k] - (int)s.b[so + k];
                sum += (unsigned)(t < 0 ? -t : t);
            }
            r.w[i] = (uint16_t)sum;
        }
        *d = r;
        return true;
    }
    case 0x60 ... 0x63:
        simd_check_sse(cpu);
        op_pcmpstr(cpu, in);
        return true;
    case 0x44: {                                    /* PCLMULQDQ */
        simd_check_sse(cpu);
        src_read(cpu, in, &s, 16, true);
        uint64_t a = d->q[imm & 1], b = s.q[(imm >> 4) & 1], lo = 0, hi = 0;
        for (unsigned i = 0; i < 64; i++)
            if ((b >> i) & 1) {
                lo ^= a << i;
                hi ^= i ? a >> (64 - i) : 0;
            }
        d->q[0] = lo;
        d->q[1] = hi;
        return true;
    }
    default:
        return false;
    }
}
