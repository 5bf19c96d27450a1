/* Differential test: random user-mode instruction sequences run natively
 * (in a forked, sandboxed child) and on the software CPU from the same
 * registers, flags and memory; results must match.
 *
 *   test_diff [cases [seed]]      default: 3000 cases, seed 1
 *
 * Registers r14 (small index), r15 (data page) and rsp (stack inside the
 * data page) are reserved so memory operands stay inside the data page.
 * Flags an instruction leaves undefined are masked out; instructions whose
 * undefined flags depend on operand values run alone. */
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
#define ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

struct st {
    uint64_t r[16];
    uint64_t fl;
};

struct tcase {
    uint8_t code[96];
    unsigned len;
    uint32_t flag_mask;      /* flags compared */
    struct st in;
    uint8_t data[DATA_LEN];
};

struct nres {
    struct st out;
    int sig;                 /* 0, or the signal the native run took */
    uint8_t data[DATA_LEN];
};

/* ---- native runner ------------------------------------------------------ */

struct st g_nat_in, g_nat_out;
uint64_t g_host_rsp;
uint64_t g_code_entry = CODE_VA;

void native_enter(void);
void native_exit(void);
__asm__(
    ".text\n"
    ".globl native_enter\n"
    "native_enter:\n"
    "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
    "  mov %rsp, g_host_rsp(%rip)\n"
    "  pushq g_nat_in+128(%rip)\n"
    "  popfq\n"
    "  mov g_nat_in+0(%rip), %rax\n"
    "  mov g_nat_in+8(%rip), %rcx\n"
    "  mov g_nat_in+16(%rip), %rdx\n"
    "  mov g_nat_in+24(%rip), %rbx\n"
    "  mov g_nat_in+32(%rip), %rsp\n"
    "  mov g_nat_in+40(%rip), %rbp\n"
    "  mov g_nat_in+48(%rip), %rsi\n"
    "  mov g_nat_in+56(%rip), %rdi\n"
    "  mov g_nat_in+64(%rip), %r8\n"
    "  mov g_nat_in+72(%rip), %r9\n"
    "  mov g_nat_in+80(%rip), %r10\n"
    "  mov g_nat_in+88(%rip), %r11\n"
    "  mov g_nat_in+96(%rip), %r12\n"
    "  mov g_nat_in+104(%rip), %r13\n"
    "  mov g_nat_in+112(%rip), %r14\n"
    "  mov g_nat_in+120(%rip), %r15\n"
    "  jmp *g_code_entry(%rip)\n"
    ".globl native_exit\n"
    "native_exit:\n"
    "  mov %rax, g_nat_out+0(%rip)\n"
    "  mov %rcx, g_nat_out+8(%rip)\n"
    "  mov %rdx, g_nat_out+16(%rip)\n"
    "  mov %rbx, g_nat_out+24(%rip)\n"
    "  mov %rsp, g_nat_out+32(%rip)\n"
    "  mov %rbp, g_nat_out+40(%rip)\n"
    "  mov %rsi, g_nat_out+48(%rip)\n"
    "  mov %rdi, g_nat_out+56(%rip)\n"
    "  mov %r8, g_nat_out+64(%rip)\n"
    "  mov %r9, g_nat_out+72(%rip)\n"
    "  mov %r10, g_nat_out+80(%rip)\n"
    "  mov %r11, g_nat_out+88(%rip)\n"
    "  mov %r12, g_nat_out+96(%rip)\n"
    "  mov %r13, g_nat_out+104(%rip)\n"
    "  mov %r14, g_nat_out+112(%rip)\n"
    "  mov %r15, g_nat_out+120(%rip)\n"
    "  mov g_host_rsp(%rip), %rsp\n"
    "  pushfq\n"
    "  popq g_nat_out+128(%rip)\n"
    "  cld\n"
    "  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
    "  ret\n");

static sigjmp_buf g_jb;
static volatile int g_sig;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
    g_sig = sig;
    siglongjmp(g_jb, 1);
}

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
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    for (unsigned i = 0; i < n; i++) {
        alarm(5);
        const struct tcase *c = &cases[i];
        memcpy(code, c->code, c->len);
        /* jmp *0(%rip); .quad native_exit */
        uint8_t tail[14] = { 0xff, 0x25, 0, 0, 0, 0 };
        uint64_t ex = (uint64_t)(uintptr_t)native_exit;
        memcpy(tail + 6, &ex, 8);
        memcpy(code + c->len, tail, sizeof(tail));
        memcpy(data, c->data, DATA_LEN);
        g_nat_in = c->in;
        g_sig = 0;
        if (sigsetjmp(g_jb, 1) == 0) {
            native_enter();
            res[i].sig = 0;
            res[i].out = g_nat_out;
        } else {
            res[i].sig = g_sig;
        }
        memcpy(res[i].data, data, DATA_LEN);
    }
    _exit(0);
}

/* ---- case generator -------------------------------------------------------- */

static uint64_t rng_s;
static uint64_t rnd(void)
{
    rng_s ^= rng_s << 13; rng_s ^= rng_s >> 7; rng_s ^= rng_s << 17;
    return rng_s;
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

static uint64_t interesting(void)
{
    static const uint64_t v[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
        0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull,
        0x8000000000000000ull, ~0ull, ~1ull, 0x1f, 0x20, 0x3f, 0x40, 9, 0x99 };
    switch (rn(4)) {
    case 0: return v[rn(sizeof(v) / sizeof(v[0]))];
    case 1: return rnd() & 0xff;
    case 2: return rnd() & 0xffffffff;
    default: return rnd();
    }
}

/* general registers tests may use freely (not rsp, r14, r15) */
static unsigned rreg(void)
{
    static const uint8_t ok[] = { 0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13 };
    return ok[rn(sizeof(ok))];
}

struct enc {
    uint8_t *p;
    unsigned n;
};
static void eb(struct enc *e, uint8_t b) { e->p[e->n++] = b; }
static void eimm(struct enc *e, uint64_t v, unsigned n) { for (unsigned i = 0; i < n; i++) eb(e, (uint8_t)(v >> (8 * i))); }

enum { SZ8, SZ16, SZ32, SZ64 };

/* Emit prefixes + opcode + ModRM with reg field `reg` (register number or
 * /n) and an r/m that is a register (rm >= 0) or a memory operand inside
 * the data page (rm < 0). `sz` selects 66 / REX.W; byte ops pass SZ8 and
 * their byte opcode. */
static void emit(struct enc *e, int sz, const uint8_t *op, unsigned oplen, unsigned reg,
                 int rm, bool lock, uint8_t pfx)
{
    uint8_t rex = 0x40;
    if (lock) eb(e, 0xf0);
    if (sz == SZ16) eb(e, 0x66);
    if (pfx) eb(e, pfx);
    if (sz == SZ64) rex |= 8;
    if (reg & 8) rex |= 4;
    bool mem = rm < 0;
    int form = mem ? rn(3) : 0;
    if (mem) {
        rex |= 1;   /* base r15 */
        if (form == 2) rex |= 2;   /* index r14 */
    } else if (rm & 8) {
        rex |= 1;
    }
    /* byte regs 4-7 mean AH..BH without REX: sometimes omit REX */
    bool need_rex = rex != 0x40 || (sz == SZ8 && ((reg & 7) >= 4 || (!mem && (rm & 7) >= 4)) && rn(2));
    if (need_rex) eb(e, rex);
    for (unsigned i = 0; i < oplen; i++) eb(e, op[i]);
    if (!mem) {
        eb(e, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
        return;
    }
    switch (form) {
    case 0: eb(e, (uint8_t)(0x40 | ((reg & 7) << 3) | 7)); eb(e, (uint8_t)(rn(0x70) & ~7)); break;
    case 1: eb(e, (uint8_t)(0x80 | ((reg & 7) << 3) | 7)); eimm(e, 0x400 + (rn(0x300) & ~3), 4); break;
    default:
        eb(e, (uint8_t)(0x44 | ((reg & 7) << 3)));
        eb(e, (uint8_t)((rn(4) << 6) | (6 << 3) | 7));
        eb(e, (uint8_t)(rn(0x40) * 2));
        break;
    }
}

static int rand_rm(bool allow_mem) { return allow_mem && rn(3) == 0 ? -1 : (int)rreg(); }

static const unsigned szbytes[] = { 1, 2, 4, 8 };

/* One instruction (or a tiny fixed macro). Returns the flags it leaves
 * undefined. *solo set when the undefined set depends on values. */
static uint32_t gen_insn(struct enc *e, const struct st *st, bool *solo, bool host_lzcnt)
{
    int sz = rn(4);
    uint8_t op[3];
    unsigned k = rn(30);

    switch (k) {
    case 0: case 1: case 2: {   /* ALU r/m, r and r, r/m */
        unsigned a = rn(8), d = rn(2);
        op[0] = (uint8_t)((a << 3) | (d << 1) | (sz != SZ8));
        int rm = rand_rm(true);
        emit(e, sz, op, 1, rreg(), rm, rm < 0 && d == 0 && a != 7 && rn(2), 0);
        return 0;
    }
    case 3: {   /* ALU acc, imm */
        unsigned a = rn(8);
        if (sz == SZ16) eb(e, 0x66);
        if (sz == SZ64) eb(e, 0x48);
        eb(e, (uint8_t)((a << 3) | 4 | (sz != SZ8)));
        eimm(e, rnd(), sz == SZ8 ? 1 : sz == SZ16 ? 2 : 4);
        return 0;
    }
    case 4: case 5: {   /* group 1 */
        unsigned a = rn(8);
        int form = sz == SZ8 ? 0 : rn(2);
        op[0] = sz == SZ8 ? 0x80 : form ? 0x83 : 0x81;
        int rm = rand_rm(true);
        emit(e, sz, op, 1, a, rm, rm < 0 && a != 7 && rn(2), 0);
        eimm(e, rnd(), (sz == SZ8 || form) ? 1 : sz == SZ16 ? 2 : 4);
        return 0;
    }
    case 6: {   /* INC/DEC/NOT/NEG/TEST */
        unsigned w = rn(5);
        int rm = rand_rm(true);
        if (w < 2) { op[0] = sz == SZ8 ? 0xfe : 0xff; emit(e, sz, op, 1, w, rm, rm < 0 && rn(2), 0); }
        else if (w < 4) { op[0] = sz == SZ8 ? 0xf6 : 0xf7; emit(e, sz, op, 1, w, rm, rm < 0 && rn(2), 0); }
        else { op[0] = sz == SZ8 ? 0xf6 : 0xf7; emit(e, sz, op, 1, 0, rm, false, 0);
               eimm(e, rnd(), sz == SZ8 ? 1 : sz == SZ16 ? 2 : 4); }
        return 0;
    }
    case 7: {   /* MUL/IMUL/DIV/IDIV */
        unsigned w = 4 + rn(4);
        op[0] = sz == SZ8 ? 0xf6 : 0xf7;
        emit(e, sz, op, 1, w, rand_rm(true), false, 0);
        *solo = w >= 6;
        return w >= 6 ? ARITH : (F_SF | F_ZF | F_AF | F_PF);
    }
    case 8: {   /* IMUL r, r/m (, imm) */
        if (sz == SZ8) sz = SZ32;
        unsigned w = rn(3);
        if (w == 0) { op[0] = 0x0f; op[1] = 0xaf; emit(e, sz, op, 2, rreg(), rand_rm(true), false, 0); }
        else { op[0] = w == 1 ? 0x69 : 0x6b; emit(e, sz, op, 1, rreg(), rand_rm(true), false, 0);
               eimm(e, rnd(), w == 2 ? 1 : sz == SZ16 ? 2 : 4); }
        return F_SF | F_ZF | F_AF | F_PF;
    }
    case 9: case 10: {   /* shifts and rotates */
        unsigned w = rn(8);
        if (w == 6) w = 4;
        unsigned form = rn(3), count;
        int rm = rand_rm(true);
        if (form == 0) { op[0] = sz == SZ8 ? 0xd0 : 0xd1; count = 1; emit(e, sz, op, 1, w, rm, false, 0); }
        else if (form == 1) { op[0] = sz == SZ8 ? 0xd2 : 0xd3; count = st->r[1] & 0xff; emit(e, sz, op, 1, w, rm, false, 0); }
        else { op[0] = sz == SZ8 ? 0xc0 : 0xc1; count = rn(3) ? rn(40) : rn(256); emit(e, sz, op, 1, w, rm, false, 0); eb(e, (uint8_t)count); }
        *solo = true;
        unsigned bits = szbytes[sz] * 8;
        unsigned mc = count & (sz == SZ64 ? 63 : 31);
        uint32_t u = 0;
        if (mc == 0) return 0;
        if (mc != 1) u |= F_OF;
        if (w >= 4) {
            u |= F_AF;
            if (mc > bits - (w == 7 ? 0 : 0) && w != 7) u |= F_CF;
            if (mc >= bits && w == 7) u |= 0;
        }
        return u;
    }
    case 11: {   /* SHLD/SHRD */
        if (sz == SZ8) sz = SZ32;
        unsigned right = rn(2), cl = sz == SZ16 ? 0 : rn(2), count;
        op[0] = 0x0f; op[1] = (uint8_t)((right ? 0xac : 0xa4) | cl);
        emit(e, sz, op, 2, rreg(), rand_rm(true), false, 0);
        if (!cl) { count = sz == SZ16 ? rn(17) : rn(64); eb(e, (uint8_t)count); }
        else count = st->r[1] & 0xff;
        unsigned mc = count & (sz == SZ64 ? 63 : 31);
        *solo = true;
        if (sz == SZ16 && mc > 16)
            return 0xffffffffu;   /* result undefined: compare nothing useful */
        if (mc == 0) return 0;
        return F_AF | (mc != 1 ? F_OF : 0);
    }
    case 12: {   /* BT/BTS/BTR/BTC reg, and imm forms */
        if (sz == SZ8) sz = SZ32;
        unsigned w = rn(4);
        if (rn(2)) {
            static const uint8_t o[4] = { 0xa3, 0xab, 0xb3, 0xbb };
            op[0] = 0x0f; op[1] = o[w];
            emit(e, sz, op, 2, rreg(), (int)rreg(), false, 0);
        } else {
            op[0] = 0x0f; op[1] = 0xba;
            int rm = rand_rm(true);
            emit(e, sz, op, 2, 4 + w, rm, rm < 0 && w && rn(2), 0);
            eb(e, (uint8_t)rn(256));
        }
        return F_OF | F_SF | F_AF | F_PF;
    }
    case 13: {   /* BSF/BSR/POPCNT/LZCNT */
        if (sz == SZ8) sz = SZ32;
        unsigned w = rn(4);
        if (w == 3 && !host_lzcnt) w = 2;
        op[0] = 0x0f; op[1] = w == 0 ? 0xbc : w == 1 ? 0xbd : w == 2 ? 0xb8 : 0xbd;
        emit(e, sz, op, 2, rreg(), rand_rm(true), false, w >= 2 ? 0xf3 : 0);
        *solo = w < 2;
        return w < 2 ? (ARITH & ~F_ZF) : w == 3 ? (F_OF | F_SF | F_AF | F_PF) : 0;
    }
    case 14: {   /* CMOVcc / SETcc */
        if (rn(2)) {
            if (sz == SZ8) sz = SZ32;
            op[0] = 0x0f; op[1] = (uint8_t)(0x40 | rn(16));
            emit(e, sz, op, 2, rreg(), rand_rm(true), false, 0);
        } else {
            op[0] = 0x0f; op[1] = (uint8_t)(0x90 | rn(16));
            emit(e, SZ8, op, 2, 0, rand_rm(true), false, 0);
        }
        return 0;
    }
    case 15: {   /* MOV forms */
        unsigned w = rn(4);
        if (w < 2) { op[0] = (uint8_t)(0x88 | (w << 1) | (sz != SZ8)); emit(e, sz, op, 1, rreg(), rand_rm(true), false, 0); }
        else if (w == 2) { op[0] = sz == SZ8 ? 0xc6 : 0xc7; emit(e, sz, op, 1, 0, rand_rm(true), false, 0);
                           eimm(e, rnd(), sz == SZ8 ? 1 : sz == SZ16 ? 2 : 4); }
        else { unsigned r = rreg(); if (sz == SZ16) eb(e, 0x66);
               uint8_t rex = (uint8_t)(0x40 | (sz == SZ64 ? 8 : 0) | (r >> 3)); if (rex != 0x40 || (sz == SZ8 && rn(2))) eb(e, rex);
               eb(e, (uint8_t)((sz == SZ8 ? 0xb0 : 0xb8) | (r & 7))); eimm(e, rnd(), szbytes[sz] == 8 ? 8 : szbytes[sz]); }
        return 0;
    }
    case 16: {   /* MOVZX/MOVSX/MOVSXD */
        unsigned w = rn(5);
        if (sz == SZ8) sz = SZ32;
        if (w == 4) { op[0] = 0x63; emit(e, rn(2) ? SZ64 : SZ32, op, 1, rreg(), rand_rm(true), false, 0); return 0; }
        op[0] = 0x0f; op[1] = (uint8_t)(0xb6 + (w & 1) + ((w & 2) ? 8 : 0));
        emit(e, sz, op, 2, rreg(), rand_rm(true), false, 0);
        return 0;
    }
    case 17: {   /* LEA with arbitrary addressing */
        if (sz == SZ8) sz = SZ64;
        if (rn(4) == 0) eb(e, 0x67);
        if (sz == SZ16) eb(e, 0x66);
        unsigned reg = rreg(), base = rn(16), idx = rn(16);
        uint8_t rex = (uint8_t)(0x40 | (sz == SZ64 ? 8 : 0) | ((reg >> 3) << 2) | ((idx >> 3) << 1) | (base >> 3));
        if (rex != 0x40) eb(e, rex);
        eb(e, 0x8d);
        unsigned mod = rn(3), form = rn(3);
        if (form == 0) {   /* no SIB */
            unsigned rm = base & 7; if (rm == 4) rm = 5;
            eb(e, (uint8_t)((mod << 6) | ((reg & 7) << 3) | rm));
        } else {
            eb(e, (uint8_t)((mod << 6) | ((reg & 7) << 3) | 4));
            eb(e, (uint8_t)((rn(4) << 6) | ((idx & 7) << 3) | (base & 7)));
        }
        /* displacement: mod 0 with rm 5 / base 5 takes disp32 */
        if (mod == 1) eb(e, (uint8_t)rnd());
        else if (mod == 2 || (mod == 0 && ((form == 0 && (base & 7) != 4 && ((base & 7) == 5 || (base & 7) == 4)) ||
                                           (form == 0 && (base & 7) == 4) || (form && (base & 7) == 5))))
            eimm(e, rnd(), 4);
        return 0;
    }
    case 18: {   /* XCHG / XADD / CMPXCHG */
        unsigned w = rn(3);
        int rm = rand_rm(true);
        if (w == 0) { op[0] = sz == SZ8 ? 0x86 : 0x87; emit(e, sz, op, 1, rreg(), rm, false, 0); }
        else { op[0] = 0x0f; op[1] = (uint8_t)((w == 1 ? 0xc0 : 0xb0) | (sz != SZ8)); emit(e, sz, op, 2, rreg(), rm, rm < 0 && rn(2), 0); }
        return 0;
    }
    case 19: {   /* BSWAP, CBW family, CWD family */
        unsigned w = rn(3);
        if (w == 0) { unsigned r = rreg(); uint8_t rex = (uint8_t)(0x40 | (rn(2) ? 8 : 0) | (r >> 3)); if (rex != 0x40) eb(e, rex); eb(e, 0x0f); eb(e, (uint8_t)(0xc8 | (r & 7))); }
        else { if (sz == SZ8) sz = SZ32; if (sz == SZ16) eb(e, 0x66); if (sz == SZ64) eb(e, 0x48); eb(e, w == 1 ? 0x98 : 0x99); }
        return 0;
    }
    case 20: {   /* flag ops, LAHF/SAHF */
        static const uint8_t o[] = { 0xf8, 0xf9, 0xf5, 0x9e, 0x9f };
        eb(e, o[rn(sizeof(o))]);
        return 0;
    }
    case 21: {   /* PUSH/POP */
        unsigned w = rn(5), r = rreg();
        if (w == 0) { if (r & 8) eb(e, 0x41); eb(e, (uint8_t)(0x50 | (r & 7))); }
        else if (w == 1) { if (r & 8) eb(e, 0x41); eb(e, (uint8_t)(0x58 | (r & 7))); }
        else if (w == 2) { if (rn(2)) { eb(e, 0x6a); eb(e, (uint8_t)rnd()); } else { eb(e, 0x68); eimm(e, rnd(), 4); } }
        else if (w == 3) { op[0] = 0xff; emit(e, SZ32, op, 1, 6, rand_rm(true), false, 0); }
        else { eb(e, 0x66); if (r & 8) eb(e, 0x41); eb(e, (uint8_t)(0x50 | (r & 7))); }
        return 0;
    }
    case 22: {   /* Jcc / JMP over a following instruction */
        struct enc sub = { e->p + e->n + 2, 0 };
        bool s2 = false;
        uint32_t u = gen_insn(&sub, st, &s2, host_lzcnt);
        if (s2 || u) { /* keep it simple: skip a plain MOV instead */
            sub.n = 0;
            eb(&sub, 0x48); eb(&sub, 0x89); eb(&sub, (uint8_t)(0xc0 | (rn(4) << 3) | rn(4)));
        }
        eb(e, rn(6) ? (uint8_t)(0x70 | rn(16)) : 0xeb);
        eb(e, (uint8_t)sub.n);
        e->n += sub.n;
        return 0;
    }
    case 23: {   /* string ops with REP, set up inside the data page */
        unsigned w = rn(5), ssz = rn(4);
        /* cld; lea rsi,[r15+a]; lea rdi,[r15+b]; mov ecx,n */
        eb(e, 0xfc);
        eb(e, 0x49); eb(e, 0x8d); eb(e, 0xb7); eimm(e, 0x1000 + rn(0x800), 4);
        eb(e, 0x49); eb(e, 0x8d); eb(e, 0xbf); eimm(e, 0x1000 + rn(0x800), 4);
        eb(e, 0xb9); eimm(e, rn(40), 4);
        unsigned rep = rn(3);
        if (ssz == SZ16) eb(e, 0x66);
        if (rep && w != 2) eb(e, w >= 3 ? (rep == 1 ? 0xf3 : 0xf2) : 0xf3);
        if (ssz == SZ64) eb(e, 0x48);
        static const uint8_t so[5] = { 0xa4, 0xaa, 0xac, 0xa6, 0xae };
        eb(e, (uint8_t)(so[w] | (ssz != SZ8)));
        return 0;
    }
    case 24: {   /* CMPXCHG8B/16B */
        bool q = rn(2);
        if (rn(2)) eb(e, 0xf0);
        eb(e, q ? 0x49 : 0x41); eb(e, 0x0f); eb(e, 0xc7); eb(e, 0x8f); eimm(e, 0x800 + rn(0x40) * 16, 4);
        return 0;
    }
    case 25: {   /* ADC/SBB chains after STC/CLC */
        eb(e, rn(2) ? 0xf9 : 0xf8);
        unsigned a = 2 + rn(2);
        op[0] = (uint8_t)((a << 3) | 1);
        emit(e, sz == SZ8 ? SZ32 : sz, op, 1, rreg(), rand_rm(true), false, 0);
        return 0;
    }
    case 26: {   /* LOOP/JRCXZ with a small count: mov ecx,n; dec rax; loop -5 */
        eb(e, 0xb9); eimm(e, 1 + rn(5), 4);
        unsigned w = rn(3);
        eb(e, 0x48); eb(e, 0xff); eb(e, 0xc0);   /* inc rax */
        eb(e, (uint8_t)(0xe0 + w)); eb(e, (uint8_t)-5);
        return 0;
    }
    case 27: {   /* XCHG rAX, r / NOP */
        unsigned r = rreg();
        if (sz == SZ16) eb(e, 0x66);
        uint8_t rex = (uint8_t)(0x40 | (sz == SZ64 ? 8 : 0) | (r >> 3));
        if (rex != 0x40) eb(e, rex);
        eb(e, (uint8_t)(0x90 | (r & 7)));
        return 0;
    }
    case 28: {   /* ENTER/LEAVE pair and PUSHF/POPF */
        if (rn(2)) { eb(e, 0xc8); eimm(e, rn(64) * 8, 2); eb(e, (uint8_t)rn(2)); eb(e, 0xc9); }
        else { /* pushf; xor qword [rsp], imm8 (arith flags only); popf */
               eb(e, 0x9c); eb(e, 0x48); eb(e, 0x83); eb(e, 0x34); eb(e, 0x24); eb(e, (uint8_t)(rnd() & 0x55)); eb(e, 0x9d); }
        return 0;
    }
    default: {  /* TEST r/m, r */
        op[0] = sz == SZ8 ? 0x84 : 0x85;
        emit(e, sz, op, 1, rreg(), rand_rm(true), false, 0);
        return 0;
    }
    }
}

static void gen_case(struct tcase *c, bool lzcnt)
{
    memset(c, 0, sizeof(*c));
    for (unsigned i = 0; i < 16; i++)
        c->in.r[i] = interesting();
    c->in.r[R_R14] = rn(64);
    c->in.r[R_R15] = DATA_VA;
    c->in.r[R_SP] = DATA_VA + 0x3800;
    c->in.fl = 0x202 | (rnd() & ARITH);
    for (unsigned i = 0; i < DATA_LEN; i++)
        c->data[i] = (uint8_t)rnd();
    struct enc e = { c->code, 0 };
    uint32_t undef = 0;
    unsigned n = 1 + rn(3);
    for (unsigned i = 0; i < n && e.n < 60; i++) {
        bool solo = false;
        struct enc t = { c->code + e.n, 0 };
        uint32_t u = gen_insn(&t, &c->in, &solo, lzcnt);
        if (solo && (i > 0 || n > 1)) {
            if (i > 0)
                break;          /* drop it: solo instructions go alone */
            n = 1;
        }
        e.n += t.n;
        undef |= u;
        if (u)
            break;              /* undefined flags must not be consumed */
    }
    c->len = e.n;
    c->flag_mask = (ARITH | F_DF) & ~undef;
}

/* ---- emulator side ------------------------------------------------------ */

static int run_emu(struct tenv *env, struct cpu_x86 *cpu, const struct tcase *c, struct st *out,
                   uint8_t *data, uint8_t *code)
{
    memcpy(code, c->code, c->len);
    code[c->len] = 0x0f;   /* ud2 marks the end */
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
        return cpu->trapped_vector == EXC_DE ? SIGFPE : cpu->trapped_vector == EXC_UD ? SIGILL : SIGSEGV;
    printf("# emulator stopped with reason %d after %llu instructions at %#llx\n", ex.reason,
           (unsigned long long)ex.insns, (unsigned long long)r.rip);
    return -1;
}

static void dump_case(const struct tcase *c)
{
    printf("#   code:");
    for (unsigned i = 0; i < c->len; i++)
        printf(" %02x", c->code[i]);
    printf("\n#   in: fl=%#llx", (unsigned long long)c->in.fl);
    for (unsigned i = 0; i < 16; i++)
        printf(" r%u=%#llx", i, (unsigned long long)c->in.r[i]);
    printf("\n");
}

int main(int argc, char **argv)
{
    unsigned ncases = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 10000;
    rng_s = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
    if (!rng_s) rng_s = 1;

    unsigned a, b, cx, d;
    bool lzcnt = __get_cpuid(0x80000001, &a, &b, &cx, &d) && (cx & (1u << 5));

    struct tcase *cases = calloc(ncases, sizeof(*cases));
    struct nres *res = mmap(NULL, sizeof(*res) * ncases, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!cases || res == MAP_FAILED)
        tap_skip_all("out of memory");
    for (unsigned i = 0; i < ncases; i++)
        gen_case(&cases[i], lzcnt);

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

    unsigned fails = 0, faults = 0;
    for (unsigned i = 0; i < ncases; i++) {
        const struct tcase *c = &cases[i];
        struct st out;
        int sig = run_emu(&env, cpu, c, &out, data, code);
        bool ok = true;
        char why[256] = "";
        if (sig == SIGBUS) sig = SIGSEGV;   /* #SS vs #GP/#PF: same class */
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
            if (ok && ((out.fl ^ res[i].out.fl) & c->flag_mask)) {
                ok = false;
                snprintf(why, sizeof(why), "flags: emu %#llx native %#llx mask %#x",
                         (unsigned long long)out.fl, (unsigned long long)res[i].out.fl, c->flag_mask);
            }
            if (ok && memcmp(data, res[i].data, DATA_LEN)) {
                unsigned o = 0;
                while (data[o] == res[i].data[o]) o++;
                ok = false;
                snprintf(why, sizeof(why), "memory at +%#x: emu %02x native %02x", o, data[o], res[i].data[o]);
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
    tap_ok(fails == 0, "%u differential cases (%u faulting alike), %u mismatches", ncases, faults, fails);
    cpu_x86_destroy(cpu);
    tenv_free(&env);
    free(cases);
    return tap_done();
}
