/* Data movement: MOV forms, LEA, MOVZX/MOVSX/MOVSXD, XCHG, CMOVcc, SETcc,
 * CBW/CWD families, XLAT, LAHF/SAHF, segment moves, CMPXCHG, XADD,
 * CMPXCHG8B/16B, LDS/LES/LSS/LFS/LGS. */
#include "cpu_int.h"

void op_nop(struct cpu_x86 *cpu, const struct cpu_insn *in) { }

void op_mov_rm_r(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_rm_write(cpu, in, in->opsize, cpu_greg(cpu, in, in->opsize));
}

void op_mov_r_rm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_sreg(cpu, in, in->opsize, cpu_rm_read(cpu, in, in->opsize));
}

void op_mov_r_imm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_reg_write(cpu, in, in->rm, in->opsize, in->imm);
}

void op_mov_rm_imm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if ((in->reg & 7) != 0)
        cpu_ud(cpu);
    cpu_rm_write(cpu, in, in->opsize, in->imm);
}

void op_mov_acc_moffs(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t off = (uint64_t)in->disp & size_mask(in->adsize);
    cpu_set_reg(cpu, R_AX, in->opsize, cpu_read_mem(cpu, in->seg, off, in->opsize));
}

void op_mov_moffs_acc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t off = (uint64_t)in->disp & size_mask(in->adsize);
    cpu_write_mem(cpu, in->seg, off, in->opsize, cpu->r[R_AX]);
}

void op_lea(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (in->mod == 3)
        cpu_ud(cpu);
    cpu_sreg(cpu, in, in->opsize, cpu_ea(cpu, in));
}

void op_movzx(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned ss = in->op == 0xb6 ? 1 : 2;
    cpu_sreg(cpu, in, in->opsize, cpu_rm_read(cpu, in, ss));
}

void op_movsx(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned ss = in->op == 0xbe ? 1 : 2;
    cpu_sreg(cpu, in, in->opsize, (uint64_t)sext(cpu_rm_read(cpu, in, ss), ss));
}

/* 63: MOVSXD in 64-bit mode, ARPL elsewhere */
void op_arpl(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (cpu->code64) {
        uint64_t v = cpu_rm_read(cpu, in, 4);
        cpu_sreg(cpu, in, in->opsize, in->opsize == 8 ? (uint64_t)(int32_t)v : v);
        return;
    }
    if (!cpu_pe(cpu) || cpu_vm86(cpu))
        cpu_ud(cpu);
    uint64_t dst = cpu_rm_read(cpu, in, 2), src = cpu_greg(cpu, in, 2);
    uint32_t f = cpu_arith_flags(cpu) & ~F_ZF;
    if ((dst & 3) < (src & 3)) {
        cpu_rm_write(cpu, in, 2, (dst & ~3ull) | (src & 3));
        f |= F_ZF;
    }
    cpu_set_arith_flags(cpu, f);
}

void op_movsxd(struct cpu_x86 *cpu, const struct cpu_insn *in) { op_arpl(cpu, in); }

static uint64_t rmw_xchg(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    return arg;
}

void op_xchg_rm_r(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    /* XCHG with memory is always locked */
    struct cpu_insn l = *in;
    l.lock = 1;
    uint64_t old = cpu_rm_rmw(cpu, &l, in->opsize, rmw_xchg, cpu_greg(cpu, in, in->opsize));
    cpu_sreg(cpu, in, in->opsize, old);
}

void op_xchg_acc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->rm;
    if (r == R_AX)   /* 90: NOP (also F3 90 PAUSE), even in 64-bit mode */
        return;
    uint64_t a = cpu->r[R_AX], b = cpu->r[r];
    cpu_set_reg(cpu, R_AX, in->opsize, b);
    cpu_set_reg(cpu, r, in->opsize, a);
}

void op_cmov(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t v = cpu_rm_read(cpu, in, in->opsize);
    if (cpu_cond(cpu, in->op & 15))
        cpu_sreg(cpu, in, in->opsize, v);
    else if (in->opsize == 4)
        cpu->r[in->reg] = (uint32_t)cpu->r[in->reg];
}

void op_setcc(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_rm_write(cpu, in, 1, cpu_cond(cpu, in->op & 15));
}

void op_cbw(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned h = in->opsize / 2;
    cpu_set_reg(cpu, R_AX, in->opsize, (uint64_t)sext(cpu->r[R_AX], h));
}

void op_cwd(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    int64_t v = sext(cpu->r[R_AX], in->opsize);
    cpu_set_reg(cpu, R_DX, in->opsize, v < 0 ? ~0ull : 0);
}

void op_xlat(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    uint64_t off = (cpu->r[R_BX] + (cpu->r[R_AX] & 0xff)) & size_mask(in->adsize);
    cpu_set_reg(cpu, R_AX, 1, cpu_read_mem(cpu, in->seg, off, 1));
}

void op_lahf(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu->r[R_AX] = (cpu->r[R_AX] & ~0xff00ull) | ((cpu_flags(cpu) & 0xff) << 8);
}

void op_sahf(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    cpu_set_flags(cpu, (cpu->r[R_AX] >> 8) & 0xff, F_CF | F_PF | F_AF | F_ZF | F_SF);
}

void op_mov_rm_sreg(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned s = in->reg & 7;
    if (s > 5)
        cpu_ud(cpu);
    uint64_t v = cpu->seg[s].sel;
    if (in->mod == 3)
        cpu_reg_write(cpu, in, in->rm, in->opsize == 8 ? 8 : in->opsize == 4 ? 4 : 2, v);
    else
        cpu_rm_write(cpu, in, 2, v);
}

void op_mov_sreg_rm(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned s = in->reg & 7;
    if (s > 5 || s == S_CS)
        cpu_ud(cpu);
    uint16_t v = (uint16_t)cpu_rm_read(cpu, in, 2);
    cpu_load_seg(cpu, s, v);
    if (s == S_SS)
        cpu->inhibit_irq = 1;
}

void op_cmpxchg(struct cpu_x86 *cpu, const struct cpu_insn *in);

static uint64_t rmw_cmpxchg(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    uint64_t m = size_mask(size);
    uint64_t acc = cpu->r[R_AX] & m;
    cpu_set_cc(cpu, CC_SUB, size, acc, old, (acc - old) & m);
    if ((old & m) == acc)
        return arg;
    /* the destination is written back unchanged (locked cycle), but we do
     * not need to rewrite it */
    *nw = true;
    return old;
}

void op_cmpxchg(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize;
    uint64_t m = size_mask(size);
    uint64_t acc = cpu->r[R_AX] & m;
    uint64_t old = cpu_rm_rmw(cpu, in, size, rmw_cmpxchg, cpu_greg(cpu, in, size));
    if ((old & m) != acc)
        cpu_set_reg(cpu, R_AX, size, old);
}

static uint64_t rmw_xadd(struct cpu_x86 *cpu, uint64_t old, uint64_t arg, unsigned size, bool *nw)
{
    uint64_t m = size_mask(size), r = (old + arg) & m;
    cpu_set_cc(cpu, CC_ADD, size, old & m, arg & m, r);
    return r;
}

void op_xadd(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize;
    uint64_t src = cpu_greg(cpu, in, size);
    uint64_t old = cpu_rm_rmw(cpu, in, size, rmw_xadd, src);
    /* for the register form with reg == rm, the sum wins */
    if (in->mod == 3 && in->rm == in->reg)
        return;
    cpu_sreg(cpu, in, size, old);
}

/* 0F C7: /1 CMPXCHG8B/16B, /6 RDRAND (not advertised: #UD), /7 RDSEED/RDPID */
void op_grp9(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned r = in->reg & 7;
    if (r == 7 && in->mod == 3 && in->rep == 0xf3) {   /* RDPID */
        cpu_reg_write(cpu, in, in->rm, cpu->code64 ? 8 : 4, cpu->tsc_aux);
        return;
    }
    if (r != 1 || in->mod == 3)
        cpu_ud(cpu);
    bool q = in->opsize == 8;
    unsigned half = q ? 8 : 4;
    uint64_t ea = cpu_ea(cpu, in);
    if (q && (ea & 15))
        cpu_gp0(cpu);
    uint64_t lin = cpu_lin(cpu, in->seg, ea, 2 * half, ACC_W);
    uint8_t *p = cpu_lin_host_rw(cpu, lin, 2 * half, ACC_W);
    uint64_t mlo = size_mask(half);
    uint64_t elo = cpu->r[R_AX] & mlo, ehi = cpu->r[R_DX] & mlo;
    uint64_t nlo = cpu->r[R_BX] & mlo, nhi = cpu->r[R_CX] & mlo;
    uint64_t olo, ohi;
    bool eq;

    if (!q) {
        uint64_t exp = elo | (ehi << 32), nv = nlo | (nhi << 32), old;
        if (p && !((uintptr_t)p & 7)) {
            old = exp;
            eq = __atomic_compare_exchange_n((uint64_t *)p, &old, nv, false,
                                             __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        } else {
            old = cpu_lin_read(cpu, lin, 8, ACC_R);
            eq = old == exp;
            cpu_lin_write(cpu, lin, 8, eq ? nv : old, ACC_W);
        }
        olo = (uint32_t)old;
        ohi = old >> 32;
    } else {
        unsigned __int128 exp = ((unsigned __int128)ehi << 64) | elo;
        unsigned __int128 nv = ((unsigned __int128)nhi << 64) | nlo, old;
        if (p) {
            /* host CMPXCHG16B (the address is 16-byte aligned: checked above) */
            uint64_t lo = elo, hi = ehi;
            uint8_t z;
            __asm__ volatile("lock cmpxchg16b %1\n\tsete %0"
                             : "=q"(z), "+m"(*(volatile unsigned __int128 *)p), "+a"(lo), "+d"(hi)
                             : "b"(nlo), "c"(nhi) : "memory", "cc");
            eq = z;
            old = ((unsigned __int128)hi << 64) | lo;
            (void)nv;
        } else {
            uint64_t lo = cpu_lin_read(cpu, lin, 8, ACC_R), hi = cpu_lin_read(cpu, lin + 8, 8, ACC_R);
            old = ((unsigned __int128)hi << 64) | lo;
            eq = old == exp;
            cpu_lin_write(cpu, lin, 8, eq ? nlo : lo, ACC_W);
            cpu_lin_write(cpu, lin + 8, 8, eq ? nhi : hi, ACC_W);
        }
        olo = (uint64_t)old;
        ohi = (uint64_t)(old >> 64);
    }
    uint32_t f = cpu_arith_flags(cpu) & ~F_ZF;
    if (eq) {
        f |= F_ZF;
    } else {
        cpu_set_reg(cpu, R_AX, half, olo);
        cpu_set_reg(cpu, R_DX, half, ohi);
    }
    cpu_set_arith_flags(cpu, f);
}

/* 0F 38 F0 MOVBE r, m / 0F 38 F1 MOVBE m, r (reached through the 0F 38 map
 * dispatcher, sse41.c): a load or store with the bytes reversed. */
void op_movbe(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize;
    if (in->mod == 3)
        cpu_ud(cpu);
    uint64_t off = cpu_ea(cpu, in);
    if (in->op == 0xf0) {
        uint64_t v = cpu_read_mem(cpu, in->seg, off, size);
        v = size == 2 ? __builtin_bswap16((uint16_t)v) : size == 4 ? __builtin_bswap32((uint32_t)v)
                                                                 : __builtin_bswap64(v);
        cpu_sreg(cpu, in, size, v);
    } else {
        uint64_t v = cpu_greg(cpu, in, size);
        v = size == 2 ? __builtin_bswap16((uint16_t)v) : size == 4 ? __builtin_bswap32((uint32_t)v)
                                                                 : __builtin_bswap64(v);
        cpu_write_mem(cpu, in->seg, off, size, v);
    }
}

/* C4/C5 LES/LDS (not in 64-bit mode), 0F B2/B4/B5 LSS/LFS/LGS */
void op_lds(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned s;
    if (in->mod == 3)
        cpu_ud(cpu);
    if (in->map == 0)
        s = in->op == 0xc4 ? S_ES : S_DS;
    else
        s = in->op == 0xb2 ? S_SS : in->op == 0xb4 ? S_FS : S_GS;
    unsigned size = in->opsize;
    uint64_t ea = cpu_ea(cpu, in);
    uint64_t off = cpu_read_mem(cpu, in->seg, ea, size);
    uint16_t sel = (uint16_t)cpu_read_mem(cpu, in->seg, (ea + size) & size_mask(in->adsize), 2);
    cpu_load_seg(cpu, s, sel);
    cpu_sreg(cpu, in, size, off);
    if (s == S_SS)
        cpu->inhibit_irq = 1;
}
