/* Lazy arithmetic flags: handlers record the last operation and its
 * operands (cpu_set_cc); the flags are computed only when read. */
#include "cpu_int.h"

bool cpu_parity(uint8_t v)
{
    return !__builtin_parity(v);
}

static uint32_t compute(const struct cpu_x86 *cpu)
{
    unsigned size = cpu->cc_size;
    uint64_t m = size_mask(size), sb = sign_bit(size);
    uint64_t a = cpu->cc_a & m, b = cpu->cc_b & m, res = cpu->cc_res & m;
    uint32_t f = 0;

    switch ((enum cc_op)cpu->cc_op) {
    case CC_EFLAGS:
        return (uint32_t)cpu->cc_res & F_ARITH;
    case CC_ADD:
        if (res < a) f |= F_CF;
        if ((~(a ^ b) & (a ^ res)) & sb) f |= F_OF;
        break;
    case CC_ADC:
        /* cc_cf holds the carry-in */
        if (cpu->cc_cf ? res <= a : res < a) f |= F_CF;
        if ((~(a ^ b) & (a ^ res)) & sb) f |= F_OF;
        break;
    case CC_SUB:
        if (a < b) f |= F_CF;
        if (((a ^ b) & (a ^ res)) & sb) f |= F_OF;
        break;
    case CC_SBB:
        if (cpu->cc_cf ? a <= b : a < b) f |= F_CF;
        if (((a ^ b) & (a ^ res)) & sb) f |= F_OF;
        break;
    case CC_LOGIC:
        break;
    case CC_MUL:
        if (cpu->cc_a) f |= F_CF | F_OF;
        if (res & sb) f |= F_SF;
        if (cpu_parity((uint8_t)res)) f |= F_PF;
        if (res == 0) f |= F_ZF;
        return f;   /* AF undefined: reported clear */
    case CC_SHL: {
        unsigned cnt = (unsigned)cpu->cc_b, bits = size * 8;
        if ((a >> (bits - cnt)) & 1) f |= F_CF;
        if (!!(res & sb) != !!(f & F_CF)) f |= F_OF;
        goto szp;
    }
    case CC_SHR: {
        unsigned cnt = (unsigned)cpu->cc_b;
        if ((a >> (cnt - 1)) & 1) f |= F_CF;
        if (a & sb) f |= F_OF;
        goto szp;
    }
    case CC_SAR: {
        unsigned cnt = (unsigned)cpu->cc_b;
        if (((uint64_t)sext(a, size) >> (cnt - 1)) & 1) f |= F_CF;
        goto szp;
    }
    case CC_INC:
        if (cpu->cc_cf) f |= F_CF;
        if (res == sb) f |= F_OF;
        break;
    case CC_DEC:
        if (cpu->cc_cf) f |= F_CF;
        if (res == sb - 1) f |= F_OF;
        break;
    }
    if (cpu->cc_op != CC_LOGIC && ((a ^ b ^ res) & 0x10))
        f |= F_AF;
szp:
    if (res == 0) f |= F_ZF;
    if (res & sb) f |= F_SF;
    if (cpu_parity((uint8_t)res)) f |= F_PF;
    return f;
}

uint32_t cpu_arith_flags(struct cpu_x86 *cpu)
{
    return compute(cpu);
}

void cpu_set_arith_flags(struct cpu_x86 *cpu, uint32_t flags)
{
    cpu->cc_op = CC_EFLAGS;
    cpu->cc_size = 8;
    cpu->cc_res = flags & F_ARITH;
}

uint64_t cpu_flags(struct cpu_x86 *cpu)
{
    return (cpu->eflags & ~F_ARITH) | compute(cpu) | 2;
}

void cpu_set_flags(struct cpu_x86 *cpu, uint64_t val, uint64_t mask)
{
    uint32_t cur = (uint32_t)cpu_flags(cpu);
    uint32_t nv = (cur & ~(uint32_t)mask) | ((uint32_t)val & (uint32_t)mask);
    nv = (nv | 2) & 0x3f7fd7u;
    cpu_set_arith_flags(cpu, nv & F_ARITH);
    cpu->eflags = nv & ~F_ARITH;
}

bool cpu_cond(struct cpu_x86 *cpu, unsigned cc)
{
    bool r;
    uint32_t f;

    /* Fast paths for the common compare-and-branch patterns. */
    if (cpu->cc_op == CC_SUB && cc >= 2) {
        unsigned size = cpu->cc_size;
        uint64_t m = size_mask(size);
        uint64_t a = cpu->cc_a & m, b = cpu->cc_b & m;
        int64_t sa = sext(a, size), sbv = sext(b, size);
        switch (cc >> 1) {
        case 1: r = a < b; goto out;          /* B / AE */
        case 2: r = a == b; goto out;         /* E / NE */
        case 3: r = a <= b; goto out;         /* BE / A */
        case 6: r = sa < sbv; goto out;       /* L / GE */
        case 7: r = sa <= sbv; goto out;      /* LE / G */
        default: break;
        }
    }
    if (cpu->cc_op != CC_EFLAGS) {
        if ((cc >> 1) == 2) {
            r = (cpu->cc_res & size_mask(cpu->cc_size)) == 0;
            goto out;
        }
        if ((cc >> 1) == 4) {
            r = (cpu->cc_res & sign_bit(cpu->cc_size)) != 0;
            goto out;
        }
    }
    f = compute(cpu);
    switch (cc >> 1) {
    case 0: r = f & F_OF; break;
    case 1: r = f & F_CF; break;
    case 2: r = f & F_ZF; break;
    case 3: r = f & (F_CF | F_ZF); break;
    case 4: r = f & F_SF; break;
    case 5: r = f & F_PF; break;
    case 6: r = !(f & F_SF) != !(f & F_OF); break;
    default: r = (f & F_ZF) || (!(f & F_SF) != !(f & F_OF)); break;
    }
out:
    return (cc & 1) ? !r : r;
}
