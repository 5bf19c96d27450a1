/* MMX/SSE2 integer SIMD: 0F 60-76 and D1-FE (no prefix: MMX registers,
 * 8 bytes; 66: XMM registers, 16 bytes), the immediate shift groups 0F 71-73,
 * PSHUFW/PSHUFD/PSHUFHW/PSHUFLW (0F 70), PINSRW/PEXTRW (0F C4/C5) and
 * PMOVMSKB (0F D7). Each packed operation is one small function over the
 * destination and source vectors; the table maps opcodes to them. */
#include "simd.h"

typedef void (*vec_fn)(xmm_t *d, const xmm_t *s, unsigned n);

static int8_t sat8(int v) { return v > 127 ? 127 : v < -128 ? -128 : (int8_t)v; }
static uint8_t satu8(int v) { return v > 255 ? 255 : v < 0 ? 0 : (uint8_t)v; }
static int16_t sat16(int v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : (int16_t)v; }
static uint16_t satu16(int v) { return v > 65535 ? 65535 : v < 0 ? 0 : (uint16_t)v; }

#define LANES(name, T, field, count, expr)                                  \
    static void name(xmm_t *d, const xmm_t *s, unsigned n)                  \
    {                                                                       \
        for (unsigned i = 0; i < n / sizeof(T); i++) {                      \
            T a = (T)d->field[i], b = (T)s->field[i];                       \
            (void)a; (void)b;                                               \
            d->field[i] = (expr);                                           \
        }                                                                   \
    }

LANES(v_paddb, uint8_t, b, 16, (uint8_t)(a + b))
LANES(v_paddw, uint16_t, w, 8, (uint16_t)(a + b))
LANES(v_paddd, uint32_t, d, 4, a + b)
LANES(v_paddq, uint64_t, q, 2, a + b)
LANES(v_psubb, uint8_t, b, 16, (uint8_t)(a - b))
LANES(v_psubw, uint16_t, w, 8, (uint16_t)(a - b))
LANES(v_psubd, uint32_t, d, 4, a - b)
LANES(v_psubq, uint64_t, q, 2, a - b)
LANES(v_paddsb, int8_t, b, 16, (uint8_t)sat8(a + b))
LANES(v_paddsw, int16_t, w, 8, (uint16_t)sat16(a + b))
LANES(v_psubsb, int8_t, b, 16, (uint8_t)sat8(a - b))
LANES(v_psubsw, int16_t, w, 8, (uint16_t)sat16(a - b))
LANES(v_paddusb, uint8_t, b, 16, satu8(a + b))
LANES(v_paddusw, uint16_t, w, 8, satu16(a + b))
LANES(v_psubusb, uint8_t, b, 16, satu8(a - b))
LANES(v_psubusw, uint16_t, w, 8, satu16(a - b))
LANES(v_pcmpeqb, uint8_t, b, 16, a == b ? 0xff : 0)
LANES(v_pcmpeqw, uint16_t, w, 8, a == b ? 0xffff : 0)
LANES(v_pcmpeqd, uint32_t, d, 4, a == b ? 0xffffffffu : 0)
LANES(v_pcmpgtb, int8_t, b, 16, a > b ? 0xff : 0)
LANES(v_pcmpgtw, int16_t, w, 8, a > b ? 0xffff : 0)
LANES(v_pcmpgtd, int32_t, d, 4, a > b ? 0xffffffffu : 0)
LANES(v_pminub, uint8_t, b, 16, a < b ? a : b)
LANES(v_pmaxub, uint8_t, b, 16, a > b ? a : b)
LANES(v_pminsw, int16_t, w, 8, (uint16_t)(a < b ? a : b))
LANES(v_pmaxsw, int16_t, w, 8, (uint16_t)(a > b ? a : b))
LANES(v_pavgb, uint8_t, b, 16, (uint8_t)((a + b + 1) >> 1))
LANES(v_pavgw, uint16_t, w, 8, (uint16_t)((a + b + 1) >> 1))
LANES(v_pmullw, uint16_t, w, 8, (uint16_t)((uint32_t)a * b))
LANES(v_pmulhw, int16_t, w, 8, (uint16_t)(((int32_t)a * b) >> 16))
LANES(v_pmulhuw, uint16_t, w, 8, (uint16_t)(((uint32_t)a * b) >> 16))
LANES(v_pand, uint64_t, q, 2, a & b)
LANES(v_pandn, uint64_t, q, 2, ~a & b)
LANES(v_por, uint64_t, q, 2, a | b)
LANES(v_pxor, uint64_t, q, 2, a ^ b)

static void v_pmuludq(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n / 8; i++)
        d->q[i] = (uint64_t)d->d[2 * i] * s->d[2 * i];
}

static void v_pmaddwd(xmm_t *d, const xmm_t *s, unsigned n)
{
    xmm_t r;
    for (unsigned i = 0; i < n / 4; i++)
        r.d[i] = (uint32_t)((int32_t)(int16_t)d->w[2 * i] * (int16_t)s->w[2 * i] +
                            (int32_t)(int16_t)d->w[2 * i + 1] * (int16_t)s->w[2 * i + 1]);
    for (unsigned i = 0; i < n / 4; i++)
        d->d[i] = r.d[i];
}

static void v_psadbw(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n / 8; i++) {
        unsigned sum = 0;
        for (unsigned j = 0; j < 8; j++) {
            int x = d->b[8 * i + j] - s->b[8 * i + j];
            sum += (unsigned)(x < 0 ? -x : x);
        }
        d->q[i] = sum;
    }
}

/* Interleave the low (hi = 0) or high halves of d and s in `esize` units. */
static void unpack(xmm_t *d, const xmm_t *s, unsigned n, unsigned esize, bool hi)
{
    xmm_t r;
    unsigned half = n / 2, count = half / esize;
    for (unsigned i = 0; i < count; i++) {
        memcpy(&r.b[2 * i * esize], &d->b[(hi ? half : 0) + i * esize], esize);
        memcpy(&r.b[(2 * i + 1) * esize], &s->b[(hi ? half : 0) + i * esize], esize);
    }
    memcpy(d->b, r.b, n);
}
static void v_punpcklbw(xmm_t *d, const xmm_t *s, unsigned n) { unpack(d, s, n, 1, false); }
static void v_punpcklwd(xmm_t *d, const xmm_t *s, unsigned n) { unpack(d, s, n, 2, false); }
static void v_punpckldq(xmm_t *d, const xmm_t *s, unsigned n) { unpack(d, s, n, 4, false); }
static void v_punpcklqdq(xmm_t *d, const xmm_t *s, unsigned n) { unpack(d, s, n, 8, false); }
static void v_punpckhbw(xmm_t *d, const xmm_t *s, unsigned n) { unpack(d, s, n, 1, true); }
static void v_punpckhwd(xmm_t *d, const xmm_t *s, unsigned n) { unpack(d, s, n, 2, true); }
static void v_punpckhdq(xmm_t *d, const xmm_t *s, unsigned n) { unpack(d, s, n, 4, true); }
static void v_punpckhqdq(xmm_t *d, const xmm_t *s, unsigned n) { unpack(d, s, n, 8, true); }

static void v_packsswb(xmm_t *d, const xmm_t *s, unsigned n)
{
    xmm_t r;
    unsigned k = n / 2;
    for (unsigned i = 0; i < k; i++) {
        r.b[i] = (uint8_t)sat8((int16_t)d->w[i]);
        r.b[k + i] = (uint8_t)sat8((int16_t)s->w[i]);
    }
    memcpy(d->b, r.b, n);
}

static void v_packuswb(xmm_t *d, const xmm_t *s, unsigned n)
{
    xmm_t r;
    unsigned k = n / 2;
    for (unsigned i = 0; i < k; i++) {
        r.b[i] = satu8((int16_t)d->w[i]);
        r.b[k + i] = satu8((int16_t)s->w[i]);
    }
    memcpy(d->b, r.b, n);
}

static void v_packssdw(xmm_t *d, const xmm_t *s, unsigned n)
{
    xmm_t r;
    unsigned k = n / 4;
    for (unsigned i = 0; i < k; i++) {
        r.w[i] = (uint16_t)sat16((int32_t)d->d[i]);
        r.w[k + i] = (uint16_t)sat16((int32_t)s->d[i]);
    }
    memcpy(d->b, r.b, n);
}

/* Shifts by a count (register forms take it from the source's low quad). */
static void shift(xmm_t *d, unsigned n, unsigned esize, uint64_t count, int kind)
{
    for (unsigned i = 0; i < n / esize; i++) {
        switch (esize) {
        case 2: {
            uint16_t v = d->w[i];
            if (kind == 0) v = count > 15 ? 0 : (uint16_t)(v >> count);
            else if (kind == 1) v = count > 15 ? 0 : (uint16_t)(v << count);
            else v = (uint16_t)((int16_t)v >> (count > 15 ? 15 : count));
            d->w[i] = v;
            break;
        }
        case 4: {
            uint32_t v = d->d[i];
            if (kind == 0) v = count > 31 ? 0 : v >> count;
            else if (kind == 1) v = count > 31 ? 0 : v << count;
            else v = (uint32_t)((int32_t)v >> (count > 31 ? 31 : count));
            d->d[i] = v;
            break;
        }
        default: {
            uint64_t v = d->q[i];
            if (kind == 0) v = count > 63 ? 0 : v >> count;
            else v = count > 63 ? 0 : v << count;
            d->q[i] = v;
            break;
        }
        }
    }
}

#define SHIFT_FN(name, esize, kind) \
    static void name(xmm_t *d, const xmm_t *s, unsigned n) { shift(d, n, esize, s->q[0], kind); }
SHIFT_FN(v_psrlw, 2, 0) SHIFT_FN(v_psrld, 4, 0) SHIFT_FN(v_psrlq, 8, 0)
SHIFT_FN(v_psllw, 2, 1) SHIFT_FN(v_pslld, 4, 1) SHIFT_FN(v_psllq, 8, 1)
SHIFT_FN(v_psraw, 2, 2) SHIFT_FN(v_psrad, 4, 2)

static const vec_fn vec_ops[256] = {
    [0x60] = v_punpcklbw, [0x61] = v_punpcklwd, [0x62] = v_punpckldq, [0x63] = v_packsswb,
    [0x64] = v_pcmpgtb, [0x65] = v_pcmpgtw, [0x66] = v_pcmpgtd, [0x67] = v_packuswb,
    [0x68] = v_punpckhbw, [0x69] = v_punpckhwd, [0x6a] = v_punpckhdq, [0x6b] = v_packssdw,
    [0x6c] = v_punpcklqdq, [0x6d] = v_punpckhqdq,
    [0x74] = v_pcmpeqb, [0x75] = v_pcmpeqw, [0x76] = v_pcmpeqd,
    [0xd1] = v_psrlw, [0xd2] = v_psrld, [0xd3] = v_psrlq, [0xd4] = v_paddq, [0xd5] = v_pmullw,
    [0xd8] = v_psubusb, [0xd9] = v_psubusw, [0xda] = v_pminub, [0xdb] = v_pand,
    [0xdc] = v_paddusb, [0xdd] = v_paddusw, [0xde] = v_pmaxub, [0xdf] = v_pandn,
    [0xe0] = v_pavgb, [0xe1] = v_psraw, [0xe2] = v_psrad, [0xe3] = v_pavgw,
    [0xe4] = v_pmulhuw, [0xe5] = v_pmulhw, [0xe8] = v_psubsb, [0xe9] = v_psubsw,
    [0xea] = v_pminsw, [0xeb] = v_por, [0xec] = v_paddsb, [0xed] = v_paddsw,
    [0xee] = v_pmaxsw, [0xef] = v_pxor,
    [0xf1] = v_psllw, [0xf2] = v_pslld, [0xf3] = v_psllq, [0xf4] = v_pmuludq,
    [0xf5] = v_pmaddwd, [0xf6] = v_psadbw, [0xf8] = v_psubb, [0xf9] = v_psubw,
    [0xfa] = v_psubd, [0xfb] = v_psubq, [0xfc] = v_paddb, [0xfd] = v_paddw, [0xfe] = v_paddd,
};

void sse_int_binop(struct cpu_x86 *cpu, const struct cpu_insn *in, bool mmx,
                   void (*fn)(xmm_t *d, const xmm_t *s, unsigned n))
{
    xmm_t s, d;
    if (mmx) {
        simd_check_mmx(cpu);
        simd_read_rm(cpu, in, &s, 8, true, false);
        mmx_enter(cpu);
        d.q[0] = *mmreg(cpu, in->reg);
        d.q[1] = 0;
        fn(&d, &s, 8);
        mm_write(cpu, in->reg, d.q[0]);
    } else {
        simd_check_sse(cpu);
        simd_read_rm(cpu, in, &s, 16, false, true);
        d = *xreg(cpu, in->reg);
        fn(&d, &s, 16);
        *xreg(cpu, in->reg) = d;
    }
}

static void shift_imm(struct cpu_x86 *cpu, const struct cpu_insn *in, bool mmx)
{
    unsigned sub = in->reg & 7, esize = in->op == 0x71 ? 2 : in->op == 0x72 ? 4 : 8;
    uint8_t imm = (uint8_t)in->imm;
    if (simd_mem(in))
        cpu_ud(cpu);
    if (mmx) {
        simd_check_mmx(cpu);
        mmx_enter(cpu);
    } else {
        simd_check_sse(cpu);
    }
    xmm_t d;
    if (mmx) {
        d.q[0] = *mmreg(cpu, in->rm);
        d.q[1] = 0;
    } else {
        d = *xreg(cpu, in->rm);
    }
    unsigned n = mmx ? 8 : 16;
    if (esize == 8 && (sub == 3 || sub == 7)) {     /* PSRLDQ / PSLLDQ */
        if (mmx)
            cpu_ud(cpu);
        xmm_t r = { .q = { 0, 0 } };
        unsigned k = imm > 16 ? 16 : imm;
        for (unsigned i = 0; i < 16; i++) {
            if (sub == 3 && i + k < 16)
                r.b[i] = d.b[i + k];
            if (sub == 7 && i >= k)
                r.b[i] = d.b[i - k];
        }
        d = r;
    } else if (sub == 2) {
        shift(&d, n, esize, imm, 0);
    } else if (sub == 6) {
        shift(&d, n, esize, imm, 1);
    } else if (sub == 4 && esize != 8) {
        shift(&d, n, esize, imm, 2);
    } else {
        cpu_ud(cpu);
    }
    if (mmx)
        mm_write(cpu, in->rm, d.q[0]);
    else
        *xreg(cpu, in->rm) = d;
}

static void pshuf(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint8_t imm = (uint8_t)in->imm;
    xmm_t s, r;
    switch (in->pfx_mand) {
    case 0:                                         /* PSHUFW mm, mm/m64 */
        simd_check_mmx(cpu);
        simd_read_rm(cpu, in, &s, 8, true, false);
        mmx_enter(cpu);
        r.q[1] = 0;
        for (unsigned i = 0; i < 4; i++)
            r.w[i] = s.w[(imm >> (2 * i)) & 3];
        mm_write(cpu, in->reg, r.q[0]);
        return;
    case 0x66:                                      /* PSHUFD */
        simd_check_sse(cpu);
        simd_read_rm(cpu, in, &s, 16, false, true);
        for (unsigned i = 0; i < 4; i++)
            r.d[i] = s.d[(imm >> (2 * i)) & 3];
        break;
    case 0xf3:                                      /* PSHUFHW */
        simd_check_sse(cpu);
        simd_read_rm(cpu, in, &s, 16, false, true);
        r.q[0] = s.q[0];
        for (unsigned i = 0; i < 4; i++)
            r.w[4 + i] = s.w[4 + ((imm >> (2 * i)) & 3)];
        break;
    default:                                        /* F2: PSHUFLW */
        simd_check_sse(cpu);
        simd_read_rm(cpu, in, &s, 16, false, true);
        r.q[1] = s.q[1];
        for (unsigned i = 0; i < 4; i++)
            r.w[i] = s.w[(imm >> (2 * i)) & 3];
        break;
    }
    *xreg(cpu, in->reg) = r;
}

bool sse_int_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned pfx = in->pfx_mand, op = in->op;
    if (pfx != 0 && pfx != 0x66) {
        if (op == 0x70) {
            pshuf(cpu, in);
            return true;
        }
        return false;
    }
    bool mmx = pfx == 0;
    if (vec_ops[op]) {
        if (mmx && (op == 0x6c || op == 0x6d))
            return false;
        sse_int_binop(cpu, in, mmx, vec_ops[op]);
        return true;
    }
    switch (op) {
    case 0x70:
        pshuf(cpu, in);
        return true;
    case 0x71: case 0x72: case 0x73:
        shift_imm(cpu, in, mmx);
        return true;
    case 0xd7: {                                    /* PMOVMSKB r, mm/xmm */
        if (simd_mem(in))
            cpu_ud(cpu);
        xmm_t s;
        unsigned n = mmx ? 8 : 16;
        if (mmx) {
            simd_check_mmx(cpu);
            mmx_enter(cpu);
            s.q[0] = *mmreg(cpu, in->rm);
        } else {
            simd_check_sse(cpu);
            s = *xreg(cpu, in->rm);
        }
        uint32_t mask = 0;
        for (unsigned i = 0; i < n; i++)
            mask |= (uint32_t)(s.b[i] >> 7) << i;
        cpu->r[in->reg] = mask;
        return true;
    }
    case 0xc4: {                                    /* PINSRW */
        unsigned sel = (unsigned)in->imm & (mmx ? 3 : 7);
        uint16_t v = (uint16_t)cpu_rm_read(cpu, in, 2);
        if (mmx) {
            simd_check_mmx(cpu);
            mmx_enter(cpu);
            uint64_t m = *mmreg(cpu, in->reg);
            m = (m & ~(0xffffULL << (16 * sel))) | (uint64_t)v << (16 * sel);
            mm_write(cpu, in->reg, m);
        } else {
            simd_check_sse(cpu);
            xreg(cpu, in->reg)->w[sel] = v;
        }
        return true;
    }
    case 0xc5: {                                    /* PEXTRW r, mm/xmm, imm8 */
        if (simd_mem(in))
            cpu_ud(cpu);
        unsigned sel = (unsigned)in->imm & (mmx ? 3 : 7);
        uint16_t v;
        if (mmx) {
            simd_check_mmx(cpu);
            mmx_enter(cpu);
            v = (uint16_t)(*mmreg(cpu, in->rm) >> (16 * sel));
        } else {
            simd_check_sse(cpu);
            v = xreg(cpu, in->rm)->w[sel];
        }
        cpu->r[in->reg] = v;
        return true;
    }
    default:
        return false;
    }
}
