/* Internal interface of the software CPU, shared by the instruction-family
 * files (alu.c, mov.c, ..., and cpu-platform's x87.c / sse*.c).
 *
 * Execution model
 *  - The decoder (decode.c) turns guest bytes into `struct cpu_insn` records,
 *    grouped in basic blocks cached by guest-physical address (block.c).
 *  - Before a handler runs, cpu->rip already points past the instruction;
 *    cpu->insn_rip is its first byte. Branch handlers just assign cpu->rip.
 *  - A handler raises an exception with cpu_raise*(): that longjmps back to
 *    the dispatcher (cpu->jb), which restores RIP to insn_rip (faults) and
 *    delivers the exception. So a handler must do every access that can fault
 *    (memory reads, then memory writes) before it commits register state.
 *    Nothing is allocated per instruction.
 *  - Arithmetic flags are lazy: handlers record (op, size, operands, result)
 *    with cpu_set_cc(); cpu_flags() materialises RFLAGS on demand.
 *
 * Plug-in contract for x87 / MMX / SSE (owned by cpu-platform):
 *  - cpu_op_x87(cpu, in): one-byte opcodes D8-DF and 9B (FWAIT). in->op is
 *    the opcode, in->modrm/in->mod/in->reg/in->rm the ModRM byte; memory
 *    operands via cpu_ea()/cpu_read_mem/cpu_write_mem (in->seg applied).
 *  - cpu_op_sse(cpu, in): two-byte map 0F xx for MMX/SSE opcodes
 *    (0F 10-17, 28-2F, 50-7F, C2-C6, D0-FF, 0F 77, 0F AE /0-/5 memory forms
 *    FXSAVE/FXRSTOR/LDMXCSR/STMXCSR/XSAVE/XRSTOR), the three-byte maps
 *    0F 38 xx (in->map == 2) and 0F 3A xx (in->map == 3, imm8 in in->imm).
 *    in->pfx_mand is the mandatory prefix (0, 0x66, 0xF3, 0xF2; the last of
 *    F2/F3 wins, and 66 is the operand-size prefix otherwise). ModRM is
 *    always decoded for those maps; imm8 is decoded for 0F 70-73, C2, C4-C6
 *    and all of 0F 3A.
 *  - Both check CR0.EM/TS/CR4.OSFXSR themselves (cpu_fpu_check_nm()) and
 *    raise #UD for encodings they do not implement: the weak defaults in
 *    weak.c raise #UD for everything, so the tree builds without them.
 *  - x87/SSE state lives in cpu->fpu (below); cpu_fpu_reset() is called on
 *    power-on and is theirs to override too.
 *  - CPUID feature bits for their families come from cpuid.c's one table.
 */
#ifndef VK_CPU_INT_H
#define VK_CPU_INT_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu.h"

/* ---- architectural constants ------------------------------------------- */

enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI,
       R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15 };
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_LDTR, S_TR, S_NONE = 15 };

#define F_CF   0x0001u
#define F_PF   0x0004u
#define F_AF   0x0010u
#define F_ZF   0x0040u
#define F_SF   0x0080u
#define F_TF   0x0100u
#define F_IF   0x0200u
#define F_DF   0x0400u
#define F_OF   0x0800u
#define F_IOPL 0x3000u
#define F_NT   0x4000u
#define F_RF   0x10000u
#define F_VM   0x20000u
#define F_AC   0x40000u
#define F_VIF  0x80000u
#define F_VIP  0x100000u
#define F_ID   0x200000u
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

#define CR0_PE 0x1u
#define CR0_MP 0x2u
#define CR0_EM 0x4u
#define CR0_TS 0x8u
#define CR0_ET 0x10u
#define CR0_NE 0x20u
#define CR0_WP 0x10000u
#define CR0_AM 0x40000u
#define CR0_NW 0x20000000u
#define CR0_CD 0x40000000u
#define CR0_PG 0x80000000u

#define CR4_VME 0x1u
#define CR4_PVI 0x2u
#define CR4_TSD 0x4u
#define CR4_DE  0x8u
#define CR4_PSE 0x10u
#define CR4_PAE 0x20u
#define CR4_MCE 0x40u
#define CR4_PGE 0x80u
#define CR4_PCE 0x100u
#define CR4_OSFXSR 0x200u
#define CR4_OSXMMEXCPT 0x400u
#define CR4_UMIP 0x800u
#define CR4_FSGSBASE 0x10000u
#define CR4_PCIDE 0x20000u
#define CR4_OSXSAVE 0x40000u
#define CR4_SMEP 0x100000u
#define CR4_SMAP 0x200000u

#define EFER_SCE 0x1u
#define EFER_LME 0x100u
#define EFER_LMA 0x400u
#define EFER_NXE 0x800u

enum { EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
       EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12,
       EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_MC = 18,
       EXC_XM = 19 };

/* ---- state --------------------------------------------------------------- */

/* Segment register (cached descriptor). `flags` holds descriptor bits
 * 40-47 (type, S, DPL, P) in 0-7 and 52-55 (AVL, L, D/B, G) in 12-15, the
 * same layout as descriptor word 2 bits 8-15/20-23 shifted. */
struct cpu_seg {
    uint64_t base;
    uint32_t limit;          /* byte granular */
    uint16_t sel;
    uint16_t flags;
};
#define SEGF_TYPE(f) ((f) & 0xf)
#define SEGF_S   0x10u
#define SEGF_DPL(f) (((f) >> 5) & 3)
#define SEGF_P   0x80u
#define SEGF_AVL 0x1000u
#define SEGF_L   0x2000u
#define SEGF_DB  0x4000u
#define SEGF_G   0x8000u

/* x87 register in its 80-bit memory format. */
struct cpu_f80 { uint64_t mant; uint16_t sexp; uint16_t pad[3]; };

union cpu_xmm {
    uint8_t b[16]; uint16_t w[8]; uint32_t d[4]; uint64_t q[2];
    float f[4]; double fd[2];
} __attribute__((aligned(16)));

/* x87/MMX/SSE state (used by x87.c and sse*.c; FXSAVE layout is theirs). */
struct cpu_fpu {
    struct cpu_f80 st[8];    /* physical registers R0-R7 (MMX = mant) */
    uint16_t fcw, fsw, ftw;  /* ftw: full 16-bit tag word */
    uint16_t fop;
    uint64_t fip, fdp;
    uint16_t fcs, fds;
    uint32_t mxcsr;
    union cpu_xmm xmm[16];
    uint64_t xcr0;
    uint8_t ext[512];        /* spare space for x87/SSE implementers */
};

/* Lazy-flags operation kinds. */
enum cc_op {
    CC_EFLAGS,   /* cc_res holds the arithmetic flags themselves */
    CC_ADD, CC_ADC, CC_SUB, CC_SBB, CC_LOGIC, CC_INC, CC_DEC,
    CC_MUL,      /* cc_a: 1 if the product overflowed (CF=OF), flags of cc_res */
    CC_SHL, CC_SHR, CC_SAR,   /* cc_a: value, cc_b: count (1..size*8-1), AF
                               * clear, OF as for a count of 1 */
};

/* Soft TLB: direct mapped, one set per privilege class (0 = supervisor,
 * 1 = user). A tag is the linear page address | tlb_epoch when that kind of access
 * is allowed at that privilege without a walk; `host` (if non-NULL) is the
 * host address of the page. */
#define TLB_BITS 10
#define CPU_JC_SIZE 2048     /* jump cache entries (power of two) */
#define TLB_SIZE (1u << TLB_BITS)
struct cpu_tlb_entry {       /* hot part: 32 bytes */
    uint64_t tag_r, tag_w, tag_x;
    uint8_t *host;           /* NULL: MMIO, go through env callbacks */
};
struct cpu_tlb_info {        /* cold part, same index */
    uint64_t phys;           /* physical page address */
    uint64_t lin;            /* linear page address */
    uint64_t gepoch;         /* tlb_gepoch at fill (global entries) */
    uint16_t epoch;          /* tlb_epoch the entry was filled in */
    uint8_t perm;            /* PERM_* (mem.c) allowed for this class */
    bool global, large, code;
};

struct cpu_insn;
struct cpu_x86;
typedef void (*cpu_handler)(struct cpu_x86 *cpu, const struct cpu_insn *in);

/* A decoded instruction. */
struct cpu_insn {
    cpu_handler fn;
    uint16_t op;             /* opcode byte (map in `map`) */
    uint8_t map;             /* 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A */
    uint8_t len;             /* total length in bytes */
    uint8_t opsize;          /* 2, 4 or 8 */
    uint8_t adsize;          /* 2, 4 or 8 */
    uint8_t seg;             /* effective segment for memory operand */
    uint8_t rep;             /* 0, 0xF3 (REP/REPE), 0xF2 (REPNE) */
    uint8_t pfx_mand;        /* mandatory prefix for SSE maps: 0/66/F3/F2 */
    uint8_t lock;            /* F0 seen */
    uint8_t rex;             /* REX byte or 0 */
    uint8_t modrm, mod, reg, rm;   /* reg/rm include REX.R/REX.B */
    uint8_t has_modrm;
    uint8_t base, index, scale;    /* memory operand; base/index 0xff: none,
                                    * base 0xfe: RIP-relative */
    uint8_t pfx_seg;         /* segment override prefix or S_NONE */
    int64_t disp;
    uint64_t imm, imm2;      /* imm2: second immediate (ENTER, far ptr sel) */
};

struct cpu_block;
/* Translated block (jit.c): returns the number of instructions completed. */
typedef unsigned (*cpu_jit_fn)(struct cpu_x86 *cpu);

struct cpu_x86 {
    /* hot state first */
    uint64_t r[16];
    uint64_t rip;
    uint64_t insn_rip;       /* first byte of the instruction executing */
    uint32_t eflags;         /* non-arithmetic flags; arith in lazy state */
    uint32_t cc_op;          /* enum cc_op */
    uint64_t cc_res, cc_a, cc_b;   /* result and operands */
    uint32_t cc_size;        /* operand size in bytes */
    uint32_t cc_cf;          /* CF for INC/DEC (preserved), carry-in ADC/SBB */
    uint32_t alu_cf;         /* CF sampled before an RMW (alu.c) */
    uint64_t tmp_src;        /* second source for RMW callbacks */

    struct cpu_seg seg[8];
    uint8_t cpl;
    uint8_t code64;          /* CS.L in long mode */
    uint8_t code32;          /* default operand size 32 (CS.D), not 64 */
    uint8_t stack32;         /* SS.B (32-bit stack pointer) */
    uint8_t seg_flat;        /* bit n: seg n has base 0 / no limit check */
    uint8_t inhibit_irq;     /* STI / MOV SS shadow */
    bool step_one;           /* run a single instruction (end of a shadow) */
    bool poll_now;           /* poll irq_pending at the next boundary */
    uint8_t poll_count;      /* blocks since the last poll */
    uint8_t halted;          /* 1: HLT, 2: wait for SIPI */
    uint8_t in_delivery;     /* nested exception tracking */

    uint64_t cr0, cr2, cr3, cr4, cr8, efer, xcr0;
    uint64_t dr[8];
    struct { uint64_t base; uint16_t limit; } gdt, idt;

    /* MSR storage */
    uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t pat, tsc_aux, misc_enable, apic_base, tsc_offset, mcg_status;
    uint64_t mtrr_def, mtrr_fixed[11], mtrr_var[16];
    uint64_t spec_ctrl, tsc_deadline, feature_control, tsc_adjust;

    struct cpu_tlb_entry tlb[2][TLB_SIZE];
    struct cpu_tlb_info tlbi[2][TLB_SIZE];
    uint64_t code_epoch;     /* shared->code_epoch this TLB matches */
    _Atomic uint64_t *code_epoch_ptr;   /* &shared->code_epoch */
    _Atomic uint64_t *write_epoch_ptr;  /* &shared->write_epoch */
    uint64_t seen_write_epoch;          /* jump cache valid for writes up to this */

    /* exception being raised (set by cpu_raise before longjmp) */
    int exc_vector;
    uint32_t exc_error;
    bool exc_has_error;
    bool exc_soft;           /* INT n / INT3 / INTO: return to next insn */
    int exc_first;           /* for #DF escalation: vector in delivery */
    bool in_delivery_ext;    /* delivering an external event (EXT bit) */
    /* Test hook: when set, an exception stops cpu_x86_run with
     * CPU_X86_STOP_ERROR instead of being delivered; the vector is kept in
     * trapped_vector and RIP points at the faulting instruction. */
    bool trap_exceptions;
    int trapped_vector;
    uint8_t trace;           /* VIRTKIT_CPU_TRACE: 1 events, 2 blocks too */

    /* events */
    _Atomic unsigned events;
    _Atomic uint8_t sipi_vector;
    _Atomic int kick;
    bool nmi_blocked;

    uint64_t budget;         /* instructions left in this run */
    uint64_t retired;
    char errmsg[256];
    int stop;                /* pending stop reason, -1 none */

    /* jump cache: linear RIP -> block; an entry is used only while the
     * TLB still maps its page, executable, to the block's RAM page; it is
     * cleared when the block cache is flushed or any code page written */
    struct { uint64_t lin; struct cpu_block *b; } jc[CPU_JC_SIZE];
    struct cpu_block *chain_from;   /* block that may link to the next one */
    uint64_t chain_from_page;
    uint8_t chain_from_cpl;
    uint64_t tlb_gepoch;     /* bumped by flushes that include global pages */
    uint64_t tlb_epoch;      /* 1..0xfff, in the low bits of valid tags: a
                              * flush is epoch++ (entries of older epochs
                              * never match) */
    bool tlb_has_large;      /* a large-page entry may be cached */

    /* block cache */
    struct cpu_block **bc_hash;
    struct cpu_block *bc_free;
    void *bc_arena;
    size_t bc_arena_used, bc_arena_size;
    unsigned bc_flushes;     /* cache drops, so holders of block pointers can tell */

    /* translator (jit.c) */
    uint8_t *jit_buf;
    size_t jit_used, jit_size;
    bool jit_full;           /* no room: the run loop drops the cache */
    uint32_t jit_threshold;  /* translate a block after this many runs; 0 off */
    struct cpu_block *jit_last;   /* block the translated code left from */
    int32_t jit_exit;        /* its static exit (link slot) or -1 */
    uint32_t jit_link_gen;   /* links made under another generation are dead */
    int32_t jit_chain_left;  /* chained jumps allowed before returning */
    uint8_t jit_links;       /* links made: 1 in-page, 2 across pages */
    int32_t chain_from_exit; /* jit_exit of chain_from */
    uint64_t chain_from_lin; /* where chain_from went (links are made only to it) */
    uint64_t jit_page;       /* linear page of the last block the code ran (it
                              * changes it when it chains to another page) */

    struct cpu_x86_env env;
    struct cpu_x86_shared *shared;
    bool own_shared;
    unsigned index;
    struct cpu_prof *prof;   /* VIRTKIT_CPU_PROF sampler (prof.c) or NULL */
    /* counters printed at destroy with VIRTKIT_CPU_STATS=1 */
    struct { uint64_t blocks, jc_miss, decoded, translated, flushes, tlb_flush,
             end_stop, end_page, end_n, end_link; } st;
    struct cpu_fpu fpu;
    jmp_buf jb;
};

/* ---- exceptions (exc.c) ------------------------------------------------ */

/* Raise a fault: RIP goes back to the instruction, longjmp to dispatcher. */
_Noreturn void cpu_raise(struct cpu_x86 *cpu, int vector, uint32_t error_code);
_Noreturn void cpu_raise_noerr(struct cpu_x86 *cpu, int vector);
#define cpu_ud(cpu) cpu_raise_noerr((cpu), EXC_UD)
#define cpu_gp0(cpu) cpu_raise((cpu), EXC_GP, 0)
/* Software interrupt (INT n, INT3, INTO): return address is the next insn. */
_Noreturn void cpu_raise_soft(struct cpu_x86 *cpu, int vector);
/* Stop the run loop with an internal error message. */
_Noreturn void cpu_fail(struct cpu_x86 *cpu, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Deliver an interrupt/exception through the IDT (exc.c). */
void cpu_deliver(struct cpu_x86 *cpu, int vector, bool has_err, uint32_t err,
                 bool soft, bool ext);
bool cpu_exc_has_error(int vector);
/* x87/SSE helper: #NM if CR0.TS (or CR0.EM for x87), #UD if CR0.EM for SSE */
void cpu_fpu_check_nm(struct cpu_x86 *cpu, bool sse);
void cpu_fpu_reset(struct cpu_x86 *cpu);

/* ---- flags (flags.c) --------------------------------------------------- */

static inline void cpu_set_cc(struct cpu_x86 *cpu, enum cc_op op, unsigned size,
                              uint64_t a, uint64_t b, uint64_t res)
{
    cpu->cc_op = op; cpu->cc_size = size;
    cpu->cc_a = a; cpu->cc_b = b; cpu->cc_res = res;
}
/* Set the arithmetic flags directly (mask of F_ARITH bits that are valid). */
void cpu_set_arith_flags(struct cpu_x86 *cpu, uint32_t flags);
uint32_t cpu_arith_flags(struct cpu_x86 *cpu);
/* Full RFLAGS / write RFLAGS (only bits in `mask` change). */
uint64_t cpu_flags(struct cpu_x86 *cpu);
void cpu_set_flags(struct cpu_x86 *cpu, uint64_t val, uint64_t mask);
/* Condition code 0-15 (Jcc/SETcc/CMOVcc encoding). */
bool cpu_cond(struct cpu_x86 *cpu, unsigned cc);
bool cpu_parity(uint8_t v);

/* 48-bit canonical linear address (bits 63:47 all equal). */
static inline bool cpu_canonical(uint64_t v)
{
    uint64_t top = v >> 47;
    return top == 0 || top == 0x1ffff;
}

static inline uint64_t size_mask(unsigned size)
{ return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1; }
static inline uint64_t sign_bit(unsigned size) { return 1ull << (size * 8 - 1); }
static inline int64_t sext(uint64_t v, unsigned size)
{
    switch (size) {
    case 1: return (int8_t)v;
    case 2: return (int16_t)v;
    case 4: return (int32_t)v;
    default: return (int64_t)v;
    }
}

/* ---- registers and operands (operand.c) -------------------------------- */

/* Register by number; size 1 without REX maps 4-7 to AH..BH. */
/* Write with x86 semantics: 32-bit writes zero-extend, 8/16 merge. */
static inline void cpu_set_reg(struct cpu_x86 *cpu, unsigned r, unsigned size, uint64_t v)
{
    switch (size) {
    case 1: cpu->r[r] = (cpu->r[r] & ~0xffull) | (v & 0xff); break;
    case 2: cpu->r[r] = (cpu->r[r] & ~0xffffull) | (v & 0xffff); break;
    case 4: cpu->r[r] = (uint32_t)v; break;
    default: cpu->r[r] = v; break;
    }
}
/* Effective address (offset within in->seg), truncated to address size. */
/* ModRM r/m operand of `size` bytes (register or memory). */
/* Read-modify-write of the r/m operand: new = fn(cpu, old, arg, size) is
 * stored unless fn sets *nowrite. Memory forms use a host atomic CAS loop
 * when the instruction has LOCK and the operand is in RAM. Returns old. */
typedef uint64_t (*cpu_rmw_fn)(struct cpu_x86 *cpu, uint64_t old, uint64_t arg,
                               unsigned size, bool *nowrite);
uint64_t cpu_rm_rmw(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size,
                    cpu_rmw_fn fn, uint64_t arg);
/* ModRM reg operand. */

/* ---- memory (mem.c) ------------------------------------------------------ */

enum { ACC_R = 0, ACC_W = 1, ACC_X = 2 };
/* Access flags for cpu_lin_*: ACC_* | these */
#define ACC_SUPER 0x10u    /* implicit supervisor access (descriptor tables) */

/* Segment-relative accesses (segment checks, paging, MMIO). */
/* Linear address of seg:off after limit checks for an access of `size`. */
/* Linear accesses. */
/* Host pointer for a writable RAM range (for locked RMW and REP fast
 * paths), or NULL (MMIO / crosses a page / code page). May raise #PF. */
/* Host pointer for reading RAM at lin (to the end of its page), or NULL. */
uint8_t *cpu_lin_host_r(struct cpu_x86 *cpu, uint64_t lin, unsigned acc);
/* Translate linear to physical for an access (may raise #PF). */
uint64_t cpu_translate(struct cpu_x86 *cpu, uint64_t lin, unsigned acc);
/* Physical address of an instruction fetch at `lin` (TLB, may raise). */
uint64_t cpu_translate_exec(struct cpu_x86 *cpu, uint64_t lin);
/* Flush the TLB (all entries, or non-global ones). */
void cpu_tlb_flush(struct cpu_x86 *cpu, bool include_global);
void cpu_tlb_flush_page(struct cpu_x86 *cpu, uint64_t lin);
/* Physical accesses (page walks, descriptor loads in tests). */
uint64_t cpu_phys_read(struct cpu_x86 *cpu, uint64_t pa, unsigned size);
void cpu_phys_write(struct cpu_x86 *cpu, uint64_t pa, unsigned size, uint64_t v);

/* Stack helpers: push/pop of `size` using SS and the stack address size. */
void cpu_push(struct cpu_x86 *cpu, unsigned size, uint64_t v);
uint64_t cpu_pop(struct cpu_x86 *cpu, unsigned size);
/* Value at SS:[rSP + off] without moving rSP. */
uint64_t cpu_stack_peek(struct cpu_x86 *cpu, unsigned size, uint64_t off);
static inline unsigned cpu_stack_size(const struct cpu_x86 *cpu)
{ return cpu->code64 ? 8 : cpu->stack32 ? 4 : 2; }

/* ---- modes and segments (seg.c) ---------------------------------------- */

/* Recompute cached mode bits (code64/code32/stack32/flat/cpl) after a change
 * of CS, SS, CR0, EFER or a segment load. */
void cpu_update_mode(struct cpu_x86 *cpu);
/* Load a segment register as MOV/POP do in the current mode (checks). */
void cpu_load_seg(struct cpu_x86 *cpu, unsigned seg, uint16_t sel);
/* Real-mode/VM86 style load: base = sel << 4. */
void cpu_load_seg_real(struct cpu_x86 *cpu, unsigned seg, uint16_t sel);
/* Read the descriptor for `sel` (GDT/LDT); raises `exc`(sel) if outside. */
uint64_t cpu_read_desc(struct cpu_x86 *cpu, uint16_t sel, int exc);
void cpu_desc_to_seg(uint64_t d, uint64_t d_hi, uint16_t sel, struct cpu_seg *s);
/* Far control transfers (branch.c uses these). */
void cpu_far_jump(struct cpu_x86 *cpu, uint16_t sel, uint64_t off, unsigned opsize);
void cpu_far_call(struct cpu_x86 *cpu, uint16_t sel, uint64_t off, unsigned opsize);
void cpu_far_ret(struct cpu_x86 *cpu, unsigned opsize, uint16_t imm);
void cpu_iret(struct cpu_x86 *cpu, unsigned opsize);
void cpu_load_cs_raw(struct cpu_x86 *cpu, uint16_t sel, uint64_t d, uint64_t d_hi, uint8_t cpl);

static inline bool cpu_pe(const struct cpu_x86 *cpu) { return cpu->cr0 & CR0_PE; }
static inline bool cpu_vm86(const struct cpu_x86 *cpu) { return cpu->eflags & F_VM; }
static inline bool cpu_lma(const struct cpu_x86 *cpu) { return cpu->efer & EFER_LMA; }

/* ---- system (system.c / msr.c / cpuid.c) ------------------------------- */

void cpu_write_cr0(struct cpu_x86 *cpu, uint64_t v);
void cpu_write_cr3(struct cpu_x86 *cpu, uint64_t v);
void cpu_write_cr4(struct cpu_x86 *cpu, uint64_t v);
void cpu_write_efer(struct cpu_x86 *cpu, uint64_t v);
/* 0 or -EINVAL (unknown MSR / bad value: the caller raises #GP). */
int cpu_msr_read(struct cpu_x86 *cpu, uint32_t msr, uint64_t *v);
int cpu_msr_write(struct cpu_x86 *cpu, uint32_t msr, uint64_t v);
void cpu_cpuid_fill(const struct cpu_x86 *cpu, uint32_t leaf, uint32_t sub, uint32_t out[4]);
uint64_t cpu_rdtsc(struct cpu_x86 *cpu);
/* Check I/O permission (IOPL, TSS bitmap); raises #GP. */
void cpu_io_check(struct cpu_x86 *cpu, uint16_t port, unsigned size);

/* ---- decoder and block cache (decode.c, block.c) ----------------------- */

#define BLOCK_MAX_INSNS 64
struct cpu_block {
    struct cpu_block *next;      /* hash chain */
    uint64_t phys;               /* physical address of the first byte */
    uint64_t lin;                /* linear address it was decoded at */
    uint32_t mode;               /* decode mode key */
    uint32_t ninsns;
    struct cpu_code_page *page;  /* code page record (generation check) */
    uint8_t *host_page;          /* host address of its RAM page */
    /* chaining: up to two successors in the same linear page, valid while
     * the shared write epoch is the one they were linked at */
    struct cpu_block *succ[2];
    uint64_t succ_lin[2];
    uint64_t succ_epoch[2];
    uint32_t gen;
    uint32_t execs;              /* runs while not translated (jit.c) */
    cpu_jit_fn jit;              /* translated code or NULL */
    bool jit_user;               /* translated for CPL 3 (soft-TLB set) */
    void *jit_body;              /* entry for a chained jump (after the prologue) */
    /* direct links of the translated code's static exits (jit.c) */
    struct cpu_link {            /* offsets used by jit.c's chain() */
        void *code;              /* 0 */
        uint32_t gen;            /* 8 */
        uint64_t lin;            /* 16: target's linear address */
        struct cpu_tlb_entry *te;   /* 24: its soft-TLB slot */
        uint8_t *host;           /* 32: its RAM page */
    } link[2];
    struct cpu_insn insns[];
};

/* Decode one instruction at linear address `lin` (bytes fetched with
 * fetch access). Returns 0 or raises (#PF, #GP, #UD for too long). */
void cpu_decode(struct cpu_x86 *cpu, uint64_t lin, struct cpu_insn *in);
/* Decode mode key for the current state. */
static inline uint32_t cpu_decode_mode(const struct cpu_x86 *cpu)
{ return (cpu->code64 ? 2u : cpu->code32 ? 1u : 0u); }

/* Code-page tracking (block.c). */
struct cpu_code_page {
    struct cpu_code_page *next;
    uint64_t pfn;
    _Atomic uint32_t gen;
    _Atomic bool active;     /* holds blocks decoded since its last write */
};
struct cpu_code_page *cpu_code_page_get(struct cpu_x86_shared *sh, uint64_t pfn, bool create);
void cpu_block_cache_flush(struct cpu_x86 *cpu);
int cpu_block_cache_init(struct cpu_x86 *cpu);
void cpu_block_cache_free(struct cpu_x86 *cpu);
struct cpu_block *cpu_block_get(struct cpu_x86 *cpu, uint64_t lin);
uint64_t cpu_shared_code_epoch(struct cpu_x86_shared *sh);
_Atomic uint64_t *cpu_shared_code_epoch_ptr(struct cpu_x86_shared *sh);
_Atomic uint64_t *cpu_shared_write_epoch_ptr(struct cpu_x86_shared *sh);
/* A code page was written: bump its generation and the shared write epoch. */
void cpu_code_page_written(struct cpu_x86_shared *sh, struct cpu_code_page *p);
bool cpu_decode_ends_block(const struct cpu_insn *in);
/* fast.c: swap in a specialised handler for frequent forms. */
void cpu_specialise(struct cpu_x86 *cpu, struct cpu_insn *in);
extern bool cpu_fast_disable;   /* tests: compare with generic handlers */

/* jit.c: translator to host code for 64-bit blocks. */
int cpu_jit_init(struct cpu_x86 *cpu);
void cpu_jit_free(struct cpu_x86 *cpu);
void cpu_jit_compile(struct cpu_x86 *cpu, struct cpu_block *b);

/* prof.c: guest RIP sampler, started when VIRTKIT_CPU_PROF is set. */
struct cpu_prof;
struct cpu_prof *cpu_prof_start(struct cpu_x86 *cpu);
void cpu_prof_stop(struct cpu_prof *p);

/* ---- instruction family handlers (one file each) ------------------------- */

/* Plug-ins (weak #UD defaults in weak.c). */
void cpu_op_x87(struct cpu_x86 *cpu, const struct cpu_insn *in);
void cpu_op_sse(struct cpu_x86 *cpu, const struct cpu_insn *in);

#define H(name) void name(struct cpu_x86 *cpu, const struct cpu_insn *in)
/* alu.c */
H(op_alu_rm_r); H(op_alu_r_rm); H(op_alu_acc_imm); H(op_grp1); H(op_incdec_r);
H(op_test_rm_r); H(op_test_acc_imm); H(op_grp3); H(op_grp4); H(op_grp5);
/* bits.c: shifts, rotates, bit tests, scans */
H(op_grp2); H(op_shld); H(op_shrd); H(op_bt); H(op_grp8); H(op_bsf); H(op_bsr);
H(op_popcnt); H(op_bswap);
/* muldiv.c */
H(op_imul_r_rm); H(op_imul_imm);
/* mov.c */
H(op_mov_rm_r); H(op_mov_r_rm); H(op_mov_r_imm); H(op_mov_rm_imm);
H(op_mov_acc_moffs); H(op_mov_moffs_acc); H(op_lea); H(op_movzx); H(op_movsx);
H(op_movsxd); H(op_xchg_rm_r); H(op_xchg_acc); H(op_cmov); H(op_setcc);
H(op_cbw); H(op_cwd); H(op_xlat); H(op_lahf); H(op_sahf); H(op_mov_rm_sreg);
H(op_mov_sreg_rm); H(op_cmpxchg); H(op_xadd); H(op_grp9); H(op_nop);
H(op_movbe); H(op_lds);
/* stack.c */
H(op_push_r); H(op_pop_r); H(op_push_imm); H(op_pop_rm); H(op_pushf); H(op_popf);
H(op_push_sreg); H(op_pop_sreg); H(op_pusha); H(op_popa); H(op_enter); H(op_leave);
/* branch.c */
H(op_jcc); H(op_jmp_rel); H(op_call_rel); H(op_ret); H(op_retf); H(op_jmp_far);
H(op_call_far); H(op_loop); H(op_jcxz); H(op_int); H(op_int3); H(op_into);
H(op_iret);
/* string.c */
H(op_movs); H(op_stos); H(op_lods); H(op_cmps); H(op_scas); H(op_ins); H(op_outs);
/* bcd.c */
H(op_daa); H(op_das); H(op_aaa); H(op_aas); H(op_aam); H(op_aad); H(op_salc);
/* io.c */
H(op_in); H(op_out);
/* system.c */
H(op_hlt); H(op_cli); H(op_sti); H(op_clc); H(op_stc); H(op_cmc); H(op_cld);
H(op_std); H(op_grp6); H(op_grp7); H(op_mov_cr); H(op_mov_dr); H(op_clts);
H(op_cpuid); H(op_rdtsc); H(op_rdmsr); H(op_wrmsr); H(op_syscall); H(op_sysret);
H(op_sysenter); H(op_sysexit); H(op_invd); H(op_grp15); H(op_ud); H(op_lar);
H(op_lsl); H(op_rdpmc); H(op_bound); H(op_arpl); H(op_rsm); H(op_fwait);
H(op_grp9_sys); H(op_gp0);
#undef H


/* ---- hot paths, inline -------------------------------------------------- */

/* Slow paths (mem.c). */
uint64_t cpu_lin_slow(struct cpu_x86 *cpu, unsigned seg, uint64_t off, unsigned size, int acc);
uint64_t cpu_lin_read_slow(struct cpu_x86 *cpu, uint64_t lin, unsigned size, unsigned acc);
void cpu_lin_write_slow(struct cpu_x86 *cpu, uint64_t lin, unsigned size, uint64_t v, unsigned acc);
uint8_t *cpu_lin_host_rw_slow(struct cpu_x86 *cpu, uint64_t lin, unsigned size, unsigned acc);

static inline uint64_t cpu_ld(const uint8_t *p, unsigned size)
{
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static inline void cpu_st(uint8_t *p, unsigned size, uint64_t v)
{
    switch (size) {
    case 1: *p = (uint8_t)v; break;
    case 2: { uint16_t t = (uint16_t)v; memcpy(p, &t, 2); break; }
    case 4: { uint32_t t = (uint32_t)v; memcpy(p, &t, 4); break; }
    default: memcpy(p, &v, 8); break;
    }
}

/* Register by number; size 1 without REX maps 4-7 to AH..BH. */
static inline uint64_t cpu_reg_read(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned r,
                                    unsigned size)
{
    switch (size) {
    case 1:
        if (r >= 4 && r < 8 && !in->rex)
            return (cpu->r[r - 4] >> 8) & 0xff;
        return cpu->r[r] & 0xff;
    case 2: return cpu->r[r] & 0xffff;
    case 4: return cpu->r[r] & 0xffffffffu;
    default: return cpu->r[r];
    }
}

/* Write with x86 semantics: 32-bit writes zero-extend, 8/16 merge. */
static inline void cpu_reg_write(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned r,
                                 unsigned size, uint64_t v)
{
    if (size == 1 && r >= 4 && r < 8 && !in->rex) {
        cpu->r[r - 4] = (cpu->r[r - 4] & ~0xff00ull) | ((v & 0xff) << 8);
        return;
    }
    cpu_set_reg(cpu, r, size, v);
}

static inline uint64_t cpu_greg(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size)
{ return cpu_reg_read(cpu, in, in->reg, size); }
static inline void cpu_sreg(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size, uint64_t v)
{ cpu_reg_write(cpu, in, in->reg, size, v); }

/* Effective address (offset within in->seg), truncated to address size. */
static inline uint64_t cpu_ea(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t ea = (uint64_t)in->disp;
    if (in->base < 16)
        ea += cpu->r[in->base];
    else if (in->base == 0xfe)
        ea += cpu->insn_rip + in->len;
    if (in->index != 0xff)
        ea += cpu->r[in->index] << in->scale;
    if (in->adsize == 4)
        ea = (uint32_t)ea;
    else if (in->adsize == 2)
        ea = (uint16_t)ea;
    return ea;
}

/* Linear address of seg:off after limit checks for an access of `size`. */
static inline uint64_t cpu_lin(struct cpu_x86 *cpu, unsigned seg, uint64_t off, unsigned size, int acc)
{
    if (cpu->code64 && seg != S_FS && seg != S_GS && cpu_canonical(off))
        return off;
    if (!cpu->code64 && (cpu->seg_flat & (1u << seg)))
        return (uint32_t)off;
    return cpu_lin_slow(cpu, seg, off, size, acc);
}

static inline struct cpu_tlb_info *cpu_tlb_info_of(struct cpu_x86 *cpu, const struct cpu_tlb_entry *e)
{
    return &cpu->tlbi[0][0] + (e - &cpu->tlb[0][0]);
}

static inline struct cpu_tlb_entry *cpu_tlb_slot(struct cpu_x86 *cpu, uint64_t lin, unsigned acc)
{
    bool user = cpu->cpl == 3 && !(acc & ACC_SUPER);
    return &cpu->tlb[user][(lin >> 12) & (TLB_SIZE - 1)];
}

/* Linear accesses. */
static inline uint64_t cpu_lin_read(struct cpu_x86 *cpu, uint64_t lin, unsigned size, unsigned acc)
{
    struct cpu_tlb_entry *e = cpu_tlb_slot(cpu, lin, acc);
    uint64_t tag = (acc & 3) == ACC_X ? e->tag_x : e->tag_r;
    if (__builtin_expect(tag == ((lin & ~0xfffull) | cpu->tlb_epoch) && (lin & 0xfff) <= 4096 - size, 1))
        return cpu_ld(e->host + (lin & 0xfff), size);
    return cpu_lin_read_slow(cpu, lin, size, acc);
}

static inline void cpu_lin_write(struct cpu_x86 *cpu, uint64_t lin, unsigned size, uint64_t v,
                                 unsigned acc)
{
    struct cpu_tlb_entry *e = cpu_tlb_slot(cpu, lin, acc);
    if (__builtin_expect(e->tag_w == ((lin & ~0xfffull) | cpu->tlb_epoch) && (lin & 0xfff) <= 4096 - size, 1)) {
        cpu_st(e->host + (lin & 0xfff), size, v);
        return;
    }
    cpu_lin_write_slow(cpu, lin, size, v, acc | ACC_W);
}

/* Host pointer for a writable RAM range (for locked RMW and REP fast
 * paths), or NULL (MMIO / crosses a page / code page). May raise #PF. */
static inline uint8_t *cpu_lin_host_rw(struct cpu_x86 *cpu, uint64_t lin, unsigned size, unsigned acc)
{
    struct cpu_tlb_entry *e = cpu_tlb_slot(cpu, lin, acc);
    if (__builtin_expect(e->tag_w == ((lin & ~0xfffull) | cpu->tlb_epoch) && (lin & 0xfff) <= 4096 - size, 1))
        return e->host + (lin & 0xfff);
    return cpu_lin_host_rw_slow(cpu, lin, size, acc);
}

/* Segment-relative accesses (segment checks, paging, MMIO). */
static inline uint64_t cpu_read_mem(struct cpu_x86 *cpu, unsigned seg, uint64_t off, unsigned size)
{
    return cpu_lin_read(cpu, cpu_lin(cpu, seg, off, size, ACC_R), size, ACC_R);
}

static inline void cpu_write_mem(struct cpu_x86 *cpu, unsigned seg, uint64_t off, unsigned size, uint64_t v)
{
    cpu_lin_write(cpu, cpu_lin(cpu, seg, off, size, ACC_W), size, v, ACC_W);
}

/* ModRM r/m operand of `size` bytes (register or memory). */
static inline uint64_t cpu_rm_read(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size)
{
    if (in->mod == 3)
        return cpu_reg_read(cpu, in, in->rm, size);
    return cpu_read_mem(cpu, in->seg, cpu_ea(cpu, in), size);
}

static inline void cpu_rm_write(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned size, uint64_t v)
{
    if (in->mod == 3)
        cpu_reg_write(cpu, in, in->rm, size, v);
    else
        cpu_write_mem(cpu, in->seg, cpu_ea(cpu, in), size, v);
}

#endif
