/* MUL/IMUL/DIV/IDIV. Division faults (#DE) on a zero divisor or a quotient
 * that does not fit. */
#include "cpu_int.h"

static void mul_flags(struct cpu_x86 *cpu, bool overflow, uint64_t lo, unsigned size)
{
    /* SF/ZF/AF/PF are undefined; SF and PF are reported from the low half */
    cpu_set_cc(cpu, CC_MUL, size, overflow, 0, lo & size_mask(size));
}

void op_muldiv_grp3(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize, bits = size * 8, op = in->reg & 7;
    uint64_t src = cpu_rm_read(cpu, in, size) & size_mask(size);
    uint64_t m = size_mask(size);

    if (size == 1) {
        uint16_t ax = cpu->r[R_AX] & 0xffff;
        uint8_t al = (uint8_t)ax;
        switch (op) {
        case 4: { uint16_t r = (uint16_t)(al * (uint8_t)src);
            cpu_set_reg(cpu, R_AX, 2, r); mul_flags(cpu, r >> 8, r, 1); return; }
        case 5: { int16_t r = (int16_t)((int8_t)al * (int8_t)src);
            cpu_set_reg(cpu, R_AX, 2, (uint16_t)r); mul_flags(cpu, r != (int8_t)r, (uint64_t)r, 1); return; }
        case 6: {
            if (!src) cpu_raise_noerr(cpu, EXC_DE);
            uint16_t q = ax / (uint8_t)src, rem = ax % (uint8_t)src;
            if (q > 0xff) cpu_raise_noerr(cpu, EXC_DE);
            cpu_set_reg(cpu, R_AX, 2, (uint16_t)(q | (rem << 8)));
            return; }
        default: {
            if (!src) cpu_raise_noerr(cpu, EXC_DE);
            int16_t n = (int16_t)ax; int8_t d = (int8_t)src;
            if (n == INT16_MIN && d == -1) cpu_raise_noerr(cpu, EXC_DE);
            int q = n / d, rem = n % d;
            if (q > 127 || q < -128) cpu_raise_noerr(cpu, EXC_DE);
            cpu_set_reg(cpu, R_AX, 2, (uint16_t)(((uint8_t)q) | ((uint8_t)rem << 8)));
            return; }
        }
    }
    uint64_t a = cpu->r[R_AX] & m, d = cpu->r[R_DX] & m;
    switch (op) {
    case 4: {
        unsigned __int128 r = (unsigned __int128)a * src;
        uint64_t lo = (uint64_t)r & m, hi = (uint64_t)(r >> bits) & m;
        cpu_set_reg(cpu, R_AX, size, lo);
        cpu_set_reg(cpu, R_DX, size, hi);
        mul_flags(cpu, hi != 0, lo, size);
        return;
    }
    case 5: {
        __int128 r = (__int128)sext(a, size) * sext(src, size);
        uint64_t lo = (uint64_t)r & m, hi = (uint64_t)(r >> bits) & m;
        cpu_set_reg(cpu, R_AX, size, lo);
        cpu_set_reg(cpu, R_DX, size, hi);
        mul_flags(cpu, r != (__int128)sext(lo, size), lo, size);
        return;
    }
    case 6: {
        if (!src) cpu_raise_noerr(cpu, EXC_DE);
        unsigned __int128 n = ((unsigned __int128)d << bits) | a;
        unsigned __int128 q = n / src, rem = n % src;
        if (q > m) cpu_raise_noerr(cpu, EXC_DE);
        cpu_set_reg(cpu, R_AX, size, (uint64_t)q);
        cpu_set_reg(cpu, R_DX, size, (uint64_t)rem);
        return;
    }
    default: {
        if (!src) cpu_raise_noerr(cpu, EXC_DE);
        __int128 n = (__int128)(((unsigned __int128)d << bits) | a);
        if (bits < 64)
            n = (__int128)sext((uint64_t)n, size * 2);
        else
            n = (__int128)(((unsigned __int128)d << 64) | a);
        __int128 dv = sext(src, size);
        /* avoid the one overflowing signed division */
        if (bits == 64 && dv == -1 && n == (__int128)((unsigned __int128)1 << 127))
            cpu_raise_noerr(cpu, EXC_DE);
        __int128 q = n / dv, rem = n % dv;
        __int128 lim = (__int128)1 << (bits - 1);
        if (q >= lim || q < -lim) cpu_raise_noerr(cpu, EXC_DE);
        cpu_set_reg(cpu, R_AX, size, (uint64_t)q);
        cpu_set_reg(cpu, R_DX, size, (uint64_t)rem);
        return;
    }
    }
}

static uint64_t imul2(struct cpu_x86 *cpu, unsigned size, uint64_t a, uint64_t b)
{
    __int128 r = (__int128)sext(a, size) * sext(b, size);
    uint64_t lo = (uint64_t)r & size_mask(size);
    mul_flags(cpu, r != (__int128)sext(lo, size), lo, size);
    return lo;
}

void op_imul_r_rm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize;
    uint64_t b = cpu_rm_read(cpu, in, size);
    cpu_sreg(cpu, in, size, imul2(cpu, size, cpu_greg(cpu, in, size), b));
}

void op_imul_imm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize;
    uint64_t a = cpu_rm_read(cpu, in, size);
    cpu_sreg(cpu, in, size, imul2(cpu, size, a, in->imm));
}
