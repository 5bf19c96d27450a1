/* Weak defaults for the x87 and SSE instruction families, so the CPU builds
 * before (or without) x87.c and sse*.c: every such opcode raises #UD, and the
 * FPU state is reset to its architectural power-on values. The real
 * definitions in x87.c / sse*.c override these at link time. */
#include "cpu_int.h"

__attribute__((weak)) void cpu_op_x87(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_fpu_check_nm(cpu, false);
    cpu_ud(cpu);
}

__attribute__((weak)) void cpu_op_sse(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_ud(cpu);
}

__attribute__((weak)) void cpu_fpu_reset(struct cpu_x86 *cpu)
{
    memset(&cpu->fpu, 0, sizeof(cpu->fpu));
    cpu->fpu.fcw = 0x37f;
    cpu->fpu.ftw = 0xffff;
    cpu->fpu.mxcsr = 0x1f80;
    cpu->fpu.xcr0 = 1;
}

/* What x87.c / sse*.c provide, for CPUID (cpuid.c). */
__attribute__((weak)) const bool cpu_x87_present = false;
__attribute__((weak)) const int cpu_sse_level = 0;
