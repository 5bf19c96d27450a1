/* Hardware task switches (JMP/CALL to a TSS or task gate, IRET with NT,
 * interrupts and exceptions through task gates) and call gates (far
 * CALL/JMP, with the parameter copy and stack switch of a call to an inner
 * privilege level), as SDM vol. 3 chapters 5.8 and 7 describe them.
 *
 * A task switch first reads everything it needs and checks the new TSS, so
 * that a fault up to that point leaves the old task intact; it then saves
 * the old task, switches TR (busy bits, back link, NT, CR0.TS) and loads
 * the new task's registers. Loading the new task's segment registers may
 * fault: that fault belongs to the new task (RIP is its EIP). */
#include "sys.h"

static bool desc_present(uint64_t d) { return (d >> 47) & 1; }
static unsigned desc_dpl(uint64_t d) { return (d >> 45) & 3; }
static unsigned desc_type(uint64_t d) { return (d >> 40) & 0xf; }
static bool desc_s(uint64_t d) { return (d >> 44) & 1; }

static uint64_t desc_limit(uint64_t d)
{
    uint64_t l = (d & 0xffff) | (((d >> 48) & 0xf) << 16);
    return ((d >> 55) & 1) ? (l << 12) | 0xfff : l;
}

static uint64_t desc_base(uint64_t d)
{
    return ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
}

void cpu_tss_stack(struct cpu_x86 *cpu, unsigned dpl, uint16_t *ss, uint64_t *sp)
{
    struct cpu_seg *tr = &cpu->seg[S_TR];
    if (cpu_lma(cpu)) {
        uint32_t off = 4 + dpl * 8;
        if (off + 7 > tr->limit)
            cpu_raise(cpu, EXC_TS, tr->sel & 0xfffc);
        *sp = cpu_lin_read(cpu, tr->base + off, 8, ACC_R | ACC_SUPER);
        *ss = (uint16_t)dpl;
    } else if (SEGF_TYPE(tr->flags) & 8) {      /* 32-bit TSS */
        uint32_t off = 4 + dpl * 8;
        if (off + 5 > tr->limit)
            cpu_raise(cpu, EXC_TS, tr->sel & 0xfffc);
        *sp = cpu_lin_read(cpu, tr->base + off, 4, ACC_R | ACC_SUPER);
        *ss = (uint16_t)cpu_lin_read(cpu, tr->base + off + 4, 2, ACC_R | ACC_SUPER);
    } else {
        uint32_t off = 2 + dpl * 4;
        if (off + 3 > tr->limit)
            cpu_raise(cpu, EXC_TS, tr->sel & 0xfffc);
        *sp = cpu_lin_read(cpu, tr->base + off, 2, ACC_R | ACC_SUPER);
        *ss = (uint16_t)cpu_lin_read(cpu, tr->base + off + 2, 2, ACC_R | ACC_SUPER);
    }
}

/* ---- task switches ----------------------------------------------------- */

static void set_busy(struct cpu_x86 *cpu, uint16_t sel, bool busy)
{
    uint64_t a = cpu->gdt.base + (sel & ~7u) + 5;
    uint8_t b = (uint8_t)cpu_lin_read(cpu, a, 1, ACC_R | ACC_SUPER);
    b = busy ? (uint8_t)(b | 2) : (uint8_t)(b & ~2);
    cpu_lin_write(cpu, a, 1, b, ACC_W | ACC_SUPER);
}

/* The register image of a task, as a TSS holds it. */
struct task_image {
    uint32_t cr3, eip, eflags, r[8];
    uint16_t seg[6], ldt;            /* ES CS SS DS FS GS */
};

static void tss_read(struct cpu_x86 *cpu, uint64_t base, bool is32, struct task_image *t)
{
    unsigned acc = ACC_R | ACC_SUPER;
    memset(t, 0, sizeof(*t));
    if (is32) {
        t->cr3 = (uint32_t)cpu_lin_read(cpu, base + 0x1c, 4, acc);
        t->eip = (uint32_t)cpu_lin_read(cpu, base + 0x20, 4, acc);
        t->eflags = (uint32_t)cpu_lin_read(cpu, base + 0x24, 4, acc);
        for (unsigned i = 0; i < 8; i++)
            t->r[i] = (uint32_t)cpu_lin_read(cpu, base + 0x28 + 4 * i, 4, acc);
        for (unsigned i = 0; i < 6; i++)
            t->seg[i] = (uint16_t)cpu_lin_read(cpu, base + 0x48 + 4 * i, 2, acc);
        t->ldt = (uint16_t)cpu_lin_read(cpu, base + 0x60, 2, acc);
    } else {
        t->eip = (uint16_t)cpu_lin_read(cpu, base + 0x0e, 2, acc);
        t->eflags = (uint16_t)cpu_lin_read(cpu, base + 0x10, 2, acc);
        for (unsigned i = 0; i < 8; i++)
            t->r[i] = (uint16_t)cpu_lin_read(cpu, base + 0x12 + 2 * i, 2, acc);
        for (unsigned i = 0; i < 4; i++)
            t->seg[i] = (uint16_t)cpu_lin_read(cpu, base + 0x22 + 2 * i, 2, acc);
        t->ldt = (uint16_t)cpu_lin_read(cpu, base + 0x2a, 2, acc);
    }
}

/* Save the dynamic fields of the current task into its TSS. */
static void tss_save(struct cpu_x86 *cpu, uint64_t base, bool is32, uint32_t eflags)
{
    unsigned acc = ACC_W | ACC_SUPER;
    if (is32) {
        cpu_lin_write(cpu, base + 0x20, 4, (uint32_t)cpu->rip, acc);
        cpu_lin_write(cpu, base + 0x24, 4, eflags, acc);
        for (unsigned i = 0; i < 8; i++)
            cpu_lin_write(cpu, base + 0x28 + 4 * i, 4, (uint32_t)cpu->r[i], acc);
        for (unsigned i = 0; i < 6; i++)
            cpu_lin_write(cpu, base + 0x48 + 4 * i, 2, cpu->seg[i].sel, acc);
    } else {
        cpu_lin_write(cpu, base + 0x0e, 2, (uint16_t)cpu->rip, acc);
        cpu_lin_write(cpu, base + 0x10, 2, (uint16_t)eflags, acc);
        for (unsigned i = 0; i < 8; i++)
            cpu_lin_write(cpu, base + 0x12 + 2 * i, 2, (uint16_t)cpu->r[i], acc);
        for (unsigned i = 0; i < 4; i++)
            cpu_lin_write(cpu, base + 0x22 + 2 * i, 2, cpu->seg[i].sel, acc);
    }
}

/* Segment loads of the new task: checks as for MOV to a segment register,
 * but failing with #TS(selector) (#NP / #SS when not present). */
static void task_load_ldt(struct cpu_x86 *cpu, uint16_t sel)
{
    struct cpu_seg *s = &cpu->seg[S_LDTR];
    if (!(sel & 0xfffc)) {
        s->sel = sel;
        s->base = 0;
        s->limit = 0;
        s->flags = 0;
        return;
    }
    if (sel & 4)
        cpu_raise(cpu, EXC_TS, sel & 0xfffc);
    if ((uint64_t)(sel & ~7u) + 7 > cpu->gdt.limit)
        cpu_raise(cpu, EXC_TS, sel & 0xfffc);
    uint64_t d = cpu_lin_read(cpu, cpu->gdt.base + (sel & ~7u), 8, ACC_R | ACC_SUPER);
    if (desc_s(d) || desc_type(d) != 2 || !desc_present(d))
        cpu_raise(cpu, EXC_TS, sel & 0xfffc);
    cpu_desc_to_seg(d, 0, sel, s);
}

static uint64_t task_desc(struct cpu_x86 *cpu, uint16_t sel)
{
    if (!(sel & 0xfffc))
        cpu_raise(cpu, EXC_TS, 0);
    return cpu_read_desc(cpu, sel, EXC_TS);
}

/* A 16-bit TSS holds no FS and GS: those stay as they are. */
static void task_load_segs(struct cpu_x86 *cpu, const struct task_image *t, bool is32)
{
    /* CS: code; non-conforming DPL = RPL, conforming DPL <= RPL */
    uint16_t cs = t->seg[S_CS];
    uint64_t d = task_desc(cpu, cs);
    unsigned rpl = cs & 3, type = desc_type(d);
    if (!desc_s(d) || !(type & 8) || ((type & 4) ? desc_dpl(d) > rpl : desc_dpl(d) != rpl))
        cpu_raise(cpu, EXC_TS, cs & 0xfffc);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, cs & 0xfffc);
    cpu_desc_to_seg(d | (1ull << 40), 0, cs, &cpu->seg[S_CS]);
    unsigned cpl = rpl;

    /* SS: writable data at the new CPL */
    uint16_t ss = t->seg[S_SS];
    d = task_desc(cpu, ss);
    type = desc_type(d);
    if (!desc_s(d) || (type & 8) || !(type & 2) || (ss & 3) != cpl || desc_dpl(d) != cpl)
        cpu_raise(cpu, EXC_TS, ss & 0xfffc);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_SS, ss & 0xfffc);
    cpu_desc_to_seg(d | (1ull << 40), 0, ss, &cpu->seg[S_SS]);
    cpu_update_mode(cpu);

    static const unsigned data[] = { S_ES, S_DS, S_FS, S_GS };
    for (unsigned i = 0; i < (is32 ? 4u : 2u); i++) {
        unsigned sn = data[i];
        uint16_t sel = t->seg[sn];
        struct cpu_seg *s = &cpu->seg[sn];
        if (!(sel & 0xfffc)) {
            s->sel = sel;
            s->base = 0;
            s->limit = 0;
            s->flags = 0;
            continue;
        }
        d = cpu_read_desc(cpu, sel, EXC_TS);
        type = desc_type(d);
        bool readable = !(type & 8) || (type & 2);
        bool conforming = (type & 0xc) == 0xc;
        if (!desc_s(d) || !readable ||
            (!conforming && (desc_dpl(d) < cpl || desc_dpl(d) < (sel & 3u))))
            cpu_raise(cpu, EXC_TS, sel & 0xfffc);
        if (!desc_present(d))
            cpu_raise(cpu, EXC_NP, sel & 0xfffc);
        cpu_desc_to_seg(d | (1ull << 40), 0, sel, s);
    }
    cpu_update_mode(cpu);
}

void cpu_task_switch(struct cpu_x86 *cpu, uint16_t sel, uint64_t d, enum cpu_task_reason why,
                     bool has_err, uint32_t err, unsigned ext)
{
    unsigned type = desc_type(d);
    int bad = why == TASK_IRET ? EXC_TS : EXC_GP;
    if (cpu_lma(cpu))
        cpu_raise(cpu, EXC_GP, (sel & 0xfffc) + ext);
    if ((sel & 4) || desc_s(d) || (type & 5) != 1)
        cpu_raise(cpu, bad, (sel & 0xfffc) + ext);
    bool busy = type & 2, is32 = type & 8;
    if (why == TASK_IRET ? !busy : busy)
        cpu_raise(cpu, bad, (sel & 0xfffc) + ext);
    if (!desc_present(d))
        cpu_raise(cpu, EXC_NP, (sel & 0xfffc) + ext);
    if (desc_limit(d) < (is32 ? 0x67u : 0x2bu))
        cpu_raise(cpu, EXC_TS, (sel & 0xfffc) + ext);

    struct cpu_seg *tr = &cpu->seg[S_TR];
    bool old32 = SEGF_TYPE(tr->flags) & 8;
    if (!(tr->sel & 0xfffc) || tr->limit < (old32 ? 0x67u : 0x2bu))
        cpu_raise(cpu, EXC_TS, (tr->sel & 0xfffc) + ext);

    /* read the new task first (a fault here leaves everything as it was) */
    uint64_t nbase = desc_base(d);
    struct task_image t;
    tss_read(cpu, nbase, is32, &t);
    uint16_t old_sel = tr->sel;

    /* save the old task */
    uint32_t fl = (uint32_t)cpu_flags(cpu);
    if (why == TASK_IRET)
        fl &= ~F_NT;
    tss_save(cpu, tr->base, old32, fl);
    if (why == TASK_JMP || why == TASK_IRET)
        set_busy(cpu, old_sel, false);
    if (why == TASK_CALL || why == TASK_INT) {
        cpu_lin_write(cpu, nbase, 2, old_sel, ACC_W | ACC_SUPER);
        t.eflags |= F_NT;
    }
    if (why != TASK_IRET)
        set_busy(cpu, sel, true);

    /* switch TR; from here on faults belong to the new task */
    cpu_desc_to_seg(d | (2ull << 40), 0, sel, tr);
    cpu->cr0 |= CR0_TS;
    if (is32 && (cpu->cr0 & CR0_PG) && (cpu->cr3 & ~0xfffull) != (t.cr3 & ~0xfffull)) {
        cpu->cr3 = t.cr3;
        cpu_tlb_flush(cpu, false);
    }
    for (unsigned i = 0; i < 8; i++)
        cpu->r[i] = is32 ? t.r[i] : (cpu->r[i] & ~0xffffull) | t.r[i];
    cpu_set_flags(cpu, t.eflags | 2, is32 ? 0x3f7fd5u : 0x7fd5u);
    cpu->rip = t.eip;
    cpu->insn_rip = t.eip;
    for (unsigned i = 0; i < (is32 ? 6u : 4u); i++)
        cpu->seg[i].sel = t.seg[i];
    cpu->inhibit_irq = 0;

    task_load_ldt(cpu, t.ldt);
    if (is32 && (t.eflags & F_VM)) {
        for (unsigned i = 0; i < 6; i++)
            cpu_load_seg_real(cpu, i, t.seg[i]);
        cpu_update_mode(cpu);
    } else {
        task_load_segs(cpu, &t, is32);
    }
    if (cpu->rip > cpu->seg[S_CS].limit && !cpu_vm86(cpu))
        cpu_gp0(cpu);
    if (has_err)
        cpu_push(cpu, is32 ? 4 : 2, err);
}

void cpu_task_return(struct cpu_x86 *cpu)
{
    struct cpu_seg *tr = &cpu->seg[S_TR];
    uint16_t link = (uint16_t)cpu_lin_read(cpu, tr->base, 2, ACC_R | ACC_SUPER);
    if ((link & 4) || !(link & 0xfffc))
        cpu_raise(cpu, EXC_TS, link & 0xfffc);
    uint64_t d = cpu_read_desc(cpu, link, EXC_TS);
    cpu_task_switch(cpu, link, d, TASK_IRET, false, 0, 0);
}

/* ---- gates --------------------------------------------------------------- */

/* Call gate: legacy 8-byte (type 4: 16-bit, type 0xC: 32-bit) or, in long
 * mode, 16-byte 64-bit (type 0xC). */
static void call_gate(struct cpu_x86 *cpu, uint16_t sel, uint64_t g, bool call, unsigned opsize)
{
    bool lm = cpu_lma(cpu);
    unsigned gtype = desc_type(g);
    uint64_t off = (g & 0xffff) | ((g >> 32) & 0xffff0000ull);
    if (lm) {
        if (gtype != 0xc)
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        if ((uint64_t)(sel & ~7u) + 15 > ((sel & 4) ? cpu->seg[S_LDTR].limit : cpu->gdt.limit))
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        uint64_t base = (sel & 4) ? cpu->seg[S_LDTR].base : cpu->gdt.base;
        uint64_t hi = cpu_lin_read(cpu, base + (sel & ~7u) + 8, 8, ACC_R | ACC_SUPER);
        if ((hi >> 40) & 0x1f)       /* the upper half's type must be 0 */
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        off |= hi << 32;
    } else if (gtype == 4) {
        off &= 0xffff;
    }
    if (desc_dpl(g) < cpu->cpl || desc_dpl(g) < (sel & 3u))
        cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (!desc_present(g))
        cpu_raise(cpu, EXC_NP, sel & 0xfffc);
    uint16_t csel = (uint16_t)(g >> 16);
    if (!(csel & 0xfffc))
        cpu_gp0(cpu);
    uint64_t cd = cpu_read_desc(cpu, csel, EXC_GP);
    unsigned ctype = desc_type(cd), dpl = desc_dpl(cd);
    bool conforming = ctype & 4;
    if (!desc_s(cd) || !(ctype & 8) || dpl > cpu->cpl)
        cpu_raise(cpu, EXC_GP, csel & 0xfffc);
    if (lm && (!((cd >> 53) & 1) || ((cd >> 54) & 1)))
        cpu_raise(cpu, EXC_GP, csel & 0xfffc);
    if (!call && !conforming && dpl != cpu->cpl)
        cpu_raise(cpu, EXC_GP, csel & 0xfffc);
    if (!desc_present(cd))
        cpu_raise(cpu, EXC_NP, csel & 0xfffc);
    if (!lm && off > desc_limit(cd))
        cpu_gp0(cpu);

    if (!call) {
        cpu_load_cs_raw(cpu, csel, cd, 0, cpu->cpl);
        cpu->rip = off;
        return;
    }
    unsigned psz = lm ? 8 : gtype == 0xc ? 4 : 2;
    (void)opsize;
    if (conforming || dpl == cpu->cpl) {
        /* same privilege: push CS:(E)IP of the gate's size */
        uint64_t old_sp = cpu->r[R_SP];
        cpu_push(cpu, psz, cpu->seg[S_CS].sel);
        cpu_push(cpu, psz, cpu->rip);
        (void)old_sp;
        cpu_load_cs_raw(cpu, csel, cd, 0, cpu->cpl);
        cpu->rip = off;
        return;
    }

    /* inner privilege: new stack from the TSS, parameters copied */
    uint16_t nss;
    uint64_t nsp;
    cpu_tss_stack(cpu, dpl, &nss, &nsp);
    struct cpu_seg ss_new;
    bool ss32;
    if (lm) {
        ss_new.sel = (uint16_t)dpl;     /* null SS with RPL = new CPL */
        ss_new.base = 0;
        ss_new.limit = 0xffffffff;
        ss_new.flags = (uint16_t)(SEGF_P | SEGF_S | 3 | (dpl << 5) | SEGF_DB | SEGF_G);
        ss32 = true;
    } else {
        if (!(nss & 0xfffc))
            cpu_raise(cpu, EXC_TS, 0);
        uint64_t sd = cpu_read_desc(cpu, nss, EXC_TS);
        unsigned st = desc_type(sd);
        if ((nss & 3) != dpl || desc_dpl(sd) != dpl || !desc_s(sd) || (st & 8) || !(st & 2))
            cpu_raise(cpu, EXC_TS, nss & 0xfffc);
        if (!desc_present(sd))
            cpu_raise(cpu, EXC_SS, nss & 0xfffc);
        cpu_desc_to_seg(sd | (1ull << 40), 0, nss, &ss_new);
        ss32 = ss_new.flags & SEGF_DB;
    }
    unsigned pcount = lm ? 0 : (unsigned)((g >> 32) & 0x1f);
    uint64_t frame[2 + 31 + 2];
    unsigned n = 0;
    frame[n++] = cpu->seg[S_SS].sel;
    frame[n++] = cpu->r[R_SP];
    /* parameters from the old stack, the deepest first */
    for (unsigned i = pcount; i-- > 0;)
        frame[n++] = cpu_stack_peek(cpu, psz, (uint64_t)i * psz);
    frame[n++] = cpu->seg[S_CS].sel;
    frame[n++] = cpu->rip;
    uint64_t mask = lm ? ~0ull : ss32 ? 0xffffffffull : 0xffffull;
    uint64_t sp = nsp;
    if (lm)
        sp &= ~7ull;
    unsigned acc = ACC_W | ACC_SUPER;
    for (unsigned i = 0; i < n; i++) {
        sp = (sp & ~mask) | ((sp - psz) & mask);
        uint64_t lin = lm ? sp : (uint32_t)(ss_new.base + (sp & mask));
        if (lm && !cpu_canonical(lin))
            cpu_raise(cpu, EXC_SS, 0);
        if (!lm && !(ss_new.flags & 4) && (sp & mask) + psz - 1 > ss_new.limit)
            cpu_raise(cpu, EXC_SS, nss & 0xfffc);
        cpu_lin_write(cpu, lin, psz, frame[i], acc);
    }
    /* commit */
    cpu->seg[S_SS] = ss_new;
    cpu->r[R_SP] = lm ? sp : ss32 ? (uint32_t)sp : (cpu->r[R_SP] & ~0xffffull) | (sp & 0xffff);
    cpu_load_cs_raw(cpu, csel, cd, 0, (uint8_t)dpl);
    cpu->rip = off;
    cpu_update_mode(cpu);
}

void cpu_far_system(struct cpu_x86 *cpu, uint16_t sel, uint64_t d, bool call, unsigned opsize)
{
    unsigned type = desc_type(d);
    switch (type) {
    case 4: case 0xc:
        call_gate(cpu, sel, d, call, opsize);
        return;
    case 1: case 9:                              /* available TSS */
        if (cpu_lma(cpu))
            break;
        if (desc_dpl(d) < cpu->cpl || desc_dpl(d) < (sel & 3u))
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        cpu_task_switch(cpu, sel, d, call ? TASK_CALL : TASK_JMP, false, 0, 0);
        return;
    case 5: {                                    /* task gate */
        if (cpu_lma(cpu))
            break;
        if (desc_dpl(d) < cpu->cpl || desc_dpl(d) < (sel & 3u))
            cpu_raise(cpu, EXC_GP, sel & 0xfffc);
        if (!desc_present(d))
            cpu_raise(cpu, EXC_NP, sel & 0xfffc);
        uint16_t tss = (uint16_t)(d >> 16);
        if ((tss & 4) || !(tss & 0xfffc))
            cpu_raise(cpu, EXC_GP, tss & 0xfffc);
        uint64_t td = cpu_read_desc(cpu, tss, EXC_GP);
        cpu_task_switch(cpu, tss, td, call ? TASK_CALL : TASK_JMP, false, 0, 0);
        return;
    }
    default:
        break;
    }
    cpu_raise(cpu, EXC_GP, sel & 0xfffc);
}
