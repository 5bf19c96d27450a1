/* Translator: a decoded block of 64-bit code, once it has run
 * cpu->jit_threshold times, becomes one host x86-64 function
 *
 *     unsigned fn(struct cpu_x86 *cpu)   -- returns instructions completed
 *
 * that does what the interpreter loop of exec_block (cpu.c) does for the
 * block, with the same state in the same places (guest registers in
 * cpu->r[], lazy flags in cpu->cc_*, RIP in cpu->rip), so the interpreter,
 * the handlers and the translated code can take turns at any instruction
 * boundary.
 *
 *  - Register-only forms of the frequent integer instructions (MOV, ALU,
 *    TEST, LEA, shifts by an immediate, IMUL, MOVZX/MOVSX, CMOVcc, SETcc,
 *    NOT, NOPs) are emitted inline: guest registers are loaded from and
 *    stored to cpu->r[], the operation is the host's own instruction of
 *    the same width, so its host flags are the guest's flags.
 *  - Host flags stay valid until the next host instruction that changes
 *    them; a Jcc/SETcc/CMOVcc/ADC/SBB right after the producer uses them
 *    directly (host_cc says for which condition groups they are exact).
 *  - The lazy flag record (cc_op, cc_a, cc_b, cc_res, cc_size) is stored
 *    as the interpreter would, except when no one can read it: a later
 *    inline instruction in the same block overwrites all flags before any
 *    reader, handler call or the block end (liveness pass).
 *  - Everything else calls the instruction's handler (a direct call from
 *    its own call site) after setting insn_rip/rip exactly as the
 *    interpreter does, then leaves the function if the handler set
 *    cpu->stop. Exceptions longjmp out of the translated code as they do
 *    out of the interpreter loop.
 *  - A block ending in Jcc/JMP rel computes the next RIP inline.
 *
 * Code lives in a per-vCPU RWX buffer dropped with the block cache
 * (block.c), so the decoded-block keys and code-page invalidation cover
 * it: a stale block is never entered, its code is simply left behind. */
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "cpu_int.h"

#define JIT_BUF (32u << 20)
#define JIT_MAX_BLOCK (64u << 10)   /* worst case for a 64-insn block */
#define JIT_BODY 4                  /* push rbx; mov rbx, rdi */

enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSI = 6, RDI = 7 };

/* condition groups (cc >> 1) whose host flag is exact */
#define G(n) (1u << (n))
#define G_ALL 0xffu
#define G_NO_OF (G(1) | G(2) | G(3) | G(4) | G(5))   /* not O, L, LE */

struct jit {
    uint8_t *p, *end;
    bool dry;                /* planning pass: emit nothing */
    bool user;               /* TLB set: translated for CPL 3 */
    const struct cpu_block *b;
    bool overflow;
    unsigned host_cc;        /* G() mask of exact host condition groups */
    uint32_t synced;         /* offset from block start cpu->rip holds */
    const bool *live;        /* flags read later, per instruction */
    bool *reads_cc;          /* planning output: reads the cc record */
    bool *writes_cc;         /* planning output: overwrites all flags */
};

#define OFF(f) ((int32_t)offsetof(struct cpu_x86, f))
#define OFF_R(n) ((int32_t)(offsetof(struct cpu_x86, r) + 8 * (n)))

static void e8(struct jit *j, unsigned b)
{
    if (j->dry)
        return;
    if (j->p < j->end)
        *j->p = (uint8_t)b;
    else
        j->overflow = true;
    j->p++;
}

static void e32(struct jit *j, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        e8(j, (v >> (8 * i)) & 0xff);
}

static void e64(struct jit *j, uint64_t v)
{
    e32(j, (uint32_t)v);
    e32(j, (uint32_t)(v >> 32));
}

static bool fits8(int64_t v) { return v >= -128 && v <= 127; }
static bool fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

/* ModRM for [rbx + disp] with register field `reg` */
static void m_rbx(struct jit *j, unsigned reg, int32_t disp)
{
    if (fits8(disp)) {
        e8(j, 0x40 | (reg & 7) << 3 | RBX);
        e8(j, (uint8_t)disp);
    } else {
        e8(j, 0x80 | (reg & 7) << 3 | RBX);
        e32(j, (uint32_t)disp);
    }
}

/* [REX.W] opcode (one byte, or 0F xx) reg, [rbx + disp] */
static void op_mem(struct jit *j, bool w, unsigned opc, unsigned reg, int32_t disp)
{
    if (w)
        e8(j, 0x48);
    if (opc > 0xff)
        e8(j, opc >> 8);
    e8(j, opc & 0xff);
    m_rbx(j, reg, disp);
}

/* [REX.W] opcode reg, rm (both host registers 0-7) */
static void op_rr(struct jit *j, bool w, unsigned opc, unsigned reg, unsigned rm)
{
    if (w)
        e8(j, 0x48);
    if (opc > 0xff)
        e8(j, opc >> 8);
    e8(j, opc & 0xff);
    e8(j, 0xc0 | (reg & 7) << 3 | (rm & 7));
}

static void ld(struct jit *j, unsigned h, unsigned greg, bool w)
{ op_mem(j, w, 0x8b, h, OFF_R(greg)); }
static void st64(struct jit *j, unsigned h, unsigned greg)
{ op_mem(j, true, 0x89, h, OFF_R(greg)); }
static void st_field64(struct jit *j, unsigned h, int32_t off)
{ op_mem(j, true, 0x89, h, off); }
static void st_imm32(struct jit *j, bool w, int32_t off, uint32_t imm)
{ op_mem(j, w, 0xc7, 0, off); e32(j, imm); }

/* mov h, imm (no flags touched) */
static void mov_imm(struct jit *j, unsigned h, uint64_t v)
{
    if (v <= 0xffffffffu) {
        e8(j, 0xb8 + h);
        e32(j, (uint32_t)v);
    } else if (fits32((int64_t)v)) {
        e8(j, 0x48); e8(j, 0xc7); e8(j, 0xc0 | h);
        e32(j, (uint32_t)v);
    } else {
        e8(j, 0x48); e8(j, 0xb8 + h);
        e64(j, v);
    }
}

/* lea h, [h + d] (no flags touched) */
static void lea_add(struct jit *j, unsigned h, int32_t d)
{
    if (!d)
        return;
    e8(j, 0x48); e8(j, 0x8d);
    if (fits8(d)) {
        e8(j, 0x40 | h << 3 | h); e8(j, (uint8_t)d);
    } else {
        e8(j, 0x80 | h << 3 | h); e32(j, (uint32_t)d);
    }
}

static void call_abs(struct jit *j, const void *fn)
{
    mov_imm(j, RAX, (uint64_t)(uintptr_t)fn);
    e8(j, 0xff); e8(j, 0xd0);          /* call rax */
    j->host_cc = 0;
}

/* Put guest condition `cc` into host flags as "nz if true" or use the host
 * flags directly. Returns the host condition code to test (0-15). */
static unsigned cond(struct jit *j, unsigned cc, unsigned i)
{
    if (j->host_cc & G(cc >> 1))
        return cc;
    j->reads_cc[i] = true;
    op_rr(j, true, 0x89, RBX, RDI);    /* mov rdi, rbx */
    mov_imm(j, RSI, cc);
    call_abs(j, (const void *)cpu_cond);
    e8(j, 0x84); e8(j, 0xc0);          /* test al, al */
    return 0x5;                        /* nz */
}

/* ---- inline forms ---------------------------------------------------------- */

static bool sz48(const struct cpu_insn *in) { return in->opsize == 4 || in->opsize == 8; }

/* ALU on rax (a) and rcx or an immediate (b), as the interpreter's alu():
 * op 0 add 1 or 2 adc 3 sbb 4 and 5 sub 6 xor 7 cmp 8 test; the result goes
 * to the guest register at offset wb of struct cpu_x86 (a byte store for
 * size 1) unless wb < 0 (and never for cmp/test).
 * Returns false for ADC/SBB when the carry-in is not in the host CF. */
static bool alu_core(struct jit *j, unsigned i, unsigned size, unsigned op, bool use_imm,
                     uint64_t imm, int wb)
{
    static const uint8_t kind[9] = { CC_ADD, CC_LOGIC, CC_ADC, CC_SBB, CC_LOGIC, CC_SUB,
                                     CC_LOGIC, CC_SUB, CC_LOGIC };
    bool w = size == 8;
    if ((op == 2 || op == 3) && !(j->host_cc & G(1)))
        return false;                  /* carry-in only known to the handler */
    bool live = j->live[i];
    if (live) {
        st_field64(j, RAX, OFF(cc_a));
        if (op == 2 || op == 3) {
            e8(j, 0x0f); e8(j, 0x92); e8(j, 0xc2);          /* setc dl */
            e8(j, 0x0f); e8(j, 0xb6); e8(j, 0xd2);          /* movzx edx, dl */
            op_mem(j, false, 0x89, RDX, OFF(cc_cf));
        }
    }
    /* cmp/test: compute into rax anyway (the record wants the result) */
    unsigned hop = op == 7 ? 5 : op == 8 ? 4 : op;
    if (use_imm) {
        uint32_t v = (uint32_t)imm;
        if (size == 1) {
            e8(j, 0x80); e8(j, 0xc0 | hop << 3 | RAX); e8(j, v & 0xff);
        } else {
            if (w) e8(j, 0x48);
            if (fits8((int64_t)(int32_t)v)) {
                e8(j, 0x83); e8(j, 0xc0 | hop << 3 | RAX); e8(j, v & 0xff);
            } else {
                e8(j, 0x81); e8(j, 0xc0 | hop << 3 | RAX); e32(j, v);
            }
        }
    } else {
        op_rr(j, w, (size == 1 ? 0x00 : 0x01) + 8 * hop, RCX, RAX);
    }
    if (wb >= 0 && op != 7 && op != 8)
        op_mem(j, size == 8 || size == 4, size == 1 ? 0x88 : 0x89, RAX, wb);
    if (live) {
        st_imm32(j, false, OFF(cc_op), kind[op]);
        st_imm32(j, false, OFF(cc_size), size);
        if (use_imm)
            st_imm32(j, true, OFF(cc_b), (uint32_t)imm);
        else
            st_field64(j, RCX, OFF(cc_b));
        st_field64(j, RAX, OFF(cc_res));
    }
    j->host_cc = G_ALL;
    j->writes_cc[i] = true;            /* ADC/SBB take CF from the host flags */
    return true;
}

/* Offset of an 8-bit guest register (AH..BH without REX). */
static int32_t byte_off(const struct cpu_insn *in, unsigned r)
{
    return (r >= 4 && r < 8 && !in->rex) ? OFF_R(r - 4) + 1 : OFF_R(r);
}

/* 8-bit ALU on guest registers at byte offsets dd (a, result) and ds (b). */
static bool emit_alu8(struct jit *j, unsigned i, unsigned op, int32_t dd, bool use_imm,
                      int32_t ds, uint64_t imm)
{
    if ((op == 2 || op == 3) && !(j->host_cc & G(1)))
        return false;
    op_mem(j, false, 0x0fb6, RAX, dd);                 /* movzx eax, byte [a] */
    if (!use_imm)
        op_mem(j, false, 0x0fb6, RCX, ds);
    return alu_core(j, i, 1, op, use_imm, imm, dd);
}

/* ALU on guest registers: rd op= rs (or imm). */
static bool emit_alu(struct jit *j, unsigned i, const struct cpu_insn *in, unsigned op,
                     unsigned rd, bool use_imm, unsigned rs, uint64_t imm)
{
    bool w = in->opsize == 8;
    if ((op == 2 || op == 3) && !(j->host_cc & G(1)))
        return false;
    ld(j, RAX, rd, w);
    if (!use_imm)
        ld(j, RCX, rs, w);
    return alu_core(j, i, in->opsize, op, use_imm, imm, OFF_R(rd));
}

/* Effective address of a memory operand into rax, without touching host
 * flags (lea). Returns false if the form is not handled. `next` is the
 * offset of the next instruction (RIP-relative). */
static bool emit_ea(struct jit *j, const struct cpu_insn *in, uint32_t next, bool w)
{
    int64_t disp = in->disp;
    bool base = in->base < 16, index = in->index != 0xff, rel = in->base == 0xfe;
    if (rel) {
        if (index)
            return false;
        disp += (int64_t)next - j->synced;
    } else if (in->base != 0xff && !base) {
        return false;
    }
    if (!fits32(disp))
        return false;
    if (rel) {
        op_mem(j, true, 0x8b, RAX, OFF(rip));
        base = true;
    } else if (base) {
        ld(j, RAX, in->base, true);
    }
    if (index)
        ld(j, RCX, in->index, true);
    if (!base && !index) {
        mov_imm(j, RAX, w ? (uint64_t)disp : (uint32_t)disp);
        return true;
    }
    if (w) e8(j, 0x48);
    e8(j, 0x8d);
    if (base && index) {
        e8(j, 0x84);                               /* mod 10, rm 100: SIB + disp32 */
        e8(j, (in->scale << 6) | RCX << 3 | RAX);
    } else if (index) {
        e8(j, 0x04);                               /* mod 00, SIB, no base: disp32 */
        e8(j, (in->scale << 6) | RCX << 3 | 5);
    } else {
        e8(j, 0x80);                               /* [rax + disp32] */
    }
    e32(j, (uint32_t)disp);
    return true;
}

/* ---- memory forms ------------------------------------------------------------ */

static uint8_t *jcc32(struct jit *j, unsigned cc)
{
    e8(j, 0x0f); e8(j, 0x80 + cc);
    uint8_t *p = j->p;
    e32(j, 0);
    return p;
}

static uint8_t *jmp32(struct jit *j)
{
    e8(j, 0xe9);
    uint8_t *p = j->p;
    e32(j, 0);
    return p;
}

/* point the rel32 at `patch` to the current position */
static void bind(struct jit *j, uint8_t *patch)
{
    if (j->dry || j->overflow || !patch)
        return;
    uint32_t rel = (uint32_t)(j->p - (patch + 4));
    for (unsigned k = 0; k < 4; k++)
        patch[k] = (uint8_t)(rel >> (8 * k));
}

/* Soft-TLB fast path for a `size`-byte access at the linear address in
 * rax, as cpu_lin_read/cpu_lin_write: the entry of the privilege class the
 * block was translated for must carry the tag of the page of the access's
 * last byte (so a page-crossing access misses). A non-canonical address
 * never matches a tag. On a hit rcx = host address; rdx and the host flags
 * are clobbered. Returns the rel32 to bind to the miss path. */
static uint8_t *emit_tlb(struct jit *j, unsigned size, bool write)
{
    int32_t base = OFF(tlb) + (j->user ? (int32_t)sizeof(((struct cpu_x86 *)0)->tlb[0]) : 0);
    op_rr(j, true, 0x89, RAX, RDX);                      /* mov rdx, rax */
    e8(j, 0x48); e8(j, 0xc1); e8(j, 0xea); e8(j, 12);    /* shr rdx, 12 */
    e8(j, 0x81); e8(j, 0xe2); e32(j, TLB_SIZE - 1);      /* and edx, TLB_SIZE-1 */
    e8(j, 0xc1); e8(j, 0xe2); e8(j, 5);                  /* shl edx, 5 */
    if (size > 1) {
        e8(j, 0x48); e8(j, 0x8d); e8(j, 0x48); e8(j, size - 1);   /* lea rcx, [rax+size-1] */
    } else {
        op_rr(j, true, 0x89, RAX, RCX);                  /* mov rcx, rax */
    }
    e8(j, 0x48); e8(j, 0x81); e8(j, 0xe1); e32(j, 0xfffff000u);   /* and rcx, ~0xfff */
    op_mem(j, true, 0x0b, RCX, OFF(tlb_epoch));          /* or rcx, [epoch] */
    e8(j, 0x48); e8(j, 0x3b); e8(j, 0x8c); e8(j, 0x13);  /* cmp rcx, [rbx+rdx+tag] */
    e32(j, (uint32_t)(base + (write ? 8 : 0)));
    uint8_t *miss = jcc32(j, 0x5);
    e8(j, 0x48); e8(j, 0x8b); e8(j, 0x8c); e8(j, 0x13);  /* mov rcx, [rbx+rdx+host] */
    e32(j, (uint32_t)(base + 24));
    e8(j, 0x25); e32(j, 0xfff);                          /* and eax, 0xfff */
    op_rr(j, true, 0x01, RAX, RCX);                      /* add rcx, rax */
    j->host_cc = 0;
    return miss;
}

static void call_handler(struct jit *j, const struct cpu_insn *in)
{
    op_rr(j, true, 0x89, RBX, RDI);                      /* mov rdi, rbx */
    mov_imm(j, RSI, (uint64_t)(uintptr_t)in);
    call_abs(j, (const void *)in->fn);
}

static void sync_rip(struct jit *j, uint32_t off, unsigned len);
static void ret_n(struct jit *j, unsigned n);
static void rip_add(struct jit *j, int64_t d);
static void stop_check(struct jit *j, unsigned n);
static void exit_static(struct jit *j, unsigned k, int64_t delta, unsigned n, int64_t target);
static void chain(struct jit *j, unsigned k, unsigned n, bool same_page);

enum { M_LOAD = 1, M_MOVX, M_STORE, M_STORE8, M_STORE_IMM, M_ALU_RM, M_ALU_MR, M_ALU_MI,
       M_PUSH, M_POP, M_CALL, M_RET, M_LOAD8, M_MOVSXD, M_RMW };

/* Memory forms with a soft-TLB fast path inline and the instruction's own
 * handler as the miss path (nothing is committed before the access, so
 * the handler redoes the whole instruction, faults included). Returns 0
 * if the form is not handled (nothing emitted), 1 if emitted, 2 if it
 * also ended the translated function (CALL, RET). */
static int emit_mem(struct jit *j, unsigned i, const struct cpu_insn *in, uint32_t off, bool last)
{
    if (in->lock || in->fn == op_ud || in->fn == op_gp0 || in->map > 1)
        return 0;
    unsigned op = in->op & 0xff, kind = 0, size = in->opsize, aop = 0;
    bool w = in->opsize == 8, modrm_mem = in->has_modrm && in->mod != 3;
    bool s48 = sz48(in);

    if (in->map == 1) {
        if ((op == 0xb6 || op == 0xb7 || op == 0xbe || op == 0xbf) && modrm_mem && s48) {
            kind = M_MOVX;
            size = (op & 1) ? 2 : 1;
        }
    } else {
        switch (op) {
        case 0x8b: if (modrm_mem && s48) kind = M_LOAD; break;
        case 0x8a: if (modrm_mem) kind = M_LOAD8; break;
        case 0x63: if (modrm_mem && w && in->fn == op_arpl) { kind = M_MOVSXD; size = 4; } break;
        case 0x01: case 0x09: case 0x21: case 0x29: case 0x31:
            if (modrm_mem && s48) { kind = M_RMW; aop = op >> 3; }
            break;
        case 0x00: case 0x08: case 0x20: case 0x28: case 0x30:
            if (modrm_mem) { kind = M_RMW; aop = op >> 3; }
            break;
        case 0x89: if (modrm_mem && s48) kind = M_STORE; break;
        case 0x88: if (modrm_mem) kind = M_STORE8; break;
        case 0xc7: if (modrm_mem && s48 && !(in->reg & 7)) kind = M_STORE_IMM; break;
        case 0xc6: if (modrm_mem && !(in->reg & 7)) kind = M_STORE_IMM; break;
        case 0x03: case 0x0b: case 0x23: case 0x2b: case 0x33: case 0x3b:
            if (modrm_mem && s48) { kind = M_ALU_RM; aop = op >> 3; }
            break;
        case 0x39: case 0x85:
            if (modrm_mem && s48) { kind = M_ALU_MR; aop = op == 0x39 ? 7 : 8; }
            break;
        case 0x81: case 0x83: case 0x80:
            if (!modrm_mem || (op != 0x80 && !s48))
                break;
            aop = in->reg & 7;
            if (aop == 7)
                kind = M_ALU_MI;
            else if (aop != 2 && aop != 3)
                kind = M_RMW;
            break;
        case 0xf6: case 0xf7:
            if (modrm_mem && (in->reg & 7) < 2 && (op == 0xf6 || s48)) { kind = M_ALU_MI; aop = 8; }
            break;
        case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
            if (w) kind = M_PUSH;
            break;
        case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
            if (w && in->rm != R_SP) kind = M_POP;
            break;
        case 0xe8: if (w && last) kind = M_CALL; break;
        case 0xc3: if (w && last) kind = M_RET; break;
        default: break;
        }
    }
    if (!kind)
        return 0;
    if (modrm_mem && (in->seg == S_FS || in->seg == S_GS))
        return 0;
    bool write = kind == M_STORE || kind == M_STORE8 || kind == M_STORE_IMM ||
                 kind == M_PUSH || kind == M_CALL || kind == M_RMW;
    if (kind == M_STORE8 || kind == M_LOAD8 || kind == M_PUSH || kind == M_POP ||
        kind == M_CALL || kind == M_RET)
        size = (kind == M_STORE8 || kind == M_LOAD8) ? 1 : 8;

    /* linear address into rax */
    if (kind == M_PUSH || kind == M_CALL) {
        ld(j, RAX, R_SP, true);
        lea_add(j, RAX, -8);
    } else if (kind == M_POP || kind == M_RET) {
        ld(j, RAX, R_SP, true);
    } else if (!emit_ea(j, in, off + in->len, in->adsize == 8)) {
        return 0;
    }
    j->reads_cc[i] = true;             /* may fault: earlier flags must be stored */
    uint8_t *miss = emit_tlb(j, size, write);
    bool ends = false, flags_out = false;
    switch (kind) {
    case M_LOAD:
        if (w) e8(j, 0x48);
        e8(j, 0x8b); e8(j, 0x01);                        /* mov eax/rax, [rcx] */
        st64(j, RAX, in->reg);
        break;
    case M_LOAD8:
        e8(j, 0x8a); e8(j, 0x01);                        /* mov al, [rcx] */
        op_mem(j, false, 0x88, RAX, byte_off(in, in->reg));
        break;
    case M_MOVSXD:
        e8(j, 0x48); e8(j, 0x63); e8(j, 0x01);           /* movsxd rax, [rcx] */
        st64(j, RAX, in->reg);
        break;
    case M_RMW:
        op_rr(j, true, 0x89, RCX, RSI);                  /* mov rsi, rcx */
        if (size == 1) {
            e8(j, 0x0f); e8(j, 0xb6); e8(j, 0x06);       /* movzx eax, byte [rsi] */
        } else {
            if (w) e8(j, 0x48);
            e8(j, 0x8b); e8(j, 0x06);                    /* mov eax/rax, [rsi] */
        }
        if (op < 0x80) {
            if (size == 1)
                op_mem(j, false, 0x0fb6, RCX, byte_off(in, in->reg));
            else
                ld(j, RCX, in->reg, w);
            alu_core(j, i, size, aop, false, 0, -1);
        } else {
            alu_core(j, i, size, aop, true, in->imm, -1);
        }
        if (w) e8(j, 0x48);
        e8(j, size == 1 ? 0x88 : 0x89); e8(j, 0x06);     /* mov [rsi], al/eax/rax */
        flags_out = true;
        break;
    case M_MOVX:
        if (w && op >= 0xbe) e8(j, 0x48);
        e8(j, 0x0f); e8(j, op); e8(j, 0x01);             /* movzx/movsx eax/rax, [rcx] */
        st64(j, RAX, in->reg);
        break;
    case M_STORE:
        ld(j, RDX, in->reg, w);
        if (w) e8(j, 0x48);
        e8(j, 0x89); e8(j, 0x11);                        /* mov [rcx], edx/rdx */
        break;
    case M_STORE8: {
        int32_t d = (in->reg >= 4 && in->reg < 8 && !in->rex) ? OFF_R(in->reg - 4) + 1
                                                              : OFF_R(in->reg);
        op_mem(j, false, 0x8a, RDX, d);                  /* mov dl, [reg] */
        e8(j, 0x88); e8(j, 0x11);                        /* mov [rcx], dl */
        break;
    }
    case M_STORE_IMM:
        if (size == 1) {
            e8(j, 0xc6); e8(j, 0x01); e8(j, in->imm & 0xff);
        } else {
            if (w) e8(j, 0x48);
            e8(j, 0xc7); e8(j, 0x01); e32(j, (uint32_t)in->imm);
        }
        break;
    case M_ALU_RM:
        if (w) e8(j, 0x48);
        e8(j, 0x8b); e8(j, 0x09);                        /* mov ecx/rcx, [rcx] */
        ld(j, RAX, in->reg, w);
        alu_core(j, i, size, aop, false, 0, OFF_R(in->reg));
        flags_out = true;
        break;
    case M_ALU_MR:
        if (w) e8(j, 0x48);
        e8(j, 0x8b); e8(j, 0x01);                        /* mov eax/rax, [rcx] */
        ld(j, RCX, in->reg, w);
        alu_core(j, i, size, aop, false, 0, -1);
        flags_out = true;
        break;
    case M_ALU_MI:
        if (size == 1) {
            e8(j, 0x0f); e8(j, 0xb6); e8(j, 0x01);       /* movzx eax, byte [rcx] */
        } else {
            if (w) e8(j, 0x48);
            e8(j, 0x8b); e8(j, 0x01);
        }
        alu_core(j, i, size, aop, true, in->imm, -1);
        flags_out = true;
        break;
    case M_PUSH:
        ld(j, RDX, in->rm, true);
        e8(j, 0x48); e8(j, 0x89); e8(j, 0x11);           /* mov [rcx], rdx */
        op_mem(j, true, 0x83, 5, OFF_R(R_SP)); e8(j, 8); /* sub qword [rsp], 8 */
        break;
    case M_POP:
        e8(j, 0x48); e8(j, 0x8b); e8(j, 0x01);           /* mov rax, [rcx] */
        op_mem(j, true, 0x83, 0, OFF_R(R_SP)); e8(j, 8); /* add qword [rsp], 8 */
        st64(j, RAX, in->rm);
        break;
    case M_CALL: {
        int64_t ret = (int64_t)(off + in->len) - j->synced;
        op_mem(j, true, 0x8b, RDX, OFF(rip));
        lea_add(j, RDX, (int32_t)ret);
        e8(j, 0x48); e8(j, 0x89); e8(j, 0x11);           /* mov [rcx], rdx */
        op_mem(j, true, 0x83, 5, OFF_R(R_SP)); e8(j, 8);
        exit_static(j, 0, ret + (int64_t)in->imm, i + 1, (int64_t)(off + in->len) + (int64_t)in->imm);
        ends = true;
        break;
    }
    case M_RET:
        e8(j, 0x48); e8(j, 0x8b); e8(j, 0x01);           /* mov rax, [rcx] */
        op_mem(j, true, 0x83, 0, OFF_R(R_SP)); e8(j, 8);
        st_field64(j, RAX, OFF(rip));
        chain(j, 0, i + 1, false);     /* slot 0 remembers the last return target */
        ends = true;
        break;
    }
    unsigned host_cc = j->host_cc;
    uint8_t *done = ends ? NULL : jmp32(j);
    /* miss: the handler does the whole instruction */
    bind(j, miss);
    uint32_t old = j->synced;
    sync_rip(j, off, in->len);
    call_handler(j, in);
    if (ends) {
        ret_n(j, i + 1);
        return 2;
    }
    stop_check(j, i + 1);
    rip_add(j, (int64_t)old - (int64_t)j->synced);
    j->synced = old;
    if (flags_out) {
        /* host flags = the guest's, as on the fast path */
        op_rr(j, true, 0x89, RBX, RDI);
        call_abs(j, (const void *)cpu_arith_flags);
        e8(j, 0x83); e8(j, 0xc8); e8(j, 0x02);           /* or eax, 2 */
        e8(j, 0x50); e8(j, 0x9d);                        /* push rax; popfq */
    }
    bind(j, done);
    j->host_cc = host_cc;
    return 1;
}

static bool emit_inline(struct jit *j, unsigned i, const struct cpu_insn *in, uint32_t off)
{
    if (in->lock || in->fn == op_ud || in->fn == op_gp0 || in->map > 1)
        return false;
    bool w = in->opsize == 8, reg = in->mod == 3;
    unsigned op = in->op & 0xff;

    if (in->map == 1) {
        if (op >= 0x40 && op <= 0x4f && reg && sz48(in)) {            /* CMOVcc r, r */
            unsigned hc = cond(j, op & 15, i);
            ld(j, RAX, in->reg, w);
            ld(j, RCX, in->rm, w);
            op_rr(j, w, 0x0f40 + hc, RAX, RCX);
            st64(j, RAX, in->reg);
            return true;
        }
        if (op >= 0x90 && op <= 0x9f && reg) {                        /* SETcc r8 */
            unsigned hc = cond(j, op & 15, i);
            e8(j, 0x0f); e8(j, 0x90 + hc); e8(j, 0xc2);               /* setcc dl */
            int32_t d = (in->rm >= 4 && in->rm < 8 && !in->rex) ? OFF_R(in->rm - 4) + 1
                                                                  : OFF_R(in->rm);
            op_mem(j, false, 0x88, RDX, d);
            return true;
        }
        if ((op == 0xb6 || op == 0xb7 || op == 0xbe || op == 0xbf) && reg && sz48(in)) {
            int32_t d = OFF_R(in->rm);
            if (!(op & 1) && in->rm >= 4 && in->rm < 8 && !in->rex)
                d = OFF_R(in->rm - 4) + 1;                            /* AH..BH */
            op_mem(j, w && op >= 0xbe, 0x0f00 | op, RAX, d);
            st64(j, RAX, in->reg);
            return true;
        }
        if (op == 0xaf && reg && sz48(in)) {                          /* IMUL r, r */
            ld(j, RAX, in->reg, w);
            ld(j, RCX, in->rm, w);
            op_rr(j, w, 0x0faf, RAX, RCX);
            goto mul_flags;
        }
        if (op == 0x1f && in->fn == op_nop)
            return true;
        return false;
    }

    switch (op) {
    case 0x00: case 0x08: case 0x10: case 0x18: case 0x20: case 0x28: case 0x30: case 0x38:
        if (!reg)
            return false;
        return emit_alu8(j, i, op >> 3, byte_off(in, in->rm), false, byte_off(in, in->reg), 0);
    case 0x02: case 0x0a: case 0x12: case 0x1a: case 0x22: case 0x2a: case 0x32: case 0x3a:
        if (!reg)
            return false;
        return emit_alu8(j, i, op >> 3, byte_off(in, in->reg), false, byte_off(in, in->rm), 0);
    case 0x04: case 0x0c: case 0x14: case 0x1c: case 0x24: case 0x2c: case 0x34: case 0x3c:
        return emit_alu8(j, i, op >> 3, OFF_R(R_AX), true, 0, in->imm);
    case 0x80:
        if (!reg)
            return false;
        return emit_alu8(j, i, in->reg & 7, byte_off(in, in->rm), true, 0, in->imm);
    case 0x84:
        if (!reg)
            return false;
        return emit_alu8(j, i, 8, byte_off(in, in->rm), false, byte_off(in, in->reg), 0);
    case 0xa8:
        return emit_alu8(j, i, 8, OFF_R(R_AX), true, 0, in->imm);
    case 0xf6:
        if (!reg || (in->reg & 7) > 1)
            return false;
        return emit_alu8(j, i, 8, byte_off(in, in->rm), true, 0, in->imm);
    case 0x88: case 0x8a:
        if (!reg)
            return false;
        op_mem(j, false, 0x8a, RAX, byte_off(in, op == 0x88 ? in->reg : in->rm));
        op_mem(j, false, 0x88, RAX, byte_off(in, op == 0x88 ? in->rm : in->reg));
        return true;
    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
        op_mem(j, false, 0xc6, 0, byte_off(in, in->rm));
        e8(j, in->imm & 0xff);
        return true;
    case 0x63:                                                        /* MOVSXD r64, r32 */
        if (!reg || in->opsize != 8 || in->fn != op_arpl)
            return false;
        op_mem(j, true, 0x63, RAX, OFF_R(in->rm));
        st64(j, RAX, in->reg);
        return true;
    case 0xff: {                                                      /* INC/DEC r */
        unsigned r = in->reg & 7;
        if (!reg || !sz48(in) || r > 1)
            return false;
        bool live = j->live[i], hostcf = j->host_cc & G(1);
        if (live) {
            if (hostcf) {
                e8(j, 0x0f); e8(j, 0x92); e8(j, 0xc0);               /* setc al */
            } else {
                j->reads_cc[i] = true;
                op_rr(j, true, 0x89, RBX, RDI);
                call_abs(j, (const void *)cpu_arith_flags);
            }
            e8(j, 0x83); e8(j, 0xe0); e8(j, 1);                      /* and eax, 1 */
            op_mem(j, false, 0x89, RAX, OFF(cc_cf));
        }
        ld(j, RAX, in->rm, w);
        if (live)
            st_field64(j, RAX, OFF(cc_a));
        op_rr(j, w, 0xff, r, RAX);                                    /* inc/dec rax */
        st64(j, RAX, in->rm);
        if (live) {
            st_imm32(j, false, OFF(cc_op), r ? CC_DEC : CC_INC);
            st_imm32(j, false, OFF(cc_size), in->opsize);
            st_imm32(j, true, OFF(cc_b), 1);
            st_field64(j, RAX, OFF(cc_res));
        }
        j->host_cc = G_ALL & ~(G(1) | G(3));   /* not CF (kept from before, or not) */
        j->writes_cc[i] = true;
        return true;
    }
    case 0x01: case 0x09: case 0x11: case 0x19: case 0x21: case 0x29: case 0x31: case 0x39:
        if (!reg || !sz48(in))
            return false;
        return emit_alu(j, i, in, op >> 3, in->rm, false, in->reg, 0);
    case 0x03: case 0x0b: case 0x13: case 0x1b: case 0x23: case 0x2b: case 0x33: case 0x3b:
        if (!reg || !sz48(in))
            return false;
        return emit_alu(j, i, in, op >> 3, in->reg, false, in->rm, 0);
    case 0x05: case 0x0d: case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d:
        if (!sz48(in))
            return false;
        return emit_alu(j, i, in, op >> 3, R_AX, true, 0, in->imm);
    case 0x81: case 0x83:
        if (!reg || !sz48(in))
            return false;
        return emit_alu(j, i, in, in->reg & 7, in->rm, true, 0, in->imm);
    case 0x85:
        if (!reg || !sz48(in))
            return false;
        return emit_alu(j, i, in, 8, in->rm, false, in->reg, 0);
    case 0xa9:
        if (!sz48(in))
            return false;
        return emit_alu(j, i, in, 8, R_AX, true, 0, in->imm);
    case 0xf7:
        if (!reg || !sz48(in))
            return false;
        if ((in->reg & 7) < 2)
            return emit_alu(j, i, in, 8, in->rm, true, 0, in->imm);
        if ((in->reg & 7) == 2) {                                     /* NOT */
            ld(j, RAX, in->rm, w);
            op_rr(j, w, 0xf7, 2, RAX);
            st64(j, RAX, in->rm);
            return true;
        }
        return false;
    case 0x89: case 0x8b:
        if (!reg || !sz48(in))
            return false;
        ld(j, RAX, op == 0x89 ? in->reg : in->rm, w);
        st64(j, RAX, op == 0x89 ? in->rm : in->reg);
        return true;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
        if (!sz48(in))
            return false;
        mov_imm(j, RAX, w ? in->imm : (uint32_t)in->imm);
        st64(j, RAX, in->rm);
        return true;
    case 0xc7:
        if (!reg || !sz48(in) || (in->reg & 7))
            return false;
        mov_imm(j, RAX, w ? in->imm : (uint32_t)in->imm);
        st64(j, RAX, in->rm);
        return true;
    case 0x8d:                                                        /* LEA */
        if (reg || !sz48(in))
            return false;
        if (!emit_ea(j, in, off + in->len, w && in->adsize == 8))
            return false;
        st64(j, RAX, in->reg);
        return true;
    case 0xc1: case 0xd1: {                                           /* SHL/SHR/SAR imm */
        unsigned sop = in->reg & 7;
        if (!reg || !sz48(in) || (sop != 4 && sop != 5 && sop != 7))
            return false;
        unsigned count = (op == 0xd1 ? 1u : (unsigned)in->imm) & (w ? 63 : 31);
        ld(j, RAX, in->rm, w);
        if (!count) {                  /* no flags change; 32-bit still zero-extends */
            st64(j, RAX, in->rm);
            return true;
        }
        bool live = j->live[i];
        if (live)
            st_field64(j, RAX, OFF(cc_a));
        if (w) e8(j, 0x48);
        e8(j, 0xc1); e8(j, 0xc0 | sop << 3 | RAX); e8(j, count);
        st64(j, RAX, in->rm);
        if (live) {
            st_imm32(j, false, OFF(cc_op), sop == 4 ? CC_SHL : sop == 5 ? CC_SHR : CC_SAR);
            st_imm32(j, false, OFF(cc_size), in->opsize);
            st_imm32(j, true, OFF(cc_b), count);
            st_field64(j, RAX, OFF(cc_res));
        }
        /* OF is only defined (and only ours) for a count of 1 */
        j->host_cc = count == 1 ? G_ALL : G_NO_OF;
        j->writes_cc[i] = true;
        return true;
    }
    case 0x69: case 0x6b:                                             /* IMUL r, r, imm */
        if (!reg || !sz48(in))
            return false;
        ld(j, RCX, in->rm, w);
        op_rr(j, w, op, RAX, RCX);
        if (op == 0x6b) e8(j, in->imm & 0xff); else e32(j, (uint32_t)in->imm);
        goto mul_flags;
    case 0x90:
        if (in->fn == op_xchg_acc && in->rm == 0 && !in->rep && in->opsize != 8)
            return true;               /* NOP */
        return false;
    default:
        return false;
    }

mul_flags:
    st64(j, RAX, in->reg);
    if (j->live[i]) {
        e8(j, 0x0f); e8(j, 0x90); e8(j, 0xc2);                       /* seto dl */
        e8(j, 0x0f); e8(j, 0xb6); e8(j, 0xd2);                       /* movzx edx, dl */
        st_field64(j, RDX, OFF(cc_a));
        st_imm32(j, false, OFF(cc_op), CC_MUL);
        st_imm32(j, false, OFF(cc_size), in->opsize);
        st_field64(j, RAX, OFF(cc_res));
    }
    j->host_cc = G(0) | G(1);          /* OF, CF; SF/ZF/PF come from the record */
    j->writes_cc[i] = true;
    return true;
}

/* insn_rip = start + off, rip = start + off + len (no flags touched) */
static void sync_rip(struct jit *j, uint32_t off, unsigned len)
{
    op_mem(j, true, 0x8b, RAX, OFF(rip));
    lea_add(j, RAX, (int32_t)(off - j->synced));
    st_field64(j, RAX, OFF(insn_rip));
    lea_add(j, RAX, (int32_t)len);
    st_field64(j, RAX, OFF(rip));
    j->synced = off + len;
}

/* Leave the translated code: cpu->jit_last = this block, cpu->jit_exit =
 * the static exit taken (a link slot, -1: none), return n. */
static void ret_exit(struct jit *j, unsigned n, int k)
{
    mov_imm(j, RAX, (uint64_t)(uintptr_t)j->b);
    st_field64(j, RAX, OFF(jit_last));
    st_imm32(j, false, OFF(jit_exit), (uint32_t)k);
    mov_imm(j, RAX, n);
    e8(j, 0x5b);                       /* pop rbx */
    e8(j, 0xc3);
}

static void ret_n(struct jit *j, unsigned n)
{
    ret_exit(j, n, -1);
}

static uint8_t *jcc8(struct jit *j, unsigned cc)
{
    e8(j, 0x70 + cc);
    uint8_t *p = j->p;
    e8(j, 0);
    return p;
}

static void bind8(struct jit *j, uint8_t *patch)
{
    if (j->dry || j->overflow || !patch)
        return;
    *patch = (uint8_t)(j->p - (patch + 1));
}

/* cmp dword [stop], -1; jne -> leave with n completed */
static void stop_check(struct jit *j, unsigned n)
{
    op_mem(j, false, 0x83, 7, OFF(stop));
    e8(j, 0xff);
    uint8_t *ok = jcc8(j, 0x4);        /* je */
    ret_n(j, n);
    bind8(j, ok);
}

/* Chain through link slot k if it is valid for where RIP now points:
 * the slot holds the successor's code while cpu->jit_link_gen is the one
 * it was made under (bumped on any code-page write). `same_page`: the
 * target is in this block's linear page, whose mapping the run loop
 * checked; otherwise the slot's linear address must be RIP and the soft
 * TLB must still map it, executable for this privilege class, to the RAM
 * page the successor was decoded from (the jump cache's test in cpu.c).
 * cpu->jit_chain_left bounds a run of chained blocks so the run loop gets
 * to look at interrupts and the budget. The instructions of a block left
 * through a link are retired here. */
static void chain(struct jit *j, unsigned k, unsigned n, bool same_page)
{
    mov_imm(j, RCX, (uint64_t)(uintptr_t)&j->b->link[k]);
    e8(j, 0x48); e8(j, 0x8b); e8(j, 0x01);               /* mov rax, [rcx] */
    e8(j, 0x48); e8(j, 0x85); e8(j, 0xc0);               /* test rax, rax */
    uint8_t *p[6] = { jcc8(j, 0x4) };
    e8(j, 0x8b); e8(j, 0x51); e8(j, 8);                  /* mov edx, [rcx+8] */
    op_mem(j, false, 0x3b, RDX, OFF(jit_link_gen));      /* cmp edx, [gen] */
    p[1] = jcc8(j, 0x5);
    if (!same_page) {
        op_mem(j, true, 0x8b, RDX, OFF(rip));            /* mov rdx, [rip] */
        e8(j, 0x48); e8(j, 0x3b); e8(j, 0x51); e8(j, 16); /* cmp rdx, [rcx+16] */
        p[2] = jcc8(j, 0x5);
        e8(j, 0x48); e8(j, 0x8b); e8(j, 0x71); e8(j, 24); /* mov rsi, [rcx+24] */
        e8(j, 0x48); e8(j, 0x81); e8(j, 0xe2); e32(j, 0xfffff000u);   /* and rdx, ~0xfff */
        st_field64(j, RDX, OFF(jit_page));               /* (cpu.c: page now running) */
        op_mem(j, true, 0x0b, RDX, OFF(tlb_epoch));      /* or rdx, [epoch] */
        e8(j, 0x48); e8(j, 0x3b); e8(j, 0x56); e8(j, 16); /* cmp rdx, [rsi+16] (tag_x) */
        p[3] = jcc8(j, 0x5);
        e8(j, 0x48); e8(j, 0x8b); e8(j, 0x56); e8(j, 24); /* mov rdx, [rsi+24] (host) */
        e8(j, 0x48); e8(j, 0x3b); e8(j, 0x51); e8(j, 32); /* cmp rdx, [rcx+32] */
        p[4] = jcc8(j, 0x5);
    }
    op_mem(j, false, 0x83, 5, OFF(jit_chain_left)); e8(j, 1);   /* sub dword, 1 */
    p[5] = jcc8(j, 0xe);                                 /* jle */
    op_mem(j, true, 0x83, 0, OFF(retired)); e8(j, n);   /* add qword, n */
    e8(j, 0xff); e8(j, 0xe0);                            /* jmp rax */
    for (unsigned q = 0; q < 6; q++)
        bind8(j, p[q]);
    ret_exit(j, n, (int)k);
}

/* A block exit to a static target, `target` bytes from the block start,
 * after moving RIP by `delta`. */
static void exit_static(struct jit *j, unsigned k, int64_t delta, unsigned n, int64_t target)
{
    rip_add(j, delta);
    int64_t t = (int64_t)(j->b->lin & 0xfff) + target;
    chain(j, k, n, t >= 0 && t < 4096);
}

/* add qword [rbx+rip], d */
static void rip_add(struct jit *j, int64_t d)
{
    if (!d)
        return;
    op_mem(j, true, 0x81, 0, OFF(rip));
    e32(j, (uint32_t)(int32_t)d);
}

static void emit_block(struct jit *j, const struct cpu_block *b)
{
    uint32_t off = 0;
    j->host_cc = 0;
    j->synced = 0;
    j->b = b;
    e8(j, 0x53);                                       /* push rbx */
    op_rr(j, true, 0x89, RDI, RBX);                    /* mov rbx, rdi */
    /* JIT_BODY bytes so far: chained blocks enter here */
    for (unsigned i = 0; i < b->ninsns; i++) {
        const struct cpu_insn *in = &b->insns[i];
        bool last = i + 1 == b->ninsns;
        unsigned op = in->op & 0xff;
        j->reads_cc[i] = false;
        j->writes_cc[i] = false;
        if (last && !in->lock && in->fn != op_ud && in->fn != op_gp0 && in->opsize == 8 &&
            ((in->map == 0 && ((op >= 0x70 && op <= 0x7f) || op == 0xe9 || op == 0xeb)) ||
             (in->map == 1 && op >= 0x80 && op <= 0x8f))) {
            int64_t end = (int64_t)(off + in->len) - j->synced;
            int64_t tgt = (int64_t)(off + in->len) + (int64_t)in->imm;
            if (!fits32(end + (int64_t)in->imm) || !fits32(end))
                goto call;
            if (op == 0xe9 || op == 0xeb) {
                exit_static(j, 0, end + (int64_t)in->imm, i + 1, tgt);
                return;
            }
            unsigned hc = cond(j, op & 15, i);
            uint8_t *nt = jcc32(j, hc ^ 1);            /* j(!cc) over the taken path */
            exit_static(j, 0, end + (int64_t)in->imm, i + 1, tgt);
            bind(j, nt);
            exit_static(j, 1, end, i + 1, (int64_t)(off + in->len));
            return;
        }
        if (emit_inline(j, i, in, off)) {
            off += in->len;
            continue;
        }
        int m = emit_mem(j, i, in, off, last);
        if (m == 2)
            return;
        if (m == 1) {
            off += in->len;
            continue;
        }
    call:
        j->reads_cc[i] = true;
        sync_rip(j, off, in->len);
        call_handler(j, in);
        if (last) {
            ret_n(j, i + 1);
            return;
        }
        stop_check(j, i + 1);
        off += in->len;
    }
    exit_static(j, 1, (int64_t)off - j->synced, b->ninsns, off);
}

void cpu_jit_compile(struct cpu_x86 *cpu, struct cpu_block *b)
{
    bool live[BLOCK_MAX_INSNS], reads[BLOCK_MAX_INSNS], writes[BLOCK_MAX_INSNS];

    if (!cpu->jit_buf || cpu->jit_full)
        return;
    if (cpu->jit_size - cpu->jit_used < JIT_MAX_BLOCK) {
        cpu->jit_full = true;          /* block.c drops the cache at its next fill */
        return;
    }
    /* planning pass: which instructions read or overwrite the flags */
    for (unsigned i = 0; i < b->ninsns; i++)
        live[i] = true;
    bool user = cpu->cpl == 3;
    struct jit j = { .p = NULL, .end = NULL, .dry = true, .user = user, .live = live, .reads_cc = reads,
                     .writes_cc = writes };
    emit_block(&j, b);
    /* an instruction's record is needed if a reader (or the block end)
     * comes before the next full writer */
    bool need = true;
    for (unsigned i = b->ninsns; i-- > 0;) {
        live[i] = need;
        if (reads[i])
            need = true;
        else if (writes[i])
            need = false;
    }
    uint8_t *start = cpu->jit_buf + cpu->jit_used;
    j = (struct jit){ .p = start, .end = cpu->jit_buf + cpu->jit_size, .live = live, .user = user,
                      .reads_cc = reads, .writes_cc = writes };
    emit_block(&j, b);
    if (j.overflow)
        return;
    cpu->jit_used = (size_t)(j.p - cpu->jit_buf + 15) & ~(size_t)15;
    b->jit = (cpu_jit_fn)(void *)start;
    b->jit_body = start + JIT_BODY;
    b->jit_user = user;
    cpu->st.translated++;
}

int cpu_jit_init(struct cpu_x86 *cpu)
{
    const char *t = getenv("VIRTKIT_CPU_JIT");   /* 0: off, N: translate after N runs */
    cpu->jit_threshold = t ? (uint32_t)strtoul(t, NULL, 0) : 16;
    if (cpu->trace >= 2)
        cpu->jit_threshold = 0;   /* block traces want every block */
    t = getenv("VIRTKIT_CPU_JIT_LINKS");   /* debugging: 0 none, 1 in-page, 3 all */
    cpu->jit_links = t ? (uint8_t)strtoul(t, NULL, 0) : 1;
    if (!cpu->jit_threshold || cpu_fast_disable)
        return 0;
    void *p = mmap(NULL, JIT_BUF, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        cpu->jit_threshold = 0;        /* W^X host: interpret only */
        return 0;
    }
    cpu->jit_buf = p;
    cpu->jit_size = JIT_BUF;
    cpu->jit_used = 0;
    return 0;
}

void cpu_jit_free(struct cpu_x86 *cpu)
{
    if (cpu->jit_buf)
        munmap(cpu->jit_buf, cpu->jit_size);
    cpu->jit_buf = NULL;
}
