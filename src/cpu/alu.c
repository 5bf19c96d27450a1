/* Integer ALU: ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, INC/DEC, TEST, NOT/NEG,
 * groups 1, 3 (without MUL/DIV, see muldiv.c), 4 and 5. */
#include "cpu_int.h"

/* op: 0 add, 1 or, 2 adc, 3 sbb, 4 and, 5 sub, 6 xor, 7 cmp */
static uint64_t alu(struct cpu_x86 *cpu, unsigned op, unsigned size, uint64_t a, uint64_t b)
{
    uint64_t m = size_mask(size), r;
    uint32_t cf;

    a &= m;
    b &= m;
    switch (op) {
    case 0: r = (a + b) & m; cpu_set_cc(cpu, CC_ADD, size, a, b, r); return r;
    case 1: r = a | b; cpu_set_cc(cpu, CC_LOGIC, size, a, b, r); return r;
    case 2:
        cf = cpu->alu_cf;
        r = (a + b + cf) & m;
        cpu_set_cc(cpu, CC_ADC, size, a, b, r);
        cpu->cc_cf = cf;
        return r;
    case 3:
        cf = cpu->alu_cf;
        r = (a - b - cf) & m;
        cpu_set_cc(cpu, CC_SBB, size, a, b, r);
        cpu->cc_cf = cf;
        return r;
    case 4: r = a & b; cpu_set_cc(cpu, CC_LOGIC, size, a, b, r); return r;
    case 6: r = a ^ b; cpu_set_cc(cpu, CC_LOGIC, size, a, b, r); return r;
    default: r = (a - b) & m; cpu_set_cc(cpu, CC_SUB, size, a, b, r); return r;
    }
}

static unsigned g_aluop(const struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    return (in->op >> 3) & 7;
}

/* ADC/SBB read CF once, before any (possibly retried) RMW */
static inline void take_cf(struct cpu_x86 *cpu, unsigned op)
{
    if (op == 2 || op == 3)
        cpu->alu_cf = cpu_arith_flags(cpu) & F_CF;
}

/* rmw callbacks carry the ALU op in the high bits of arg's companion: we use
 * a small per-op trampoline instead. */
#define ALU_RMW(n) \
    static uint64_t rmw_##n(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw) \
    { return alu(cpu, n, size, old, arg); }
ALU_RMW(0) ALU_RMW(1) ALU_RMW(2) ALU_RMW(3) ALU_RMW(4) ALU_RMW(5) ALU_RMW(6)
static const cpu_rmw_fn alu_rmw[7] = { rmw_0, rmw_1, rmw_2, rmw_3, rmw_4, rmw_5, rmw_6 };

static void alu_rm(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned op,
                   unsigned size, uint64_t b)
{
    take_cf(cpu, op);
    if (op == 7) {
        alu(cpu, 7, size, cpu_rm_read(cpu, in, size), b);
        return;
    }
    cpu_rm_rmw(cpu, in, size, alu_rmw[op], b);
}

void op_alu_rm_r(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    alu_rm(cpu, in, g_aluop(cpu, in), in->opsize, cpu_greg(cpu, in, in->opsize));
}

void op_alu_r_rm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned op = g_aluop(cpu, in), size = in->opsize;
    uint64_t b = cpu_rm_read(cpu, in, size);
    take_cf(cpu, op);
    uint64_t r = alu(cpu, op, size, cpu_greg(cpu, in, size), b);
    if (op != 7)
        cpu_sreg(cpu, in, size, r);
}

void op_alu_acc_imm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned op = g_aluop(cpu, in), size = in->opsize;
    take_cf(cpu, op);
    uint64_t r = alu(cpu, op, size, cpu->r[R_AX], in->imm);
    if (op != 7)
        cpu_set_reg(cpu, R_AX, size, r);
}

void op_grp1(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    alu_rm(cpu, in, in->reg & 7, in->opsize, in->imm);
}

static uint64_t incdec(struct cpu_x86 *cpu, bool dec, unsigned size, uint64_t a)
{
    uint32_t cf = cpu->alu_cf;
    uint64_t r = (dec ? a - 1 : a + 1) & size_mask(size);
    cpu_set_cc(cpu, dec ? CC_DEC : CC_INC, size, a, 1, r);
    cpu->cc_cf = cf;
    return r;
}

void op_incdec_r(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->op & 7;
    cpu->alu_cf = cpu_arith_flags(cpu) & F_CF;
    cpu_set_reg(cpu, r, in->opsize, incdec(cpu, in->op & 8, in->opsize, cpu->r[r]));
}

void op_test_rm_r(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    alu(cpu, 4, in->opsize, cpu_rm_read(cpu, in, in->opsize), cpu_greg(cpu, in, in->opsize));
}

void op_test_acc_imm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    alu(cpu, 4, in->opsize, cpu->r[R_AX], in->imm);
}

static uint64_t rmw_not(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    return ~old & size_mask(size);
}

static uint64_t rmw_neg(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    return alu(cpu, 5, size, 0, old);
}

static uint64_t rmw_inc(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    return incdec(cpu, arg, size, old);
}

void op_muldiv_grp3(struct cpu_x86 *cpu, const struct cpu_insn *in);

void op_grp3(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    switch (in->reg & 7) {
    case 0: case 1:
        alu(cpu, 4, in->opsize, cpu_rm_read(cpu, in, in->opsize), in->imm);
        break;
    case 2: cpu_rm_rmw(cpu, in, in->opsize, rmw_not, 0); break;
    case 3: cpu_rm_rmw(cpu, in, in->opsize, rmw_neg, 0); break;
    default: op_muldiv_grp3(cpu, in); break;
    }
}

void op_grp4(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->reg & 7;
    if (r > 1)
        cpu_ud(cpu);
    cpu->alu_cf = cpu_arith_flags(cpu) & F_CF;
    cpu_rm_rmw(cpu, in, 1, rmw_inc, r);
}

void op_grp5(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize;
    uint64_t v;

    switch (in->reg & 7) {
    case 0: case 1:
        cpu->alu_cf = cpu_arith_flags(cpu) & F_CF;
        cpu_rm_rmw(cpu, in, size, rmw_inc, in->reg & 7);
        break;
    case 2:   /* call near indirect */
        v = cpu_rm_read(cpu, in, size);
        cpu_push(cpu, size, cpu->rip);
        cpu->rip = v & size_mask(size);
        break;
    case 4:   /* jmp near indirect */
        cpu->rip = cpu_rm_read(cpu, in, size) & size_mask(size);
        break;
    case 3: case 5: {   /* far call/jmp m16:16/32/64 */
        if (in->mod == 3)
            cpu_ud(cpu);
        uint64_t ea = cpu_ea(cpu, in);
        uint64_t off = cpu_read_mem(cpu, in->seg, ea, size);
        uint16_t sel = (uint16_t)cpu_read_mem(cpu, in->seg, (ea + size) & size_mask(in->adsize), 2);
        if ((in->reg & 7) == 3)
            cpu_far_call(cpu, sel, off, size);
        else
            cpu_far_jump(cpu, sel, off, size);
        break;
    }
    case 6:
        v = cpu_rm_read(cpu, in, size);
        cpu_push(cpu, size, v);
        break;
    default:
        cpu_ud(cpu);
    }
}
