/* Register and ModRM operand access. */
#include "cpu_int.h"

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
        old = cpu_ld(p, size);
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
            cpu_st(p, size, nv);
        return old;
    }
    old = cpu_lin_read(cpu, lin, size, ACC_R);
    nv = fn(cpu, old, arg, size, &nowrite);
    if (!nowrite)
        cpu_lin_write(cpu, lin, size, nv, ACC_W);
    return old;
}
