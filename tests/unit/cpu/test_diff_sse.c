/* Differential test of the x87, MMX-free SSE/SSE2/SSE3/SSSE3/SSE4.1/SSE4.2
 * families (and CRC32, MOVBE):
 * random SIMD and x87 instruction sequences run natively (in a forked
 * child) and on the software CPU from the same registers and memory, and
 * the results must match bit for bit.
 *
 *   test_diff_sse [cases [seed]]      default: 8000 cases, seed 3
 *
 * Every case is self-contained code: a prologue loads XMM0-7 from the data
 * page (and MXCSR, and resets the x87 unit), the generated instructions run,
 * and an epilogue stores XMM0-7, MXCSR and the x87 status word back to the
 * data page, so comparing GPRs, flags and memory compares the SIMD state.
 * r15 points at the data page; memory operands are [r15 + disp8], 16-byte
 * aligned. Approximate instructions (RCPPS, RSQRTPS) are not generated;
 * MXCSR.DE and FSW.C1 (x87 "rounded up") are masked out of the comparison.
 * XSAVE/XRSTOR (when the host OS enabled XSAVE) save to [r15+0x1000] and
 * restore from a valid random image at [r15+0x2000]. */
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"
#include "testenv.h"

#define CODE_VA 0x10000000ull
#define DATA_VA 0x20000000ull
#define DATA_LEN 0x4000
#define XMM_SAVE 0x3000          /* XMM0-7 in/out */
#define MXCSR_SAVE 0x3080
#define MXCSR_INIT 0x3084
#define FSW_SAVE 0x3088
#define FCW_INIT 0x308c          /* x87 control word with random PC/RC */
#define XSAVE_OUT 0x1000         /* XSAVE area written by the case */
#define XRSTOR_IN 0x2000         /* valid XSAVE image read by XRSTOR */
#define ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define VK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct st { uint64_t r[16]; uint64_t fl; };

struct tcase {
    uint8_t code[512];
    unsigned len;
    struct st in;
    uint8_t data[DATA_LEN];
};

struct nres { struct st out; int sig; uint8_t data[DATA_LEN]; };

/* ---- native runner (same register protocol as test_diff.c) -------------- */

struct st g_sse_in, g_sse_out;
uint64_t g_sse_rsp;
uint64_t g_sse_entry = CODE_VA;
void sse_native_enter(void);
void sse_native_exit(void);
__asm__(
    ".text\n"
    ".globl sse_native_enter\n"
    "sse_native_enter:\n"
    "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
    "  mov %rsp, g_sse_rsp(%rip)\n"
    "  pushq g_sse_in+128(%rip)\n"
    "  popfq\n"
    "  mov g_sse_in+0(%rip), %rax\n"
    "  mov g_sse_in+8(%rip), %rcx\n"
    "  mov g_sse_in+16(%rip), %rdx\n"
    "  mov g_sse_in+24(%rip), %rbx\n"
    "  mov g_sse_in+32(%rip), %rsp\n"
    "  mov g_sse_in+40(%rip), %rbp\n"
    "  mov g_sse_in+48(%rip), %rsi\n"
    "  mov g_sse_in+56(%rip), %rdi\n"
    "  mov g_sse_in+64(%rip), %r8\n"
    "  mov g_sse_in+72(%rip), %r9\n"
    "  mov g_sse_in+80(%rip), %r10\n"
    "  mov g_sse_in+88(%rip), %r11\n"
    "  mov g_sse_in+96(%rip), %r12\n"
    "  mov g_sse_in+104(%rip), %r13\n"
    "  mov g_sse_in+112(%rip), %r14\n"
    "  mov g_sse_in+120(%rip), %r15\n"
    "  jmp *g_sse_entry(%rip)\n"
    ".globl sse_native_exit\n"
    "sse_native_exit:\n"
    "  mov %rax, g_sse_out+0(%rip)\n"
    "  mov %rcx, g_sse_out+8(%rip)\n"
    "  mov %rdx, g_sse_out+16(%rip)\n"
    "  mov %rbx, g_sse_out+24(%rip)\n"
    "  mov %rsp, g_sse_out+32(%rip)\n"
    "  mov %rbp, g_sse_out+40(%rip)\n"
    "  mov %rsi, g_sse_out+48(%rip)\n"
    "  mov %rdi, g_sse_out+56(%rip)\n"
    "  mov %r8, g_sse_out+64(%rip)\n"
    "  mov %r9, g_sse_out+72(%rip)\n"
    "  mov %r10, g_sse_out+80(%rip)\n"
    "  mov %r11, g_sse_out+88(%rip)\n"
    "  mov %r12, g_sse_out+96(%rip)\n"
    "  mov %r13, g_sse_out+104(%rip)\n"
    "  mov %r14, g_sse_out+112(%rip)\n"
    "  mov %r15, g_sse_out+120(%rip)\n"
    "  mov g_sse_rsp(%rip), %rsp\n"
    "  pushfq\n"
    "  popq g_sse_out+128(%rip)\n"
    "  cld\n"
    "  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
    "  ret\n");

static sigjmp_buf g_jb;
static volatile int g_sig;
static void on_sig(int sig, siginfo_t *si, void *uc) { g_sig = sig; siglongjmp(g_jb, 1); }

static void native_child(const struct tcase *cases, struct nres *res, unsigned n)
{
    uint8_t *code = mmap((void *)CODE_VA, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    uint8_t *data = mmap((void *)DATA_VA, DATA_LEN, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (code != (void *)CODE_VA || data != (void *)DATA_VA)
        _exit(3);
    static uint8_t altstack[65536];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
    sigaltstack(&ss, NULL);
    struct sigaction sa = { .sa_sigaction = on_sig, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER };
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGALRM };
    for (unsigned i = 0; i < 6; i++)
        sigaction(sigs[i], &sa, NULL);
    for (unsigned i = 0; i < n; i++) {
        alarm(5);
        const struct tcase *c = &cases[i];
        memcpy(code, c->code, c->len);
        uint8_t tail[14] = { 0xff, 0x25, 0, 0, 0, 0 };
        uint64_t ex = (uint64_t)(uintptr_t)sse_native_exit;
        memcpy(tail + 6, &ex, 8);
        memcpy(code + c->len, tail, sizeof(tail));
        memcpy(data, c->data, DATA_LEN);
        g_sse_in = c->in;
        g_sig = 0;
        if (sigsetjmp(g_jb, 1) == 0) {
            sse_native_enter();
            res[i].sig = 0;
            res[i].out = g_sse_out;
        } else {
            res[i].sig = g_sig;
        }
        memcpy(res[i].data, data, DATA_LEN);
    }
    _exit(0);
}

/* ---- generator ------------------------------------------------------------ */

static uint64_t rng_s;
static uint64_t rnd(void)
{
    rng_s ^= rng_s << 13; rng_s ^= rng_s >> 7; rng_s ^= rng_s << 17;
    return rng_s;
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

struct enc { uint8_t *p; unsigned n; };
static void eb(struct enc *e, uint8_t b) { e->p[e->n++] = b; }

static void emit_bytes(struct enc *e, const uint8_t *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        eb(e, b[i]);
}

/* r15-based memory operand: REX.B must be set by the caller. */
static void modrm_mem(struct enc *e, unsigned reg, unsigned disp)
{
    eb(e, (uint8_t)(0x47 | (reg & 7) << 3));
    eb(e, (uint8_t)disp);
}

/* [r15 + disp32] operand (REX.B set by the caller). */
static void modrm_mem32(struct enc *e, unsigned reg, uint32_t disp)
{
    eb(e, (uint8_t)(0x87 | (reg & 7) << 3));
    for (unsigned i = 0; i < 4; i++)
        eb(e, (uint8_t)(disp >> (8 * i)));
}

/* Emit [pfx] [REX] 0F [map bytes] op ModRM [imm]. rm < 0: memory. */
static void simd(struct enc *e, uint8_t pfx, bool rexw, const uint8_t *op, unsigned oplen,
                 unsigned reg, int rm, int imm)
{
    if (pfx)
        eb(e, pfx);
    uint8_t rex = (uint8_t)(0x40 | (rexw ? 8 : 0) | (rm < 0 ? 1 : 0));
    if (rex != 0x40)
        eb(e, rex);
    eb(e, 0x0f);
    for (unsigned i = 0; i < oplen; i++)
        eb(e, op[i]);
    if (rm < 0)
        modrm_mem(e, reg, 16 * rn(8));
    else
        eb(e, (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7)));
    if (imm >= 0)
        eb(e, (uint8_t)imm);
}

/* A destination GPR other than rsp. */
static unsigned gpr(void) { static const unsigned g[] = { 0, 1, 2, 3, 5, 6, 7 }; return g[rn(7)]; }

struct form { uint8_t pfx; uint8_t op[3]; uint8_t oplen; uint8_t imm; uint8_t memok; };

/* xmm, xmm/m forms (memory operands 16-byte aligned) */
static const struct form xforms[] = {
    /* SSE2 integer */
    {0x66,{0x60},1,0,1},{0x66,{0x61},1,0,1},{0x66,{0x62},1,0,1},{0x66,{0x63},1,0,1},
    {0x66,{0x64},1,0,1},{0x66,{0x65},1,0,1},{0x66,{0x66},1,0,1},{0x66,{0x67},1,0,1},
    {0x66,{0x68},1,0,1},{0x66,{0x69},1,0,1},{0x66,{0x6a},1,0,1},{0x66,{0x6b},1,0,1},
    {0x66,{0x6c},1,0,1},{0x66,{0x6d},1,0,1},{0x66,{0x74},1,0,1},{0x66,{0x75},1,0,1},
    {0x66,{0x76},1,0,1},{0x66,{0xd1},1,0,1},{0x66,{0xd2},1,0,1},{0x66,{0xd3},1,0,1},
    {0x66,{0xd4},1,0,1},{0x66,{0xd5},1,0,1},{0x66,{0xd8},1,0,1},{0x66,{0xd9},1,0,1},
    {0x66,{0xda},1,0,1},{0x66,{0xdb},1,0,1},{0x66,{0xdc},1,0,1},{0x66,{0xdd},1,0,1},
    {0x66,{0xde},1,0,1},{0x66,{0xdf},1,0,1},{0x66,{0xe0},1,0,1},{0x66,{0xe1},1,0,1},
    {0x66,{0xe2},1,0,1},{0x66,{0xe3},1,0,1},{0x66,{0xe4},1,0,1},{0x66,{0xe5},1,0,1},
    {0x66,{0xe8},1,0,1},{0x66,{0xe9},1,0,1},{0x66,{0xea},1,0,1},{0x66,{0xeb},1,0,1},
    {0x66,{0xec},1,0,1},{0x66,{0xed},1,0,1},{0x66,{0xee},1,0,1},{0x66,{0xef},1,0,1},
    {0x66,{0xf1},1,0,1},{0x66,{0xf2},1,0,1},{0x66,{0xf3},1,0,1},{0x66,{0xf4},1,0,1},
    {0x66,{0xf5},1,0,1},{0x66,{0xf6},1,0,1},{0x66,{0xf8},1,0,1},{0x66,{0xf9},1,0,1},
    {0x66,{0xfa},1,0,1},{0x66,{0xfb},1,0,1},{0x66,{0xfc},1,0,1},{0x66,{0xfd},1,0,1},
    {0x66,{0xfe},1,0,1},
    {0x66,{0x70},1,1,1},{0xf3,{0x70},1,1,1},{0xf2,{0x70},1,1,1},
    /* moves */
    {0,{0x10},1,0,1},{0x66,{0x10},1,0,1},{0xf3,{0x10},1,0,1},{0xf2,{0x10},1,0,1},
    {0,{0x28},1,0,1},{0x66,{0x28},1,0,1},{0x66,{0x6f},1,0,1},{0xf3,{0x6f},1,0,1},
    {0xf3,{0x7e},1,0,1},{0,{0x12},1,0,1},{0x66,{0x12},1,0,2},{0,{0x16},1,0,1},
    {0x66,{0x16},1,0,2},{0xf2,{0x12},1,0,1},{0xf3,{0x12},1,0,1},{0xf3,{0x16},1,0,1},
    {0xf2,{0xf0},1,0,2},
    /* floating point, packed and scalar */
    {0,{0x14},1,0,1},{0,{0x15},1,0,1},{0x66,{0x14},1,0,1},{0x66,{0x15},1,0,1},
    {0,{0x51},1,0,1},{0x66,{0x51},1,0,1},{0xf3,{0x51},1,0,1},{0xf2,{0x51},1,0,1},
    {0,{0x54},1,0,1},{0,{0x55},1,0,1},{0,{0x56},1,0,1},{0,{0x57},1,0,1},
    {0x66,{0x54},1,0,1},{0x66,{0x55},1,0,1},{0x66,{0x56},1,0,1},{0x66,{0x57},1,0,1},
    {0,{0x58},1,0,1},{0x66,{0x58},1,0,1},{0xf3,{0x58},1,0,1},{0xf2,{0x58},1,0,1},
    {0,{0x59},1,0,1},{0x66,{0x59},1,0,1},{0xf3,{0x59},1,0,1},{0xf2,{0x59},1,0,1},
    {0,{0x5c},1,0,1},{0x66,{0x5c},1,0,1},{0xf3,{0x5c},1,0,1},{0xf2,{0x5c},1,0,1},
    {0,{0x5d},1,0,1},{0x66,{0x5d},1,0,1},{0xf3,{0x5d},1,0,1},{0xf2,{0x5d},1,0,1},
    {0,{0x5e},1,0,1},{0x66,{0x5e},1,0,1},{0xf3,{0x5e},1,0,1},{0xf2,{0x5e},1,0,1},
    {0,{0x5f},1,0,1},{0x66,{0x5f},1,0,1},{0xf3,{0x5f},1,0,1},{0xf2,{0x5f},1,0,1},
    {0,{0x5a},1,0,1},{0x66,{0x5a},1,0,1},{0xf3,{0x5a},1,0,1},{0xf2,{0x5a},1,0,1},
    {0,{0x5b},1,0,1},{0x66,{0x5b},1,0,1},{0xf3,{0x5b},1,0,1},
    {0x66,{0xe6},1,0,1},{0xf2,{0xe6},1,0,1},{0xf3,{0xe6},1,0,1},
    {0,{0xc2},1,1,1},{0x66,{0xc2},1,1,1},{0xf3,{0xc2},1,1,1},{0xf2,{0xc2},1,1,1},
    {0,{0xc6},1,1,1},{0x66,{0xc6},1,1,1},
    /* SSE3 */
    {0x66,{0x7c},1,0,1},{0x66,{0x7d},1,0,1},{0xf2,{0x7c},1,0,1},{0xf2,{0x7d},1,0,1},
    {0x66,{0xd0},1,0,1},{0xf2,{0xd0},1,0,1},
    /* SSSE3 */
    {0x66,{0x38,0x00},2,0,1},{0x66,{0x38,0x01},2,0,1},{0x66,{0x38,0x02},2,0,1},
    {0x66,{0x38,0x03},2,0,1},{0x66,{0x38,0x04},2,0,1},{0x66,{0x38,0x05},2,0,1},
    {0x66,{0x38,0x06},2,0,1},{0x66,{0x38,0x07},2,0,1},{0x66,{0x38,0x08},2,0,1},
    {0x66,{0x38,0x09},2,0,1},{0x66,{0x38,0x0a},2,0,1},{0x66,{0x38,0x0b},2,0,1},
    {0x66,{0x38,0x1c},2,0,1},{0x66,{0x38,0x1d},2,0,1},{0x66,{0x38,0x1e},2,0,1},
    {0x66,{0x3a,0x0f},2,1,1},
};

/* SSE4.1 / SSE4.2 xmm, xmm/m forms (with the host's SSE4.2) */
static const struct form x4forms[] = {
    {0x66,{0x38,0x10},2,0,1},{0x66,{0x38,0x14},2,0,1},{0x66,{0x38,0x15},2,0,1},
    {0x66,{0x38,0x17},2,0,1},{0x66,{0x38,0x20},2,0,1},{0x66,{0x38,0x21},2,0,1},
    {0x66,{0x38,0x22},2,0,1},{0x66,{0x38,0x23},2,0,1},{0x66,{0x38,0x24},2,0,1},
    {0x66,{0x38,0x25},2,0,1},{0x66,{0x38,0x28},2,0,1},{0x66,{0x38,0x29},2,0,1},
    {0x66,{0x38,0x2a},2,0,2},{0x66,{0x38,0x2b},2,0,1},{0x66,{0x38,0x30},2,0,1},
    {0x66,{0x38,0x31},2,0,1},{0x66,{0x38,0x32},2,0,1},{0x66,{0x38,0x33},2,0,1},
    {0x66,{0x38,0x34},2,0,1},{0x66,{0x38,0x35},2,0,1},{0x66,{0x38,0x37},2,0,1},
    {0x66,{0x38,0x38},2,0,1},{0x66,{0x38,0x39},2,0,1},{0x66,{0x38,0x3a},2,0,1},
    {0x66,{0x38,0x3b},2,0,1},{0x66,{0x38,0x3c},2,0,1},{0x66,{0x38,0x3d},2,0,1},
    {0x66,{0x38,0x3e},2,0,1},{0x66,{0x38,0x3f},2,0,1},{0x66,{0x38,0x40},2,0,1},
    {0x66,{0x38,0x41},2,0,1},
    {0x66,{0x3a,0x08},2,1,1},{0x66,{0x3a,0x09},2,1,1},{0x66,{0x3a,0x0a},2,1,1},
    {0x66,{0x3a,0x0b},2,1,1},{0x66,{0x3a,0x0c},2,1,1},{0x66,{0x3a,0x0d},2,1,1},
    {0x66,{0x3a,0x0e},2,1,1},{0x66,{0x3a,0x21},2,1,1},{0x66,{0x3a,0x40},2,1,1},
    {0x66,{0x3a,0x41},2,1,1},{0x66,{0x3a,0x42},2,1,1},{0x66,{0x3a,0x44},2,1,1},
    {0x66,{0x3a,0x60},2,1,1},{0x66,{0x3a,0x61},2,1,1},{0x66,{0x3a,0x62},2,1,1},
    {0x66,{0x3a,0x63},2,1,1},
};

static int imm8(void)
{
    static const int v[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 31, 32, 63, 64, 0x1b, 0xe4, 0xff };
    return rn(3) ? v[rn(VK_ARRAY_SIZE(v))] : (int)rn(256);
}

/* SSE4.x forms with GPR operands, CRC32, MOVBE, and the string compares
 * with small explicit lengths in EAX/EDX. */
static void gen_sse4(struct enc *e)
{
    unsigned x = rn(8), y = rn(8), g = gpr();
    bool w = rn(2), mem = rn(3) == 0;
    uint8_t op[2] = { 0x3a, 0 };
    switch (rn(6)) {
    case 0:                                         /* PEXTRB/W/D/Q, EXTRACTPS */
        op[1] = (uint8_t)(0x14 + rn(4));
        simd(e, 0x66, w, op, 2, x, mem ? -1 : (int)g, imm8());
        return;
    case 1:                                         /* PINSRB, PINSRD/Q */
        op[1] = rn(2) ? 0x20 : 0x22;
        simd(e, 0x66, w, op, 2, x, mem ? -1 : (int)g, imm8());
        return;
    case 2:                                         /* CRC32 */
        op[0] = 0x38;
        op[1] = (uint8_t)(0xf0 + rn(2));
        if (op[1] == 0xf1 && !w && rn(3) == 0)
            eb(e, 0x66);
        simd(e, 0xf2, w, op, 2, g, mem ? -1 : (int)gpr(), -1);
        return;
    case 3:                                         /* MOVBE */
        op[0] = 0x38;
        op[1] = (uint8_t)(0xf0 + rn(2));
        simd(e, rn(4) ? 0 : 0x66, w, op, 2, g, -1, -1);
        return;
    default: {                                      /* PCMPESTRx with short lengths */
        for (unsigned r = 0; r < 3; r += 2) {       /* mov eax/edx, imm32 */
            int32_t len = (int32_t)rn(40) - 20;
            eb(e, (uint8_t)(0xb8 + r));
            for (unsigned i = 0; i < 4; i++)
                eb(e, (uint8_t)((uint32_t)len >> (8 * i)));
        }
        op[1] = (uint8_t)(0x60 + rn(4));
        simd(e, 0x66, w, op, 2, x, mem ? -1 : (int)y, imm8() & 0x7f);
        return;
    }
    }
}

/* XSAVE [r15+XSAVE_OUT] or XRSTOR [r15+XRSTOR_IN] with a random RFBM; the
 * XSTATE_BV bits of x87 and SSE (XINUSE, which the host tracks and the
 * emulator reports as all ones) and MXCSR_MASK are cleared afterwards. */
static bool g_xsave;
static void gen_xsave(struct enc *e)
{
    eb(e, 0xb8);                                    /* mov eax, rfbm */
    uint32_t rfbm = rn(4);
    for (unsigned i = 0; i < 4; i++)
        eb(e, (uint8_t)(rfbm >> (8 * i)));
    emit_bytes(e, (const uint8_t[]){ 0x31, 0xd2 }, 2);              /* xor edx, edx */
    bool w = rn(2);
    if (rn(2)) {
        if (w)
            eb(e, 0x49);
        else
            eb(e, 0x41);
        emit_bytes(e, (const uint8_t[]){ 0x0f, 0xae, 0xaf, XRSTOR_IN & 0xff, XRSTOR_IN >> 8, 0, 0 }, 7);
        return;
    }
    eb(e, w ? 0x49 : 0x41);
    emit_bytes(e, (const uint8_t[]){ 0x0f, 0xae, 0xa7, XSAVE_OUT & 0xff, XSAVE_OUT >> 8, 0, 0 }, 7);
    /* and byte [r15+XSAVE_OUT+512], 0xfc; mov dword [r15+XSAVE_OUT+28], 0;
     * and byte [r15+XSAVE_OUT+24], ~DE (MXCSR.DE is not modelled exactly) */
    emit_bytes(e, (const uint8_t[]){ 0x41, 0x80, 0xa7, (XSAVE_OUT + 24) & 0xff, (XSAVE_OUT + 24) >> 8,
                                     0, 0, 0xfd }, 8);
    emit_bytes(e, (const uint8_t[]){ 0x41, 0x80, 0xa7, (XSAVE_OUT + 512) & 0xff, (XSAVE_OUT + 512) >> 8,
                                     0, 0, 0xfc }, 8);
    emit_bytes(e, (const uint8_t[]){ 0x41, 0xc7, 0x87, (XSAVE_OUT + 28) & 0xff, (XSAVE_OUT + 28) >> 8,
                                     0, 0, 0, 0, 0, 0 }, 11);
}

static void gen_sse(struct enc *e, bool ssse3, bool sse4)
{
    unsigned kind = rn(sse4 ? 14 : 10);
    unsigned x = rn(8), y = rn(8);
    if (g_xsave && rn(12) == 0) {
        gen_xsave(e);
        return;
    }
    if (kind >= 12) {
        gen_sse4(e);
        return;
    }
    if (kind >= 10) {
        const struct form *f = &x4forms[rn(VK_ARRAY_SIZE(x4forms))];
        bool mem = f->memok == 2 || (f->memok && rn(3) == 0);
        simd(e, f->pfx, false, f->op, f->oplen, x, mem ? -1 : (int)y, f->imm ? imm8() : -1);
        return;
    }
    if (kind < 6) {
        const struct form *f;
        do
            f = &xforms[rn(VK_ARRAY_SIZE(xforms))];
        while (!ssse3 && f->oplen == 2);
        bool mem = f->memok == 2 || (f->memok && rn(3) == 0);
        simd(e, f->pfx, false, f->op, f->oplen, x, mem ? -1 : (int)y, f->imm ? imm8() : -1);
        return;
    }
    uint8_t op;
    switch (kind) {
    case 6: {                                       /* shifts by immediate */
        static const uint8_t grp[][2] = { {0x71,2},{0x71,4},{0x71,6},{0x72,2},{0x72,4},{0x72,6},
                                          {0x73,2},{0x73,6},{0x73,3},{0x73,7} };
        unsigned g = rn(10);
        op = grp[g][0];
        simd(e, 0x66, false, &op, 1, grp[g][1], (int)y, imm8());
        return;
    }
    case 7: {                                       /* stores */
        static const struct { uint8_t pfx, op; } st[] = {
            {0,0x11},{0x66,0x11},{0xf3,0x11},{0xf2,0x11},{0,0x29},{0x66,0x7f},{0xf3,0x7f},
            {0,0x13},{0,0x17},{0x66,0x13},{0x66,0x17},{0x66,0xd6},{0,0x2b},{0x66,0xe7} };
        unsigned s = rn(VK_ARRAY_SIZE(st));
        op = st[s].op;
        simd(e, st[s].pfx, false, &op, 1, x, -1, -1);
        return;
    }
    case 8: {                                       /* GPR <-> XMM */
        unsigned g = gpr();
        bool w = rn(2);
        switch (rn(8)) {
        case 0: op = 0x6e; simd(e, 0x66, w, &op, 1, x, (int)g, -1); return;
        case 1: op = 0x7e; simd(e, 0x66, w, &op, 1, x, (int)g, -1); return;
        case 2: op = 0xd7; simd(e, 0x66, false, &op, 1, g, (int)y, -1); return;
        case 3: op = 0xc5; simd(e, 0x66, false, &op, 1, g, (int)y, (int)rn(8)); return;
        case 4: op = 0xc4; simd(e, 0x66, false, &op, 1, x, (int)g, (int)rn(8)); return;
        case 5: op = 0x2a; simd(e, rn(2) ? 0xf3 : 0xf2, w, &op, 1, x, (int)g, -1); return;
        case 6: op = (uint8_t)(0x2c + rn(2)); simd(e, rn(2) ? 0xf3 : 0xf2, w, &op, 1, g, (int)y, -1); return;
        default: op = 0x50; simd(e, rn(2) ? 0x66 : 0, false, &op, 1, g, (int)y, -1); return;
        }
    }
    default:                                        /* (U)COMISS/SD */
        op = (uint8_t)(0x2e + rn(2));
        simd(e, rn(2) ? 0x66 : 0, false, &op, 1, x, rn(3) ? (int)y : -1, -1);
        return;
    }
}

/* x87: loads from the data page, an operation, results stored as m80. */
static void gen_x87(struct enc *e)
{
    if (rn(2))      /* fldcw [r15+FCW_INIT]: precision and rounding control */
        emit_bytes(e, (const uint8_t[]){ 0x41, 0xd9, 0xaf, FCW_INIT & 0xff, FCW_INIT >> 8, 0, 0 }, 7);
    unsigned nload = 1 + rn(3);
    for (unsigned i = 0; i < nload; i++) {
        switch (rn(6)) {
        case 0: eb(e, 0x41); eb(e, 0xdd); modrm_mem(e, 0, 8 * rn(16)); break;   /* fld m64 */
        case 1: eb(e, 0x41); eb(e, 0xd9); modrm_mem(e, 0, 4 * rn(32)); break;   /* fld m32 */
        case 2: eb(e, 0x41); eb(e, 0xdb); modrm_mem(e, 0, 4 * rn(32)); break;   /* fild m32 */
        case 3: eb(e, 0x41); eb(e, 0xdf); modrm_mem(e, 5, 8 * rn(16)); break;   /* fild m64 */
        case 4: eb(e, 0xd9); eb(e, (uint8_t)(0xe8 + rn(7))); break;             /* constants */
        default: eb(e, 0x41); eb(e, 0xdb); modrm_mem(e, 5, 16 * rn(8)); break;  /* fld m80 */
        }
    }
    static const uint8_t ops[][2] = {
        {0xde,0xc1},{0xde,0xc9},{0xde,0xe1},{0xde,0xe9},{0xde,0xf1},{0xde,0xf9},   /* faddp..fdivp */
        {0xd8,0xc1},{0xd8,0xc9},{0xd8,0xe1},{0xd8,0xe9},{0xd8,0xf1},{0xd8,0xf9},
        {0xdc,0xc1},{0xdc,0xe1},{0xdc,0xf9},{0xd9,0xc9},{0xd9,0xe0},{0xd9,0xe1},
        {0xd9,0xfa},{0xd9,0xfc},{0xd9,0xfd},{0xd9,0xe4},
        {0xd9,0xe5},{0xd8,0xd1},{0xde,0xd9},{0xdd,0xe1},{0xd9,0xf4},{0xd9,0xc0},
        {0xdb,0xf1},{0xdf,0xe9},{0xda,0xc1},{0xdb,0xd1},
        /* on the host unit: partial remainders, transcendentals, FXTRACT */
        {0xd9,0xf8},{0xd9,0xf5},{0xd9,0xf8},{0xd9,0xf5},{0xd9,0xf0},{0xd9,0xf1},
        {0xd9,0xf2},{0xd9,0xf3},{0xd9,0xf9},{0xd9,0xfb},{0xd9,0xfe},{0xd9,0xff},
    };
    unsigned nops = rn(3);
    for (unsigned i = 0; i < nops; i++) {
        const uint8_t *o = ops[rn(VK_ARRAY_SIZE(ops))];
        eb(e, o[0]);
        eb(e, o[1]);
    }
    /* store up to three results as m80 (fstp), one as m64, one as m32int */
    unsigned nst = rn(4);
    for (unsigned i = 0; i < nst; i++) {
        eb(e, 0x41); eb(e, 0xdb); modrm_mem32(e, 7, 0x180 + 16 * i);
    }
    if (rn(2)) { eb(e, 0x41); eb(e, 0xdd); modrm_mem32(e, 2, 0x1c0); }         /* fst m64 */
    if (rn(2)) { eb(e, 0x41); eb(e, 0xdb); modrm_mem32(e, 2, 0x1d0); }         /* fist m32 */
}

static uint64_t interesting_bits(void)
{
    static const double d[] = { 0.0, -0.0, 1.0, -1.5, 2.5, 3.0, 1e300, -1e-310, 0.1,
                                65535.5, -2147483648.0, 4294967296.0, 1e20, 0.5, -0.5 };
    static const float f[] = { 0.0f, -0.0f, 1.0f, -1.5f, 2.5f, 1e30f, 1e-40f, 0.1f, -7.0f,
                               2147483648.0f, 0.5f };
    switch (rn(7)) {
    case 0: { double v = d[rn(VK_ARRAY_SIZE(d))]; uint64_t u; memcpy(&u, &v, 8); return u; }
    case 1: {
        float a = f[rn(VK_ARRAY_SIZE(f))], b = f[rn(VK_ARRAY_SIZE(f))];
        uint32_t ua, ub; memcpy(&ua, &a, 4); memcpy(&ub, &b, 4);
        return ua | (uint64_t)ub << 32;
    }
    case 2: return rn(2) ? 0x7ff8000000000000ull : 0x7fc000007f800000ull;   /* NaN, inf */
    case 3: return rnd() & 0x00ff00ff00ff00ffull;
    case 4: {                   /* small alphabet (string compares), some NULs */
        uint64_t v = 0;
        for (unsigned i = 0; i < 8; i++)
            v |= (uint64_t)"\0abcab\x80\xff"[rn(8)] << (8 * i);
        return v;
    }
    default: return rnd();
    }
}

static void gen_case(struct tcase *c, bool ssse3, bool sse4)
{
    memset(c, 0, sizeof(*c));
    for (unsigned i = 0; i < 16; i++)
        c->in.r[i] = rn(2) ? rnd() : rn(1000);
    c->in.r[R_R15] = DATA_VA;
    c->in.r[R_SP] = DATA_VA + 0x3800;
    c->in.fl = 0x202;
    for (unsigned i = 0; i < 0x100; i += 8) {
        uint64_t v = interesting_bits();
        memcpy(c->data + i, &v, 8);
    }
    for (unsigned i = 0x100; i < DATA_LEN; i++)
        c->data[i] = (uint8_t)rnd();
    /* FLD m80 reads [r15 + 16k]: put valid extended values there half of
     * the time (random bits make unnormals, whose handling is not modelled) */
    if (rn(2))
        for (unsigned i = 0; i < 0x80; i += 16) {
            double dv;
            uint64_t u = interesting_bits();
            memcpy(&dv, &u, 8);
            long double lv = dv;
            memcpy(c->data + i, &lv, 10);
        }
    for (unsigned i = 0; i < 0x80; i += 8) {
        uint64_t v = interesting_bits();
        memcpy(c->data + XMM_SAVE + i, &v, 8);
    }
    /* an XSAVE image for XRSTOR: valid FCW/MXCSR, FIP/FDP/FOP zero (AMD
     * saves them only with FSW.ES set), random registers and XSTATE_BV */
    {
        uint8_t *x = c->data + XRSTOR_IN;
        uint16_t fcw = (uint16_t)(0x7f | rn(16) << 8), fsw = (uint16_t)(rnd() & 0x7f7f);
        memcpy(x, &fcw, 2);
        memcpy(x + 2, &fsw, 2);
        memset(x + 5, 0, 19);
        uint32_t mx = 0x1f80 | (rn(4) << 13);
        memcpy(x + 24, &mx, 4);
        for (unsigned i = 0; i < 0x100; i += 8) {
            uint64_t v = interesting_bits();
            memcpy(x + 160 + i, &v, 8);
        }
        memset(x + 512, 0, 64);
        x[512] = (uint8_t)rn(4);
        memset(c->data + XSAVE_OUT + 512, 0, 64);
    }
    uint32_t mx = 0x1f80 | (rn(4) == 0 ? (rn(4) << 13) : 0);
    if (rn(8) == 0)         /* invalid or zero-divide unmasked: #XM (DE is not exact) */
        mx &= ~(rn(2) ? 0x80u : 0x200u);
    memcpy(c->data + MXCSR_INIT, &mx, 4);
    static const uint16_t pcs[] = { 0x000, 0x200, 0x300 };     /* 24, 53, 64 bits */
    uint16_t fcw = (uint16_t)(0x7f | pcs[rn(3)] | rn(4) << 10);
    /* sometimes one of invalid, denormal, zero-divide unmasked: results are
     * suppressed and #MF comes at the next waiting instruction (unmasked
     * overflow, underflow and precision are not generated: their
     * tininess/bias rules are not modelled) */
    if (rn(4) == 0)
        fcw &= (uint16_t)~(1u << rn(3));
    memcpy(c->data + FCW_INIT, &fcw, 2);

    struct enc e = { c->code, 0 };
    /* prologue: ldmxcsr [r15+MXCSR_INIT]; fninit; movdqu xmm0-7, [r15+XMM_SAVE+16i] */
    emit_bytes(&e, (const uint8_t[]){ 0x41, 0x0f, 0xae, 0x97 }, 4);
    emit_bytes(&e, (const uint8_t[]){ MXCSR_INIT & 0xff, MXCSR_INIT >> 8, 0, 0 }, 4);
    emit_bytes(&e, (const uint8_t[]){ 0xdb, 0xe3 }, 2);
    for (unsigned i = 0; i < 8; i++) {
        emit_bytes(&e, (const uint8_t[]){ 0xf3, 0x41, 0x0f, 0x6f, (uint8_t)(0x87 | i << 3) }, 5);
        uint32_t d = XMM_SAVE + 16 * i;
        emit_bytes(&e, (const uint8_t *)&d, 4);
    }
    if (g_xsave) {  /* XSAVE stores all of these: make them deterministic */
        for (unsigned i = 0; i < 8; i++)   /* pxor xmm8-15 */
            emit_bytes(&e, (const uint8_t[]){ 0x66, 0x45, 0x0f, 0xef, (uint8_t)(0xc0 | i << 3 | i) }, 5);
        for (unsigned i = 0; i < 8; i++)   /* fldz x8: zero R0-R7 */
            emit_bytes(&e, (const uint8_t[]){ 0xd9, 0xee }, 2);
        emit_bytes(&e, (const uint8_t[]){ 0xdb, 0xe3 }, 2);                  /* fninit */
    }
    if (rn(4) == 0) {
        gen_x87(&e);
    } else {
        unsigned n = 1 + rn(3);
        for (unsigned i = 0; i < n; i++)
            gen_sse(&e, ssse3, sse4);
    }
    /* epilogue: movdqu [r15+XMM_SAVE+16i], xmm_i; stmxcsr; and ~DE; fnstsw */
    for (unsigned i = 0; i < 8; i++) {
        emit_bytes(&e, (const uint8_t[]){ 0xf3, 0x41, 0x0f, 0x7f, (uint8_t)(0x87 | i << 3) }, 5);
        uint32_t d = XMM_SAVE + 16 * i;
        emit_bytes(&e, (const uint8_t *)&d, 4);
    }
    emit_bytes(&e, (const uint8_t[]){ 0x41, 0x0f, 0xae, 0x9f, MXCSR_SAVE & 0xff, MXCSR_SAVE >> 8, 0, 0 }, 8);
    emit_bytes(&e, (const uint8_t[]){ 0x41, 0x83, 0xa7, MXCSR_SAVE & 0xff, MXCSR_SAVE >> 8, 0, 0, 0xfd }, 8);
    emit_bytes(&e, (const uint8_t[]){ 0x41, 0xdd, 0xbf, FSW_SAVE & 0xff, FSW_SAVE >> 8, 0, 0 }, 7);
    /* and word [r15+FSW_SAVE], ~C1: the round-up indication is not modelled */
    emit_bytes(&e, (const uint8_t[]){ 0x66, 0x41, 0x81, 0xa7, FSW_SAVE & 0xff, FSW_SAVE >> 8, 0, 0,
                                      0xff, 0xfd }, 10);
    c->len = e.n;
}

/* ---- emulator side ------------------------------------------------------ */

static int run_emu(struct cpu_x86 *cpu, const struct tcase *c, struct st *out, uint8_t *data,
                   uint8_t *code)
{
    memcpy(code, c->code, c->len);
    code[c->len] = 0x0f;
    code[c->len + 1] = 0x0b;
    memcpy(data, c->data, DATA_LEN);
    cpu_x86_invalidate_code(cpu->shared, CODE_VA, 4096);
    struct cpu_x86_regs r;
    cpu_x86_get_regs(cpu, &r);
    uint64_t *rp[16] = { &r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi,
                         &r.r8, &r.r9, &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15 };
    for (unsigned i = 0; i < 16; i++)
        *rp[i] = c->in.r[i];
    r.rip = CODE_VA;
    r.rflags = c->in.fl;
    cpu_x86_set_regs(cpu, &r);
    struct cpu_x86_exit ex;
    cpu->trap_exceptions = true;
    cpu_x86_run(cpu, 100000, &ex);
    cpu_x86_get_regs(cpu, &r);
    for (unsigned i = 0; i < 16; i++)
        out->r[i] = *rp[i];
    out->fl = r.rflags;
    if (ex.reason == CPU_X86_STOP_ERROR && cpu->trapped_vector == EXC_UD && r.rip == CODE_VA + c->len)
        return 0;
    if (ex.reason == CPU_X86_STOP_ERROR)
        return cpu->trapped_vector == EXC_UD ? SIGILL : cpu->trapped_vector == EXC_MF ||
               cpu->trapped_vector == EXC_XM ? SIGFPE : SIGSEGV;
    return -1;
}

static void dump_case(const struct tcase *c)
{
    printf("#   code:");
    for (unsigned i = 0; i < c->len; i++)
        printf(" %02x", c->code[i]);
    printf("\n");
}

int main(int argc, char **argv)
{
    unsigned ncases = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 8000;
    rng_s = argc > 2 ? strtoull(argv[2], NULL, 0) : 3;
    if (!rng_s)
        rng_s = 1;
    unsigned a, b, cx, d;
    if (!__get_cpuid(1, &a, &b, &cx, &d) || !(d & (1u << 26)) || !(cx & 1))
        tap_skip_all("host CPU lacks SSE2/SSE3");
    bool ssse3 = cx & (1u << 9);
    /* SSE4.1, SSE4.2, MOVBE */
    bool sse4 = ssse3 && (cx & (1u << 19)) && (cx & (1u << 20)) && (cx & (1u << 22)) && (cx & 2);
    if (!sse4)
        printf("# host CPU lacks SSE4.1/SSE4.2/MOVBE/PCLMULQDQ: those forms are not tested\n");
    g_xsave = (cx & (1u << 27)) != 0;   /* OSXSAVE */
    if (!g_xsave)
        printf("# host OS does not enable XSAVE: XSAVE/XRSTOR not tested\n");

    struct tcase *cases = calloc(ncases, sizeof(*cases));
    struct nres *res = mmap(NULL, sizeof(*res) * ncases, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!cases || res == MAP_FAILED)
        tap_skip_all("out of memory");
    for (unsigned i = 0; i < ncases; i++)
        gen_case(&cases[i], ssse3, sse4);

    pid_t pid = fork();
    if (pid == 0)
        native_child(cases, res, ncases);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
            tap_skip_all("cannot map test pages at fixed addresses");
        tap_ok(0, "native runner finished (status %#x)", status);
        return tap_done();
    }

    struct tenv env = { 0 };
    tenv_add(&env, 0, 0x10000);
    uint8_t *code = tenv_add(&env, CODE_VA, 0x1000);
    uint8_t *data = tenv_add(&env, DATA_VA, DATA_LEN);
    struct cpu_x86 *cpu = tenv_cpu(&env);
    tenv_paging64(cpu, &env, true);
    {   /* XSAVE enabled as a host OS does it: CR4.OSXSAVE, XCR0 = x87|SSE */
        struct cpu_x86_sregs sr;
        cpu_x86_get_sregs(cpu, &sr);
        sr.cr4 |= CR4_OSXSAVE | CR4_OSXMMEXCPT;
        cpu_x86_set_sregs(cpu, &sr);
        cpu->xcr0 = 3;
    }

    unsigned fails = 0, faults = 0;
    for (unsigned i = 0; i < ncases; i++) {
        const struct tcase *c = &cases[i];
        struct st out;
        int sig = run_emu(cpu, c, &out, data, code);
        bool ok = true;
        char why[256] = "";
        if (sig == SIGBUS) sig = SIGSEGV;
        if (res[i].sig == SIGBUS) res[i].sig = SIGSEGV;
        if (sig != res[i].sig) {
            ok = false;
            snprintf(why, sizeof(why), "signal: emu %d native %d", sig, res[i].sig);
        } else if (sig) {
            faults++;
        } else {
            for (unsigned r = 0; r < 16 && ok; r++)
                if (out.r[r] != res[i].out.r[r]) {
                    ok = false;
                    snprintf(why, sizeof(why), "r%u: emu %#llx native %#llx", r,
                             (unsigned long long)out.r[r], (unsigned long long)res[i].out.r[r]);
                }
            if (ok && ((out.fl ^ res[i].out.fl) & (ARITH | F_DF))) {
                ok = false;
                if (getenv("DIFF_DEBUG")) { for (unsigned j = 0; j < 0x100; j++) printf("%02x%s", c->data[j], j % 16 == 15 ? "\n" : " "); }
                uint16_t fe, fn;
                memcpy(&fe, data + FSW_SAVE, 2);
                memcpy(&fn, res[i].data + FSW_SAVE, 2);
                snprintf(why, sizeof(why), "flags: emu %#llx native %#llx (fsw emu %#x native %#x)",
                         (unsigned long long)out.fl, (unsigned long long)res[i].out.fl, fe, fn);
            }
            if (ok && memcmp(data, res[i].data, DATA_LEN)) {
                unsigned o = 0;
                while (data[o] == res[i].data[o])
                    o++;
                ok = false;
                unsigned l = o & ~15u;
                int k = snprintf(why, sizeof(why), "memory at +%#x: emu", o);
                for (unsigned j = 0; j < 16; j++)
                    k += snprintf(why + k, sizeof(why) - (size_t)k, " %02x", data[l + j]);
                k += snprintf(why + k, sizeof(why) - (size_t)k, " native");
                for (unsigned j = 0; j < 16; j++)
                    k += snprintf(why + k, sizeof(why) - (size_t)k, " %02x", res[i].data[l + j]);
                k += snprintf(why + k, sizeof(why) - (size_t)k, " input");
                for (unsigned j = 0; j < 16; j++)
                    snprintf(why + k + 3 * j, sizeof(why) - (size_t)k - 3 * j, " %02x", c->data[l + j]);
            }
        }
        if (!ok) {
            if (fails < 20) {
                tap_ok(0, "case %u: %s", i, why);
                dump_case(c);
            }
            fails++;
        }
    }
    tap_ok(fails == 0, "%u x87/SSE differential cases (%u faulting alike), %u mismatches",
           ncases, faults, fails);
    cpu_x86_destroy(cpu);
    tenv_free(&env);
    free(cases);
    return tap_done();
}
