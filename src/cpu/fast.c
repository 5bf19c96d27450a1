/* Specialised handlers for the most frequent instruction forms (32/64-bit
 * register and simple memory operands), chosen by the decoder instead of
 * the generic family handlers. They must behave exactly like the generic
 * ones (the differential test runs both: cpu_fast_disable turns them off). */
#include "cpu_int.h"

bool cpu_fast_disable;

#define SZ(n) ((n) == 8 ? 8u : 4u)
#define WR(c_, reg_, n, v) ((c_)->r[reg_] = (n) == 8 ? (uint64_t)(v) : (uint32_t)(v))
#define MASK(n, v) ((n) == 8 ? (uint64_t)(v) : (uint64_t)(uint32_t)(v))

/* ALU ops on (a, b) with lazy flags; op: 0 add 1 or 4 and 5 sub 6 xor 7 cmp */
#define ALU_BODY(op, n, a, b, r)                                             \
    switch (op) {                                                            \
    case 0: r = MASK(n, a + b); cpu_set_cc(cpu, CC_ADD, n, a, b, r); break;  \
    case 1: r = a | b; cpu_set_cc(cpu, CC_LOGIC, n, a, b, r); break;         \
    case 4: r = a & b; cpu_set_cc(cpu, CC_LOGIC, n, a, b, r); break;         \
    case 6: r = a ^ b; cpu_set_cc(cpu, CC_LOGIC, n, a, b, r); break;         \
    default: r = MASK(n, a - b); cpu_set_cc(cpu, CC_SUB, n, a, b, r); break; \
    }

#define GEN(n)                                                                       \
static void f_mov_rr##n(struct cpu_x86 *cpu, const struct cpu_insn *in)              \
{ WR(cpu, in->rm, n, cpu->r[in->reg]); }                                             \
static void f_mov_rr_rev##n(struct cpu_x86 *cpu, const struct cpu_insn *in)          \
{ WR(cpu, in->reg, n, cpu->r[in->rm]); }                                             \
static void f_mov_load##n(struct cpu_x86 *cpu, const struct cpu_insn *in)            \
{ uint64_t v = cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), n); WR(cpu, in->reg, n, v); } \
static void f_mov_store##n(struct cpu_x86 *cpu, const struct cpu_insn *in)           \
{ cpu_write_mem(cpu, in->seg, cpu_ea(cpu, in), n, cpu->r[in->reg]); }                \
static void f_alu_rr##n(struct cpu_x86 *cpu, const struct cpu_insn *in)              \
{   /* op rm(reg), reg */                                                            \
    uint64_t a = MASK(n, cpu->r[in->rm]), b = MASK(n, cpu->r[in->reg]), r;           \
    unsigned op = (in->op >> 3) & 7;                                                 \
    ALU_BODY(op, n, a, b, r)                                                         \
    if (op != 7) WR(cpu, in->rm, n, r);                                              \
}                                                                                    \
static void f_alu_rrev##n(struct cpu_x86 *cpu, const struct cpu_insn *in)            \
{   /* op reg, rm(reg or mem) */                                                     \
    uint64_t b = in->mod == 3 ? MASK(n, cpu->r[in->rm])                              \
                              : cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), n);      \
    uint64_t a = MASK(n, cpu->r[in->reg]), r;                                        \
    unsigned op = (in->op >> 3) & 7;                                                 \
    ALU_BODY(op, n, a, b, r)                                                         \
    if (op != 7) WR(cpu, in->reg, n, r);                                             \
}                                                                                    \
static void f_alu_ri##n(struct cpu_x86 *cpu, const struct cpu_insn *in)              \
{   /* group 1 with a register destination */                                       \
    uint64_t a = MASK(n, cpu->r[in->rm]), b = MASK(n, in->imm), r;                   \
    unsigned op = in->reg & 7;                                                       \
    ALU_BODY(op, n, a, b, r)                                                         \
    if (op != 7) WR(cpu, in->rm, n, r);                                              \
}                                                                                    \
static void f_cmp_mi##n(struct cpu_x86 *cpu, const struct cpu_insn *in)              \
{   /* CMP mem, imm */                                                               \
    uint64_t a = cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), n), b = MASK(n, in->imm); \
    cpu_set_cc(cpu, CC_SUB, n, a, b, MASK(n, a - b));                                \
}                                                                                    \
static void f_test_rr##n(struct cpu_x86 *cpu, const struct cpu_insn *in)             \
{   uint64_t a = MASK(n, cpu->r[in->rm]), b = MASK(n, cpu->r[in->reg]);              \
    cpu_set_cc(cpu, CC_LOGIC, n, a, b, a & b); }                                     \
static void f_lea##n(struct cpu_x86 *cpu, const struct cpu_insn *in)                 \
{ WR(cpu, in->reg, n, cpu_ea(cpu, in)); }                                            \
static void f_mov_ri##n(struct cpu_x86 *cpu, const struct cpu_insn *in)              \
{ WR(cpu, in->rm, n, in->imm); }

GEN(4)
GEN(8)

static void f_jcc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (cpu_cond(cpu, in->op & 15))
        cpu->rip += in->imm;
}

static void f_push64(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t sp = cpu->r[R_SP] - 8;
    cpu_lin_write(cpu, cpu_lin(cpu, S_SS, sp, 8, ACC_W), 8, cpu->r[in->rm], ACC_W);
    cpu->r[R_SP] = sp;
}

static void f_pop64(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t sp = cpu->r[R_SP];
    uint64_t v = cpu_lin_read(cpu, cpu_lin(cpu, S_SS, sp, 8, ACC_R), 8, ACC_R);
    cpu->r[R_SP] = sp + 8;
    cpu->r[in->rm] = v;
}

static void f_call64(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t sp = cpu->r[R_SP] - 8;
    cpu_lin_write(cpu, cpu_lin(cpu, S_SS, sp, 8, ACC_W), 8, cpu->rip, ACC_W);
    cpu->r[R_SP] = sp;
    cpu->rip += in->imm;
}

static void f_ret64(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t sp = cpu->r[R_SP];
    uint64_t v = cpu_lin_read(cpu, cpu_lin(cpu, S_SS, sp, 8, ACC_R), 8, ACC_R);
    cpu->r[R_SP] = sp + 8;
    cpu->rip = v;
}

#define GEN2(n)                                                                      \
static void f_mov_mi##n(struct cpu_x86 *cpu, const struct cpu_insn *in)              \
{ cpu_write_mem(cpu, in->seg, cpu_ea(cpu, in), n, in->imm); }                        \
static void f_incdec_r##n(struct cpu_x86 *cpu, const struct cpu_insn *in)            \
{                                                                                    \
    uint64_t a = MASK(n, cpu->r[in->rm]);                                            \
    bool dec = in->reg & 1;                                                          \
    uint64_t r = MASK(n, dec ? a - 1 : a + 1);                                       \
    cpu->cc_cf = cpu_arith_flags(cpu) & F_CF;                                        \
    cpu_set_cc(cpu, dec ? CC_DEC : CC_INC, n, a, 1, r);                              \
    WR(cpu, in->rm, n, r);                                                           \
}                                                                                    \
static void f_movzx_load##n(struct cpu_x86 *cpu, const struct cpu_insn *in)          \
{                                                                                    \
    unsigned ss = in->op == 0xb6 ? 1 : 2;                                            \
    uint64_t v = in->mod == 3 ? cpu_reg_read(cpu, in, in->rm, ss)                    \
                              : cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), ss);     \
    WR(cpu, in->reg, n, v);                                                          \
}

GEN2(4)
GEN2(8)

/* SHL/SHR/SAR on a register (C1 imm, D1 by one, D3 by CL), same results
 * and flags as bits.c (AF clear, OF as for a count of 1), recorded lazily
 * (CC_SHL/SHR/SAR, flags.c). */
#define GEN3(n)                                                                      \
static void f_shift_r##n(struct cpu_x86 *cpu, const struct cpu_insn *in)             \
{                                                                                    \
    unsigned op = in->reg & 7;                                                       \
    unsigned count = in->op == 0xc1 ? (unsigned)in->imm : in->op == 0xd1 ? 1u        \
                                    : (unsigned)cpu->r[R_CX];                        \
    count &= n == 8 ? 63 : 31;                                                       \
    uint64_t a = MASK(n, cpu->r[in->rm]), r;                                         \
    if (!count) {                                                                    \
        WR(cpu, in->rm, n, a);                                                       \
        return;                                                                      \
    }                                                                                \
    if (op == 5)                                                                     \
        r = a >> count;                                                              \
    else if (op == 7)                                                                \
        r = MASK(n, (uint64_t)(sext(a, n) >> count));                                \
    else                                                                             \
        r = MASK(n, a << count);                                                     \
    cpu_set_cc(cpu, op == 5 ? CC_SHR : op == 7 ? CC_SAR : CC_SHL, n, a, count, r);   \
    WR(cpu, in->rm, n, r);                                                           \
}

GEN3(4)
GEN3(8)

/* Pick a specialised handler for `in` if one applies (decode.c). */
void cpu_specialise(struct cpu_x86 *cpu, struct cpu_insn *in)
{
    if (cpu_fast_disable || in->lock || in->map > 1)
        return;
    bool q = in->opsize == 8, d = in->opsize == 4;
    if (!q && !d)
        return;
#define PICK(name) (q ? name##8 : name##4)
    if (in->map == 1) {
        if (in->op >= 0x80 && in->op <= 0x8f && cpu->code64)
            in->fn = f_jcc;
        else if (in->op == 0xb6 || in->op == 0xb7)
            in->fn = PICK(f_movzx_load);
        return;
    }
    uint8_t op = (uint8_t)in->op;
    switch (op) {
    case 0x89: in->fn = in->mod == 3 ? PICK(f_mov_rr) : PICK(f_mov_store); return;
    case 0x8b: in->fn = in->mod == 3 ? PICK(f_mov_rr_rev) : PICK(f_mov_load); return;
    case 0x01: case 0x09: case 0x21: case 0x29: case 0x31: case 0x39:
        if (in->mod == 3) in->fn = PICK(f_alu_rr);
        return;
    case 0x03: case 0x0b: case 0x23: case 0x2b: case 0x33: case 0x3b:
        in->fn = PICK(f_alu_rrev);
        return;
    case 0x81: case 0x83: {
        unsigned r = in->reg & 7;
        if (r == 2 || r == 3)
            return;
        if (in->mod == 3)
            in->fn = PICK(f_alu_ri);
        else if (r == 7)
            in->fn = PICK(f_cmp_mi);
        return;
    }
    case 0x85: if (in->mod == 3) in->fn = PICK(f_test_rr); return;
    case 0xc7: if (in->mod != 3 && (in->reg & 7) == 0) in->fn = PICK(f_mov_mi); return;
    case 0xff:
        if (in->mod == 3 && (in->reg & 7) < 2) in->fn = PICK(f_incdec_r);
        return;
    case 0xe8: if (q && cpu->code64) in->fn = f_call64; return;
    case 0xc1: case 0xd1: case 0xd3: {
        unsigned r = in->reg & 7;
        if (in->mod == 3 && (r == 4 || r == 5 || r == 7))
            in->fn = PICK(f_shift_r);
        return;
    }
    case 0xc3: if (q && cpu->code64) in->fn = f_ret64; return;
    case 0x8d: if (in->mod != 3) in->fn = PICK(f_lea); return;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
        in->fn = PICK(f_mov_ri);
        return;
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
        if (q && cpu->code64) in->fn = f_push64;
        return;
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
        if (q && cpu->code64 && in->rm != R_SP) in->fn = f_pop64;
        return;
    default:
        if (op >= 0x70 && op <= 0x7f && cpu->code64)
            in->fn = f_jcc;
        return;
    }
#undef PICK
}
