/* The three-byte SIMD maps: SSSE3 (0F 38 00-0B, 1C-1E; 0F 3A 0F PALIGNR),
 * on MMX registers without prefix and XMM registers with 66. Everything
 * else in the two maps (SSE4.1/4.2, CRC32, MOVBE) is in sse41.c. */
#include "simd.h"

static int16_t sat16(int v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : (int16_t)v; }

static void v_pshufb(xmm_t *d, const xmm_t *s, unsigned n)
{
    xmm_t r;
    for (unsigned i = 0; i < n; i++)
        r.b[i] = (s->b[i] & 0x80) ? 0 : d->b[s->b[i] & (n - 1)];
    memcpy(d->b, r.b, n);
}

/* Horizontal add/sub of adjacent pairs: d's pairs fill the low half of the
 * result, s's pairs the high half. kind: 0 add, 1 sub, 2 add sat, 3 sub sat */
static void hop16(xmm_t *d, const xmm_t *s, unsigned n, int kind)
{
    xmm_t r;
    unsigned k = n / 4;
    for (unsigned i = 0; i < k; i++) {
        for (unsigned h = 0; h < 2; h++) {
            const xmm_t *x = h ? s : d;
            int a = (int16_t)x->w[2 * i], b = (int16_t)x->w[2 * i + 1];
            int v = (kind & 1) ? a - b : a + b;
            r.w[h * k + i] = (uint16_t)((kind & 2) ? sat16(v) : v);
        }
    }
    memcpy(d->b, r.b, n);
}

static void hop32(xmm_t *d, const xmm_t *s, unsigned n, int kind)
{
    xmm_t r;
    unsigned k = n / 8;
    for (unsigned i = 0; i < k; i++)
        for (unsigned h = 0; h < 2; h++) {
            const xmm_t *x = h ? s : d;
            r.d[h * k + i] = kind ? x->d[2 * i] - x->d[2 * i + 1] : x->d[2 * i] + x->d[2 * i + 1];
        }
    memcpy(d->b, r.b, n);
}

static void v_phaddw(xmm_t *d, const xmm_t *s, unsigned n) { hop16(d, s, n, 0); }
static void v_phsubw(xmm_t *d, const xmm_t *s, unsigned n) { hop16(d, s, n, 1); }
static void v_phaddsw(xmm_t *d, const xmm_t *s, unsigned n) { hop16(d, s, n, 2); }
static void v_phsubsw(xmm_t *d, const xmm_t *s, unsigned n) { hop16(d, s, n, 3); }
static void v_phaddd(xmm_t *d, const xmm_t *s, unsigned n) { hop32(d, s, n, 0); }
static void v_phsubd(xmm_t *d, const xmm_t *s, unsigned n) { hop32(d, s, n, 1); }

static void v_pmaddubsw(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n / 2; i++) {
        int v = d->b[2 * i] * (int8_t)s->b[2 * i] + d->b[2 * i + 1] * (int8_t)s->b[2 * i + 1];
        d->w[i] = (uint16_t)sat16(v);
    }
}

static void v_pmulhrsw(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n / 2; i++) {
        int32_t v = (int16_t)d->w[i] * (int16_t)s->w[i];
        d->w[i] = (uint16_t)(((v >> 14) + 1) >> 1);
    }
}

static void v_psignb(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        d->b[i] = (int8_t)s->b[i] < 0 ? (uint8_t)-d->b[i] : s->b[i] ? d->b[i] : 0;
}

static void v_psignw(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n / 2; i++)
        d->w[i] = (int16_t)s->w[i] < 0 ? (uint16_t)-d->w[i] : s->w[i] ? d->w[i] : 0;
}

static void v_psignd(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n / 4; i++)
        d->d[i] = (int32_t)s->d[i] < 0 ? -d->d[i] : s->d[i] ? d->d[i] : 0;
}

static void v_pabsb(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        d->b[i] = (int8_t)s->b[i] < 0 ? (uint8_t)-s->b[i] : s->b[i];
}

static void v_pabsw(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n / 2; i++)
        d->w[i] = (int16_t)s->w[i] < 0 ? (uint16_t)-s->w[i] : s->w[i];
}

static void v_pabsd(xmm_t *d, const xmm_t *s, unsigned n)
{
    for (unsigned i = 0; i < n / 4; i++)
        d->d[i] = (int32_t)s->d[i] < 0 ? -s->d[i] : s->d[i];
}

typedef void (*vec_fn)(xmm_t *d, const xmm_t *s, unsigned n);
static const vec_fn map38[0x20] = {
    [0x00] = v_pshufb, [0x01] = v_phaddw, [0x02] = v_phaddd, [0x03] = v_phaddsw,
    [0x04] = v_pmaddubsw, [0x05] = v_phsubw, [0x06] = v_phsubd, [0x07] = v_phsubsw,
    [0x08] = v_psignb, [0x09] = v_psignw, [0x0a] = v_psignd, [0x0b] = v_pmulhrsw,
    [0x1c] = v_pabsb, [0x1d] = v_pabsw, [0x1e] = v_pabsd,
};

bool sse_map38_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (in->op >= 0x20 || !map38[in->op] || (in->pfx_mand != 0 && in->pfx_mand != 0x66))
        return sse41_map38_op(cpu, in);
    sse_int_binop(cpu, in, in->pfx_mand == 0, map38[in->op]);
    return true;
}

static _Thread_local unsigned palignr_imm;   /* per vCPU thread */

static void v_palignr(xmm_t *d, const xmm_t *s, unsigned n)
{
    uint8_t cat[32] = { 0 };
    memcpy(cat, s->b, n);
    memcpy(cat + n, d->b, n);
    for (unsigned i = 0; i < n; i++)
        d->b[i] = i + palignr_imm < 2 * n ? cat[i + palignr_imm] : 0;
}

bool sse_map3a_op(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (in->op != 0x0f || (in->pfx_mand != 0 && in->pfx_mand != 0x66))
        return sse41_map3a_op(cpu, in);
    palignr_imm = (unsigned)(in->imm & 0xff);
    sse_int_binop(cpu, in, in->pfx_mand == 0, v_palignr);
    return true;
}
