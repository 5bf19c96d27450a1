/* XSAVE family on the software CPU (64-bit, CPL 0): CPUID leaf 1 / 0xD,
 * CR4.OSXSAVE gating (#UD), XSETBV/XGETBV checks (#GP), XSAVE/XSAVEOPT
 * layout against FXSAVE, the XSAVE header, XRSTOR of present and absent
 * components (initial state), and XRSTOR's #GP cases (alignment, XCOMP_BV,
 * components not in XCR0, reserved MXCSR bits), #NM with CR0.TS. */
#include "tap.h"
#include "testenv.h"

#define CODE 0x200000ull
#define DATA 0x400000ull

struct mach {
    struct tenv env;
    uint8_t *code, *data;
    struct cpu_x86 *cpu;
};

static void mach_init(struct mach *m)
{
    memset(m, 0, sizeof(*m));
    tenv_add(&m->env, 0, 0x10000);
    m->code = tenv_add(&m->env, CODE, 0x1000);
    m->data = tenv_add(&m->env, DATA, 0x10000);
    m->cpu = tenv_cpu(&m->env);
    tenv_paging64(m->cpu, &m->env, false);
    m->cpu->trap_exceptions = true;
}

static void set_cr(struct mach *m, uint64_t cr0_set, uint64_t cr4_set, uint64_t cr4_clr)
{
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m->cpu, &s);
    s.cr0 |= cr0_set;
    s.cr4 = (s.cr4 | cr4_set) & ~cr4_clr;
    cpu_x86_set_sregs(m->cpu, &s);
}

/* Run `code` (a HLT is appended) with rax, rcx, rdx, rbx set. Returns -1
 * when it reached the HLT, else the exception vector. */
static int run(struct mach *m, const uint8_t *code, unsigned len, uint64_t rax, uint64_t rcx,
               uint64_t rdx, uint64_t rbx, struct cpu_x86_regs *out)
{
    memcpy(m->code, code, len);
    m->code[len] = 0xf4;
    cpu_x86_invalidate_code(m->cpu->shared, CODE, 0x1000);
    struct cpu_x86_regs r = { 0 };
    r.rip = CODE;
    r.rsp = DATA + 0x8000;
    r.rflags = 2;
    r.rax = rax;
    r.rcx = rcx;
    r.rdx = rdx;
    r.rbx = rbx;
    cpu_x86_set_regs(m->cpu, &r);
    m->cpu->halted = 0;
    struct cpu_x86_exit ex;
    cpu_x86_run(m->cpu, 10000, &ex);
    if (out)
        cpu_x86_get_regs(m->cpu, out);
    if (ex.reason == CPU_X86_STOP_ERROR)
        return m->cpu->trapped_vector;
    return -1;
}

#define RUN(m, bytes, ...) run((m), (const uint8_t[])bytes, sizeof((const uint8_t[])bytes), __VA_ARGS__)
#define XGETBV { 0x0f, 0x01, 0xd0 }
#define XSETBV { 0x0f, 0x01, 0xd1 }
#define XSAVE_RBX { 0x0f, 0xae, 0x23 }
#define XSAVEOPT_RBX { 0x0f, 0xae, 0x33 }
#define XRSTOR_RBX { 0x0f, 0xae, 0x2b }
#define XRSTOR64_RBX { 0x48, 0x0f, 0xae, 0x2b }

static void test_cpuid(struct mach *m)
{
    uint32_t o[4];
    cpu_cpuid_fill(m->cpu, 1, 0, o);
    tap_ok((o[2] >> 26) & 1, "CPUID.1:ECX.XSAVE set");
    tap_ok(!((o[2] >> 27) & 1), "CPUID.1:ECX.OSXSAVE clear while CR4.OSXSAVE is clear");
    cpu_cpuid_fill(m->cpu, 0xd, 0, o);
    tap_ok(o[0] == 3 && o[1] == 576 && o[2] == 576 && o[3] == 0,
           "CPUID.(0xD,0): XCR0 x87|SSE, 576-byte area (%#x %u %u %#x)", o[0], o[1], o[2], o[3]);
    cpu_cpuid_fill(m->cpu, 0xd, 1, o);
    tap_is_int(o[0], 1, "CPUID.(0xD,1).EAX: XSAVEOPT only");
    cpu_cpuid_fill(m->cpu, 0xd, 2, o);
    tap_ok(!o[0] && !o[1] && !o[2] && !o[3], "CPUID.(0xD,2): no AVX state");
}

static void test_xcr0(struct mach *m)
{
    struct cpu_x86_regs r;
    tap_is_int(RUN(m, XGETBV, 0, 0, 0, 0, NULL), EXC_UD, "XGETBV without CR4.OSXSAVE: #UD");
    tap_is_int(RUN(m, XSETBV, 3, 0, 0, 0, NULL), EXC_UD, "XSETBV without CR4.OSXSAVE: #UD");
    tap_is_int(RUN(m, XSAVE_RBX, 3, 0, 0, DATA, NULL), EXC_UD, "XSAVE without CR4.OSXSAVE: #UD");
    set_cr(m, 0, CR4_OSXSAVE, 0);
    uint32_t o[4];
    cpu_cpuid_fill(m->cpu, 1, 0, o);
    tap_ok((o[2] >> 27) & 1, "CPUID.1:ECX.OSXSAVE follows CR4.OSXSAVE");
    tap_is_int(RUN(m, XGETBV, 0, 0, 0, 0, &r), -1, "XGETBV runs");
    tap_ok(r.rax == 1 && r.rdx == 0, "XCR0 is 1 after reset (%#llx)", (unsigned long long)r.rax);
    tap_is_int(RUN(m, XSETBV, 0, 0, 0, 0, NULL), EXC_GP, "XSETBV XCR0=0: #GP");
    tap_is_int(RUN(m, XSETBV, 2, 0, 0, 0, NULL), EXC_GP, "XSETBV XCR0=SSE without x87: #GP");
    tap_is_int(RUN(m, XSETBV, 7, 0, 0, 0, NULL), EXC_GP, "XSETBV with unsupported AVX bit: #GP");
    tap_is_int(RUN(m, XSETBV, 3, 0, 1, 0, NULL), EXC_GP, "XSETBV with EDX bits: #GP");
    tap_is_int(RUN(m, XSETBV, 3, 1, 0, 0, NULL), EXC_GP, "XSETBV ECX=1: #GP");
    tap_is_int(RUN(m, XGETBV, 0, 1, 0, 0, NULL), EXC_GP, "XGETBV ECX=1 (not advertised): #GP");
    tap_is_int(RUN(m, XSETBV, 3, 0, 0, 0, NULL), -1, "XSETBV XCR0=3");
    RUN(m, XGETBV, 0, 0, 0, 0, &r);
    tap_is_int(r.rax, 3, "XGETBV reads back 3");
}

static void fill_state(struct mach *m)
{
    for (unsigned i = 0; i < 16; i++)
        for (unsigned b = 0; b < 16; b++)
            m->cpu->fpu.xmm[i].b[b] = (uint8_t)(i * 16 + b + 1);
    m->cpu->fpu.mxcsr = 0x3f80;
    /* fninit; fld1; fldpi; fldz */
    static const uint8_t x87[] = { 0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xeb, 0xd9, 0xee };
    run(m, x87, sizeof(x87), 0, 0, 0, 0, NULL);
}

static void test_save(struct mach *m)
{
    fill_state(m);
    uint8_t *fx = m->data, *xs = m->data + 0x1000;
    memset(xs, 0xaa, 576);
    memset(xs + 512, 0, 64);
    static const uint8_t fxsave[] = { 0x0f, 0xae, 0x03 };
    tap_is_int(run(m, fxsave, sizeof(fxsave), 0, 0, 0, DATA, NULL), -1, "FXSAVE");
    tap_is_int(RUN(m, XSAVE_RBX, 3, 0, 0, DATA + 0x1000, NULL), -1, "XSAVE RFBM=3");
    /* bytes 416-511 are not written by either */
    tap_ok(!memcmp(fx, xs, 416), "XSAVE legacy region equals FXSAVE's");
    uint64_t bv;
    memcpy(&bv, xs + 512, 8);
    tap_is_int(bv, 3, "XSTATE_BV = 3");

    memset(xs, 0xaa, 576);
    memset(xs + 512, 0, 64);
    xs[512] = 0x80;   /* a bit outside RFBM is kept */
    tap_is_int(RUN(m, XSAVEOPT_RBX, 2, 0, 0, DATA + 0x1000, NULL), -1, "XSAVEOPT RFBM=SSE");
    memcpy(&bv, xs + 512, 8);
    tap_is_int(bv, 0x82, "XSTATE_BV: SSE set, other bits kept");
    tap_ok(xs[0] == 0xaa && xs[32] == 0xaa, "x87 part not written");
    tap_ok(!memcmp(xs + 24, fx + 24, 8) && !memcmp(xs + 160, fx + 160, 256),
           "MXCSR and XMM0-15 written");

    tap_is_int(RUN(m, XSAVE_RBX, 3, 0, 0, DATA + 0x1008, NULL), EXC_GP, "XSAVE misaligned: #GP");
    set_cr(m, CR0_TS, 0, 0);
    tap_is_int(RUN(m, XSAVE_RBX, 3, 0, 0, DATA + 0x1000, NULL), EXC_NM, "XSAVE with CR0.TS: #NM");
    struct cpu_x86_sregs s;
    cpu_x86_get_sregs(m->cpu, &s);
    s.cr0 &= ~(uint64_t)CR0_TS;
    cpu_x86_set_sregs(m->cpu, &s);
}

static void test_restore(struct mach *m)
{
    fill_state(m);
    uint8_t *xs = m->data + 0x1000;
    memset(xs, 0, 576);
    RUN(m, XSAVE_RBX, 3, 0, 0, DATA + 0x1000, NULL);
    struct cpu_fpu saved = m->cpu->fpu;

    /* scribble over the live state, then restore everything */
    memset(m->cpu->fpu.xmm, 0x55, sizeof(m->cpu->fpu.xmm));
    m->cpu->fpu.fcw = 0x27f;
    m->cpu->fpu.mxcsr = 0x1f80;
    tap_is_int(RUN(m, XRSTOR_RBX, 3, 0, 0, DATA + 0x1000, NULL), -1, "XRSTOR RFBM=3");
    tap_ok(!memcmp(m->cpu->fpu.xmm, saved.xmm, sizeof(saved.xmm)), "XMM restored");
    tap_ok(m->cpu->fpu.fcw == saved.fcw && m->cpu->fpu.fsw == saved.fsw &&
           m->cpu->fpu.ftw == saved.ftw && m->cpu->fpu.mxcsr == 0x3f80, "x87 control/status/tags, MXCSR restored");

    /* XSTATE_BV = 0: both components to their initial state, MXCSR loaded */
    xs[512] = 0;
    tap_is_int(RUN(m, XRSTOR64_RBX, 3, 0, 0, DATA + 0x1000, NULL), -1, "XRSTOR64, XSTATE_BV=0");
    bool zero = true;
    for (unsigned i = 0; i < 16; i++)
        zero = zero && !m->cpu->fpu.xmm[i].q[0] && !m->cpu->fpu.xmm[i].q[1];
    tap_ok(zero, "XMM registers initialised");
    tap_ok(m->cpu->fpu.fcw == 0x37f && m->cpu->fpu.fsw == 0 && m->cpu->fpu.ftw == 0xffff,
           "x87 initialised (FCW %#x FSW %#x FTW %#x)", m->cpu->fpu.fcw, m->cpu->fpu.fsw,
           m->cpu->fpu.ftw);
    tap_is_int(m->cpu->fpu.mxcsr, 0x3f80, "MXCSR still loaded from memory");

    /* RFBM = x87 only: XMM untouched */
    memset(m->cpu->fpu.xmm, 0x55, sizeof(m->cpu->fpu.xmm));
    xs[512] = 3;
    tap_is_int(RUN(m, XRSTOR_RBX, 1, 0, 0, DATA + 0x1000, NULL), -1, "XRSTOR RFBM=x87");
    tap_is_int(m->cpu->fpu.xmm[3].b[0], 0x55, "XMM left alone");
    tap_is_int(m->cpu->fpu.ftw, saved.ftw, "x87 tags restored");

    struct cpu_fpu before = m->cpu->fpu;
    tap_is_int(RUN(m, XRSTOR_RBX, 3, 0, 0, DATA + 0x1020, NULL), EXC_GP, "XRSTOR misaligned: #GP");
    xs[520] = 1;
    tap_is_int(RUN(m, XRSTOR_RBX, 3, 0, 0, DATA + 0x1000, NULL), EXC_GP, "XRSTOR XCOMP_BV != 0: #GP");
    xs[520] = 0;
    xs[512] = 7;
    tap_is_int(RUN(m, XRSTOR_RBX, 3, 0, 0, DATA + 0x1000, NULL), EXC_GP,
               "XRSTOR XSTATE_BV outside XCR0: #GP");
    xs[512] = 3;
    xs[24 + 2] = 1;   /* MXCSR bit 16 */
    tap_is_int(RUN(m, XRSTOR_RBX, 3, 0, 0, DATA + 0x1000, NULL), EXC_GP,
               "XRSTOR reserved MXCSR bit: #GP");
    tap_ok(!memcmp(&before, &m->cpu->fpu, sizeof(before)), "faulting XRSTORs changed nothing");
}

int main(void)
{
    struct mach m;
    mach_init(&m);
    test_cpuid(&m);
    test_xcr0(&m);
    test_save(&m);
    test_restore(&m);
    cpu_x86_destroy(m.cpu);
    tenv_free(&m.env);
    return tap_done();
}
