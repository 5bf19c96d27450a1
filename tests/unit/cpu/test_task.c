/* Hardware task switches and call gates in 32-bit protected mode (no
 * paging): JMP to a TSS, CALL through a task gate and IRET back (NT, back
 * link, busy bits), INT n through a task gate, an exception with an error
 * code through a task gate (pushed on the new task's stack), a call gate to
 * an inner privilege level with parameter copy and RETF imm back, a call to
 * a conforming segment (CPL unchanged), and the #GP cases (busy TSS, TSS
 * DPL below CPL). */
#include "tap.h"
#include "testenv.h"

#define GDT 0x1000u
#define IDT 0x2000u
#define TSS_A 0x3000u
#define TSS_B 0x3100u
#define TSS_C 0x3200u
#define CODE_A 0x10000u
#define CODE_B 0x11000u
#define CODE_C 0x12000u
#define CODE_U 0x13000u
#define GATE_T 0x14000u
#define CONF_T 0x15000u
#define MARK 0x30000u

enum { SEL_CODE = 0x08, SEL_DATA = 0x10, SEL_TSSA = 0x18, SEL_TSSB = 0x20, SEL_TGATE = 0x28,
       SEL_UCODE = 0x30, SEL_UDATA = 0x38, SEL_CGATE = 0x40, SEL_TSSC = 0x48, SEL_CONF = 0x50 };

struct mach {
    struct tenv env;
    uint8_t *m;
    struct cpu_x86 *cpu;
};

static uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned type, unsigned s, unsigned dpl,
                         unsigned db, unsigned g)
{
    return (limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)type << 40 |
           (uint64_t)s << 44 | (uint64_t)dpl << 45 | 1ull << 47 |
           (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)db << 54 | (uint64_t)g << 55 |
           (uint64_t)(base >> 24) << 56;
}

static uint64_t gate_desc(uint16_t sel, uint32_t off, unsigned type, unsigned dpl, unsigned params)
{
    return (off & 0xffff) | (uint64_t)sel << 16 | (uint64_t)params << 32 | (uint64_t)type << 40 |
           (uint64_t)dpl << 45 | 1ull << 47 | (uint64_t)(off >> 16) << 48;
}

static void w32(struct mach *m, uint32_t a, uint32_t v) { memcpy(m->m + a, &v, 4); }
static uint32_t r32(struct mach *m, uint32_t a) { uint32_t v; memcpy(&v, m->m + a, 4); return v; }
static void wdesc(struct mach *m, unsigned sel, uint64_t d) { memcpy(m->m + GDT + (sel & ~7u), &d, 8); }
static unsigned desc_type(struct mach *m, unsigned sel) { return m->m[GDT + (sel & ~7u) + 5] & 0xf; }

/* A 32-bit TSS for a CPL-0 task starting at eip with esp, eax. */
static void tss_task(struct mach *m, uint32_t tss, uint32_t eip, uint32_t esp, uint32_t eax)
{
    memset(m->m + tss, 0, 0x68);
    w32(m, tss + 0x20, eip);
    w32(m, tss + 0x24, 2);
    w32(m, tss + 0x28, eax);
    w32(m, tss + 0x38, esp);
    w32(m, tss + 0x48, SEL_DATA);
    w32(m, tss + 0x4c, SEL_CODE);
    for (unsigned i = 2; i < 6; i++)
        w32(m, tss + 0x48 + 4 * i, SEL_DATA);
}

static void mach_init(struct mach *m)
{
    memset(m, 0, sizeof(*m));
    m->m = tenv_add(&m->env, 0, 0x100000);
    m->cpu = tenv_cpu(&m->env);
    wdesc(m, SEL_CODE, seg_desc(0, 0xfffff, 0xb, 1, 0, 1, 1));
    wdesc(m, SEL_DATA, seg_desc(0, 0xfffff, 0x3, 1, 0, 1, 1));
    wdesc(m, SEL_TSSA, seg_desc(TSS_A, 0x67, 0xb, 0, 0, 0, 0));     /* busy: current task */
    wdesc(m, SEL_TSSB, seg_desc(TSS_B, 0x67, 0x9, 0, 0, 0, 0));
    wdesc(m, SEL_TGATE, gate_desc(SEL_TSSB, 0, 0x5, 0, 0));
    wdesc(m, SEL_UCODE, seg_desc(0, 0xfffff, 0xb, 1, 3, 1, 1));
    wdesc(m, SEL_UDATA, seg_desc(0, 0xfffff, 0x3, 1, 3, 1, 1));
    wdesc(m, SEL_CGATE, gate_desc(SEL_CODE, GATE_T, 0xc, 3, 2));
    wdesc(m, SEL_TSSC, seg_desc(TSS_C, 0x67, 0x9, 0, 0, 0, 0));
    wdesc(m, SEL_CONF, seg_desc(0, 0xfffff, 0xf, 1, 0, 1, 1));
    uint64_t tg = gate_desc(SEL_TSSB, 0, 0x5, 0, 0);
    memcpy(m->m + IDT + 0x40 * 8, &tg, 8);
    tg = gate_desc(SEL_TSSC, 0, 0x5, 0, 0);
    memcpy(m->m + IDT + 13 * 8, &tg, 8);
    memset(m->m + TSS_A, 0, 0x68);
    w32(m, TSS_A + 4, 0x23000);       /* ESP0 */
    w32(m, TSS_A + 8, SEL_DATA);      /* SS0 */
    tss_task(m, TSS_B, CODE_B, 0x21000, 0x1234);
    tss_task(m, TSS_C, CODE_C, 0x22000, 0);

    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m->cpu, &s);
    struct cpu_x86_segment code = { 0, 0xffffffff, SEL_CODE, 0xb, 1, 0, 1, 1, 0, 1, 0, 0 };
    struct cpu_x86_segment data = { 0, 0xffffffff, SEL_DATA, 0x3, 1, 0, 1, 1, 0, 1, 0, 0 };
    struct cpu_x86_segment tr = { TSS_A, 0x67, SEL_TSSA, 0xb, 1, 0, 0, 0, 0, 0, 0, 0 };
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = tr;
    s.gdt.base = GDT;
    s.gdt.limit = 0x100 - 1;
    s.idt.base = IDT;
    s.idt.limit = 0x100 * 8 - 1;
    s.cr0 = CR0_PE | CR0_ET | CR0_NE;
    cpu_x86_set_sregs(m->cpu, &s);
}

static void put(struct mach *m, uint32_t a, const uint8_t *b, unsigned n) { memcpy(m->m + a, b, n); }
#define PUT(m, a, ...) put((m), (a), (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

static struct cpu_x86_exit go(struct mach *m, uint32_t eip, uint32_t esp, bool trap,
                              struct cpu_x86_regs *out)
{
    struct cpu_x86_regs r = { 0 };
    r.rip = eip;
    r.rsp = esp;
    r.rflags = 2;
    r.rax = 0x1111;
    cpu_x86_set_regs(m->cpu, &r);
    m->cpu->trap_exceptions = trap;
    cpu_x86_invalidate_code(m->cpu->shared, 0, 0x100000);   /* the test rewrote code */
    struct cpu_x86_exit ex;
    cpu_x86_run(m->cpu, 10000, &ex);
    cpu_x86_get_regs(m->cpu, out);
    return ex;
}

static void test_jmp_tss(void)
{
    struct mach m;
    mach_init(&m);
    PUT(&m, CODE_A, 0xea, 0, 0, 0, 0, SEL_TSSB, 0);          /* jmp far TSS_B:0 */
    PUT(&m, CODE_B, 0xf4);                                   /* hlt */
    struct cpu_x86_regs r;
    struct cpu_x86_exit ex = go(&m, CODE_A, 0x20000, false, &r);
    tap_ok(ex.reason == CPU_X86_STOP_HLT && r.rip == CODE_B + 1, "JMP to a TSS runs the new task");
    tap_is_int(r.rax, 0x1234, "new task's EAX loaded");
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m.cpu, &s);
    tap_is_int(s.tr.selector, SEL_TSSB, "TR is the new TSS");
    tap_ok((s.cr0 & CR0_TS) != 0, "CR0.TS set");
    tap_ok(!(r.rflags & 0x4000), "NT clear after JMP");
    tap_is_int(desc_type(&m, SEL_TSSA), 0x9, "old TSS no longer busy");
    tap_is_int(desc_type(&m, SEL_TSSB), 0xb, "new TSS busy");
    tap_is_int(r32(&m, TSS_A + 0x20), CODE_A + 7, "old task's EIP saved (after the JMP)");
    tap_is_int(r32(&m, TSS_A + 0x28), 0x1111, "old task's EAX saved");
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
}

static void test_call_gate_iret(bool use_int)
{
    struct mach m;
    mach_init(&m);
    if (use_int)
        PUT(&m, CODE_A, 0xcd, 0x40, 0x90, 0x90, 0x90, 0x90, 0x90,   /* int 0x40 */
            0xbb, 0x78, 0x56, 0, 0, 0xf4);                          /* mov ebx, 0x5678; hlt */
    else
        PUT(&m, CODE_A, 0x9a, 0, 0, 0, 0, SEL_TGATE, 0,             /* call far TGATE:0 */
            0xbb, 0x78, 0x56, 0, 0, 0xf4);
    PUT(&m, CODE_B, 0xc7, 0x05, 0x00, 0x00, 0x03, 0x00, 0xef, 0xbe, 0, 0,   /* mov [MARK], 0xbeef */
        0xb8, 0x22, 0x22, 0, 0,                                             /* mov eax, 0x2222 */
        0xcf);                                                              /* iret */
    struct cpu_x86_regs r;
    struct cpu_x86_exit ex = go(&m, CODE_A, 0x20000, false, &r);
    const char *how = use_int ? "INT through a task gate" : "CALL through a task gate";
    tap_ok(ex.reason == CPU_X86_STOP_HLT && r.rip == CODE_A + 13, "%s, IRET back: runs on", how);
    tap_is_int(r32(&m, MARK), 0xbeef, "%s: the other task ran", how);
    tap_is_int(r.rax, 0x1111, "%s: the caller's EAX restored by the return switch", how);
    tap_is_int(r.rbx, 0x5678, "%s: caller continues after the switch", how);
    tap_is_int(r32(&m, TSS_B) & 0xffff, SEL_TSSA, "%s: back link in the new TSS", how);
    tap_ok(!(r.rflags & 0x4000), "%s: NT clear in the caller", how);
    tap_ok((r32(&m, TSS_B + 0x24) & 0x4000) == 0, "%s: NT cleared in the returning task's image", how);
    tap_is_int(desc_type(&m, SEL_TSSB), 0x9, "%s: IRET freed the called TSS", how);
    tap_is_int(desc_type(&m, SEL_TSSA), 0xb, "%s: caller's TSS busy", how);
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
}

static void test_exception_task_gate(void)
{
    struct mach m;
    mach_init(&m);
    PUT(&m, CODE_A, 0x66, 0xb8, 0x34, 0x12,   /* mov ax, 0x1234 */
        0x8e, 0xd8, 0xf4);                     /* mov ds, ax (#GP(0x1230)); hlt */
    PUT(&m, CODE_C, 0x58, 0xf4);               /* pop eax; hlt */
    struct cpu_x86_regs r;
    struct cpu_x86_exit ex = go(&m, CODE_A, 0x20000, false, &r);
    tap_ok(ex.reason == CPU_X86_STOP_HLT && r.rip == CODE_C + 2, "#GP through a task gate");
    tap_is_int(r.rax, 0x1234, "error code (the selector, TI set) pushed on the handler task's stack");
    tap_is_int(r.rsp, 0x22000, "... and popped");
    tap_is_int(r32(&m, TSS_A + 0x20), CODE_A + 4, "faulting task's EIP is the faulting MOV");
    tap_ok(r.rflags & 0x4000, "handler task runs with NT");
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
}

static void to_user(struct mach *m)
{
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m->cpu, &s);
    struct cpu_x86_segment code = { 0, 0xffffffff, SEL_UCODE | 3, 0xb, 1, 3, 1, 1, 0, 1, 0, 0 };
    struct cpu_x86_segment data = { 0, 0xffffffff, SEL_UDATA | 3, 0x3, 1, 3, 1, 1, 0, 1, 0, 0 };
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    cpu_x86_set_sregs(m->cpu, &s);
}

static void test_call_gate(void)
{
    struct mach m;
    mach_init(&m);
    to_user(&m);
    PUT(&m, CODE_U, 0x68, 0x11, 0x11, 0x11, 0x11,          /* push 0x11111111 */
        0x68, 0x22, 0x22, 0x22, 0x22,                      /* push 0x22222222 */
        0x9a, 0, 0, 0, 0, SEL_CGATE | 3, 0,                /* call far CGATE:0 */
        0x0f, 0x0b);                                       /* ud2 */
    PUT(&m, GATE_T, 0x8b, 0x44, 0x24, 0x08,                /* mov eax, [esp+8] */
        0x8b, 0x5c, 0x24, 0x0c,                            /* mov ebx, [esp+12] */
        0x8b, 0x4c, 0x24, 0x10,                            /* mov ecx, [esp+16] */
        0x8b, 0x54, 0x24, 0x14,                            /* mov edx, [esp+20] */
        0x89, 0xe6,                                        /* mov esi, esp */
        0x8c, 0xcf,                                        /* mov edi, cs */
        0xca, 0x08, 0x00);                                 /* retf 8 */
    struct cpu_x86_regs r;
    struct cpu_x86_exit ex = go(&m, CODE_U, 0x24000, true, &r);
    tap_ok(ex.reason == CPU_X86_STOP_ERROR && m.cpu->trapped_vector == EXC_UD && r.rip == CODE_U + 17,
           "call gate to CPL 0 and RETF 8 back to CPL 3");
    tap_is_int(r.rax, 0x22222222, "first parameter copied to the inner stack");
    tap_is_int(r.rbx, 0x11111111, "second parameter copied");
    tap_is_int(r.rcx, 0x24000 - 8, "old ESP on the inner stack");
    tap_is_int(r.rdx, SEL_UDATA | 3, "old SS on the inner stack");
    tap_is_int(r.rsi, 0x23000 - 24, "inner stack from TSS.ESP0 (6 words pushed)");
    tap_is_int(r.rdi & 3, 0, "handler ran at CPL 0");
    tap_is_int(r.rsp, 0x24000, "RETF 8 removed the parameters from the outer stack");
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m.cpu, &s);
    tap_ok(s.cs.selector == (SEL_UCODE | 3) && s.ss.selector == (SEL_UDATA | 3), "back at CPL 3");

    /* conforming code segment: CPL stays 3 */
    PUT(&m, CODE_U, 0x9a, 0, 0x50, 0x01, 0, SEL_CONF | 3, 0, 0x0f, 0x0b);   /* call far CONF:0x15000 */
    PUT(&m, CONF_T, 0x8c, 0xc8, 0xcb);                      /* mov eax, cs; retf */
    ex = go(&m, CODE_U, 0x24000, true, &r);
    tap_ok(ex.reason == CPU_X86_STOP_ERROR && m.cpu->trapped_vector == EXC_UD && r.rip == CODE_U + 7,
           "far call into a conforming segment and back (stop %d vector %d rip %#llx)", ex.reason,
           m.cpu->trapped_vector, (unsigned long long)r.rip);
    tap_is_int(r.rax & 3, 3, "conforming code runs at the caller's CPL");

    /* a TSS of DPL 0 cannot be reached from CPL 3 */
    PUT(&m, CODE_U, 0xea, 0, 0, 0, 0, SEL_TSSB | 3, 0);
    ex = go(&m, CODE_U, 0x24000, true, &r);
    tap_ok(ex.reason == CPU_X86_STOP_ERROR && m.cpu->trapped_vector == EXC_GP && r.rip == CODE_U,
           "JMP to a DPL-0 TSS from CPL 3: #GP (stop %d vector %d rip %#llx)", ex.reason,
           m.cpu->trapped_vector, (unsigned long long)r.rip);
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
}

static void test_busy(void)
{
    struct mach m;
    mach_init(&m);
    PUT(&m, CODE_A, 0xea, 0, 0, 0, 0, SEL_TSSA, 0);          /* jmp far to the current (busy) TSS */
    struct cpu_x86_regs r;
    struct cpu_x86_exit ex = go(&m, CODE_A, 0x20000, true, &r);
    tap_ok(ex.reason == CPU_X86_STOP_ERROR && m.cpu->trapped_vector == EXC_GP &&
           m.cpu->exc_error == SEL_TSSA, "JMP to a busy TSS: #GP(selector)");
    /* IRET with NT whose back link is not a busy TSS: #TS */
    w32(&m, TSS_A, SEL_TSSB);
    PUT(&m, CODE_A, 0x9c, 0x81, 0x0c, 0x24, 0x00, 0x40, 0, 0, 0x9d,   /* pushf; or [esp], NT; popf */
        0xcf);                                                      /* iret */
    ex = go(&m, CODE_A, 0x20000, true, &r);
    tap_ok(ex.reason == CPU_X86_STOP_ERROR && m.cpu->trapped_vector == EXC_TS &&
           m.cpu->exc_error == SEL_TSSB, "IRET to a task that is not busy: #TS(selector) (%d %d %#x)",
           ex.reason, m.cpu->trapped_vector, m.cpu->exc_error);
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
}

/* Long mode: a 16-byte call gate from CPL 3 to 64-bit CPL 0 code (stack
 * from TSS.RSP0, SS null with RPL 0, 8-byte frame), RETFQ back. */
static void test_call_gate64(void)
{
    struct tenv env = { 0 };
    tenv_add(&env, 0, 0x10000);
    uint8_t *code = tenv_add(&env, 0x200000, 0x1000);
    uint8_t *data = tenv_add(&env, 0x400000, 0x10000);
    struct cpu_x86 *cpu = tenv_cpu(&env);
    tenv_paging64(cpu, &env, true);
    cpu->trap_exceptions = true;
    uint64_t *gdt = (uint64_t *)(data + 0x2000);
    gdt[1] = 0x00209a0000000000ull;                      /* 0x08: 64-bit code, DPL 0 */
    gdt[2] = 0x00cf92000000ffffull;                      /* 0x10: data */
    gdt[5] = 0x00cff2000000ffffull;                      /* 0x28: user data */
    gdt[6] = 0x0020fa0000000000ull;                      /* 0x30: user 64-bit code */
    uint64_t target = 0x200800;
    gdt[8] = (target & 0xffff) | 0x08ull << 16 | 0xecull << 40 |   /* 0x40: call gate, DPL 3 */
             ((target >> 16) & 0xffff) << 48;
    gdt[9] = target >> 32;
    uint32_t tss = 0x403000;                             /* 64-bit TSS: RSP0 */
    uint64_t rsp0 = 0x408000;
    memcpy(data + 0x3000 + 4, &rsp0, 8);
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(cpu, &s);
    s.gdt.base = 0x402000;
    s.gdt.limit = 0x100 - 1;
    struct cpu_x86_segment tr = { tss, 0x67, 0x50, 0xb, 1, 0, 0, 0, 0, 0, 0, 0 };
    s.tr = tr;
    cpu_x86_set_sregs(cpu, &s);
    /* far pointer at 0x404000: offset 0, selector 0x43 */
    data[0x4000 + 4] = 0x43;
    static const uint8_t user[] = { 0xff, 0x1c, 0x25, 0x00, 0x40, 0x40, 0x00,   /* call far [0x404000] */
                                    0x0f, 0x0b };                               /* ud2 */
    static const uint8_t handler[] = { 0x48, 0x8b, 0x04, 0x24,        /* mov rax, [rsp] */
                                       0x48, 0x8b, 0x5c, 0x24, 0x08,  /* mov rbx, [rsp+8] */
                                       0x48, 0x8b, 0x4c, 0x24, 0x10,  /* mov rcx, [rsp+16] */
                                       0x48, 0x8b, 0x54, 0x24, 0x18,  /* mov rdx, [rsp+24] */
                                       0x48, 0x89, 0xe6,              /* mov rsi, rsp */
                                       0x8c, 0xcf,                    /* mov edi, cs */
                                       0x48, 0xcb };                  /* retfq */
    memcpy(code, user, sizeof(user));
    memcpy(code + 0x800, handler, sizeof(handler));
    struct cpu_x86_regs r = { 0 };
    r.rip = 0x200000;
    r.rsp = 0x40a000;
    r.rflags = 2;
    cpu_x86_set_regs(cpu, &r);
    struct cpu_x86_exit ex;
    cpu_x86_run(cpu, 1000, &ex);
    cpu_x86_get_regs(cpu, &r);
    tap_ok(ex.reason == CPU_X86_STOP_ERROR && cpu->trapped_vector == EXC_UD && r.rip == 0x200007,
           "64-bit call gate to CPL 0 and RETFQ back (stop %d vector %d rip %#llx)", ex.reason,
           cpu->trapped_vector, (unsigned long long)r.rip);
    tap_is_int(r.rax, 0x200007, "return RIP on the inner stack");
    tap_is_int(r.rbx, 0x33, "caller's CS");
    tap_is_int(r.rcx, 0x40a000, "caller's RSP");
    tap_is_int(r.rdx, 0x2b, "caller's SS");
    tap_is_int(r.rsi, rsp0 - 32, "inner stack from TSS.RSP0");
    tap_is_int(r.rdi, 0x08, "handler at CPL 0");
    tap_is_int(r.rsp, 0x40a000, "back on the caller's stack");
    cpu_x86_destroy(cpu);
    tenv_free(&env);
}

/* A 16-bit TSS: JMP to it loads the 16-bit register image. */
static void test_tss16(void)
{
    struct mach m;
    mach_init(&m);
    uint32_t t = 0x3300;
    memset(m.m + t, 0, 0x2c);
    uint16_t w[] = { 0, 0, 0, 0, 0, 0, 0, (uint16_t)(CODE_B & 0xffff), 2,
                     0x4242, 0, 0, 0, 0x1000, 0, 0, 0, SEL_DATA, SEL_CODE, SEL_DATA, SEL_DATA, 0 };
    memcpy(m.m + t, w, sizeof(w));   /* link, sp0..ss2, ip, flags, ax..di, es cs ss ds, ldt */
    wdesc(&m, 0x58, seg_desc(t, 0x2b, 0x1, 0, 0, 0, 0));
    PUT(&m, CODE_A, 0xea, 0, 0, 0, 0, 0x58, 0);
    PUT(&m, CODE_B & 0xffff, 0xf4);
    PUT(&m, CODE_B, 0xf4);
    struct cpu_x86_regs r;
    struct cpu_x86_exit ex = go(&m, CODE_A, 0x20000, false, &r);
    tap_ok(ex.reason == CPU_X86_STOP_HLT && r.rip == (CODE_B & 0xffff) + 1,
           "JMP to a 16-bit TSS (rip %#llx)", (unsigned long long)r.rip);
    tap_is_int(r.rax & 0xffff, 0x4242, "16-bit AX loaded");
    tap_is_int(r.rax >> 16, 0, "upper EAX kept from the old task (was 0x1111 >> 16)");
    tap_is_int(desc_type(&m, 0x58), 0x3, "16-bit TSS now busy");
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
}

/* The I/O permission bitmap of the (busy) 32-bit TSS at CPL 3, IOPL 0. */
static void test_io_bitmap(void)
{
    struct mach m;
    mach_init(&m);
    wdesc(&m, SEL_TSSA, seg_desc(TSS_A, 0x68 + 32, 0xb, 0, 0, 0, 0));   /* ports 0-255 */
    m.m[TSS_A + 0x66] = 0x68;
    memset(m.m + TSS_A + 0x68, 0xff, 32);
    m.m[TSS_A + 0x68 + 0x80 / 8] = 0xfe;            /* port 0x80 allowed, 0x81 not */
    m.m[TSS_A + 0x68 + 0x7f / 8] = 0x7f;            /* port 0x7f allowed */
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m.cpu, &s);
    s.tr.limit = 0x68 + 32;
    cpu_x86_set_sregs(m.cpu, &s);
    to_user(&m);
    static const struct { uint8_t code[4]; unsigned len; bool ok; const char *what; } t[] = {
        { { 0xe4, 0x80 }, 2, true, "IN AL, 0x80 (bit clear)" },
        { { 0xe4, 0x81 }, 2, false, "IN AL, 0x81 (bit set): #GP" },
        { { 0x66, 0xe5, 0x7f }, 3, true, "IN AX, 0x7f (0x7f and 0x80 clear)" },
        { { 0x66, 0xe5, 0x80 }, 3, false, "IN AX, 0x80 (0x81 set): #GP" },
        { { 0xe6, 0x80 }, 2, true, "OUT 0x80, AL" },
        { { 0x66, 0xba, 0x00, 0x10 }, 4, false, "port 0x1000 beyond the TSS limit: #GP" },
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint8_t c[8];
        unsigned n = t[i].len;
        memcpy(c, t[i].code, n);
        if (i == 5) {           /* mov dx, 0x1000; in al, dx */
            c[n++] = 0xec;
        }
        c[n++] = 0x0f;
        c[n++] = 0x0b;          /* ud2: the end */
        put(&m, CODE_U, c, n);
        struct cpu_x86_regs r;
        struct cpu_x86_exit ex = go(&m, CODE_U, 0x24000, true, &r);
        bool ended = ex.reason == CPU_X86_STOP_ERROR && m.cpu->trapped_vector == EXC_UD;
        bool gp = ex.reason == CPU_X86_STOP_ERROR && m.cpu->trapped_vector == EXC_GP;
        tap_ok(t[i].ok ? ended : gp, "%s", t[i].what);
    }
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
}

/* A task whose TSS image has EFLAGS.VM runs in virtual-8086 mode: the
 * segment registers are loaded real-mode style. */
static void test_vm86_task(void)
{
    struct mach m;
    mach_init(&m);
    tss_task(&m, TSS_B, 0x0010, 0x0100, 0x1234);
    w32(&m, TSS_B + 0x24, 0x20002);                  /* EFLAGS: VM */
    w32(&m, TSS_B + 0x4c, 0x1100);                   /* CS: base 0x11000 */
    for (unsigned i = 0; i < 6; i++)
        if (i != 1)
            w32(&m, TSS_B + 0x48 + 4 * i, 0x2000);  /* ES SS DS FS GS */
    PUT(&m, CODE_A, 0xea, 0, 0, 0, 0, SEL_TSSB, 0);
    PUT(&m, 0x11010, 0x0f, 0x0b);                    /* ud2 at 1100:0010 */
    struct cpu_x86_regs r;
    struct cpu_x86_exit ex = go(&m, CODE_A, 0x20000, true, &r);
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m.cpu, &s);
    tap_ok(ex.reason == CPU_X86_STOP_ERROR && m.cpu->trapped_vector == EXC_UD && r.rip == 0x10,
           "task switch into virtual-8086 mode runs at 1100:0010");
    tap_ok((r.rflags & 0x20000) && s.cs.base == 0x11000 && s.ss.base == 0x20000 &&
           s.ds.selector == 0x2000, "VM set, segments loaded as in real mode");
    tap_is_int(r.rax, 0x1234, "EAX from the TSS");
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
}

int main(void)
{
    test_jmp_tss();
    test_call_gate_iret(false);
    test_call_gate_iret(true);
    test_exception_task_gate();
    test_call_gate();
    test_busy();
    test_call_gate64();
    test_tss16();
    test_io_bitmap();
    test_vm86_task();
    return tap_done();
}
