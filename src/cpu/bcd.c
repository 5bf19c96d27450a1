/* BCD adjust instructions (invalid in 64-bit mode) and SALC. */
#include "cpu_int.h"

static uint32_t szp(uint8_t v)
{
    return (v ? 0 : F_ZF) | ((v & 0x80) ? F_SF : 0) | (cpu_parity(v) ? F_PF : 0);
}

void op_daa(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint32_t f = cpu_arith_flags(cpu);
    uint8_t al = cpu->r[R_AX] & 0xff, old = al;
    bool cf = f & F_CF, af = f & F_AF, ncf = false, naf = false;
    if ((al & 0xf) > 9 || af) {
        al += 6;
        naf = true;
        ncf = cf || old > 0xf9;
    }
    if (old > 0x99 || cf) {
        al += 0x60;
        ncf = true;
    }
    cpu_set_reg(cpu, R_AX, 1, al);
    cpu_set_arith_flags(cpu, szp(al) | (ncf ? F_CF : 0) | (naf ? F_AF : 0));
}

void op_das(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint32_t f = cpu_arith_flags(cpu);
    uint8_t al = cpu->r[R_AX] & 0xff, old = al;
    bool cf = f & F_CF, af = f & F_AF, ncf = false, naf = false;
    if ((al & 0xf) > 9 || af) {
        al -= 6;
        naf = true;
        ncf = cf || old < 6;
    }
    if (old > 0x99 || cf) {
        al -= 0x60;
        ncf = true;
    }
    cpu_set_reg(cpu, R_AX, 1, al);
    cpu_set_arith_flags(cpu, szp(al) | (ncf ? F_CF : 0) | (naf ? F_AF : 0));
}

static void aaa_aas(struct cpu_x86 *cpu, bool sub)
{
    uint32_t f = cpu_arith_flags(cpu);
    uint16_t ax = cpu->r[R_AX] & 0xffff;
    if ((ax & 0xf) > 9 || (f & F_AF)) {
        if (sub) {
            ax = (uint16_t)(ax - 6);
            ax = (uint16_t)((ax & 0xffu) | (((unsigned)(ax >> 8) - 1u) << 8));
        } else {
            ax = (uint16_t)(ax + 0x106);
        }
        f = F_AF | F_CF;
    } else {
        f = 0;
    }
    ax &= 0xff0f;
    cpu_set_reg(cpu, R_AX, 2, ax);
    cpu_set_arith_flags(cpu, f | szp((uint8_t)ax));
}

void op_aaa(struct cpu_x86 *cpu, const struct cpu_insn *in) { aaa_aas(cpu, false); }
void op_aas(struct cpu_x86 *cpu, const struct cpu_insn *in) { aaa_aas(cpu, true); }

void op_aam(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint8_t base = in->imm & 0xff, al = cpu->r[R_AX] & 0xff;
    if (!base)
        cpu_raise_noerr(cpu, EXC_DE);
    uint8_t ah = al / base;
    al %= base;
    cpu_set_reg(cpu, R_AX, 2, (uint16_t)(al | (ah << 8)));
    cpu_set_arith_flags(cpu, szp(al));
}

void op_aad(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint8_t base = in->imm & 0xff;
    uint8_t al = cpu->r[R_AX] & 0xff, ah = (cpu->r[R_AX] >> 8) & 0xff;
    uint8_t r = (uint8_t)(al + ah * base);
    cpu_set_reg(cpu, R_AX, 2, r);
    cpu_set_arith_flags(cpu, szp(r));
}

void op_salc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_set_reg(cpu, R_AX, 1, cpu_cond(cpu, 2) ? 0xff : 0);
}
