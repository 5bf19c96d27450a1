/* Exceptions and interrupts: raising (longjmp to the dispatcher) and
 * delivery through the IVT (real mode) or IDT (protected / long mode). */
#include <stdarg.h>
#include <stdio.h>
#include "sys.h"

_Noreturn void cpu_raise(struct cpu_x86 *cpu, int vector, uint32_t error_code)
{
    cpu->exc_vector = vector;
    cpu->exc_error = error_code;
    cpu->exc_has_error = true;
    cpu->exc_soft = false;
    longjmp(cpu->jb, 1);
}

_Noreturn void cpu_raise_noerr(struct cpu_x86 *cpu, int vector)
{
    cpu->exc_vector = vector;
    cpu->exc_error = 0;
    cpu->exc_has_error = false;
    cpu->exc_soft = false;
    longjmp(cpu->jb, 1);
}

_Noreturn void cpu_raise_soft(struct cpu_x86 *cpu, int vector)
{
    cpu->exc_vector = vector;
    cpu->exc_error = 0;
    cpu->exc_has_error = false;
    cpu->exc_soft = true;
    longjmp(cpu->jb, 1);
}

_Noreturn void cpu_fail(struct cpu_x86 *cpu, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cpu->errmsg, sizeof(cpu->errmsg), fmt, ap);
    va_end(ap);
    longjmp(cpu->jb, 2);
}

void cpu_fpu_check_nm(struct cpu_x86 *cpu, bool sse)
{
    if (sse) {
        if (cpu->cr0 & CR0_EM)
            cpu_ud(cpu);
        if (!(cpu->cr4 & CR4_OSFXSR))
            cpu_ud(cpu);
    } else if (cpu->cr0 & CR0_EM) {
        cpu_raise_noerr(cpu, EXC_NM);
    }
    if (cpu->cr0 & CR0_TS)
        cpu_raise_noerr(cpu, EXC_NM);
}


static bool has_error_code(int v)
{
    return v == EXC_DF || v == EXC_TS || v == EXC_NP || v == EXC_SS ||
           v == EXC_GP || v == EXC_PF || v == EXC_AC;
}

/* Real mode: IVT entry of 4 bytes, push FLAGS, CS, IP. */
static void deliver_real(struct cpu_x86 *cpu, int vector)
{
    uint64_t ent;
    if ((uint64_t)vector * 4 + 3 > cpu->idt.limit)
        cpu_raise(cpu, EXC_GP, vector * 8 + 2);
    ent = cpu_lin_read(cpu, cpu->idt.base + vector * 4, 4, ACC_R | ACC_SUPER);
    cpu_push(cpu, 2, cpu_flags(cpu));
    cpu_push(cpu, 2, cpu->seg[S_CS].sel);
    cpu_push(cpu, 2, cpu->rip);
    cpu->eflags &= ~(F_IF | F_TF | F_AC | F_RF);
    cpu_load_seg_real(cpu, S_CS, (uint16_t)(ent >> 16));
    cpu->rip = ent & 0xffff;
    cpu_update_mode(cpu);
}

static void deliver_long(struct cpu_x86 *cpu, int vector, bool has_err, uint32_t err,
                         bool soft, uint32_t ext)
{
    uint64_t lo, hi, off, sp, cs_d;
    unsigned type, dpl, ist, new_cpl;
    uint16_t sel;

    if ((uint64_t)vector * 16 + 15 > cpu->idt.limit)
        cpu_raise(cpu, EXC_GP, vector * 8 + 2 + ext);
    lo = cpu_lin_read(cpu, cpu->idt.base + vector * 16, 8, ACC_R | ACC_SUPER);
    hi = cpu_lin_read(cpu, cpu->idt.base + vector * 16 + 8, 8, ACC_R | ACC_SUPER);
    type = (lo >> 40) & 0xf;
    dpl = (lo >> 45) & 3;
    if (type != 0xe && type != 0xf)
        cpu_raise(cpu, EXC_GP, vector * 8 + 2 + ext);
    if (soft && dpl < cpu->cpl)
        cpu_raise(cpu, EXC_GP, vector * 8 + 2);
    if (!((lo >> 47) & 1))
        cpu_raise(cpu, EXC_NP, vector * 8 + 2 + ext);
    sel = (uint16_t)(lo >> 16);
    off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull) | (hi << 32);
    ist = (lo >> 32) & 7;
    if (!(sel & 0xfffc))
        cpu_raise(cpu, EXC_GP, ext);
    cs_d = cpu_read_desc(cpu, sel, EXC_GP);
    if (!((cs_d >> 44) & 1) || !((cs_d >> 43) & 1) || !((cs_d >> 53) & 1) || ((cs_d >> 54) & 1))
        cpu_raise(cpu, EXC_GP, (sel & 0xfffc) + ext);
    new_cpl = (cs_d >> 45) & 3;
    if ((cs_d >> 42) & 1)   /* conforming */
        new_cpl = cpu->cpl;
    if (new_cpl > cpu->cpl)
        cpu_raise(cpu, EXC_GP, (sel & 0xfffc) + ext);
    if (!((cs_d >> 47) & 1))
        cpu_raise(cpu, EXC_NP, (sel & 0xfffc) + ext);

    uint64_t old_ss = cpu->seg[S_SS].sel, old_sp = cpu->r[R_SP];
    if (ist) {
        sp = cpu_lin_read(cpu, cpu->seg[S_TR].base + 0x24 + (ist - 1) * 8, 8, ACC_R | ACC_SUPER);
    } else if (new_cpl < cpu->cpl) {
        sp = cpu_lin_read(cpu, cpu->seg[S_TR].base + 4 + new_cpl * 8, 8, ACC_R | ACC_SUPER);
    } else {
        sp = cpu->r[R_SP];
    }
    sp &= ~0xfull;
    uint64_t rfl = cpu_flags(cpu);
    uint64_t frame[6];
    int n = 0;
    frame[n++] = old_ss;
    frame[n++] = old_sp;
    frame[n++] = rfl;
    frame[n++] = cpu->seg[S_CS].sel;
    frame[n++] = cpu->rip;
    if (has_err)
        frame[n++] = err;
    unsigned acc = ACC_W | (new_cpl < 3 ? ACC_SUPER : 0);
    for (int i = 0; i < n; i++) {
        sp -= 8;
        if (!cpu_canonical(sp))
            cpu_raise(cpu, EXC_SS, 0);
        cpu_lin_write(cpu, sp, 8, frame[i], acc);
    }
    /* commit */
    if (new_cpl != cpu->cpl) {
        cpu->seg[S_SS].sel = (uint16_t)new_cpl;
        cpu->seg[S_SS].base = 0;
        cpu->seg[S_SS].limit = 0xffffffff;
        cpu->seg[S_SS].flags = (uint16_t)(SEGF_P | SEGF_S | 3 | (new_cpl << 5) | SEGF_DB | SEGF_G);
    }
    cpu_load_cs_raw(cpu, (uint16_t)((sel & 0xfffc) | new_cpl), cs_d, 0, (uint8_t)new_cpl);
    cpu->r[R_SP] = sp;
    cpu->rip = off;
    cpu->eflags &= ~(F_TF | F_NT | F_RF | F_VM);
    if (type == 0xe)
        cpu->eflags &= ~F_IF;
    cpu_update_mode(cpu);
}

static void deliver_prot(struct cpu_x86 *cpu, int vector, bool has_err, uint32_t err,
                         bool soft, uint32_t ext)
{
    uint64_t g, cs_d;
    unsigned type, dpl, new_cpl;
    uint16_t sel;
    uint32_t off;

    if ((uint64_t)vector * 8 + 7 > cpu->idt.limit)
        cpu_raise(cpu, EXC_GP, vector * 8 + 2 + ext);
    g = cpu_lin_read(cpu, cpu->idt.base + vector * 8, 8, ACC_R | ACC_SUPER);
    type = (g >> 40) & 0x1f;
    dpl = (g >> 45) & 3;
    if (type == 0x05) {     /* task gate: the handler is another task */
        if (soft && dpl < cpu->cpl)
            cpu_raise(cpu, EXC_GP, vector * 8 + 2);
        if (!((g >> 47) & 1))
            cpu_raise(cpu, EXC_NP, vector * 8 + 2 + ext);
        uint16_t tss = (uint16_t)(g >> 16);
        if ((tss & 4) || !(tss & 0xfffc))
            cpu_raise(cpu, EXC_TS, (tss & 0xfffc) + ext);
        uint64_t td = cpu_read_desc(cpu, tss, EXC_TS);
        cpu_task_switch(cpu, tss, td, TASK_INT, has_err, err, ext);
        return;
    }
    if (type != 0x06 && type != 0x07 && type != 0x0e && type != 0x0f)
        cpu_raise(cpu, EXC_GP, vector * 8 + 2 + ext);
    if (soft && dpl < cpu->cpl)
        cpu_raise(cpu, EXC_GP, vector * 8 + 2);
    if (!((g >> 47) & 1))
        cpu_raise(cpu, EXC_NP, vector * 8 + 2 + ext);
    sel = (uint16_t)(g >> 16);
    off = (uint32_t)((g & 0xffff) | ((g >> 32) & 0xffff0000ull));
    bool gate32 = type & 8;
    if (!gate32)
        off &= 0xffff;
    if (!(sel & 0xfffc))
        cpu_raise(cpu, EXC_GP, ext);
    cs_d = cpu_read_desc(cpu, sel, EXC_GP);
    if (!((cs_d >> 44) & 1) || !((cs_d >> 43) & 1))
        cpu_raise(cpu, EXC_GP, (sel & 0xfffc) + ext);
    new_cpl = (cs_d >> 45) & 3;
    if ((cs_d >> 42) & 1)
        new_cpl = cpu->cpl;
    if (new_cpl > cpu->cpl)
        cpu_raise(cpu, EXC_GP, (sel & 0xfffc) + ext);
    if (!((cs_d >> 47) & 1))
        cpu_raise(cpu, EXC_NP, (sel & 0xfffc) + ext);

    bool vm86 = cpu_vm86(cpu);
    unsigned psz = gate32 ? 4 : 2;
    uint32_t frame[11];
    int n = 0;
    uint16_t new_ss_sel = cpu->seg[S_SS].sel;
    uint64_t sp;
    struct cpu_seg new_ss = cpu->seg[S_SS];
    bool ss32 = cpu->stack32;

    if (vm86 && new_cpl != 0)
        cpu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (new_cpl < cpu->cpl) {
        uint16_t ss;
        uint64_t ssd;
        cpu_tss_stack(cpu, new_cpl, &ss, &sp);
        if (!(ss & 0xfffc))
            cpu_raise(cpu, EXC_TS, ext);
        ssd = cpu_read_desc(cpu, ss, EXC_TS);
        if ((ss & 3) != new_cpl || ((ssd >> 45) & 3) != new_cpl ||
            ((ssd >> 43) & 1) || !((ssd >> 41) & 1) || !((ssd >> 44) & 1))
            cpu_raise(cpu, EXC_TS, (ss & 0xfffc) + ext);
        if (!((ssd >> 47) & 1))
            cpu_raise(cpu, EXC_SS, (ss & 0xfffc) + ext);
        cpu_desc_to_seg(ssd, 0, ss, &new_ss);
        new_ss_sel = ss;
        ss32 = new_ss.flags & SEGF_DB;
        if (vm86) {
            frame[n++] = cpu->seg[S_GS].sel;
            frame[n++] = cpu->seg[S_FS].sel;
            frame[n++] = cpu->seg[S_DS].sel;
            frame[n++] = cpu->seg[S_ES].sel;
        }
        frame[n++] = cpu->seg[S_SS].sel;
        frame[n++] = (uint32_t)cpu->r[R_SP];
    } else {
        sp = cpu->r[R_SP];
    }
    frame[n++] = (uint32_t)cpu_flags(cpu);
    frame[n++] = cpu->seg[S_CS].sel;
    frame[n++] = (uint32_t)cpu->rip;
    if (has_err)
        frame[n++] = err;
    uint32_t spmask = ss32 ? 0xffffffffu : 0xffffu;
    for (int i = 0; i < n; i++) {
        sp = (sp & ~(uint64_t)spmask) | ((sp - psz) & spmask);
        cpu_lin_write(cpu, (uint32_t)(new_ss.base + (sp & spmask)), psz, frame[i],
                      ACC_W | (new_cpl < 3 ? ACC_SUPER : 0));
    }
    /* commit */
    if (new_cpl < cpu->cpl) {
        cpu->seg[S_SS] = new_ss;
        cpu->seg[S_SS].sel = new_ss_sel;
        if (vm86) {
            for (unsigned s = 0; s < 6; s++)
                if (s != S_CS && s != S_SS) {
                    cpu->seg[s].sel = 0;
                    cpu->seg[s].flags = 0;
                    cpu->seg[s].base = 0;
                }
        }
    }
    if (ss32)
        cpu->r[R_SP] = (uint32_t)sp;
    else
        cpu->r[R_SP] = (cpu->r[R_SP] & ~0xffffull) | (sp & 0xffff);
    cpu->eflags &= ~(F_TF | F_NT | F_RF | F_VM);
    cpu_load_cs_raw(cpu, (uint16_t)((sel & 0xfffc) | new_cpl), cs_d, 0, (uint8_t)new_cpl);
    cpu->rip = off;
    if (!(type & 1))
        cpu->eflags &= ~F_IF;
    cpu_update_mode(cpu);
}

void cpu_deliver(struct cpu_x86 *cpu, int vector, bool has_err, uint32_t err,
                 bool soft, bool ext)
{
    /* A delivery counts against the run's budget like an instruction: a
     * handler that faults again at once (real mode, or through a task gate
     * that reloads its stack) loops without retiring anything and without
     * ever escalating to a double fault, and the run must still end. */
    cpu->retired++;
    if (!cpu_pe(cpu))
        deliver_real(cpu, vector);
    else if (cpu_lma(cpu))
        deliver_long(cpu, vector, has_err, err, soft, ext ? 1 : 0);
    else
        deliver_prot(cpu, vector, has_err, err, soft, ext ? 1 : 0);
}

bool cpu_exc_has_error(int vector)
{
    return has_error_code(vector);
}
