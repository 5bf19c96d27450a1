/* Robustness: random bytes executed as code in real, 32-bit protected and
 * 64-bit mode, at CPL 0 and 3, with random registers and memory. Whatever
 * the guest does (system instructions, faults, triple faults, MMIO, port
 * I/O), cpu_x86_run must return with a valid stop reason; under ASan/UBSan
 * this also checks for memory errors in the decoder and handlers.
 *   test_robust [runs [seed]] */
#include <stdio.h>
#include "tap.h"
#include "testenv.h"

static uint64_t rs;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }

int main(int argc, char **argv)
{
    unsigned runs = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 300;
    rs = argc > 2 ? strtoull(argv[2], NULL, 0) : 7;
    if (!rs) rs = 7;
    struct tenv env = { 0 };
    uint8_t *low = tenv_add(&env, 0, 0x10000);
    uint8_t *code = tenv_add(&env, 0x200000, 0x2000);
    uint8_t *data = tenv_add(&env, 0x400000, 0x4000);
    struct cpu_x86 *cpu = tenv_cpu(&env);
    unsigned reasons[8] = { 0 }, bad = 0;

    for (unsigned i = 0; i < runs; i++) {
        unsigned mode = (unsigned)(rnd() % 4);
        for (unsigned k = 0; k < 0x2000; k++)
            code[k] = (uint8_t)rnd();
        for (unsigned k = 0; k < 0x4000; k += 8) {
            uint64_t v = rnd();
            memcpy(data + k, &v, 8);
        }
        /* random junk in the low page, but keep the page tables sane */
        for (unsigned k = 0x4000; k < 0x10000; k++)
            low[k] = (uint8_t)rnd();
        cpu_x86_invalidate_code(cpu->shared, 0, 0x10000);
        cpu_x86_invalidate_code(cpu->shared, 0x200000, 0x2000);
        cpu_x86_invalidate_code(cpu->shared, 0x400000, 0x4000);
        cpu_x86_reset(cpu, false);
        cpu->halted = 0;
        struct cpu_x86_regs r;
        memset(&r, 0, sizeof(r));
        uint64_t *rp = &r.rax;
        for (unsigned k = 0; k < 16; k++)
            rp[k] = (rnd() & 1) ? rnd() : 0x400000 + (rnd() & 0x3ff8);
        r.rflags = 2 | (rnd() & 0xcd5);
        if (mode == 0) {            /* real mode at 0000:8000 (low RAM) */
            for (unsigned k = 0; k < 0x800; k++)
                low[0x8000 + k] = code[k];
            struct cpu_x86_sregs s;
            cpu_x86_get_sregs(cpu, &s);
            s.cs.selector = 0; s.cs.base = 0;
            cpu_x86_set_sregs(cpu, &s);
            r.rip = 0x8000;
            r.rsp = 0x7000;
        } else if (mode == 1) {     /* 32-bit flat protected mode, no paging */
            struct cpu_x86_sregs s;
            cpu_x86_get_sregs(cpu, &s);
            struct cpu_x86_segment cs = { 0, 0xffffffff, 0x08, 0xb, 1, 0, 1, 1, 0, 1, 0, 0 };
            struct cpu_x86_segment ds = { 0, 0xffffffff, 0x10, 0x3, 1, 0, 1, 1, 0, 1, 0, 0 };
            s.cs = cs;
            s.ds = s.es = s.ss = s.fs = s.gs = ds;
            s.cr0 = CR0_PE | CR0_ET;
            s.gdt.base = 0x400000; s.gdt.limit = 0xff;
            s.idt.base = 0x400800; s.idt.limit = 0x7ff;
            cpu_x86_set_sregs(cpu, &s);
            r.rip = 0x200000;
            r.rsp = 0x403000;
        } else {                    /* 64-bit, kernel or user */
            tenv_paging64(cpu, &env, mode == 3);
            struct cpu_x86_sregs s;
            cpu_x86_get_sregs(cpu, &s);
            s.gdt.base = 0x400000; s.gdt.limit = 0xff;
            s.idt.base = 0x400800; s.idt.limit = 0xfff;
            s.tr.base = 0x401000; s.tr.limit = 0x67; s.tr.type = 0xb; s.tr.present = 1;
            cpu_x86_set_sregs(cpu, &s);
            r.rip = 0x200000 + (rnd() & 0xfff);
            r.rsp = 0x403000;
        }
        cpu_x86_set_regs(cpu, &r);
        struct cpu_x86_exit ex;
        cpu_x86_run(cpu, 2000, &ex);
        if ((unsigned)ex.reason > CPU_X86_STOP_ERROR)
            bad++;
        else
            reasons[ex.reason]++;
        if (ex.reason == CPU_X86_STOP_ERROR && reasons[ex.reason] <= 5)
            printf("# mode %u: %s\n", mode, ex.msg);
    }
    tap_ok(bad == 0, "%u random runs returned a valid stop reason", runs);
    printf("# budget %u hlt %u sipi %u kick %u shutdown %u error %u\n", reasons[0], reasons[1],
           reasons[2], reasons[3], reasons[4], reasons[5]);
    cpu_x86_destroy(cpu);
    tenv_free(&env);
    return tap_done();
}
