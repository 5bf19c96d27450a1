/* Instructions per second of the software CPU on a small CPU-bound guest
 * loop (ALU, loads/stores, calls, compare-and-branch) in 64-bit mode.
 * Not a test: run by bench/cpu.sh. Prints "insns/s N". */
#include <stdio.h>
#include <time.h>
#include "testenv.h"

int main(int argc, char **argv)
{
    uint64_t iters = argc > 1 ? strtoull(argv[1], NULL, 0) : 20000000;
    struct tenv env = { 0 };
    tenv_add(&env, 0, 0x10000);
    uint8_t *code = tenv_add(&env, 0x200000, 0x1000);
    tenv_add(&env, 0x400000, 0x10000);
    struct cpu_x86 *cpu = tenv_cpu(&env);
    tenv_paging64(cpu, &env, false);
    static const uint8_t prog[] = {
        0x48, 0xc7, 0xc6, 0x00, 0x00, 0x40, 0x00,   /* mov rsi, 0x400000 */
        /* loop: */
        0x48, 0x01, 0xc8,                           /* add rax, rcx */
        0x48, 0x31, 0xc3,                           /* xor rbx, rax */
        0x89, 0xca,                                 /* mov edx, ecx */
        0x81, 0xe2, 0xff, 0x0f, 0x00, 0x00,         /* and edx, 0xfff */
        0x48, 0x01, 0x1c, 0x16,                     /* add [rsi+rdx], rbx */
        0x48, 0x8b, 0x3c, 0x16,                     /* mov rdi, [rsi+rdx] */
        0xe8, 0x08, 0x00, 0x00, 0x00,               /* call f */
        0x48, 0xff, 0xc9,                           /* dec rcx */
        0x75, 0xe1,                                 /* jnz loop */
        0x0f, 0x0b,                                 /* ud2 */
        0x90, 0x90, 0x90,
        /* f: */
        0x48, 0x83, 0xc7, 0x01,                     /* add rdi, 1 */
        0xc3,                                       /* ret */
    };
    memcpy(code, prog, sizeof(prog));
    struct cpu_x86_regs r = { 0 };
    r.rip = 0x200000;
    r.rcx = iters;
    r.rsp = 0x40f000;
    r.rflags = 2;
    cpu_x86_set_regs(cpu, &r);
    cpu->trap_exceptions = true;
    struct timespec t0, t1;
    struct cpu_x86_exit ex;
    uint64_t total = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        cpu_x86_run(cpu, 10000000, &ex);
        total += ex.insns;
    } while (ex.reason == CPU_X86_STOP_BUDGET);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("stop %d vector %d insns %llu time %.3f s\n", ex.reason, cpu->trapped_vector,
           (unsigned long long)total, s);
    printf("insns/s %.0f\n", total / s);
    cpu_x86_destroy(cpu);
    tenv_free(&env);
    return 0;
}
