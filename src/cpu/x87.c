/* The x87 FPU: opcodes D8-DF.
 *
 * Registers hold the 80-bit extended format (struct cpu_f80), which is the
 * host's `long double` on x86-64, so arithmetic runs on the host FPU with
 * the same precision; the guest's rounding control is applied around each
 * operation when it is not round-to-nearest (precision control is not
 * modelled: operations are always 64-bit-mantissa). Host exception flags
 * become FSW flags. Exceptions behave as masked: the masked response (QNaN
 * indefinite, integer indefinite, stack fault flags) is produced and FSW.ES
 * is set when the guest unmasked one, but #MF is not raised.
 *
 * State lives in cpu->fpu: st[] are the physical registers R0-R7, TOP is
 * FSW[13:11], ftw is the full two-bit-per-register tag word.
 */
#include <math.h>

#include "simd.h"

#define FSW_IE 0x0001u
#define FSW_DE 0x0002u
#define FSW_ZE 0x0004u
#define FSW_OE 0x0008u
#define FSW_UE 0x0010u
#define FSW_PE 0x0020u
#define FSW_SF 0x0040u
#define FSW_ES 0x0080u
#define FSW_C0 0x0100u
#define FSW_C1 0x0200u
#define FSW_C2 0x0400u
#define FSW_C3 0x4000u
#define FSW_CC (FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)

#define TAG_VALID 0
#define TAG_ZERO 1
#define TAG_SPECIAL 2
#define TAG_EMPTY 3

typedef long double f80;

static f80 to_ld(const struct cpu_f80 *r)
{
    f80 v = 0;
    memcpy(&v, &r->mant, 8);
    memcpy((uint8_t *)&v + 8, &r->sexp, 2);
    return v;
}

static struct cpu_f80 from_ld(f80 v)
{
    struct cpu_f80 r = { 0 };
    memcpy(&r.mant, &v, 8);
    memcpy(&r.sexp, (uint8_t *)&v + 8, 2);
    return r;
}

unsigned x87_tag_of(const struct cpu_f80 *r)
{
    unsigned e = r->sexp & 0x7fff;
    if (e == 0x7fff)
        return TAG_SPECIAL;
    if (e == 0)
        return r->mant ? TAG_SPECIAL : TAG_ZERO;
    return (r->mant >> 63) ? TAG_VALID : TAG_SPECIAL;
}

static const struct cpu_f80 indefinite = { 0xc000000000000000ULL, 0xffff, { 0 } };

/* ---- stack --------------------------------------------------------------- */

static unsigned top(const struct cpu_x86 *cpu) { return (cpu->fpu.fsw >> 11) & 7; }
static void set_top(struct cpu_x86 *cpu, unsigned t)
{
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~0x3800u) | (t & 7) << 11);
}
static unsigned phys(const struct cpu_x86 *cpu, unsigned i) { return (top(cpu) + i) & 7; }
static unsigned tag(const struct cpu_x86 *cpu, unsigned p) { return (cpu->fpu.ftw >> (2 * p)) & 3; }
static void set_tag(struct cpu_x86 *cpu, unsigned p, unsigned t)
{
    cpu->fpu.ftw = (uint16_t)((cpu->fpu.ftw & ~(3u << (2 * p))) | t << (2 * p));
}

/* Exceptions raised by the current instruction (cpu_op_x87 decides from
 * them whether an unmasked one suppresses its results). Per vCPU thread. */
static _Thread_local unsigned raised;

static void fpu_exc(struct cpu_x86 *cpu, unsigned bits)
{
    raised |= bits;
    cpu->fpu.fsw |= (uint16_t)bits;
    if (bits & ~cpu->fpu.fcw & 0x3f)
        cpu->fpu.fsw |= FSW_ES | 0x8000u;    /* ES and B */
}

/* An unmasked invalid, overflow or underflow exception suppresses a store
 * to memory (the instruction then leaves the stack alone too). */
static _Thread_local bool store_blocked;
static bool block_store(struct cpu_x86 *cpu)
{
    if (raised & ~cpu->fpu.fcw & (FSW_IE | FSW_OE | FSW_UE)) {
        store_blocked = true;
        return true;
    }
    return false;
}

static bool empty(const struct cpu_x86 *cpu, unsigned i) { return tag(cpu, phys(cpu, i)) == TAG_EMPTY; }

/* Set when an operand of the current instruction was an empty register:
 * the masked response of a stack underflow stores the QNaN indefinite
 * whatever the other operand was (set_st). Per vCPU thread. */
static _Thread_local bool stack_fault;

/* ST(i) as a long double; an empty register is a stack underflow. */
static f80 st(struct cpu_x86 *cpu, unsigned i)
{
    unsigned p = phys(cpu, i);
    if (tag(cpu, p) == TAG_EMPTY) {
        cpu->fpu.fsw &= ~FSW_C1;
        fpu_exc(cpu, FSW_IE | FSW_SF);
        stack_fault = true;
        return to_ld(&indefinite);
    }
    return to_ld(&cpu->fpu.st[p]);
}

static void set_st_raw(struct cpu_x86 *cpu, unsigned i, struct cpu_f80 r)
{
    unsigned p = phys(cpu, i);
    cpu->fpu.st[p] = r;
    set_tag(cpu, p, x87_tag_of(&r));
}

static void set_st(struct cpu_x86 *cpu, unsigned i, f80 v)
{
    set_st_raw(cpu, i, stack_fault ? indefinite : from_ld(v));
}

static void push_raw(struct cpu_x86 *cpu, struct cpu_f80 r)
{
    unsigned t = (top(cpu) - 1) & 7;
    if (tag(cpu, t) != TAG_EMPTY) {
        cpu->fpu.fsw |= FSW_C1;
        fpu_exc(cpu, FSW_IE | FSW_SF);
        r = indefinite;
    }
    set_top(cpu, t);
    set_st_raw(cpu, 0, r);
}

static void push(struct cpu_x86 *cpu, f80 v) { push_raw(cpu, from_ld(v)); }

static void pop(struct cpu_x86 *cpu)
{
    set_tag(cpu, phys(cpu, 0), TAG_EMPTY);
    set_top(cpu, top(cpu) + 1);
}

/* ---- host FP environment ------------------------------------------------- */

/* Bracket host x87 work: the guest's rounding control goes into the host
 * control word (all exceptions masked, 64-bit precision) and the host's
 * exception flags, denormal included, come back into FSW. fp_begin_pc also
 * takes the guest's precision control, for the operations it governs (FADD,
 * FSUB, FMUL, FDIV, FSQRT and their forms), which then run on the host x87
 * with the same rounding to 24, 53 or 64 bits. */
static uint16_t fp_begin_cw(uint16_t cw)
{
    uint16_t saved;
    __asm__ volatile("fnstcw %0" : "=m"(saved) : : "memory");
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(cw) : "memory");
    return saved;
}

static uint16_t fp_begin_pc(struct cpu_x86 *cpu)
{
    return fp_begin_cw((uint16_t)(0x7f | (cpu->fpu.fcw & 0x0f00)));
}

static uint16_t fp_begin(struct cpu_x86 *cpu)
{
    uint16_t saved, cw = (uint16_t)(0x37f | (cpu->fpu.fcw & 0x0c00));
    __asm__ volatile("fnstcw %0" : "=m"(saved) : : "memory");
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(cw) : "memory");
    return saved;
}

static void fp_end(struct cpu_x86 *cpu, uint16_t saved)
{
    uint16_t sw;
    __asm__ volatile("fnstsw %0" : "=m"(sw) : : "memory");
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(saved) : "memory");
    if (sw & 0x3f)
        fpu_exc(cpu, sw & 0x3f);
}

/* ---- memory operands ------------------------------------------------------- */

static uint64_t ea(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t off = cpu_ea(cpu, in);
    cpu->fpu.fdp = off;
    cpu->fpu.fds = cpu->seg[in->seg].sel;
    return off;
}

static f80 read_real(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size)
{
    uint64_t off = ea(cpu, in);
    if (size == 4) {
        uint32_t u = (uint32_t)cpu_read_mem(cpu, in->seg, off, 4);
        float f;
        memcpy(&f, &u, 4);
        /* FLD m32: DE on a denormal, IE on an SNaN (checked here: the
         * compiler may do the widening outside any host-flag bracket) */
        if (fpclassify(f) == FP_SUBNORMAL)
            fpu_exc(cpu, FSW_DE);
        else if (issignaling(f))
            fpu_exc(cpu, FSW_IE);
        return f;
    }
    if (size == 8) {
        uint64_t u = cpu_read_mem(cpu, in->seg, off, 8);
        double d;
        memcpy(&d, &u, 8);
        if (fpclassify(d) == FP_SUBNORMAL)
            fpu_exc(cpu, FSW_DE);
        else if (issignaling(d))
            fpu_exc(cpu, FSW_IE);
        return d;
    }
    struct cpu_f80 r = { 0 };
    r.mant = cpu_read_mem(cpu, in->seg, off, 8);
    r.sexp = (uint16_t)cpu_read_mem(cpu, in->seg, off + 8, 2);
    return to_ld(&r);
}

static int64_t read_int(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size)
{
    uint64_t v = cpu_read_mem(cpu, in->seg, ea(cpu, in), size);
    return size == 2 ? (int16_t)v : size == 4 ? (int32_t)v : (int64_t)v;
}

static void write_real(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size, f80 v)
{
    uint64_t off = ea(cpu, in);
    if (size == 4) {
        volatile f80 vin = v;       /* volatiles keep the work inside the bracket */
        uint16_t fsaved = fp_begin(cpu);
        volatile float f = (float)vin;
        fp_end(cpu, fsaved);
        float fv = f;
        uint32_t u;
        memcpy(&u, &fv, 4);
        if (!block_store(cpu))
            cpu_write_mem(cpu, in->seg, off, 4, u);
    } else if (size == 8) {
        volatile f80 vin = v;
        uint16_t fsaved = fp_begin(cpu);
        volatile double d = (double)vin;
        fp_end(cpu, fsaved);
        double dv = d;
        uint64_t u;
        memcpy(&u, &dv, 8);
        if (!block_store(cpu))
            cpu_write_mem(cpu, in->seg, off, 8, u);
    } else {
        struct cpu_f80 r = from_ld(v);
        if (block_store(cpu))
            return;
        cpu_write_mem(cpu, in->seg, off + 8, 2, r.sexp);
        cpu_write_mem(cpu, in->seg, off, 8, r.mant);
    }
}

/* Integer store with rounding (or truncation); overflow and NaN store the
 * integer indefinite and flag IE. */
static void write_int(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size, f80 v,
                      bool trunc)
{
    f80 r;
    if (trunc) {
        r = truncl(v);
    } else {
        volatile f80 vin = v;
        uint16_t fsaved = fp_begin(cpu);
        volatile f80 vr = nearbyintl(vin);
        fp_end(cpu, fsaved);
        r = vr;
    }
    f80 lim = size == 2 ? 32768.0L : size == 4 ? 2147483648.0L : 9223372036854775808.0L;
    uint64_t out;
    if (isnan(r) || r >= lim || r < -lim) {
        fpu_exc(cpu, FSW_IE);
        out = size == 2 ? 0x8000 : size == 4 ? 0x80000000u : 0x8000000000000000ULL;
    } else {
        if (r != v)
            fpu_exc(cpu, FSW_PE);
        out = (uint64_t)(int64_t)r;
    }
    if (!block_store(cpu))
        cpu_write_mem(cpu, in->seg, ea(cpu, in), size, out);
}

/* ---- arithmetic and compares ---------------------------------------------- */

/* op: 0 add, 1 mul, 4 sub (a-b), 5 subr (b-a), 6 div (a/b), 7 divr (b/a). */
static f80 arith(struct cpu_x86 *cpu, unsigned op, f80 a, f80 b)
{
    volatile f80 r, va = a, vb = b;     /* volatile: keeps the work inside the bracket */
    uint16_t fsaved = fp_begin_pc(cpu);
    a = va;
    b = vb;
    switch (op) {
    case 0: r = a + b; break;
    case 1: r = a * b; break;
    case 4: r = a - b; break;
    case 5: r = b - a; break;
    case 6: r = a / b; break;
    default: r = b / a; break;
    }
    fp_end(cpu, fsaved);
    return r;
}

/* Condition codes of a compare: C3 C2 C0 (or ZF PF CF for FCOMI). Done by
 * the host's FCOMI/FUCOMI, so denormal, unnormal and NaN operands raise
 * exactly what they raise on hardware. */
static unsigned compare(struct cpu_x86 *cpu, f80 a, f80 b, bool quiet)
{
    uint8_t zf, pf, cf;
    volatile f80 va = a, vb = b;
    uint16_t fsaved = fp_begin(cpu);
    a = va;
    b = vb;
    if (quiet)
        __asm__ volatile("fucomip %%st(1), %%st\n\tfstp %%st(0)\n\tsetz %0\n\tsetp %1\n\tsetc %2"
                         : "=q"(zf), "=q"(pf), "=q"(cf) : "t"(a), "u"(b) : "cc", "st", "st(1)");
    else
        __asm__ volatile("fcomip %%st(1), %%st\n\tfstp %%st(0)\n\tsetz %0\n\tsetp %1\n\tsetc %2"
                         : "=q"(zf), "=q"(pf), "=q"(cf) : "t"(a), "u"(b) : "cc", "st", "st(1)");
    fp_end(cpu, fsaved);
    return (cf ? 1u : 0) | (pf ? 2u : 0) | (zf ? 4u : 0);   /* bit0 C0/CF, bit1 C2/PF, bit2 C3/ZF */
}

static void set_cc(struct cpu_x86 *cpu, unsigned c)
{
    cpu->fpu.fsw &= ~FSW_CC;
    if (c & 1) cpu->fpu.fsw |= FSW_C0;
    if (c & 2) cpu->fpu.fsw |= FSW_C2;
    if (c & 4) cpu->fpu.fsw |= FSW_C3;
}

static void set_eflags_cc(struct cpu_x86 *cpu, unsigned c)
{
    uint32_t fl = 0;
    if (c & 1) fl |= F_CF;
    if (c & 2) fl |= F_PF;
    if (c & 4) fl |= F_ZF;
    cpu_set_arith_flags(cpu, fl);
    cpu->fpu.fsw &= ~FSW_C1;
}

static void fxam(struct cpu_x86 *cpu)
{
    unsigned p = phys(cpu, 0);
    const struct cpu_f80 *r = &cpu->fpu.st[p];
    unsigned c;                             /* C3 C2 C0 as bits 2 1 0 */
    unsigned e = r->sexp & 0x7fff;
    if (tag(cpu, p) == TAG_EMPTY)
        c = 5;
    else if (e == 0x7fff && !(r->mant >> 63))
        c = 0;                              /* pseudo-NaN/infinity: unsupported */
    else if (e == 0x7fff)
        c = (r->mant << 1) ? 1 : 3;         /* NaN : infinity */
    else if (e == 0)
        c = r->mant ? 6 : 4;                /* denormal : zero */
    else
        c = (r->mant >> 63) ? 2 : 0;        /* normal : unsupported */
    set_cc(cpu, c);
    if (r->sexp & 0x8000)
        cpu->fpu.fsw |= FSW_C1;
    else
        cpu->fpu.fsw &= ~FSW_C1;
}

/* ---- environment -------------------------------------------------------- */

static void fninit(struct cpu_x86 *cpu)
{
    cpu->fpu.fcw = 0x37f;
    cpu->fpu.fsw = 0;
    cpu->fpu.ftw = 0xffff;
    cpu->fpu.fop = 0;
    cpu->fpu.fip = cpu->fpu.fdp = 0;
    cpu->fpu.fcs = cpu->fpu.fds = 0;
}

void cpu_fpu_reset(struct cpu_x86 *cpu)
{
    memset(&cpu->fpu, 0, sizeof(cpu->fpu));
    fninit(cpu);
    cpu->fpu.mxcsr = 0x1f80;
    cpu->fpu.xcr0 = 1;
}

/* FLDENV/FNSTENV image: 14 bytes (16-bit operand size) or 28 bytes, in the
 * protected-mode layout (selectors and offsets) or, in real and virtual-8086
 * mode, the real-mode one (20/32-bit linear FIP/FDP split around FOP). */
static unsigned env_size(const struct cpu_insn *in) { return in->opsize == 2 ? 14 : 28; }

static bool env_real(const struct cpu_x86 *cpu) { return !cpu_pe(cpu) || cpu_vm86(cpu); }

/* FSW.ES and FSW.B follow the unmasked pending exceptions (after a load of
 * FCW or FSW). */
static void update_es(struct cpu_x86 *cpu)
{
    if (cpu->fpu.fsw & ~cpu->fpu.fcw & 0x3f)
        cpu->fpu.fsw |= FSW_ES | 0x8000u;
    else
        cpu->fpu.fsw &= (uint16_t)~(FSW_ES | 0x8000u);
}

static void store_env(struct cpu_x86 *cpu, uint64_t off, const struct cpu_insn *in)
{
    struct cpu_fpu *f = &cpu->fpu;
    unsigned seg = in->seg;
    bool real = env_real(cpu);
    uint32_t ip = (uint32_t)f->fip, dp = (uint32_t)f->fdp;
    if (real) {                     /* linear addresses */
        ip += (uint32_t)f->fcs << 4;
        dp += (uint32_t)f->fds << 4;
    }
    /* the last word first: a fault leaves nothing half-written below it */
    if (in->opsize == 2) {
        cpu_write_mem(cpu, seg, off + 12, 2, real ? (dp >> 16 & 0xf) << 12 : f->fds);
        cpu_write_mem(cpu, seg, off, 2, f->fcw);
        cpu_write_mem(cpu, seg, off + 2, 2, f->fsw);
        cpu_write_mem(cpu, seg, off + 4, 2, f->ftw);
        cpu_write_mem(cpu, seg, off + 6, 2, (uint16_t)ip);
        cpu_write_mem(cpu, seg, off + 8, 2, real ? ((ip >> 16 & 0xf) << 12 | (f->fop & 0x7ff))
                                                 : f->fcs);
        cpu_write_mem(cpu, seg, off + 10, 2, (uint16_t)dp);
    } else {
        cpu_write_mem(cpu, seg, off + 24, 4, real ? (dp >> 16) << 12 : f->fds);
        cpu_write_mem(cpu, seg, off, 4, 0xffff0000u | f->fcw);
        cpu_write_mem(cpu, seg, off + 4, 4, 0xffff0000u | f->fsw);
        cpu_write_mem(cpu, seg, off + 8, 4, 0xffff0000u | f->ftw);
        if (real) {
            cpu_write_mem(cpu, seg, off + 12, 4, 0xffff0000u | (ip & 0xffff));
            cpu_write_mem(cpu, seg, off + 16, 4, (ip >> 16) << 12 | (f->fop & 0x7ffu));
            cpu_write_mem(cpu, seg, off + 20, 4, 0xffff0000u | (dp & 0xffff));
        } else {
            cpu_write_mem(cpu, seg, off + 12, 4, ip);
            cpu_write_mem(cpu, seg, off + 16, 4, f->fcs | (uint32_t)(f->fop & 0x7ff) << 16);
            cpu_write_mem(cpu, seg, off + 20, 4, dp);
        }
    }
}

/* Reads the whole image before changing anything. Tags other than empty
 * are recomputed from the register contents, as the hardware keeps only
 * "empty or not". */
static void load_env(struct cpu_x86 *cpu, uint64_t off, const struct cpu_insn *in)
{
    struct cpu_fpu *f = &cpu->fpu;
    unsigned seg = in->seg, w = in->opsize == 2 ? 2 : 4;
    uint32_t v[7];
    for (unsigned i = 0; i < 7; i++)
        v[i] = (uint32_t)cpu_read_mem(cpu, seg, off + i * w, w);
    f->fcw = (uint16_t)v[0];
    f->fsw = (uint16_t)v[1];
    f->ftw = (uint16_t)v[2];
    if (env_real(cpu)) {
        /* FIP/FDP bits above 15 sit at bit 12 of the next field */
        uint32_t hmask = w == 2 ? 0xf : 0xffff;
        uint32_t ip = (v[3] & 0xffff) | ((v[4] >> 12) & hmask) << 16;
        uint32_t dp = (v[5] & 0xffff) | ((v[6] >> 12) & hmask) << 16;
        f->fop = (uint16_t)(v[4] & 0x7ff);
        f->fcs = f->fds = 0;
        f->fip = ip;
        f->fdp = dp;
    } else {
        f->fip = w == 2 ? (uint16_t)v[3] : v[3];
        f->fcs = (uint16_t)v[4];
        if (w == 4)
            f->fop = (uint16_t)(v[4] >> 16 & 0x7ff);
        f->fdp = w == 2 ? (uint16_t)v[5] : v[5];
        f->fds = (uint16_t)v[6];
    }
    for (unsigned p = 0; p < 8; p++)
        if (tag(cpu, p) != TAG_EMPTY)
            set_tag(cpu, p, x87_tag_of(&f->st[p]));
    update_es(cpu);
}

static void fnsave(struct cpu_x86 *cpu, const struct cpu_insn *in, bool restore)
{
    uint64_t off = ea(cpu, in);
    unsigned base = env_size(in);
    if (restore) {
        struct cpu_f80 regs[8] = { 0 };
        for (unsigned i = 0; i < 8; i++) {
            regs[i].mant = cpu_read_mem(cpu, in->seg, off + base + 10 * i, 8);
            regs[i].sexp = (uint16_t)cpu_read_mem(cpu, in->seg, off + base + 10 * i + 8, 2);
        }
        load_env(cpu, off, in);
        for (unsigned i = 0; i < 8; i++)
            cpu->fpu.st[phys(cpu, i)] = regs[i];
        for (unsigned p = 0; p < 8; p++)
            if (tag(cpu, p) != TAG_EMPTY)
                set_tag(cpu, p, x87_tag_of(&cpu->fpu.st[p]));
        return;
    }
    for (unsigned i = 0; i < 8; i++) {
        const struct cpu_f80 *r = &cpu->fpu.st[phys(cpu, i)];
        cpu_write_mem(cpu, in->seg, off + base + 10 * i + 8, 2, r->sexp);
        cpu_write_mem(cpu, in->seg, off + base + 10 * i, 8, r->mant);
    }
    store_env(cpu, off, in);
    fninit(cpu);
}

/* ---- BCD ---------------------------------------------------------------- */

static f80 read_bcd(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t off = ea(cpu, in);
    uint64_t lo = cpu_read_mem(cpu, in->seg, off, 8);
    uint16_t hi = (uint16_t)cpu_read_mem(cpu, in->seg, off + 8, 2);
    f80 v = 0;
    for (int i = 0; i < 2; i++)
        v = v * 10 + (((hi & 0xff) >> (4 * (1 - i))) & 0xf);
    for (int i = 15; i >= 0; i--)
        v = v * 10 + ((lo >> (4 * i)) & 0xf);
    return (hi & 0x8000) ? -v : v;
}

static void write_bcd(struct cpu_x86 *cpu, const struct cpu_insn *in, f80 v)
{
    uint64_t off = ea(cpu, in);
    volatile f80 vin = v;
    uint16_t fsaved = fp_begin(cpu);
    volatile f80 vr = nearbyintl(vin);
    fp_end(cpu, fsaved);
    f80 r = vr;
    uint64_t lo = 0;
    uint16_t hi;
    if (isnan(r) || fabsl(r) >= 1e18L) {
        fpu_exc(cpu, FSW_IE);
        if (block_store(cpu))
            return;
        lo = 0;
        hi = 0xffff;
        cpu_write_mem(cpu, in->seg, off + 8, 2, hi);
        cpu_write_mem(cpu, in->seg, off, 8, 0xc000000000000000ULL);
        return;
    }
    uint64_t u = (uint64_t)fabsl(r);
    for (int i = 0; i < 16; i++, u /= 10)
        lo |= (u % 10) << (4 * i);
    hi = (uint16_t)((u % 10) | ((u / 10) % 10) << 4);
    if (signbit(r))
        hi |= 0x8000;
    if (block_store(cpu))
        return;
    cpu_write_mem(cpu, in->seg, off + 8, 2, hi);
    cpu_write_mem(cpu, in->seg, off, 8, lo);
}

/* ---- the D9 register forms (constants and transcendental functions) ----- */

static void d9_reg(struct cpu_x86 *cpu, unsigned modrm)
{
    f80 a, b;
    switch (modrm) {
    case 0xd0: return;                                  /* FNOP */
    case 0xe0: set_st(cpu, 0, -st(cpu, 0)); return;     /* FCHS */
    case 0xe1: set_st(cpu, 0, fabsl(st(cpu, 0))); return;
    case 0xe4: set_cc(cpu, compare(cpu, st(cpu, 0), 0.0L, false)); return;   /* FTST */
    case 0xe5: fxam(cpu); return;
    case 0xe8: push(cpu, 1.0L); return;
    case 0xe9: case 0xea: case 0xeb: case 0xec: case 0xed: {
        /* the constants are rounded by FCW.RC: take the host's own */
        uint16_t fsaved = fp_begin(cpu);
        switch (modrm) {
        case 0xe9: __asm__ volatile("fldl2t" : "=t"(a)); break;
        case 0xea: __asm__ volatile("fldl2e" : "=t"(a)); break;
        case 0xeb: __asm__ volatile("fldpi" : "=t"(a)); break;
        case 0xec: __asm__ volatile("fldlg2" : "=t"(a)); break;
        default: __asm__ volatile("fldln2" : "=t"(a)); break;
        }
        fp_end(cpu, fsaved);
        push(cpu, a);
        return;
    }
    case 0xee: push(cpu, 0.0L); return;
    case 0xf6: set_top(cpu, top(cpu) - 1); cpu->fpu.fsw &= ~FSW_C1; return;  /* FDECSTP */
    case 0xf7: set_top(cpu, top(cpu) + 1); cpu->fpu.fsw &= ~FSW_C1; return;  /* FINCSTP */
    default: break;
    }
    a = st(cpu, 0);
    bool two = modrm == 0xf1 || modrm == 0xf3 || modrm == 0xf5 || modrm == 0xf8 ||
               modrm == 0xf9 || modrm == 0xfd;
    if (empty(cpu, 0) || (two && empty(cpu, 1))) {
        /* stack underflow: the masked response writes the QNaN indefinite
         * (FPTAN, FSINCOS, FXTRACT also push a second one) */
        (void)st(cpu, 1);
        bool to_st1 = modrm == 0xf1 || modrm == 0xf3 || modrm == 0xf9;
        set_st_raw(cpu, to_st1 ? 1 : 0, indefinite);
        if (to_st1)
            pop(cpu);
        if (modrm == 0xf2 || modrm == 0xf4 || modrm == 0xfb)
            push_raw(cpu, indefinite);
        if (modrm == 0xf5 || modrm == 0xf8 || modrm == 0xf2 || modrm == 0xfb ||
            modrm == 0xfe || modrm == 0xff)
            cpu->fpu.fsw &= ~(FSW_C1 | FSW_C2);
        return;
    }
    /* The rest run on the host's x87 with the same operands: results,
     * partial remainders, out-of-range reductions and condition codes are
     * the hardware's own (FSW read back inside the same asm). */
    volatile f80 va = a, vb = empty(cpu, 1) ? 0 : st(cpu, 1);
    uint16_t sw = 0, fsaved = fp_begin(cpu);
    a = va;
    b = vb;
    f80 r2;
    switch (modrm) {
    case 0xf0: __asm__ volatile("f2xm1" : "+t"(a)); set_st(cpu, 0, a); break;
    case 0xf1:                                                      /* FYL2X */
        __asm__ volatile("fyl2x" : "=t"(r2) : "0"(a), "u"(b) : "st(1)");
        set_st(cpu, 1, r2);
        pop(cpu);
        break;
    case 0xf2:                                                      /* FPTAN */
        /* out of range (C2): the operand stays, nothing is pushed; the asm
         * duplicates it so the x87 stack holds two values either way */
        __asm__ volatile("fptan\n\tfnstsw %%ax\n\ttestb $4, %%ah\n\tjz 1f\n\tfld %%st(0)\n1:"
                         : "=t"(r2), "=u"(a), "=a"(sw) : "0"(a));
        if (sw & FSW_C2) {
            set_st(cpu, 0, a);
        } else {
            set_st(cpu, 0, a);
            push(cpu, r2);
        }
        break;
    case 0xf3:                                                      /* FPATAN */
        __asm__ volatile("fpatan" : "=t"(r2) : "0"(a), "u"(b) : "st(1)");
        set_st(cpu, 1, r2);
        pop(cpu);
        break;
    case 0xf4:                                                      /* FXTRACT */
        __asm__ volatile("fxtract" : "=t"(r2), "=u"(a) : "0"(a));
        set_st(cpu, 0, a);          /* exponent */
        push(cpu, r2);              /* significand */
        break;
    case 0xf5:                                                      /* FPREM1 */
        __asm__ volatile("fprem1\n\tfnstsw %1" : "+t"(a), "=m"(sw) : "u"(b));
        set_st(cpu, 0, a);
        break;
    case 0xf8:                                                      /* FPREM */
        __asm__ volatile("fprem\n\tfnstsw %1" : "+t"(a), "=m"(sw) : "u"(b));
        set_st(cpu, 0, a);
        break;
    case 0xf9:                                                      /* FYL2XP1 */
        __asm__ volatile("fyl2xp1" : "=t"(r2) : "0"(a), "u"(b) : "st(1)");
        set_st(cpu, 1, r2);
        pop(cpu);
        break;
    case 0xfb:                                                      /* FSINCOS */
        __asm__ volatile("fsincos\n\tfnstsw %%ax\n\ttestb $4, %%ah\n\tjz 1f\n\tfld %%st(0)\n1:"
                         : "=t"(r2), "=u"(a), "=a"(sw) : "0"(a));
        if (sw & FSW_C2) {
            set_st(cpu, 0, a);      /* out of range: unchanged, nothing pushed */
        } else {
            set_st(cpu, 0, a);      /* sine */
            push(cpu, r2);          /* cosine */
        }
        break;
    case 0xfc: __asm__ volatile("frndint" : "+t"(a)); set_st(cpu, 0, a); break;
    case 0xfd: __asm__ volatile("fscale" : "+t"(a) : "u"(b)); set_st(cpu, 0, a); break;
    case 0xfe: __asm__ volatile("fsin\n\tfnstsw %1" : "+t"(a), "=m"(sw)); set_st(cpu, 0, a); break;
    case 0xff: __asm__ volatile("fcos\n\tfnstsw %1" : "+t"(a), "=m"(sw)); set_st(cpu, 0, a); break;
    case 0xfa:                      /* FSQRT: precision control applies */
        fp_end(cpu, fsaved);
        fsaved = fp_begin_pc(cpu);
        __asm__ volatile("fsqrt" : "+t"(a));
        set_st(cpu, 0, a);
        break;
    default:
        fp_end(cpu, fsaved);
        cpu_ud(cpu);
    }
    fp_end(cpu, fsaved);
    /* condition codes: all four (C2 incomplete, C0 C3 C1 quotient bits)
     * for FPREM/FPREM1; C2 (out of range) for the trigonometric ones; C0
     * and C3 are left alone otherwise, as the hardware does; C1 (the
     * round-up indication) is not modelled: cleared */
    if (modrm == 0xf5 || modrm == 0xf8) {
        /* an invalid operation (NaN, zero modulus, infinite dividend)
         * clears C1 and C2 and leaves C0 and C3, like a stack fault */
        if (isnan(a))
            cpu->fpu.fsw &= ~(FSW_C1 | FSW_C2);
        else
            cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~FSW_CC) | (sw & FSW_CC));
    } else {
        cpu->fpu.fsw &= ~FSW_C1;
        if (modrm == 0xf2 || modrm == 0xfb || modrm == 0xfe || modrm == 0xff)
            cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~FSW_C2) | (sw & FSW_C2));
    }
}

static bool fcmov_cond(struct cpu_x86 *cpu, unsigned op, unsigned sub)
{
    /* DA: B, E, BE, U; DB: NB, NE, NBE, NU */
    static const unsigned cc[4] = { 2, 4, 6, 10 };   /* Jcc codes: B, E, BE, P */
    bool c = cpu_cond(cpu, cc[sub & 3]);
    return op == 0xda ? c : !c;
}

/* ---- entry point ------------------------------------------------------------ */

/* A pending unmasked exception (FSW.ES) is reported by the next waiting x87
 * instruction or FWAIT as #MF when CR0.NE is set. With CR0.NE clear the PC
 * would signal FERR# to the interrupt controller (IRQ 13), which is not
 * modelled: the instruction then just runs. */
static void check_pending(struct cpu_x86 *cpu)
{
    if ((cpu->fpu.fsw & FSW_ES) && (cpu->cr0 & CR0_NE))
        cpu_raise_noerr(cpu, EXC_MF);
}

static void x87_exec(struct cpu_x86 *cpu, const struct cpu_insn *in);
static void update_es(struct cpu_x86 *cpu);

/* Unmasked exceptions: an unmasked invalid-operation, denormal or
 * divide-by-zero exception (detected before the computation), or a store
 * to memory an unmasked invalid/overflow/underflow suppressed, leaves the
 * registers, tags and TOP as they were; the exception flags, ES and B
 * are set and #MF follows at the next waiting instruction. (Unmasked
 * overflow/underflow: the bias of register results and the tininess rule
 * of stores are not modelled.) */
void cpu_op_x87(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    struct cpu_f80 st0[8];
    uint16_t ftw0 = cpu->fpu.ftw, fsw0 = cpu->fpu.fsw;
    bool unmasked = (~cpu->fpu.fcw & 0x3f) != 0;
    if (unmasked)                   /* only then can results be suppressed */
        memcpy(st0, cpu->fpu.st, sizeof(st0));
    raised = 0;
    store_blocked = false;
    x87_exec(cpu, in);
    if (!unmasked || !(store_blocked || (raised & ~cpu->fpu.fcw & (FSW_IE | FSW_DE | FSW_ZE))))
        return;
    /* the registers, tags and TOP stay; the condition codes and EFLAGS
     * are those the instruction set (the masked response's, as the
     * hardware does for a stack fault); only the exceptions detected
     * before the computation are reported */
    memcpy(cpu->fpu.st, st0, sizeof(st0));
    cpu->fpu.ftw = ftw0;
    uint16_t exc = (uint16_t)((fsw0 & 0x3f) | (raised & (FSW_IE | FSW_DE | FSW_ZE | FSW_SF)));
    if (store_blocked)
        exc |= (uint16_t)(raised & (FSW_OE | FSW_UE));
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~(0x3800u | 0x7fu)) | (fsw0 & 0x3800u) | exc);
    update_es(cpu);
}

static void x87_exec(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned op = in->op, r = in->reg & 7, i = in->rm & 7;
    if (op == 0x9b) {               /* FWAIT (op_fwait checked CR0.MP/TS) */
        check_pending(cpu);
        return;
    }
    cpu_fpu_check_nm(cpu, false);
    stack_fault = false;
    /* the no-wait forms: FNCLEX, FNINIT, FNSTENV, FNSTCW, FNSAVE, FNSTSW,
     * and the 8087/287 leftovers FNENI, FNDISI, FNSETPM */
    bool nowait = (op == 0xdb && (in->modrm == 0xe0 || in->modrm == 0xe1 || in->modrm == 0xe2 ||
                                  in->modrm == 0xe3 || in->modrm == 0xe4)) ||
                  (op == 0xd9 && in->mod != 3 && r >= 6) ||
                  (op == 0xdd && in->mod != 3 && r >= 6) || (op == 0xdf && in->modrm == 0xe0);
    if (!nowait)
        check_pending(cpu);
    bool control = (op == 0xd9 && r >= 4 && in->mod != 3) ||
                   (op == 0xdb && in->mod == 3 && (in->modrm == 0xe2 || in->modrm == 0xe3)) ||
                   (op == 0xdd && in->mod != 3 && r >= 6) || (op == 0xdf && in->modrm == 0xe0);
    if (!control) {
        cpu->fpu.fip = cpu->insn_rip;
        cpu->fpu.fcs = cpu->seg[S_CS].sel;
        cpu->fpu.fop = (uint16_t)(((op & 7) << 8) | in->modrm);
    }

    if (in->mod != 3) {
        switch (op) {
        case 0xd8: case 0xdc: case 0xda: case 0xde: {
            f80 src = op == 0xd8 ? read_real(cpu, in, 4) : op == 0xdc ? read_real(cpu, in, 8)
                    : (f80)read_int(cpu, in, op == 0xda ? 4 : 2);
            f80 a = st(cpu, 0);
            if (r == 2 || r == 3) {
                set_cc(cpu, compare(cpu, a, src, false));
                if (r == 3)
                    pop(cpu);
            } else {
                set_st(cpu, 0, arith(cpu, r, a, src));
            }
            return;
        }
        case 0xd9:
            switch (r) {
            case 0:                 /* an unmasked DE does not stop a load */
                push(cpu, read_real(cpu, in, 4));
                raised &= ~FSW_DE;
                return;
            case 2: write_real(cpu, in, 4, st(cpu, 0)); return;
            case 3: write_real(cpu, in, 4, st(cpu, 0)); pop(cpu); return;
            case 4: load_env(cpu, ea(cpu, in), in); return;
            case 5:
                cpu->fpu.fcw = (uint16_t)cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), 2);
                update_es(cpu);
                return;
            case 6: store_env(cpu, cpu_ea(cpu, in), in); cpu->fpu.fcw |= 0x3f; return;
            case 7: cpu_write_mem(cpu, in->seg, cpu_ea(cpu, in), 2, cpu->fpu.fcw); return;
            default: cpu_ud(cpu);
            }
        case 0xdb:
            switch (r) {
            case 0: push(cpu, (f80)read_int(cpu, in, 4)); return;
            case 1: write_int(cpu, in, 4, st(cpu, 0), true); pop(cpu); return;
            case 2: write_int(cpu, in, 4, st(cpu, 0), false); return;
            case 3: write_int(cpu, in, 4, st(cpu, 0), false); pop(cpu); return;
            case 5: push(cpu, read_real(cpu, in, 10)); return;
            case 7: write_real(cpu, in, 10, st(cpu, 0)); pop(cpu); return;
            default: cpu_ud(cpu);
            }
        case 0xdd:
            switch (r) {
            case 0:
                push(cpu, read_real(cpu, in, 8));
                raised &= ~FSW_DE;
                return;
            case 1: write_int(cpu, in, 8, st(cpu, 0), true); pop(cpu); return;
            case 2: write_real(cpu, in, 8, st(cpu, 0)); return;
            case 3: write_real(cpu, in, 8, st(cpu, 0)); pop(cpu); return;
            case 4: fnsave(cpu, in, true); return;
            case 6: fnsave(cpu, in, false); return;
            case 7: cpu_write_mem(cpu, in->seg, cpu_ea(cpu, in), 2, cpu->fpu.fsw); return;
            default: cpu_ud(cpu);
            }
        default:                                    /* 0xdf */
            switch (r) {
            case 0: push(cpu, (f80)read_int(cpu, in, 2)); return;
            case 1: write_int(cpu, in, 2, st(cpu, 0), true); pop(cpu); return;
            case 2: write_int(cpu, in, 2, st(cpu, 0), false); return;
            case 3: write_int(cpu, in, 2, st(cpu, 0), false); pop(cpu); return;
            case 4: push(cpu, read_bcd(cpu, in)); return;
            case 5: push(cpu, (f80)read_int(cpu, in, 8)); return;
            case 6: write_bcd(cpu, in, st(cpu, 0)); pop(cpu); return;
            default: write_int(cpu, in, 8, st(cpu, 0), false); pop(cpu); return;
            }
        }
    }

    /* register forms */
    switch (op) {
    case 0xd8:
        if (r == 2 || r == 3) {
            set_cc(cpu, compare(cpu, st(cpu, 0), st(cpu, i), false));
            if (r == 3)
                pop(cpu);
        } else {
            set_st(cpu, 0, arith(cpu, r, st(cpu, 0), st(cpu, i)));
        }
        return;
    case 0xd9:
        if (r == 0) {                               /* FLD ST(i) */
            if (empty(cpu, i)) {
                (void)st(cpu, i);
                push_raw(cpu, indefinite);
            } else {
                push_raw(cpu, cpu->fpu.st[phys(cpu, i)]);
            }
        } else if (r == 1) {                        /* FXCH */
            /* a bit-exact exchange; an empty register (stack underflow)
             * is exchanged as the QNaN indefinite */
            struct cpu_f80 ra = empty(cpu, 0) ? indefinite : cpu->fpu.st[phys(cpu, 0)];
            struct cpu_f80 rb = empty(cpu, i) ? indefinite : cpu->fpu.st[phys(cpu, i)];
            if (empty(cpu, 0) || empty(cpu, i))
                (void)st(cpu, empty(cpu, 0) ? 0 : i);
            set_st_raw(cpu, 0, rb);
            set_st_raw(cpu, i, ra);
            cpu->fpu.fsw &= ~FSW_C1;
        } else if (r == 3) {                        /* FSTP1 alias */
            set_st(cpu, i, st(cpu, 0));
            pop(cpu);
        } else {
            d9_reg(cpu, in->modrm);
        }
        return;
    case 0xda:
    case 0xdb:
        if (r < 4) {                                /* FCMOVcc */
            /* an empty operand is a stack fault whatever the condition:
             * the masked response loads the QNaN indefinite into ST(0) */
            bool fault = empty(cpu, 0) || empty(cpu, i);
            f80 v = st(cpu, i);
            if (fault)
                set_st_raw(cpu, 0, indefinite);
            else if (fcmov_cond(cpu, op, r))
                set_st(cpu, 0, v);
            return;
        }
        if (op == 0xda) {
            if (in->modrm != 0xe9)
                cpu_ud(cpu);
            set_cc(cpu, compare(cpu, st(cpu, 0), st(cpu, 1), true));   /* FUCOMPP */
            pop(cpu);
            pop(cpu);
            return;
        }
        switch (in->modrm) {
        case 0xe2: cpu->fpu.fsw &= 0x7f00; return;  /* FNCLEX: keep TOP and C0-C3 */
        case 0xe3: fninit(cpu); return;
        case 0xe0: case 0xe1: case 0xe4: return;    /* FENI, FDISI, FSETPM */
        default: break;
        }
        if (r == 5 || r == 6) {                     /* FUCOMI / FCOMI */
            set_eflags_cc(cpu, compare(cpu, st(cpu, 0), st(cpu, i), r == 5));
            return;
        }
        cpu_ud(cpu);
    case 0xdc:
    case 0xde: {
        if (r == 2 || r == 3) {                     /* FCOM/FCOMP aliases; DE D9 FCOMPP */
            if (op == 0xde && in->modrm != 0xd9)
                cpu_ud(cpu);
            set_cc(cpu, compare(cpu, st(cpu, 0), st(cpu, op == 0xde ? 1 : i), false));
            if (r == 3)
                pop(cpu);
            if (op == 0xde)
                pop(cpu);
            return;
        }
        /* ST(i) = ST(i) op ST(0); the sub/div directions are swapped here */
        static const unsigned swap[8] = { 0, 1, 2, 3, 5, 4, 7, 6 };
        set_st(cpu, i, arith(cpu, swap[r], st(cpu, i), st(cpu, 0)));
        if (op == 0xde)
            pop(cpu);
        return;
    }
    case 0xdd:
        switch (r) {
        case 0: set_tag(cpu, phys(cpu, i), TAG_EMPTY); return;     /* FFREE */
        case 2: set_st(cpu, i, st(cpu, 0)); return;                /* FST */
        case 3: {                                                  /* FSTP */
            if (empty(cpu, 0)) {
                (void)st(cpu, 0);
                set_st_raw(cpu, i, indefinite);
            } else {
                set_st_raw(cpu, i, cpu->fpu.st[phys(cpu, 0)]);
            }
            pop(cpu);
            return;
        }
        case 4: case 5:                                            /* FUCOM(P) */
            set_cc(cpu, compare(cpu, st(cpu, 0), st(cpu, i), true));
            if (r == 5)
                pop(cpu);
            return;
        default: cpu_ud(cpu);
        }
    default:                                        /* 0xdf */
        if (in->modrm == 0xe0) {                    /* FNSTSW AX */
            cpu_set_reg(cpu, R_AX, 2, cpu->fpu.fsw);
            return;
        }
        if (r == 0) {                               /* FFREEP */
            set_tag(cpu, phys(cpu, i), TAG_EMPTY);
            pop(cpu);
            return;
        }
        if (r == 5 || r == 6) {                     /* FUCOMIP / FCOMIP */
            set_eflags_cc(cpu, compare(cpu, st(cpu, 0), st(cpu, i), r == 5));
            pop(cpu);
            return;
        }
        cpu_ud(cpu);
    }
}

/* For CPUID (cpuid.c): the x87 FPU is implemented. */
const bool cpu_x87_present = true;
