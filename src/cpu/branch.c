/* Control transfer: Jcc, JMP, CALL, RET (near and far), LOOP/JCXZ, INT n,
 * INT3, INTO, IRET. */
#include "cpu_int.h"

/* Mask a new IP to the operand size (16/32-bit code). */
static inline uint64_t ip_mask(const struct cpu_x86 *cpu, const struct cpu_insn *in, uint64_t v)
{
    if (cpu->code64)
        return v;
    return in->opsize == 2 ? (v & 0xffff) : (uint32_t)v;
}

void op_jcc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (cpu_cond(cpu, in->op & 15))
        cpu->rip = ip_mask(cpu, in, cpu->rip + in->imm);
}

void op_jmp_rel(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu->rip = ip_mask(cpu, in, cpu->rip + in->imm);
}

void op_call_rel(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_push(cpu, in->opsize, cpu->rip);
    cpu->rip = ip_mask(cpu, in, cpu->rip + in->imm);
}

void op_ret(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned ss = cpu_stack_size(cpu);
    uint64_t ip = cpu_stack_peek(cpu, in->opsize, 0);
    cpu_set_reg(cpu, R_SP, ss, cpu->r[R_SP] + in->opsize + (in->map == 0 && in->op == 0xc2 ? in->imm : 0));
    cpu->rip = ip_mask(cpu, in, ip);
}

void op_retf(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_far_ret(cpu, in->opsize, in->op == 0xca ? (uint16_t)in->imm : 0);
}

void op_jmp_far(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_far_jump(cpu, (uint16_t)in->imm2, in->imm & size_mask(in->opsize), in->opsize);
}

void op_call_far(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_far_call(cpu, (uint16_t)in->imm2, in->imm & size_mask(in->opsize), in->opsize);
}

void op_loop(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned as = in->adsize;
    uint64_t c = (cpu->r[R_CX] - 1) & size_mask(as);
    bool take = c != 0;
    cpu_set_reg(cpu, R_CX, as, c);
    if (in->op == 0xe0)
        take = take && !cpu_cond(cpu, 4);
    else if (in->op == 0xe1)
        take = take && cpu_cond(cpu, 4);
    if (take)
        cpu->rip = ip_mask(cpu, in, cpu->rip + in->imm);
}

void op_jcxz(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if ((cpu->r[R_CX] & size_mask(in->adsize)) == 0)
        cpu->rip = ip_mask(cpu, in, cpu->rip + in->imm);
}

void op_int(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (cpu_vm86(cpu) && ((cpu->eflags >> 12) & 3) != 3)
        cpu_gp0(cpu);
    cpu_raise_soft(cpu, (int)(in->imm & 0xff));
}

void op_int3(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (in->op == 0xf1) {   /* INT1/ICEBP: a #DB trap, not a software int */
        cpu->exc_vector = EXC_DB;
        cpu->exc_error = 0;
        cpu->exc_has_error = false;
        cpu->exc_soft = true;
        longjmp(cpu->jb, 1);
    }
    cpu_raise_soft(cpu, EXC_BP);
}

void op_into(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (cpu_cond(cpu, 0))
        cpu_raise_soft(cpu, EXC_OF);
}

void op_iret(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_iret(cpu, in->opsize);
}
