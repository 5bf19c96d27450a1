/* Instruction decoder: prefixes, REX, opcode maps, ModRM/SIB/disp, imm.
 *
 * Opcode -> handler through tables; each entry also says which operand
 * bytes follow (so the decoder knows the length without the handler) and
 * how the operand size defaults in 64-bit mode. The decoder never raises
 * except for faults fetching the bytes: an invalid encoding decodes to
 * op_ud, so an undecodable instruction at the end of a block only faults if
 * it is reached. */
#include "cpu_int.h"

enum {
    D_M    = 1u << 0,   /* ModRM follows */
    D_I8   = 1u << 1,   /* imm8 (sign-extended into in->imm) */
    D_IZ   = 1u << 2,   /* imm16/32 by operand size (sign-extended) */
    D_IV   = 1u << 3,   /* imm16/32/64 by operand size */
    D_I16  = 1u << 4,   /* imm16 */
    D_ENTER= 1u << 5,   /* imm16 + imm8 */
    D_FAR  = 1u << 6,   /* ptr16:16/32 */
    D_MO   = 1u << 7,   /* moffs (address size) */
    D_D64  = 1u << 8,   /* default operand size 64 in long mode */
    D_F64  = 1u << 9,   /* operand size forced 64 in long mode */
    D_I64  = 1u << 10,  /* invalid in 64-bit mode */
    D_END  = 1u << 11,  /* ends a decoded block (control/system effects) */
    D_BYTE = 1u << 12,  /* byte operand: opsize 1 */
    D_G3   = 1u << 13,  /* F6/F7: immediate only for /0 and /1 */
};

struct op_desc { cpu_handler fn; uint16_t f; };

#define A(fn, f) { fn, f }
#define ALU(b) \
    [b + 0] = A(op_alu_rm_r, D_M | D_BYTE), [b + 1] = A(op_alu_rm_r, D_M), \
    [b + 2] = A(op_alu_r_rm, D_M | D_BYTE), [b + 3] = A(op_alu_r_rm, D_M), \
    [b + 4] = A(op_alu_acc_imm, D_I8 | D_BYTE), [b + 5] = A(op_alu_acc_imm, D_IZ)

static const struct op_desc map0[256] = {
    ALU(0x00), ALU(0x08), ALU(0x10), ALU(0x18), ALU(0x20), ALU(0x28), ALU(0x30), ALU(0x38),
    [0x06] = A(op_push_sreg, D_I64), [0x07] = A(op_pop_sreg, D_I64 | D_END),
    [0x0e] = A(op_push_sreg, D_I64),
    [0x16] = A(op_push_sreg, D_I64), [0x17] = A(op_pop_sreg, D_I64 | D_END),
    [0x1e] = A(op_push_sreg, D_I64), [0x1f] = A(op_pop_sreg, D_I64 | D_END),
    [0x27] = A(op_daa, D_I64), [0x2f] = A(op_das, D_I64),
    [0x37] = A(op_aaa, D_I64), [0x3f] = A(op_aas, D_I64),
    [0x40 ... 0x4f] = A(op_incdec_r, D_I64),
    [0x50 ... 0x57] = A(op_push_r, D_D64), [0x58 ... 0x5f] = A(op_pop_r, D_D64),
    [0x60] = A(op_pusha, D_I64), [0x61] = A(op_popa, D_I64),
    [0x62] = A(op_bound, D_M | D_I64), [0x63] = A(op_arpl, D_M),
    [0x68] = A(op_push_imm, D_IZ | D_D64), [0x69] = A(op_imul_imm, D_M | D_IZ),
    [0x6a] = A(op_push_imm, D_I8 | D_D64), [0x6b] = A(op_imul_imm, D_M | D_I8),
    [0x6c] = A(op_ins, D_BYTE), [0x6d] = A(op_ins, 0),
    [0x6e] = A(op_outs, D_BYTE), [0x6f] = A(op_outs, 0),
    [0x70 ... 0x7f] = A(op_jcc, D_I8 | D_F64 | D_END),
    [0x80] = A(op_grp1, D_M | D_I8 | D_BYTE), [0x81] = A(op_grp1, D_M | D_IZ),
    [0x82] = A(op_grp1, D_M | D_I8 | D_BYTE | D_I64), [0x83] = A(op_grp1, D_M | D_I8),
    [0x84] = A(op_test_rm_r, D_M | D_BYTE), [0x85] = A(op_test_rm_r, D_M),
    [0x86] = A(op_xchg_rm_r, D_M | D_BYTE), [0x87] = A(op_xchg_rm_r, D_M),
    [0x88] = A(op_mov_rm_r, D_M | D_BYTE), [0x89] = A(op_mov_rm_r, D_M),
    [0x8a] = A(op_mov_r_rm, D_M | D_BYTE), [0x8b] = A(op_mov_r_rm, D_M),
    [0x8c] = A(op_mov_rm_sreg, D_M), [0x8d] = A(op_lea, D_M),
    [0x8e] = A(op_mov_sreg_rm, D_M | D_END), [0x8f] = A(op_pop_rm, D_M | D_D64),
    [0x90 ... 0x97] = A(op_xchg_acc, 0),
    [0x98] = A(op_cbw, 0), [0x99] = A(op_cwd, 0),
    [0x9a] = A(op_call_far, D_FAR | D_I64 | D_END), [0x9b] = A(op_fwait, 0),
    [0x9c] = A(op_pushf, D_D64), [0x9d] = A(op_popf, D_D64 | D_END),
    [0x9e] = A(op_sahf, 0), [0x9f] = A(op_lahf, 0),
    [0xa0] = A(op_mov_acc_moffs, D_MO | D_BYTE), [0xa1] = A(op_mov_acc_moffs, D_MO),
    [0xa2] = A(op_mov_moffs_acc, D_MO | D_BYTE), [0xa3] = A(op_mov_moffs_acc, D_MO),
    [0xa4] = A(op_movs, D_BYTE), [0xa5] = A(op_movs, 0),
    [0xa6] = A(op_cmps, D_BYTE), [0xa7] = A(op_cmps, 0),
    [0xa8] = A(op_test_acc_imm, D_I8 | D_BYTE), [0xa9] = A(op_test_acc_imm, D_IZ),
    [0xaa] = A(op_stos, D_BYTE), [0xab] = A(op_stos, 0),
    [0xac] = A(op_lods, D_BYTE), [0xad] = A(op_lods, 0),
    [0xae] = A(op_scas, D_BYTE), [0xaf] = A(op_scas, 0),
    [0xb0 ... 0xb7] = A(op_mov_r_imm, D_I8 | D_BYTE),
    [0xb8 ... 0xbf] = A(op_mov_r_imm, D_IV),
    [0xc0] = A(op_grp2, D_M | D_I8 | D_BYTE), [0xc1] = A(op_grp2, D_M | D_I8),
    [0xc2] = A(op_ret, D_I16 | D_F64 | D_END), [0xc3] = A(op_ret, D_F64 | D_END),
    [0xc4] = A(op_lds, D_M | D_I64 | D_END), [0xc5] = A(op_lds, D_M | D_I64 | D_END),
    [0xc6] = A(op_mov_rm_imm, D_M | D_I8 | D_BYTE), [0xc7] = A(op_mov_rm_imm, D_M | D_IZ),
    [0xc8] = A(op_enter, D_ENTER | D_D64), [0xc9] = A(op_leave, D_D64),
    [0xca] = A(op_retf, D_I16 | D_END), [0xcb] = A(op_retf, D_END),
    [0xcc] = A(op_int3, D_END), [0xcd] = A(op_int, D_I8 | D_END),
    [0xce] = A(op_into, D_I64 | D_END), [0xcf] = A(op_iret, D_END),
    [0xd0] = A(op_grp2, D_M | D_BYTE), [0xd1] = A(op_grp2, D_M),
    [0xd2] = A(op_grp2, D_M | D_BYTE), [0xd3] = A(op_grp2, D_M),
    [0xd4] = A(op_aam, D_I8 | D_I64), [0xd5] = A(op_aad, D_I8 | D_I64),
    [0xd6] = A(op_salc, D_I64), [0xd7] = A(op_xlat, 0),
    [0xd8 ... 0xdf] = A(cpu_op_x87, D_M),
    [0xe0 ... 0xe2] = A(op_loop, D_I8 | D_F64 | D_END), [0xe3] = A(op_jcxz, D_I8 | D_F64 | D_END),
    [0xe4] = A(op_in, D_I8 | D_BYTE), [0xe5] = A(op_in, D_I8),
    [0xe6] = A(op_out, D_I8 | D_BYTE), [0xe7] = A(op_out, D_I8),
    [0xe8] = A(op_call_rel, D_IZ | D_F64 | D_END), [0xe9] = A(op_jmp_rel, D_IZ | D_F64 | D_END),
    [0xea] = A(op_jmp_far, D_FAR | D_I64 | D_END), [0xeb] = A(op_jmp_rel, D_I8 | D_F64 | D_END),
    [0xec] = A(op_in, D_BYTE), [0xed] = A(op_in, 0),
    [0xee] = A(op_out, D_BYTE), [0xef] = A(op_out, 0),
    [0xf1] = A(op_int3, D_END),
    [0xf4] = A(op_hlt, D_END), [0xf5] = A(op_cmc, 0),
    [0xf6] = A(op_grp3, D_M | D_BYTE | D_G3), [0xf7] = A(op_grp3, D_M | D_G3),
    [0xf8] = A(op_clc, 0), [0xf9] = A(op_stc, 0), [0xfa] = A(op_cli, 0),
    [0xfb] = A(op_sti, D_END), [0xfc] = A(op_cld, 0), [0xfd] = A(op_std, 0),
    [0xfe] = A(op_grp4, D_M | D_BYTE), [0xff] = A(op_grp5, D_M | D_END),
};

static const struct op_desc map1[256] = {
    [0x00] = A(op_grp6, D_M | D_END), [0x01] = A(op_grp7, D_M | D_END),
    [0x02] = A(op_lar, D_M), [0x03] = A(op_lsl, D_M),
    [0x05] = A(op_syscall, D_END), [0x06] = A(op_clts, D_END), [0x07] = A(op_sysret, D_END),
    [0x08] = A(op_invd, 0), [0x09] = A(op_invd, 0), [0x0b] = A(op_ud, 0),
    [0x0d] = A(op_nop, D_M),
    [0x10 ... 0x17] = A(cpu_op_sse, D_M),
    [0x18 ... 0x1f] = A(op_nop, D_M),
    [0x20 ... 0x21] = A(op_mov_cr, D_M | D_END), [0x22 ... 0x23] = A(op_mov_cr, D_M | D_END),
    [0x28 ... 0x2f] = A(cpu_op_sse, D_M),
    [0x30] = A(op_wrmsr, D_END), [0x31] = A(op_rdtsc, 0), [0x32] = A(op_rdmsr, 0),
    [0x33] = A(op_rdpmc, 0), [0x34] = A(op_sysenter, D_END), [0x35] = A(op_sysexit, D_END),
    [0x40 ... 0x4f] = A(op_cmov, D_M),
    [0x50 ... 0x6f] = A(cpu_op_sse, D_M),
    [0x70 ... 0x73] = A(cpu_op_sse, D_M | D_I8),
    [0x74 ... 0x76] = A(cpu_op_sse, D_M), [0x77] = A(cpu_op_sse, 0),
    [0x78 ... 0x7f] = A(cpu_op_sse, D_M),
    [0x80 ... 0x8f] = A(op_jcc, D_IZ | D_F64 | D_END),
    [0x90 ... 0x9f] = A(op_setcc, D_M | D_BYTE),
    [0xa0] = A(op_push_sreg, D_D64), [0xa1] = A(op_pop_sreg, D_D64),
    [0xa2] = A(op_cpuid, 0), [0xa3] = A(op_bt, D_M),
    [0xa4] = A(op_shld, D_M | D_I8), [0xa5] = A(op_shld, D_M),
    [0xa8] = A(op_push_sreg, D_D64), [0xa9] = A(op_pop_sreg, D_D64),
    [0xaa] = A(op_rsm, D_END), [0xab] = A(op_bt, D_M),
    [0xac] = A(op_shrd, D_M | D_I8), [0xad] = A(op_shrd, D_M),
    [0xae] = A(op_grp15, D_M), [0xaf] = A(op_imul_r_rm, D_M),
    [0xb0] = A(op_cmpxchg, D_M | D_BYTE), [0xb1] = A(op_cmpxchg, D_M),
    [0xb2] = A(op_lds, D_M | D_END), [0xb3] = A(op_bt, D_M),
    [0xb4] = A(op_lds, D_M), [0xb5] = A(op_lds, D_M),
    [0xb6] = A(op_movzx, D_M), [0xb7] = A(op_movzx, D_M),
    [0xb8] = A(op_popcnt, D_M), [0xb9] = A(op_ud, D_M),
    [0xba] = A(op_grp8, D_M | D_I8), [0xbb] = A(op_bt, D_M),
    [0xbc] = A(op_bsf, D_M), [0xbd] = A(op_bsr, D_M),
    [0xbe] = A(op_movsx, D_M), [0xbf] = A(op_movsx, D_M),
    [0xc0] = A(op_xadd, D_M | D_BYTE), [0xc1] = A(op_xadd, D_M),
    [0xc2] = A(cpu_op_sse, D_M | D_I8), [0xc3] = A(cpu_op_sse, D_M),
    [0xc4 ... 0xc6] = A(cpu_op_sse, D_M | D_I8),
    [0xc7] = A(op_grp9, D_M),
    [0xc8 ... 0xcf] = A(op_bswap, 0),
    [0xd0 ... 0xff] = A(cpu_op_sse, D_M),
};

struct fetch {
    struct cpu_x86 *cpu;
    uint64_t lin;
    unsigned pos;
    bool toolong;
};

static uint8_t fb(struct fetch *f)
{
    if (f->pos >= 15) {
        f->toolong = true;
        return 0x90;
    }
    uint64_t a = f->lin + f->pos++;
    if (!f->cpu->code64)
        a = (uint32_t)a;
    return (uint8_t)cpu_lin_read(f->cpu, a, 1, ACC_X);
}

static uint64_t fimm(struct fetch *f, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)fb(f) << (8 * i);
    return v;
}

static void decode_modrm(struct fetch *f, struct cpu_insn *in, uint8_t rex)
{
    uint8_t m = fb(f);
    in->modrm = m;
    in->mod = m >> 6;
    in->reg = ((m >> 3) & 7) | ((rex & 4) << 1);
    in->rm = (m & 7) | ((rex & 1) << 3);
    in->base = in->index = 0xff;
    in->scale = 0;
    in->disp = 0;
    unsigned defseg = S_DS;
    if (in->mod == 3)
        return;
    if (in->adsize == 2) {
        static const uint8_t b16[8] = { R_BX, R_BX, R_BP, R_BP, R_SI, R_DI, R_BP, R_BX };
        static const uint8_t i16[8] = { R_SI, R_DI, R_SI, R_DI, 0xff, 0xff, 0xff, 0xff };
        unsigned rm = m & 7;
        if (in->mod == 0 && rm == 6) {
            in->disp = (int16_t)fimm(f, 2);
        } else {
            in->base = b16[rm];
            in->index = i16[rm];
            if (in->base == R_BP)
                defseg = S_SS;
            if (in->mod == 1)
                in->disp = (int8_t)fb(f);
            else if (in->mod == 2)
                in->disp = (int16_t)fimm(f, 2);
        }
    } else {
        unsigned rm = m & 7;
        if (rm == 4) {
            uint8_t sib = fb(f);
            unsigned idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
            unsigned base = sib & 7;
            in->scale = sib >> 6;
            if (idx != 4)
                in->index = idx;
            if (base == 5 && in->mod == 0) {
                in->disp = (int32_t)fimm(f, 4);
            } else {
                in->base = base | ((rex & 1) << 3);
                if (base == 4 || base == 5)
                    defseg = S_SS;
            }
        } else if (rm == 5 && in->mod == 0) {
            in->disp = (int32_t)fimm(f, 4);
            if (f->cpu->code64)
                in->base = 0xfe;
        } else {
            in->base = rm | ((rex & 1) << 3);
            if (rm == 5)
                defseg = S_SS;
        }
        if (in->mod == 1)
            in->disp = (int8_t)fb(f);
        else if (in->mod == 2)
            in->disp = (int32_t)fimm(f, 4);
    }
    in->seg = in->pfx_seg != S_NONE ? in->pfx_seg : defseg;
}

void cpu_decode(struct cpu_x86 *cpu, uint64_t lin, struct cpu_insn *in)
{
    struct fetch f = { cpu, lin, 0, false };
    bool p66 = false, p67 = false;
    uint8_t rex = 0, b;
    const struct op_desc *d;
    bool mode64 = cpu->code64;

    memset(in, 0, sizeof(*in));
    in->pfx_seg = S_NONE;
    in->seg = S_DS;
    in->base = in->index = 0xff;
    for (;;) {
        b = fb(&f);
        switch (b) {
        case 0x66: p66 = true; rex = 0; continue;
        case 0x67: p67 = true; rex = 0; continue;
        case 0x26: in->pfx_seg = S_ES; rex = 0; continue;
        case 0x2e: in->pfx_seg = S_CS; rex = 0; continue;
        case 0x36: in->pfx_seg = S_SS; rex = 0; continue;
        case 0x3e: in->pfx_seg = S_DS; rex = 0; continue;
        case 0x64: in->pfx_seg = S_FS; rex = 0; continue;
        case 0x65: in->pfx_seg = S_GS; rex = 0; continue;
        case 0xf0: in->lock = 1; rex = 0; continue;
        case 0xf2: case 0xf3: in->rep = b; rex = 0; continue;
        default: break;
        }
        if (mode64 && (b & 0xf0) == 0x40) {
            rex = b;
            continue;
        }
        break;
    }
    if (mode64 && in->pfx_seg != S_FS && in->pfx_seg != S_GS)
        in->pfx_seg = S_NONE;
    in->rex = rex;
    in->pfx_mand = in->rep ? in->rep : p66 ? 0x66 : 0;
    if (b == 0x0f) {
        b = fb(&f);
        if (b == 0x38 || b == 0x3a) {
            in->map = b == 0x38 ? 2 : 3;
            b = fb(&f);
            static const struct op_desc m2 = { cpu_op_sse, D_M }, m3 = { cpu_op_sse, D_M | D_I8 };
            d = in->map == 2 ? &m2 : &m3;
        } else {
            in->map = 1;
            d = &map1[b];
        }
    } else {
        d = &map0[b];
    }
    in->op = b;
    in->fn = d->fn ? d->fn : op_ud;

    /* sizes */
    if (mode64) {
        in->adsize = p67 ? 4 : 8;
        if (rex & 8)
            in->opsize = 8;
        else if (d->f & D_F64)
            in->opsize = 8;
        else if (p66)
            in->opsize = 2;
        else
            in->opsize = (d->f & D_D64) ? 8 : 4;
    } else {
        in->adsize = (cpu->code32 ^ p67) ? 4 : 2;
        in->opsize = (cpu->code32 ^ p66) ? 4 : 2;
    }
    if (d->f & D_BYTE)
        in->opsize = 1;
    if (mode64 && (d->f & D_I64))
        in->fn = op_ud;

    if (d->f & D_M) {
        decode_modrm(&f, in, rex);
        /* FF /2 /4 /6 (near call/jmp, push) default to 64-bit */
        if (mode64 && in->map == 0 && b == 0xff && !(rex & 8)) {
            unsigned r = in->reg & 7;
            if (r == 2 || r == 4)
                in->opsize = 8;
            else if (r == 6 && !p66)
                in->opsize = 8;
        }
    } else {
        in->rm = (b & 7) | ((rex & 1) << 3);
        in->reg = in->rm;
        in->mod = 3;
    }
    if (in->pfx_seg != S_NONE && !(d->f & D_M))
        in->seg = in->pfx_seg;

    /* immediates */
    unsigned isz = in->opsize == 1 ? 1 : in->opsize == 2 ? 2 : 4;
    if (d->f & D_G3) {
        if ((in->reg & 7) < 2)
            in->imm = in->opsize == 1 ? (uint64_t)(int8_t)fb(&f) :
                      isz == 2 ? (uint64_t)(int16_t)fimm(&f, 2) : (uint64_t)(int32_t)fimm(&f, 4);
    } else if (d->f & D_I8) {
        in->imm = (uint64_t)(int8_t)fb(&f);
    } else if (d->f & D_IZ) {
        in->imm = isz == 2 ? (uint64_t)(int16_t)fimm(&f, 2) : (uint64_t)(int32_t)fimm(&f, 4);
    } else if (d->f & D_IV) {
        in->imm = fimm(&f, in->opsize);
    } else if (d->f & D_I16) {
        in->imm = fimm(&f, 2);
    } else if (d->f & D_ENTER) {
        in->imm = fimm(&f, 2);
        in->imm2 = fb(&f);
    } else if (d->f & D_FAR) {
        in->imm = fimm(&f, in->opsize == 2 ? 2 : 4);
        in->imm2 = fimm(&f, 2);
    } else if (d->f & D_MO) {
        in->disp = (int64_t)fimm(&f, in->adsize);
    }
    if (f.toolong) {
        in->fn = op_gp0;
        in->len = 15;
        in->op = 0x1ff;
        return;
    }
    in->len = (uint8_t)f.pos;
    in->has_modrm = !!(d->f & D_M);
    /* LOCK is only valid on read-modify-write memory forms */
    if (in->lock) {
        bool ok = in->mod != 3 && in->has_modrm;
        if (in->map == 0)
            ok = ok && ((b < 0x40 && (b & 7) < 2 && (b & 0x38) != 0x38) ||
                        b == 0x80 || b == 0x81 || b == 0x83 || b == 0x86 || b == 0x87 ||
                        b == 0xf6 || b == 0xf7 || b == 0xfe || b == 0xff);
        else if (in->map == 1)
            ok = ok && (b == 0xab || b == 0xb3 || b == 0xbb || b == 0xba ||
                        b == 0xb0 || b == 0xb1 || b == 0xc0 || b == 0xc1 || b == 0xc7);
        else
            ok = false;
        if (!ok)
            in->fn = op_ud;
    }
    if (in->fn != op_ud)
        cpu_specialise(cpu, in);
}

bool cpu_decode_ends_block(const struct cpu_insn *in)
{
    const struct op_desc *d;
    if (in->map == 0)
        d = &map0[in->op & 0xff];
    else if (in->map == 1)
        d = &map1[in->op & 0xff];
    else
        return false;
    /* FF /0 /1 /6 (INC, DEC, PUSH) do not transfer control */
    if (in->map == 0 && in->op == 0xff && ((in->reg & 7) < 2 || (in->reg & 7) == 6))
        return false;
    return (d->f & D_END) || in->fn == op_ud || in->fn == op_gp0;
}
