/* System-level tests of the software CPU in a tiny in-memory machine:
 * page faults through the IDT (CR2, error code), accessed/dirty bits,
 * INVLPG, real-mode INT/IRET through the IVT, triple fault, self-modifying
 * code, MMIO routing, SYSCALL/SYSRET. */
#include "tap.h"
#include "testenv.h"

#define CODE 0x200000ull
#define DATA 0x400000ull
#define DATA2 0x800000ull

struct mach {
    struct tenv env;
    uint8_t *low, *code, *data, *data2;
    struct cpu_x86 *cpu;
};

static uint64_t *pd(struct mach *m) { return (uint64_t *)(m->low + 0x3000); }

static void mach_init(struct mach *m)
{
    memset(m, 0, sizeof(*m));
    m->low = tenv_add(&m->env, 0, 0x10000);
    m->code = tenv_add(&m->env, CODE, 0x1000);
    m->data = tenv_add(&m->env, DATA, 0x10000);
    m->data2 = tenv_add(&m->env, DATA2, 0x1000);
    m->cpu = tenv_cpu(&m->env);
    tenv_paging64(m->cpu, &m->env, false);
    pd(m)[0] = 0x83;   /* let kernel code reach the page tables */
    /* GDT at DATA+0x2000: null, 64-bit code 0x08, data 0x10, then the
     * SYSRET pair at 0x20 (32-bit code), 0x28 (data), 0x30 (64-bit code) */
    uint64_t *gdt = (uint64_t *)(m->data + 0x2000);
    gdt[1] = 0x00209a0000000000ull;
    gdt[2] = 0x00cf92000000ffffull;
    gdt[4] = 0x00cffa000000ffffull;
    gdt[5] = 0x00cff2000000ffffull;
    gdt[6] = 0x0020fa0000000000ull;
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m->cpu, &s);
    s.gdt.base = DATA + 0x2000;
    s.gdt.limit = 8 * 8 - 1;
    s.idt.base = DATA + 0x1000;
    s.idt.limit = 256 * 16 - 1;
    cpu_x86_set_sregs(m->cpu, &s);
}

static void set_gate(struct mach *m, unsigned vec, uint64_t target)
{
    uint64_t *g = (uint64_t *)(m->data + 0x1000 + vec * 16);
    g[0] = (target & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((target >> 16) & 0xffff) << 48;
    g[1] = target >> 32;
}

static struct cpu_x86_exit run_at(struct mach *m, uint64_t rip, uint64_t rsp)
{
    struct cpu_x86_regs r = { 0 };
    r.rip = rip;
    r.rsp = rsp;
    r.rflags = 2;
    cpu_x86_set_regs(m->cpu, &r);
    m->cpu->halted = 0;   /* a previous run may have ended in HLT */
    struct cpu_x86_exit ex;
    cpu_x86_run(m->cpu, 100000, &ex);
    return ex;
}

static void mach_free(struct mach *m)
{
    cpu_x86_destroy(m->cpu);
    tenv_free(&m->env);
}

static void test_page_fault(void)
{
    struct mach m;
    mach_init(&m);
    static const uint8_t code[] = { 0xc6, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0x01, 0xf4 };
    static const uint8_t handler[] = { 0x0f, 0x20, 0xd0, 0x5b, 0xf4 };   /* mov rax,cr2; pop rbx; hlt */
    memcpy(m.code, code, sizeof(code));
    memcpy(m.code + 0x800, handler, sizeof(handler));
    set_gate(&m, 14, CODE + 0x800);
    struct cpu_x86_exit ex = run_at(&m, CODE, DATA + 0x8000);
    struct cpu_x86_regs r;
    cpu_x86_get_regs(m.cpu, &r);
    tap_is_int(ex.reason, CPU_X86_STOP_HLT, "#PF handler ran to HLT");
    tap_is_int(r.rax, 0x40000000, "CR2 holds the faulting address");
    tap_is_int(r.rbx, 2, "error code: write, not present, supervisor");
    uint64_t *frame = (uint64_t *)(m.data + 0x8000 - 40);
    tap_is_int(frame[0], CODE, "saved RIP is the faulting instruction");
    tap_is_int(pd(&m)[2] & 0x60, 0x60, "stack page: accessed and dirty set");
    tap_is_int(pd(&m)[1] & 0x60, 0x20, "code page: accessed, not dirty");
    mach_free(&m);
}

static void test_fetch_fault(void)
{
    struct mach m;
    mach_init(&m);
    /* jmp to 0x40001000 (not mapped): the #PF frame must hold the target */
    static const uint8_t code[] = { 0x48, 0xc7, 0xc0, 0x00, 0x10, 0x00, 0x40,   /* mov rax,0x40001000 */
                                    0xff, 0xe0 };                               /* jmp rax */
    static const uint8_t handler[] = { 0x0f, 0x20, 0xd0, 0x5b, 0xf4 };
    memcpy(m.code, code, sizeof(code));
    memcpy(m.code + 0x800, handler, sizeof(handler));
    set_gate(&m, 14, CODE + 0x800);
    struct cpu_x86_exit ex = run_at(&m, CODE, DATA + 0x8000);
    struct cpu_x86_regs r;
    cpu_x86_get_regs(m.cpu, &r);
    uint64_t *frame = (uint64_t *)(m.data + 0x8000 - 40);
    tap_is_int(ex.reason, CPU_X86_STOP_HLT, "fetch #PF handled");
    tap_is_int(r.rax, 0x40001000, "fetch #PF: CR2 is the target");
    tap_is_int(r.rbx, 0x10, "fetch #PF: error code has I/D");
    tap_is_int(frame[0], 0x40001000, "fetch #PF: saved RIP is the target, not the jump");
    mach_free(&m);
}

static void test_invlpg(void)
{
    struct mach m;
    mach_init(&m);
    pd(&m)[3] = DATA | 0x83;
    memcpy(m.data, "AAAAAAAA", 8);
    memcpy(m.data2, "BBBBBBBB", 8);
    static const uint8_t code[] = {
        0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00,              /* mov rax,[0x600000] */
        0x48, 0xc7, 0x04, 0x25, 0x18, 0x30, 0x00, 0x00, 0x83, 0x00, 0x80, 0x00, /* mov qword [0x3018],0x800083 */
        0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x60, 0x00,              /* invlpg [0x600000] */
        0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x60, 0x00,              /* mov rbx,[0x600000] */
        0xf4,
    };
    memcpy(m.code, code, sizeof(code));
    struct cpu_x86_exit ex = run_at(&m, CODE, DATA + 0x8000);
    struct cpu_x86_regs r;
    cpu_x86_get_regs(m.cpu, &r);
    tap_is_int(ex.reason, CPU_X86_STOP_HLT, "INVLPG program halts");
    tap_ok(!memcmp(&r.rax, "AAAAAAAA", 8), "read through the first mapping");
    tap_ok(!memcmp(&r.rbx, "BBBBBBBB", 8), "after INVLPG the new mapping is used");
    mach_free(&m);
}

static void test_real_mode_int(void)
{
    struct tenv env = { 0 };
    uint8_t *low = tenv_add(&env, 0, 0x10000);
    struct cpu_x86 *cpu = tenv_cpu(&env);
    /* IVT[0x10] = 0000:0500; handler: mov ax,0x1234; iret */
    low[0x40] = 0x00; low[0x41] = 0x05; low[0x42] = 0; low[0x43] = 0;
    static const uint8_t h[] = { 0xb8, 0x34, 0x12, 0xcf };
    static const uint8_t c[] = { 0xcd, 0x10, 0xf4 };
    memcpy(low + 0x500, h, sizeof(h));
    memcpy(low + 0x7c00, c, sizeof(c));
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(cpu, &s);
    s.cs.selector = 0; s.cs.base = 0;
    cpu_x86_set_sregs(cpu, &s);
    struct cpu_x86_regs r = { 0 };
    r.rip = 0x7c00; r.rsp = 0x7000; r.rflags = 0x202;
    cpu_x86_set_regs(cpu, &r);
    struct cpu_x86_exit ex;
    cpu_x86_run(cpu, 1000, &ex);
    cpu_x86_get_regs(cpu, &r);
    tap_is_int(ex.reason, CPU_X86_STOP_HLT, "real mode: halted after INT/IRET");
    tap_is_int(r.rax & 0xffff, 0x1234, "real mode: handler ran through the IVT");
    tap_is_int(r.rip, 0x7c03, "real mode: IRET returned after INT");
    tap_is_int(r.rsp, 0x7000, "real mode: stack balanced");
    tap_ok(r.rflags & 0x200, "real mode: IF restored by IRET");
    cpu_x86_destroy(cpu);
    tenv_free(&env);
}

static void test_triple_fault(void)
{
    struct mach m;
    mach_init(&m);
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m.cpu, &s);
    s.idt.limit = 0;
    cpu_x86_set_sregs(m.cpu, &s);
    m.code[0] = 0x0f; m.code[1] = 0x0b;   /* ud2 */
    struct cpu_x86_exit ex = run_at(&m, CODE, DATA + 0x8000);
    tap_is_int(ex.reason, CPU_X86_STOP_SHUTDOWN, "exception with no IDT ends in shutdown");
    mach_free(&m);
}

static void test_smc(void)
{
    struct mach m;
    mach_init(&m);
    static const uint8_t code[] = {
        0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x42,   /* mov byte [rip+1], 0x42 */
        0xb0, 0x00,                                 /* mov al, 0 (patched) */
        0xf4,
    };
    memcpy(m.code, code, sizeof(code));
    struct cpu_x86_exit ex = run_at(&m, CODE, DATA + 0x8000);
    struct cpu_x86_regs r;
    cpu_x86_get_regs(m.cpu, &r);
    tap_is_int(ex.reason, CPU_X86_STOP_HLT, "SMC program halts");
    tap_is_int(r.rax & 0xff, 0x42, "the patched instruction runs in its new form");
    /* DMA-style invalidation: patch again behind the CPU and rerun */
    m.code[8] = 0x17;
    cpu_x86_invalidate_code(m.cpu->shared, CODE, 16);
    m.code[6] = 0x17;
    ex = run_at(&m, CODE, DATA + 0x8000);
    cpu_x86_get_regs(m.cpu, &r);
    tap_is_int(r.rax & 0xff, 0x17, "cpu_x86_invalidate_code drops stale blocks");
    mach_free(&m);
}

static void test_mmio(void)
{
    struct mach m;
    mach_init(&m);
    pd(&m)[5] = 0xa00000 | 0x83;
    static const uint8_t code[] = {
        0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0xa0, 0x00,   /* mov rax,[0xa00000] */
        0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0xa0, 0x00,   /* mov [0xa00008],rax */
        0xf4,
    };
    memcpy(m.code, code, sizeof(code));
    run_at(&m, CODE, DATA + 0x8000);
    struct cpu_x86_regs r;
    cpu_x86_get_regs(m.cpu, &r);
    tap_is_int(r.rax, 0x1122334455667788ull, "MMIO read goes to the device callback");
    tap_is_int(m.env.mmio_last_addr, 0xa00008, "MMIO write address");
    tap_is_int(m.env.mmio_last_val, 0x1122334455667788ull, "MMIO write value");
    mach_free(&m);
}

static void test_syscall(void)
{
    struct mach m;
    mach_init(&m);
    for (unsigned i = 0; i < 8; i++)
        pd(&m)[i] |= 4;   /* user pages too */
    cpu_x86_set_msr(m.cpu, 0xc0000081, (0x08ull << 32) | (0x20ull << 48));   /* STAR */
    cpu_x86_set_msr(m.cpu, 0xc0000082, CODE + 0x800);                        /* LSTAR */
    cpu_x86_set_msr(m.cpu, 0xc0000084, 0x200);                               /* SFMASK: IF */
    static const uint8_t code[] = { 0x0f, 0x05, 0x0f, 0x0b };               /* syscall; ud2 */
    static const uint8_t k[] = { 0x48, 0xc7, 0xc0, 0x07, 0x00, 0x00, 0x00,  /* mov rax,7 */
                                 0x48, 0x0f, 0x07 };                         /* sysretq */
    memcpy(m.code, code, sizeof(code));
    memcpy(m.code + 0x800, k, sizeof(k));
    m.cpu->trap_exceptions = true;
    struct cpu_x86_regs r = { 0 };
    r.rip = CODE; r.rsp = DATA + 0x8000; r.rflags = 0x202;
    cpu_x86_set_regs(m.cpu, &r);
    struct cpu_x86_exit ex;
    cpu_x86_run(m.cpu, 1000, &ex);
    cpu_x86_get_regs(m.cpu, &r);
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m.cpu, &s);
    tap_is_int(ex.reason, CPU_X86_STOP_ERROR, "stopped by the trapped exception");
    if (ex.reason == CPU_X86_STOP_ERROR)
        printf("# %s\n", ex.msg);
    tap_is_int(m.cpu->trapped_vector, EXC_UD, "back in user code after SYSRET");
    tap_is_int(r.rax, 7, "kernel side ran");
    tap_is_int(r.rip, CODE + 2, "SYSRET returned to RCX");
    tap_is_int(s.cs.selector, 0x33, "user CS = STAR[63:48] + 16 | 3");
    tap_is_int(s.ss.selector, 0x2b, "user SS = STAR[63:48] + 8 | 3");
    tap_is_int(s.cs.dpl, 3, "CPL 3");
    tap_ok(r.rflags & 0x200, "RFLAGS restored from R11");
    mach_free(&m);
}

int main(void)
{
    test_page_fault();
    test_fetch_fault();
    test_invlpg();
    test_real_mode_int();
    test_triple_fault();
    test_smc();
    test_mmio();
    test_syscall();
    return tap_done();
}
