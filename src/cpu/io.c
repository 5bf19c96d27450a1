/* Port I/O: IN/OUT and the permission checks (IOPL, TSS I/O bitmap). */
#include "cpu_int.h"

void cpu_io_check(struct cpu_x86 *cpu, uint16_t port, unsigned size)
{
    if (!cpu_pe(cpu))
        return;
    if (!cpu_vm86(cpu) && cpu->cpl <= ((cpu->eflags >> 12) & 3))
        return;
    /* consult the I/O permission bitmap of a 32/64-bit TSS */
    struct cpu_seg *tr = &cpu->seg[S_TR];
    unsigned type = SEGF_TYPE(tr->flags);   /* 32/64-bit TSS, available or busy */
    if (!(tr->flags & SEGF_P) || (type != 9 && type != 0xb) || tr->limit < 0x67)
        cpu_gp0(cpu);
    uint64_t base = cpu_lin_read(cpu, tr->base + 0x66, 2, ACC_R | ACC_SUPER);
    uint64_t off = base + port / 8;
    if (off + 1 > tr->limit)
        cpu_gp0(cpu);
    uint64_t bits = cpu_lin_read(cpu, tr->base + off, 2, ACC_R | ACC_SUPER);
    if ((bits >> (port & 7)) & ((1u << size) - 1))
        cpu_gp0(cpu);
}

void op_in(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize == 8 ? 4 : in->opsize;
    uint16_t port = (in->op & 8) ? (uint16_t)cpu->r[R_DX] : (uint16_t)(in->imm & 0xff);
    cpu_io_check(cpu, port, size);
    uint32_t v = cpu->env.pio_in ? cpu->env.pio_in(cpu->env.opaque, port, size)
                                 : (uint32_t)size_mask(size);
    cpu_set_reg(cpu, R_AX, size, v);
}

void op_out(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize == 8 ? 4 : in->opsize;
    uint16_t port = (in->op & 8) ? (uint16_t)cpu->r[R_DX] : (uint16_t)(in->imm & 0xff);
    cpu_io_check(cpu, port, size);
    if (cpu->env.pio_out)
        cpu->env.pio_out(cpu->env.opaque, port, size, (uint32_t)(cpu->r[R_AX] & size_mask(size)));
    /* a port write may change machine state (reset, IRQ lines): end the
     * block so pending events are seen */
    if (cpu->stop == -1)
        cpu->stop = -2;
}
