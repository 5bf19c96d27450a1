/* Stack: PUSH/POP forms, PUSHF/POPF, PUSHA/POPA, ENTER/LEAVE. */
#include "cpu_int.h"

void op_push_r(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_push(cpu, in->opsize, cpu->r[in->rm]);
}

void op_pop_r(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t v = cpu_pop(cpu, in->opsize);
    cpu_set_reg(cpu, in->rm, in->opsize, v);
}

void op_push_imm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_push(cpu, in->opsize, in->imm);
}

void op_pop_rm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize, ss = cpu_stack_size(cpu);
    if ((in->reg & 7) != 0)
        cpu_ud(cpu);
    uint64_t old_sp = cpu->r[R_SP];
    uint64_t v = cpu_pop(cpu, size);
    /* the address is computed with the incremented rSP */
    struct cpu_x86 *c = cpu;
    uint64_t new_sp = c->r[R_SP];
    c->r[R_SP] = new_sp;
    if (in->mod == 3) {
        cpu_reg_write(cpu, in, in->rm, size, v);
        return;
    }
    uint64_t ea = cpu_ea(cpu, in);
    cpu->r[R_SP] = old_sp;   /* restore in case the write faults */
    cpu_write_mem(cpu, in->seg, ea, size, v);
    cpu_set_reg(cpu, R_SP, ss, new_sp);
}

void op_pushf(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (cpu_vm86(cpu) && ((cpu->eflags >> 12) & 3) != 3)
        cpu_gp0(cpu);
    cpu_push(cpu, in->opsize, cpu_flags(cpu) & ~(uint64_t)(F_RF | F_VM));
}

void op_popf(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned iopl = (cpu->eflags >> 12) & 3;
    uint64_t mask = F_ARITH | F_TF | F_DF | F_NT | F_AC | F_ID;
    if (cpu_vm86(cpu)) {
        if (iopl != 3)
            cpu_gp0(cpu);
        mask |= F_IF;
    } else {
        if (cpu->cpl == 0)
            mask |= F_IOPL;
        if (cpu->cpl <= iopl)
            mask |= F_IF;
    }
    uint64_t v = cpu_pop(cpu, in->opsize);
    if (in->opsize == 2)
        mask &= 0xffff;
    cpu_set_flags(cpu, v, mask);
}

void op_push_sreg(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned s = in->map == 0 ? (in->op >> 3) & 3 : in->op == 0xa0 ? S_FS : S_GS;
    cpu_push(cpu, in->opsize, cpu->seg[s].sel);
}

void op_pop_sreg(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned s = in->map == 0 ? (in->op >> 3) & 3 : in->op == 0xa1 ? S_FS : S_GS;
    uint16_t v = (uint16_t)cpu_stack_peek(cpu, in->opsize, 0);
    cpu_load_seg(cpu, s, v);
    cpu_set_reg(cpu, R_SP, cpu_stack_size(cpu), cpu->r[R_SP] + in->opsize);
    if (s == S_SS)
        cpu->inhibit_irq = 1;
}

void op_pusha(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t sp = cpu->r[R_SP];
    for (unsigned r = 0; r < 8; r++)
        cpu_push(cpu, in->opsize, r == R_SP ? sp : cpu->r[r]);
}

void op_popa(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t v[8];
    for (unsigned r = 0; r < 8; r++)
        v[7 - r] = cpu_stack_peek(cpu, in->opsize, r * in->opsize);
    for (unsigned r = 0; r < 8; r++)
        if (r != R_SP)
            cpu_set_reg(cpu, r, in->opsize, v[r]);
    cpu_set_reg(cpu, R_SP, cpu_stack_size(cpu), cpu->r[R_SP] + 8 * in->opsize);
}

void op_enter(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize, ss = cpu_stack_size(cpu);
    unsigned level = in->imm2 & 31;
    uint64_t alloc = in->imm & 0xffff;
    uint64_t bp = cpu->r[R_BP];
    uint64_t sp = cpu->r[R_SP];

    cpu_push(cpu, size, bp);
    uint64_t frame = cpu->r[R_SP] & size_mask(ss);
    for (unsigned i = 1; i < level; i++) {
        bp = (bp - size) & size_mask(ss);
        cpu_push(cpu, size, cpu_read_mem(cpu, S_SS, bp, size));
    }
    if (level)
        cpu_push(cpu, size, frame);
    uint64_t nsp = (cpu->r[R_SP] - alloc) & size_mask(ss);
    /* check the final stack location is writable */
    if (alloc)
        cpu_lin(cpu, S_SS, nsp, 1, ACC_W);
    (void)sp;
    cpu_set_reg(cpu, R_BP, size, frame);
    cpu_set_reg(cpu, R_SP, ss, nsp);
}

void op_leave(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned ss = cpu_stack_size(cpu);
    uint64_t bp = cpu->r[R_BP] & size_mask(ss);
    uint64_t v = cpu_read_mem(cpu, S_SS, bp, in->opsize);
    cpu_set_reg(cpu, R_SP, ss, bp + in->opsize);
    cpu_set_reg(cpu, R_BP, in->opsize, v);
}
