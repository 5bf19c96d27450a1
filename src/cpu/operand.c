/* Register and ModRM operand access. */
#include "cpu_int.h"

uint64_t cpu_reg_read(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned r,
                      unsigned size)
{
    switch (size) {
    case 1:
        if (r >= 4 && r < 8 && !in->rex)
            return (cpu->r[r - 4] >> 8) & 0xff;
        return cpu->r[r] & 0xff;
    case 2: return cpu->r[r] & 0xffff;
    case 4: return cpu->r[r] & 0xffffffffu;
    default: return cpu->r[r];
    }
}

void cpu_reg_write(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned r,
                   unsigned size, uint64_t v)
{
    if (size == 1 && r >= 4 && r < 8 && !in->rex) {
        cpu->r[r - 4] = (cpu->r[r - 4] & ~0xff00ull) | ((v & 0xff) << 8);
        return;
    }
    cpu_set_reg(cpu, r, size, v);
}

uint64_t cpu_ea(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t ea = (uint64_t)in->disp;

    if (in->base == 0xfe)
        ea += cpu->insn_rip + in->len;
    else if (in->base != 0xff)
        ea += cpu->r[in->base];
    if (in->index != 0xff)
        ea += cpu->r[in->index] << in->scale;
    if (in->adsize == 4)
        ea = (uint32_t)ea;
    else if (in->adsize == 2)
        ea = (uint16_t)ea;
    return ea;
}

uint64_t cpu_rm_read(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size)
{
    if (in->mod == 3)
        return cpu_reg_read(cpu, in, in->rm, size);
    return cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), size);
}

void cpu_rm_write(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size, uint64_t v)
{
    if (in->mod == 3)
        cpu_reg_write(cpu, in, in->rm, size, v);
    else
        cpu_write_mem(cpu, in->seg, cpu_ea(cpu, in), size, v);
}

static bool cas(uint8_t *p, unsigned size, uint64_t *old, uint64_t nv)
{
    switch (size) {
    case 1: { uint8_t o = (uint8_t)*old; bool r = __atomic_compare_exchange_n(p, &o, (uint8_t)nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *old = o; return r; }
    case 2: { uint16_t o = (uint16_t)*old; bool r = __atomic_compare_exchange_n((uint16_t *)p, &o, (uint16_t)nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *old = o; return r; }
    case 4: { uint32_t o = (uint32_t)*old; bool r = __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *old = o; return r; }
    default: return __atomic_compare_exchange_n((uint64_t *)p, old, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
}

uint64_t cpu_rm_rmw(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size,
                    cpu_rmw_fn fn, uint64_t arg)
{
    bool nowrite = false;
    uint64_t old, nv;

    if (in->mod == 3) {
        old = cpu_reg_read(cpu, in, in->rm, size);
        nv = fn(cpu, old, arg, size, &nowrite);
        if (!nowrite)
            cpu_reg_write(cpu, in, in->rm, size, nv);
        return old;
    }
    uint64_t lin = cpu_lin(cpu, in->seg, cpu_ea(cpu, in), size, ACC_W);
    uint8_t *p = cpu_lin_host_rw(cpu, lin, size, ACC_W);
    if (p) {
        old = 0;
        memcpy(&old, p, size);
        if (in->lock && !((uintptr_t)p & (size - 1))) {
            for (;;) {
                nowrite = false;
                nv = fn(cpu, old, arg, size, &nowrite);
                if (nowrite || cas(p, size, &old, nv))
                    break;
            }
            return old;
        }
        nv = fn(cpu, old, arg, size, &nowrite);
        if (!nowrite)
            memcpy(p, &nv, size);
        return old;
    }
    old = cpu_lin_read(cpu, lin, size, ACC_R);
    nv = fn(cpu, old, arg, size, &nowrite);
    if (!nowrite)
        cpu_lin_write(cpu, lin, size, nv, ACC_W);
    return old;
}
