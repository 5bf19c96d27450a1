/* String instructions MOVS/STOS/LODS/CMPS/SCAS/INS/OUTS with REP prefixes.
 *
 * A REP instruction runs in slices: after REP_SLICE iterations it leaves
 * RIP on itself and ends the block, so interrupts and kicks are seen in
 * the middle of a long copy (RCX/RSI/RDI are always architecturally
 * current). MOVS and STOS have a fast path working on host pointers one
 * page at a time when both sides are RAM. */
#include "cpu_int.h"
#include "util.h"

#define REP_SLICE 65536

static inline uint64_t areg(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned r)
{
    return cpu->r[r] & size_mask(in->adsize);
}

static inline void astep(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned r, int64_t d)
{
    cpu_set_reg(cpu, r, in->adsize, cpu->r[r] + (uint64_t)d);
}

static inline int64_t delta(struct cpu_x86 *cpu, unsigned size)
{
    return (cpu->eflags & F_DF) ? -(int64_t)size : (int64_t)size;
}

/* Returns false if the REP loop must stop (count exhausted). */
static inline bool rep_begin(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    return !in->rep || areg(cpu, in, R_CX) != 0;
}

/* Count one iteration; returns true to continue. */
static inline bool rep_next(struct cpu_x86 *cpu, const struct cpu_insn *in, unsigned *n)
{
    if (!in->rep)
        return false;
    astep(cpu, in, R_CX, -1);
    if (!areg(cpu, in, R_CX))
        return false;
    if (++*n >= REP_SLICE) {
        cpu->rip = cpu->insn_rip;   /* resume here */
        if (cpu->stop == -1)
            cpu->stop = -2;
        return false;
    }
    return true;
}

/* Fast path: elements that can be moved inside one page of each side. */
static uint64_t fast_chunk(struct cpu_x86 *cpu, const struct cpu_insn *in, bool movs)
{
    unsigned size = in->opsize;
    if ((cpu->eflags & F_DF) || !in->rep || in->adsize == 2)
        return 0;
    uint64_t cnt = areg(cpu, in, R_CX);
    uint64_t di = areg(cpu, in, R_DI), si = areg(cpu, in, R_SI);
    if (!(cpu->seg_flat & (1u << S_ES)) && !cpu->code64)
        return 0;
    uint64_t dlin = cpu_lin(cpu, S_ES, di, size, ACC_W);
    uint64_t n = (4096 - (dlin & 0xfff)) / size;
    uint64_t slin = 0;
    if (movs) {
        if (!(cpu->seg_flat & (1u << in->seg)) && !cpu->code64)
            return 0;
        slin = cpu_lin(cpu, in->seg, si, size, ACC_R);
        n = VK_MIN(n, (4096 - (slin & 0xfff)) / size);
    }
    n = VK_MIN(n, cnt);
    if (n < 2)
        return 0;
    /* stay inside the address-size wrap */
    if (in->adsize == 4 && (di + n * size > 0x100000000ull || si + n * size > 0x100000000ull))
        return 0;
    uint8_t *d = cpu_lin_host_rw(cpu, dlin, (unsigned)VK_MIN(n * size, 4096), ACC_W);
    if (!d)
        return 0;
    if (movs) {
        uint8_t *s = cpu_lin_host_r(cpu, slin, ACC_R);
        if (!s)
            return 0;
        if (d > s && d < s + n * size) {
            /* overlapping forward copy: element by element, as the ISA says */
            for (uint64_t i = 0; i < n; i++) {
                uint64_t t;
                memcpy(&t, s + i * size, size);
                memcpy(d + i * size, &t, size);
            }
        } else {
            memmove(d, s, n * size);
        }
    } else {
        uint64_t v = cpu->r[R_AX];
        if (size == 1)
            memset(d, (int)(v & 0xff), n);
        else
            for (uint64_t i = 0; i < n; i++)
                memcpy(d + i * size, &v, size);
    }
    astep(cpu, in, R_DI, (int64_t)(n * size));
    if (movs)
        astep(cpu, in, R_SI, (int64_t)(n * size));
    astep(cpu, in, R_CX, -(int64_t)n);
    return n;
}

static void movs_stos(struct cpu_x86 *cpu, const struct cpu_insn *in, bool movs)
{
    unsigned size = in->opsize, n = 0;
    if (!rep_begin(cpu, in))
        return;
    for (;;) {
        uint64_t k = fast_chunk(cpu, in, movs);
        if (k) {
            n += (unsigned)k;
            if (!areg(cpu, in, R_CX))
                return;
            if (n >= REP_SLICE) {
                cpu->rip = cpu->insn_rip;
                if (cpu->stop == -1)
                    cpu->stop = -2;
                return;
            }
            continue;
        }
        uint64_t v = movs ? cpu_read_mem(cpu, in->seg, areg(cpu, in, R_SI), size) : cpu->r[R_AX];
        cpu_write_mem(cpu, S_ES, areg(cpu, in, R_DI), size, v);
        astep(cpu, in, R_DI, delta(cpu, size));
        if (movs)
            astep(cpu, in, R_SI, delta(cpu, size));
        if (!rep_next(cpu, in, &n))
            return;
    }
}

void op_movs(struct cpu_x86 *cpu, const struct cpu_insn *in) { movs_stos(cpu, in, true); }
void op_stos(struct cpu_x86 *cpu, const struct cpu_insn *in) { movs_stos(cpu, in, false); }

void op_lods(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize, n = 0;
    if (!rep_begin(cpu, in))
        return;
    for (;;) {
        uint64_t v = cpu_read_mem(cpu, in->seg, areg(cpu, in, R_SI), size);
        cpu_set_reg(cpu, R_AX, size, v);
        astep(cpu, in, R_SI, delta(cpu, size));
        if (!rep_next(cpu, in, &n))
            return;
    }
}

static void cmp_flags(struct cpu_x86 *cpu, unsigned size, uint64_t a, uint64_t b)
{
    uint64_t m = size_mask(size);
    cpu_set_cc(cpu, CC_SUB, size, a & m, b & m, (a - b) & m);
}

static bool rep_cond_stop(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    if (!in->rep)
        return false;
    bool zf = cpu_cond(cpu, 4);
    return in->rep == 0xf3 ? !zf : zf;
}

void op_cmps(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize, n = 0;
    if (!rep_begin(cpu, in))
        return;
    for (;;) {
        uint64_t a = cpu_read_mem(cpu, in->seg, areg(cpu, in, R_SI), size);
        uint64_t b = cpu_read_mem(cpu, S_ES, areg(cpu, in, R_DI), size);
        cmp_flags(cpu, size, a, b);
        astep(cpu, in, R_SI, delta(cpu, size));
        astep(cpu, in, R_DI, delta(cpu, size));
        if (!in->rep)
            return;
        astep(cpu, in, R_CX, -1);
        if (!areg(cpu, in, R_CX) || rep_cond_stop(cpu, in))
            return;
        if (++n >= REP_SLICE) {
            cpu->rip = cpu->insn_rip;
            if (cpu->stop == -1)
                cpu->stop = -2;
            return;
        }
    }
}

void op_scas(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize, n = 0;
    if (!rep_begin(cpu, in))
        return;
    for (;;) {
        uint64_t b = cpu_read_mem(cpu, S_ES, areg(cpu, in, R_DI), size);
        cmp_flags(cpu, size, cpu->r[R_AX], b);
        astep(cpu, in, R_DI, delta(cpu, size));
        if (!in->rep)
            return;
        astep(cpu, in, R_CX, -1);
        if (!areg(cpu, in, R_CX) || rep_cond_stop(cpu, in))
            return;
        if (++n >= REP_SLICE) {
            cpu->rip = cpu->insn_rip;
            if (cpu->stop == -1)
                cpu->stop = -2;
            return;
        }
    }
}

void op_ins(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize == 8 ? 4 : in->opsize, n = 0;
    uint16_t port = cpu->r[R_DX] & 0xffff;
    cpu_io_check(cpu, port, size);
    if (!rep_begin(cpu, in))
        return;
    for (;;) {
        uint64_t di = areg(cpu, in, R_DI);
        cpu_lin(cpu, S_ES, di, size, ACC_W);   /* check before the I/O */
        uint32_t v = cpu->env.pio_in ? cpu->env.pio_in(cpu->env.opaque, port, size)
                                     : (uint32_t)size_mask(size);
        cpu_write_mem(cpu, S_ES, di, size, v);
        astep(cpu, in, R_DI, delta(cpu, size));
        if (!rep_next(cpu, in, &n))
            return;
    }
}

void op_outs(struct cpu_x86 *cpu, const struct cpu_insn *in)
{
    unsigned size = in->opsize == 8 ? 4 : in->opsize, n = 0;
    uint16_t port = cpu->r[R_DX] & 0xffff;
    cpu_io_check(cpu, port, size);
    if (!rep_begin(cpu, in))
        return;
    for (;;) {
        uint64_t v = cpu_read_mem(cpu, in->seg, areg(cpu, in, R_SI), size);
        if (cpu->env.pio_out)
            cpu->env.pio_out(cpu->env.opaque, port, size, (uint32_t)v);
        astep(cpu, in, R_SI, delta(cpu, size));
        if (!rep_next(cpu, in, &n))
            return;
    }
}
