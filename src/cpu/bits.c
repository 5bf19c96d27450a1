/* Shifts and rotates (group 2, SHLD/SHRD), bit tests (BT/BTS/BTR/BTC),
 * bit scans (BSF/BSR/LZCNT), POPCNT, BSWAP. Flags are computed eagerly. */
#include "cpu_int.h"

static uint32_t res_flags(uint64_t r, unsigned size)
{
    uint32_t f = 0;
    r &= size_mask(size);
    if (!r) f |= F_ZF;
    if (r & sign_bit(size)) f |= F_SF;
    if (cpu_parity((uint8_t)r)) f |= F_PF;
    return f;
}

/* op: 0 rol 1 ror 2 rcl 3 rcr 4 shl 5 shr 6 sal(=shl) 7 sar */
static uint64_t shift(struct cpu_x86 *cpu, unsigned op, unsigned size, uint64_t a,
                      unsigned count)
{
    unsigned bits = size * 8;
    uint64_t m = size_mask(size), r;
    uint32_t f, cf;

    count &= size == 8 ? 63 : 31;
    if (!count)
        return a & m;
    a &= m;
    /* rotates keep SF/ZF/AF/PF: only they need the old flags */
    f = op < 4 ? cpu_arith_flags(cpu) : 0;
    switch (op) {
    case 0: {
        unsigned c = count % bits;
        r = c ? ((a << c) | (a >> (bits - c))) & m : a;
        cf = r & 1;
        f = (f & ~(F_CF | F_OF)) | (cf ? F_CF : 0) | ((((r >> (bits - 1)) & 1) ^ cf) ? F_OF : 0);
        break;
    }
    case 1: {
        unsigned c = count % bits;
        r = c ? ((a >> c) | (a << (bits - c))) & m : a;
        cf = (r >> (bits - 1)) & 1;
        f = (f & ~(F_CF | F_OF)) | (cf ? F_CF : 0) |
            ((((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1) ? F_OF : 0);
        break;
    }
    case 2: case 3: {
        unsigned c = count % (bits + 1);
        unsigned __int128 v = ((unsigned __int128)(f & F_CF) << bits) | a;
        unsigned __int128 vm = (((unsigned __int128)1) << (bits + 1)) - 1;
        if (op == 2)
            v = c ? ((v << c) | (v >> (bits + 1 - c))) & vm : v;
        else
            v = c ? ((v >> c) | (v << (bits + 1 - c))) & vm : v;
        r = (uint64_t)v & m;
        cf = (unsigned)(v >> bits) & 1;
        uint32_t of = op == 2 ? (((r >> (bits - 1)) & 1) ^ cf)
                              : (((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1);
        f = (f & ~(F_CF | F_OF)) | (cf ? F_CF : 0) | (of ? F_OF : 0);
        break;
    }
    case 4: case 6:
        r = count < 64 ? (a << count) & m : 0;
        cf = count <= bits ? (unsigned)(a >> (bits - count)) & 1 : 0;
        f = res_flags(r, size) | (cf ? F_CF : 0) |
            ((((r >> (bits - 1)) & 1) ^ cf) ? F_OF : 0);
        break;
    case 5:
        r = count < 64 ? a >> count : 0;
        cf = count <= bits ? (unsigned)(a >> (count - 1)) & 1 : 0;
        f = res_flags(r, size) | (cf ? F_CF : 0) | (((a >> (bits - 1)) & 1) ? F_OF : 0);
        break;
    default: {
        int64_t s = sext(a, size);
        unsigned c = count >= bits ? bits - 1 : count;
        r = (uint64_t)(s >> c) & m;
        cf = (unsigned)((s >> (count >= bits ? bits - 1 : count - 1)) & 1);
        f = res_flags(r, size) | (cf ? F_CF : 0);
        break;
    }
    }
    cpu_set_arith_flags(cpu, f);
    return r;
}

static uint64_t rmw_shift(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    return shift(cpu, (unsigned)(arg >> 8), size, old, (unsigned)(arg & 0xff));
}

void op_grp2(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned count;
    if (in->op == 0xc0 || in->op == 0xc1)
        count = in->imm & 0xff;
    else if (in->op == 0xd0 || in->op == 0xd1)
        count = 1;
    else
        count = cpu->r[R_CX] & 0xff;
    if (!(count & (in->opsize == 8 ? 63 : 31))) {
        /* still an access (may fault); a 32-bit register is zero-extended */
        cpu_rm_write(cpu, in, in->opsize, cpu_rm_read(cpu, in, in->opsize));
        return;
    }
    cpu_rm_rmw(cpu, in, in->opsize, rmw_shift, ((uint64_t)(in->reg & 7) << 8) | count);
}

static uint64_t dshift(struct cpu_x86 *cpu, bool left, unsigned size, uint64_t a, uint64_t b,
                       unsigned count)
{
    unsigned bits = size * 8;
    uint64_t m = size_mask(size), r;
    uint32_t cf;

    count &= size == 8 ? 63 : 31;
    if (!count)
        return a & m;
    a &= m;
    b &= m;
    unsigned __int128 v;
    if (left) {
        v = ((unsigned __int128)a << bits) | b;
        v <<= count;
        r = (uint64_t)(v >> bits) & m;
        cf = (unsigned)(((unsigned __int128)a << bits | b) >> (2 * bits - count)) & 1;
    } else {
        v = ((unsigned __int128)b << bits) | a;
        r = (uint64_t)(v >> count) & m;
        cf = (unsigned)(v >> (count - 1)) & 1;
    }
    uint32_t f = res_flags(r, size) | (cf ? F_CF : 0) |
                 ((((r ^ a) >> (bits - 1)) & 1) ? F_OF : 0);
    cpu_set_arith_flags(cpu, f);
    return r;
}

static uint64_t rmw_shld(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    return dshift(cpu, true, size, old, cpu->tmp_src, (unsigned)arg);
}

static uint64_t rmw_shrd(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    return dshift(cpu, false, size, old, cpu->tmp_src, (unsigned)arg);
}

static void dsh(struct cpu_x86 *cpu, const struct cpu_insn *in, bool left)
{
    unsigned count = ((in->op & 1) ? cpu->r[R_CX] : in->imm) & (in->opsize == 8 ? 63 : 31);
    if (!count) {
        cpu_rm_write(cpu, in, in->opsize, cpu_rm_read(cpu, in, in->opsize));
        return;
    }
    cpu->tmp_src = cpu_greg(cpu, in, in->opsize);
    cpu_rm_rmw(cpu, in, in->opsize, left ? rmw_shld : rmw_shrd, count);
}

void op_shld(struct cpu_x86 *cpu, const struct cpu_insn *in) { dsh(cpu, in, true); }
void op_shrd(struct cpu_x86 *cpu, const struct cpu_insn *in) { dsh(cpu, in, false); }

/* bt op: 0 bt, 1 bts, 2 btr, 3 btc */
static uint64_t rmw_bt(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    unsigned bit = arg & 63, op = (unsigned)(arg >> 8);
    uint32_t f = cpu_arith_flags(cpu) & ~F_CF;
    if ((old >> bit) & 1)
        f |= F_CF;
    cpu_set_arith_flags(cpu, f);
    switch (op) {
    case 1: return old | (1ull << bit);
    case 2: return old & ~(1ull << bit);
    case 3: return old ^ (1ull << bit);
    default: *nw = true; return old;
    }
}

static void bt_common(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned op,
                      uint64_t bitoff, bool from_reg)
{
    unsigned size = in->opsize, bits = size * 8;
    if (in->mod == 3 || !from_reg) {
        uint64_t arg = (bitoff & (bits - 1)) | ((uint64_t)op << 8);
        if (op == 0 || in->mod == 3) {
            if (op == 0) {
                bool nw;
                rmw_bt(cpu, cpu_rm_read(cpu, in, size), arg, size, &nw);
                return;
            }
        }
        cpu_rm_rmw(cpu, in, size, rmw_bt, arg);
        return;
    }
    /* memory with register offset: the offset addresses beyond the operand */
    int64_t off = sext(bitoff, size);
    int64_t disp = (off >> (size == 2 ? 4 : size == 4 ? 5 : 6)) * (int64_t)size;
    struct cpu_insn t = *in;
    t.disp += disp;
    uint64_t arg = ((uint64_t)off & (bits - 1)) | ((uint64_t)op << 8);
    if (op == 0) {
        bool nw;
        rmw_bt(cpu, cpu_rm_read(cpu, &t, size), arg, size, &nw);
        return;
    }
    cpu_rm_rmw(cpu, &t, size, rmw_bt, arg);
}

void op_bt(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned op = in->op == 0xa3 ? 0 : in->op == 0xab ? 1 : in->op == 0xb3 ? 2 : 3;
    bt_common(cpu, in, op, cpu_greg(cpu, in, in->opsize), true);
}

void op_grp8(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->reg & 7;
    if (r < 4)
        cpu_ud(cpu);
    bt_common(cpu, in, r - 4, in->imm & 0xff, false);
}

void op_bsf(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize;
    uint64_t v = cpu_rm_read(cpu, in, size) & size_mask(size);
    uint32_t f = cpu_arith_flags(cpu) & ~F_ZF;
    if (!v) {
        cpu_set_arith_flags(cpu, f | F_ZF);
        return;
    }
    cpu_set_arith_flags(cpu, f);
    cpu_sreg(cpu, in, size, (uint64_t)__builtin_ctzll(v));
}

void op_bsr(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize;
    uint64_t v = cpu_rm_read(cpu, in, size) & size_mask(size);
    uint32_t f = cpu_arith_flags(cpu);
    if (in->rep == 0xf3) {   /* LZCNT */
        unsigned n = v ? (unsigned)__builtin_clzll(v) - (64 - size * 8) : size * 8;
        f &= ~(F_CF | F_ZF);
        if (!v) f |= F_CF;
        if (!n) f |= F_ZF;
        cpu_set_arith_flags(cpu, f);
        cpu_sreg(cpu, in, size, n);
        return;
    }
    f &= ~F_ZF;
    if (!v) {
        cpu_set_arith_flags(cpu, f | F_ZF);
        return;
    }
    cpu_set_arith_flags(cpu, f);
    cpu_sreg(cpu, in, size, (uint64_t)(63 - __builtin_clzll(v)));
}

void op_popcnt(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (in->rep != 0xf3)
        cpu_ud(cpu);
    unsigned size = in->opsize;
    uint64_t v = cpu_rm_read(cpu, in, size) & size_mask(size);
    cpu_set_arith_flags(cpu, v ? 0 : F_ZF);
    cpu_sreg(cpu, in, size, (uint64_t)__builtin_popcountll(v));
}

void op_bswap(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->rm;
    if (in->opsize == 8)
        cpu->r[r] = __builtin_bswap64(cpu->r[r]);
    else if (in->opsize == 4)
        cpu->r[r] = __builtin_bswap32((uint32_t)cpu->r[r]);
    else
        cpu_set_reg(cpu, r, 2, 0);
}
