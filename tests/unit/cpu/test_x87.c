/* x87 system behaviour on the software CPU: pending unmasked exceptions
 * (#MF at the next waiting instruction with CR0.NE, none at the no-wait
 * forms, none with CR0.NE clear), FLDCW/FLDENV re-evaluating ES, precision
 * control, FNSTENV/FLDENV and FNSAVE/FRSTOR in 16- and 32-bit operand sizes
 * in protected and real mode (layouts as the SDM gives them). Results of
 * arithmetic are compared with the host's x87 (test_diff_sse covers the
 * rest of the unit differentially). */
#include "tap.h"
#include "testenv.h"

#define CODE 0x200000ull
#define DATA 0x400000ull

struct mach {
    struct tenv env;
    uint8_t *low, *code, *data;
    struct cpu_x86 *cpu;
};

static void mach_init(struct mach *m)
{
    memset(m, 0, sizeof(*m));
    m->low = tenv_add(&m->env, 0, 0x10000);
    m->code = tenv_add(&m->env, CODE, 0x1000);
    m->data = tenv_add(&m->env, DATA, 0x10000);
    m->cpu = tenv_cpu(&m->env);
    tenv_paging64(m->cpu, &m->env, false);
    m->cpu->trap_exceptions = true;
}

static void set_cr0(struct mach *m, uint64_t set, uint64_t clr)
{
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m->cpu, &s);
    s.cr0 = (s.cr0 | set) & ~clr;
    cpu_x86_set_sregs(m->cpu, &s);
}

/* Run code at CODE (HLT appended), rbx = DATA. -1: reached HLT, else the
 * vector; *rip gets where it stopped. */
static int run(struct mach *m, const uint8_t *code, unsigned len, uint64_t *rip)
{
    memcpy(m->code, code, len);
    m->code[len] = 0xf4;
    cpu_x86_invalidate_code(m->cpu->shared, CODE, 0x1000);
    struct cpu_x86_regs r = { 0 };
    r.rip = CODE;
    r.rsp = DATA + 0x8000;
    r.rflags = 2;
    r.rbx = DATA;
    cpu_x86_set_regs(m->cpu, &r);
    m->cpu->halted = 0;
    struct cpu_x86_exit ex;
    cpu_x86_run(m->cpu, 10000, &ex);
    cpu_x86_get_regs(m->cpu, &r);
    if (rip)
        *rip = r.rip;
    return ex.reason == CPU_X86_STOP_ERROR ? m->cpu->trapped_vector : -1;
}

#define RUN(m, rip, ...) run((m), (const uint8_t[]){ __VA_ARGS__ }, \
                             sizeof((const uint8_t[]){ __VA_ARGS__ }), (rip))

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static void test_mf(struct mach *m)
{
    uint64_t rip;
    put16(m->data, 0x37b);   /* ZE unmasked */
    /* fninit; fldcw [rbx]; fld1; fldz; fdivp st1 (ZE, pending); fwait */
    int v = RUN(m, &rip, 0xdb, 0xe3, 0xd9, 0x2b, 0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9, 0x9b);
    tap_is_int(v, EXC_MF, "unmasked ZE: #MF at the next FWAIT");
    tap_is_int(rip, CODE + 10, "#MF reported at the FWAIT");
    tap_ok((m->cpu->fpu.fsw & 0x8084) == 0x8084, "FSW: ZE, ES and B set (%#x)", m->cpu->fpu.fsw);

    /* the no-wait forms do not check: fnstsw ax; fnstcw; fnclex; then fwait is quiet */
    v = RUN(m, &rip, 0xdf, 0xe0, 0xd9, 0x7b, 0x02, 0xdb, 0xe2, 0x9b);
    tap_is_int(v, -1, "FNSTSW/FNSTCW/FNCLEX do not fault; FWAIT after FNCLEX is quiet");

    /* a waiting arithmetic instruction also reports it */
    v = RUN(m, &rip, 0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9, 0xd9, 0xe8);
    tap_is_int(v, EXC_MF, "#MF at the next waiting x87 instruction (FLD1)");
    tap_is_int(rip, CODE + 6, "... which does not execute");

    /* CR0.NE clear: FERR# (IRQ 13) is not modelled, no #MF */
    set_cr0(m, 0, CR0_NE);
    v = RUN(m, &rip, 0x9b);
    tap_is_int(v, -1, "CR0.NE clear: no #MF");
    set_cr0(m, CR0_NE, 0);

    /* FLDCW unmasking an exception that is already flagged makes it pending */
    put16(m->data, 0x37f);
    put16(m->data + 2, 0x37b);
    v = RUN(m, &rip, 0xdb, 0xe3, 0xd9, 0x2b, 0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9,
            0xd9, 0x6b, 0x02, 0x9b);
    tap_is_int(v, EXC_MF, "FLDCW unmasking a flagged ZE: #MF at FWAIT");
    tap_is_int(rip, CODE + 13, "... at the FWAIT");
    /* FLDCW is a waiting instruction itself */
    v = RUN(m, &rip, 0xd9, 0x2b, 0x9b);
    tap_ok(v == EXC_MF && rip == CODE, "FLDCW with an exception pending: #MF before it runs");
    RUN(m, NULL, 0xdb, 0xe3);
}

static long double result_with_cw(struct mach *m, uint16_t cw, uint8_t op)
{
    long double three = 3.0L;
    put16(m->data, cw);
    memcpy(m->data + 0x10, &three, 10);
    /* fninit; fldcw [rbx]; fld1; fld tbyte [rbx+16]; op; fstp tbyte [rbx+32] */
    uint8_t code[] = { 0xdb, 0xe3, 0xd9, 0x2b, 0xd9, 0xe8, 0xdb, 0x6b, 0x10, 0xde, op,
                       0xdb, 0x7b, 0x20 };
    if (op == 0xfa) {           /* fsqrt of 3 (drop the 1) */
        code[9] = 0xd9;
        code[10] = 0xfa;
    }
    run(m, code, sizeof(code), NULL);
    long double r;
    memcpy(&r, m->data + 0x20, 10);
    memset((uint8_t *)&r + 10, 0, sizeof(r) - 10);
    return r;
}

static long double host_with_cw(uint16_t cw, uint8_t op)
{
    volatile long double a = 1.0L, b = 3.0L, r;
    uint16_t saved;
    __asm__ volatile("fnstcw %0" : "=m"(saved));
    __asm__ volatile("fldcw %0" : : "m"(cw));
    if (op == 0xfa) {
        long double x = b;
        __asm__ volatile("fsqrt" : "+t"(x));
        r = x;
    } else {
        r = a / b;
    }
    __asm__ volatile("fldcw %0" : : "m"(saved));
    return r;
}

static void test_precision(struct mach *m)
{
    static const struct { uint16_t cw; const char *what; } cws[] = {
        { 0x007f, "single precision" }, { 0x027f, "double precision" },
        { 0x037f, "extended precision" }, { 0x0f7f, "extended, round toward zero" },
        { 0x0a7f, "double, round up" }, { 0x047f, "single, round down" },
    };
    for (unsigned i = 0; i < sizeof(cws) / sizeof(cws[0]); i++) {
        for (unsigned k = 0; k < 2; k++) {
            uint8_t op = k ? 0xfa : 0xf9;
            long double e = result_with_cw(m, cws[i].cw, op), h = host_with_cw(cws[i].cw, op);
            tap_ok(!memcmp(&e, &h, 10), "%s %s matches the host x87 (%La / %La)",
                   op == 0xfa ? "FSQRT" : "FDIVP", cws[i].what, e, h);
        }
    }
    long double s = result_with_cw(m, 0x007f, 0xf9);
    tap_ok(s == (long double)(1.0f / 3.0f), "single-precision 1/3 is the float 1/3");
}

static void test_env_protected(struct mach *m)
{
    uint8_t *d = m->data;
    memset(d, 0xee, 0x200);
    /* fninit; fld dword [rbx+0x100]; fnstenv [rbx] */
    uint64_t rip;
    int v = RUN(m, &rip, 0xdb, 0xe3, 0xd9, 0x83, 0x00, 0x01, 0x00, 0x00, 0xd9, 0x33);
    tap_is_int(v, -1, "FNSTENV (32-bit)");
    tap_is_int(get32(d), 0xffff037f, "FCW (upper word all ones)");
    tap_is_int(get32(d + 4) & 0xffff3800, 0xffff3800, "FSW with TOP 7");
    tap_is_int(get32(d + 8), 0xffff3fff, "FTW: ST0 valid (NaN bits 0xeeeeeeee: special)");
    tap_is_int(get32(d + 12), (uint32_t)(CODE + 2), "FIP: the FLD");
    tap_is_int(get32(d + 16) >> 16, 0x183, "FOP: D9 /0 modrm 83");
    tap_is_int(get32(d + 20), (uint32_t)(DATA + 0x100), "FDP: its operand");
    tap_is_int(m->cpu->fpu.fcw & 0x3f, 0x3f, "FNSTENV masks all exceptions");

    /* 16-bit form: 14 bytes */
    memset(d + 0x40, 0xee, 0x20);
    v = RUN(m, &rip, 0x66, 0xd9, 0x73, 0x40);
    tap_is_int(v, -1, "FNSTENV (16-bit)");
    tap_is_int(get16(d + 0x40), 0x37f, "16-bit: FCW");
    tap_is_int(get16(d + 0x46), (uint16_t)(CODE + 2), "16-bit: FIP offset");
    tap_is_int(get16(d + 0x4a), (uint16_t)(DATA + 0x100), "16-bit: FDP offset");
    tap_is_int(d[0x4e], 0xee, "16-bit: nothing written past 14 bytes");

    /* FLDENV of an image with ZE flagged and unmasked: pending -> #MF */
    put16(d + 0x40, 0x37b);
    put16(d + 0x42, 0x0004);
    put16(d + 0x44, 0xffff);
    v = RUN(m, &rip, 0x66, 0xd9, 0x63, 0x40, 0x9b);
    tap_is_int(v, EXC_MF, "FLDENV (16-bit) with a pending unmasked ZE: #MF at FWAIT");
    tap_ok((m->cpu->fpu.fsw & 0x8080) == 0x8080 && m->cpu->fpu.ftw == 0xffff,
           "FLDENV loaded FSW (ES, B) and FTW (%#x %#x)", m->cpu->fpu.fsw, m->cpu->fpu.ftw);
    RUN(m, NULL, 0xdb, 0xe3);
}

static void test_save_restore(struct mach *m)
{
    for (unsigned w = 0; w < 2; w++) {
        uint8_t *d = m->data + 0x400;
        memset(d, 0, 0x100);
        /* fninit; fld1; fldpi; fldl2e; [66] fnsave [rbx+0x400] */
        uint8_t code[] = { 0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xeb, 0xd9, 0xea, 0x66, 0xdd, 0xb3, 0x00, 0x04,
                           0x00, 0x00 };
        unsigned len = sizeof(code), base = w ? 14 : 28;
        uint8_t *c = code;
        if (!w) {            /* drop the 66 prefix */
            memmove(code + 8, code + 9, len - 9);
            len--;
        }
        struct cpu_fpu before;
        run(m, c, 8, NULL);   /* the loads alone */
        before = m->cpu->fpu;
        int v = run(m, c, len, NULL);
        tap_is_int(v, -1, "FNSAVE (%u-bit)", w ? 16 : 32);
        tap_ok(m->cpu->fpu.ftw == 0xffff && m->cpu->fpu.fcw == 0x37f, "FNSAVE reinitialises");
        long double st0;
        memcpy(&st0, d + base, 10);
        memset((uint8_t *)&st0 + 10, 0, sizeof(st0) - 10);
        tap_ok(st0 == 1.442695040888963407359924681001892137L, "ST0 (log2 e) at offset %u", base);
        /* [66] frstor [rbx+0x400] */
        uint8_t rs[] = { 0x66, 0xdd, 0xa3, 0x00, 0x04, 0x00, 0x00 };
        v = run(m, w ? rs : rs + 1, w ? 7 : 6, NULL);
        tap_is_int(v, -1, "FRSTOR (%u-bit)", w ? 16 : 32);
        tap_ok(m->cpu->fpu.ftw == before.ftw && m->cpu->fpu.fsw == before.fsw &&
               !memcmp(m->cpu->fpu.st, before.st, sizeof(before.st)),
               "registers, tags and FSW restored (ftw %#x/%#x fsw %#x/%#x)", m->cpu->fpu.ftw,
               before.ftw, m->cpu->fpu.fsw, before.fsw);
    }
}

/* Real mode: FNSTENV's real-mode layout (linear FIP/FDP). */
static void test_env_real(void)
{
    struct tenv env = { 0 };
    uint8_t *low = tenv_add(&env, 0, 0x20000);
    struct cpu_x86 *cpu = tenv_cpu(&env);
    cpu->trap_exceptions = true;
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(cpu, &s);
    s.cs.base = 0x10000;
    s.cs.selector = 0x1000;
    s.ds.base = 0x2000;
    s.ds.selector = 0x200;
    s.cr0 |= CR0_NE;
    cpu_x86_set_sregs(cpu, &s);
    /* fninit; fld dword [0x100]; fnstenv [0x40] (16-bit); o32 fnstenv [0x80]; hlt */
    static const uint8_t code[] = { 0xdb, 0xe3, 0xd9, 0x06, 0x00, 0x01, 0xd9, 0x36, 0x40, 0x00,
                                    0x66, 0xd9, 0x36, 0x80, 0x00, 0xf4 };
    memcpy(low + 0x10000 + 0x300, code, sizeof(code));
    struct cpu_x86_regs r = { 0 };
    r.rip = 0x300;
    r.rflags = 2;
    cpu_x86_set_regs(cpu, &r);
    struct cpu_x86_exit ex;
    cpu_x86_run(cpu, 1000, &ex);
    tap_is_int(ex.reason, CPU_X86_STOP_HLT, "real mode: FNSTENV ran");
    const uint8_t *e16 = low + 0x2040, *e32 = low + 0x2080;
    uint32_t fip = 0x10000 + 0x302, fdp = 0x2000 + 0x100;
    tap_is_int(get16(e16 + 6), fip & 0xffff, "16-bit real: FIP[15:0] (linear)");
    tap_is_int(get16(e16 + 8), (fip >> 16) << 12 | 0x106, "16-bit real: FIP[19:16] and FOP");
    tap_is_int(get16(e16 + 10), fdp & 0xffff, "16-bit real: FDP[15:0]");
    tap_is_int(get16(e16 + 12), (fdp >> 16) << 12, "16-bit real: FDP[19:16]");
    tap_is_int(get32(e32 + 16), (fip >> 16) << 12 | 0x106, "32-bit real: FIP[31:16] and FOP");
    tap_is_int(get32(e32 + 20) & 0xffff, fdp & 0xffff, "32-bit real: FDP[15:0]");
    cpu_x86_destroy(cpu);
    tenv_free(&env);
}

/* SIMD floating-point exceptions: an unmasked one raises #XM (or #UD
 * without CR4.OSXMMEXCPT) and leaves the destination alone. */
static void test_simd_xm(struct mach *m)
{
    struct cpu_x86_sregs s;
    uint64_t rip;
    float one = 1.0f, zero = 0.0f;
    uint32_t mx = 0x1f80 & ~0x200u;            /* ZE unmasked */
    memcpy(m->data + 0x100, &mx, 4);
    for (unsigned i = 0; i < 4; i++) {
        memcpy(m->data + 0x110 + 4 * i, &one, 4);
        memcpy(m->data + 0x120 + 4 * i, &zero, 4);
    }
    /* ldmxcsr [rbx+0x100]; movups xmm1, [rbx+0x110]; movups xmm2, [rbx+0x120];
     * divps xmm1, xmm2 */
    static const uint8_t code[] = { 0x0f, 0xae, 0x93, 0x00, 0x01, 0x00, 0x00,
                                    0x0f, 0x10, 0x8b, 0x10, 0x01, 0x00, 0x00,
                                    0x0f, 0x10, 0x93, 0x20, 0x01, 0x00, 0x00, 0x0f, 0x5e, 0xca };
    cpu_x86_get_sregs(m->cpu, &s);
    s.cr4 |= CR4_OSXMMEXCPT;
    cpu_x86_set_sregs(m->cpu, &s);
    int v = run(m, code, sizeof(code), &rip);
    tap_ok(v == EXC_XM && rip == CODE + 21, "DIVPS by zero with ZE unmasked: #XM at the DIVPS");
    tap_ok(m->cpu->fpu.xmm[1].f[0] == 1.0f && m->cpu->fpu.xmm[1].f[3] == 1.0f,
           "destination unchanged");
    tap_ok((m->cpu->fpu.mxcsr & 0x3f) == 0x04, "MXCSR.ZE set (%#x)", m->cpu->fpu.mxcsr);
    s.cr4 &= ~(uint64_t)CR4_OSXMMEXCPT;
    cpu_x86_set_sregs(m->cpu, &s);
    v = run(m, code, sizeof(code), &rip);
    tap_ok(v == EXC_UD && rip == CODE + 21, "... #UD when CR4.OSXMMEXCPT is clear");
    mx = 0x1f80;
    memcpy(m->data + 0x100, &mx, 4);
    v = run(m, code, sizeof(code), &rip);
    tap_ok(v == -1 && __builtin_isinf(m->cpu->fpu.xmm[1].f[2]), "masked: infinity, no fault");
}

int main(void)
{
    struct mach m;
    mach_init(&m);
    test_mf(&m);
    test_precision(&m);
    test_env_protected(&m);
    test_save_restore(&m);
    test_simd_xm(&m);
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
    test_env_real();
    return tap_done();
}
