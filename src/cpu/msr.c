/* Model-specific registers and the time stamp counter. */
#include <errno.h>
#include "cpu_int.h"
#include "util.h"

uint64_t cpu_rdtsc(struct cpu_x86 *cpu)
{
    uint64_t t;
    if (cpu->env.tsc) {
        t = cpu->env.tsc(cpu->env.opaque);
    } else {
        unsigned __int128 ns = (unsigned __int128)(uint64_t)vk_now_ns();
        t = (uint64_t)(ns * cpu->env.tsc_hz / 1000000000u);
    }
    return t + cpu->tsc_offset;
}

static uint64_t *mtrr_reg(struct cpu_x86 *cpu, uint32_t msr)
{
    if (msr >= 0x200 && msr < 0x210)
        return &cpu->mtrr_var[msr - 0x200];
    switch (msr) {
    case 0x250: return &cpu->mtrr_fixed[0];
    case 0x258: return &cpu->mtrr_fixed[1];
    case 0x259: return &cpu->mtrr_fixed[2];
    case 0x2ff: return &cpu->mtrr_def;
    default:
        if (msr >= 0x268 && msr <= 0x26f)
            return &cpu->mtrr_fixed[3 + msr - 0x268];
        return NULL;
    }
}

static bool canonical(uint64_t v) { return cpu_canonical(v); }

int cpu_msr_read(struct cpu_x86 *cpu, uint32_t msr, uint64_t *v)
{
    uint64_t *m;
    if ((msr >= 0x800 && msr <= 0x8ff) || msr == 0x1b || msr == 0x6e0) {
        if (cpu->env.apic_read_msr)
            return cpu->env.apic_read_msr(cpu->env.opaque, msr, v);
        if (msr == 0x1b) { *v = cpu->apic_base; return 0; }
        if (msr == 0x6e0) { *v = cpu->tsc_deadline; return 0; }
        return -EINVAL;
    }
    if ((m = mtrr_reg(cpu, msr))) { *v = *m; return 0; }
    switch (msr) {
    case 0x10: *v = cpu_rdtsc(cpu); return 0;
    case 0x17: *v = 0; return 0;                  /* PLATFORM_ID */
    case 0x10a:   /* ARCH_CAPABILITIES: an interpreter has no speculative
                   * side channels (RDCL_NO, SKIP_L1DFL, SSB_NO, MDS_NO,
                   * PSCHANGE_MC_NO, TAA_NO, SBDR/FBSDP/PSDP_NO, GDS_NO,
                   * RFDS_NO, ITS_NO), so guests skip those mitigations */
        *v = (1ull << 0) | (1ull << 3) | (1ull << 4) | (1ull << 5) | (1ull << 6) |
             (1ull << 8) | (1ull << 13) | (1ull << 14) | (1ull << 15) | (1ull << 26) |
             (1ull << 27) | (1ull << 62);
        return 0;
    case 0x3a: *v = cpu->feature_control; return 0;
    case 0x3b: *v = cpu->tsc_adjust; return 0;
    case 0x8b: *v = 0; return 0;                  /* microcode revision */
    case 0xfe: *v = 0x508; return 0;              /* MTRRCAP: 8 var, fixed, WC */
    case 0x174: *v = cpu->sysenter_cs; return 0;
    case 0x175: *v = cpu->sysenter_esp; return 0;
    case 0x176: *v = cpu->sysenter_eip; return 0;
    case 0x179: *v = 0; return 0;                 /* MCG_CAP */
    case 0x17a: *v = cpu->mcg_status; return 0;
    case 0x1a0: *v = cpu->misc_enable; return 0;
    case 0x277: *v = cpu->pat; return 0;
    case 0xc0000080: *v = cpu->efer; return 0;
    case 0xc0000081: *v = cpu->star; return 0;
    case 0xc0000082: *v = cpu->lstar; return 0;
    case 0xc0000083: *v = cpu->cstar; return 0;
    case 0xc0000084: *v = cpu->sfmask; return 0;
    case 0xc0000100: *v = cpu->seg[S_FS].base; return 0;
    case 0xc0000101: *v = cpu->seg[S_GS].base; return 0;
    case 0xc0000102: *v = cpu->kernel_gs_base; return 0;
    case 0xc0000103: *v = cpu->tsc_aux; return 0;
    default: return -EINVAL;
    }
}

void cpu_write_efer(struct cpu_x86 *cpu, uint64_t v)
{
    cpu->efer = (v & (EFER_SCE | EFER_LME | EFER_NXE)) | (cpu->efer & EFER_LMA);
    cpu_tlb_flush(cpu, true);
    cpu_update_mode(cpu);
}

int cpu_msr_write(struct cpu_x86 *cpu, uint32_t msr, uint64_t v)
{
    uint64_t *m;
    if ((msr >= 0x800 && msr <= 0x8ff) || msr == 0x1b || msr == 0x6e0) {
        if (msr == 0x1b)
            cpu->apic_base = v;
        if (cpu->env.apic_write_msr)
            return cpu->env.apic_write_msr(cpu->env.opaque, msr, v);
        if (msr == 0x1b) return 0;
        if (msr == 0x6e0) { cpu->tsc_deadline = v; return 0; }
        return -EINVAL;
    }
    if ((m = mtrr_reg(cpu, msr))) { *m = v; return 0; }
    switch (msr) {
    case 0x10: {   /* a TSC write moves TSC_ADJUST by the same amount (SDM 17.17.3) */
        uint64_t d = v - cpu_rdtsc(cpu);
        cpu->tsc_offset += d;
        cpu->tsc_adjust += d;
        return 0;
    }
    case 0x3b:     /* IA32_TSC_ADJUST: writing it moves the TSC */
        cpu->tsc_offset += v - cpu->tsc_adjust;
        cpu->tsc_adjust = v;
        return 0;
    case 0x3a: cpu->feature_control = v; return 0;
    case 0x8b: return 0;
    case 0x174: cpu->sysenter_cs = v & 0xffff; return 0;
    case 0x175: if (!canonical(v)) return -EINVAL; cpu->sysenter_esp = v; return 0;
    case 0x176: if (!canonical(v)) return -EINVAL; cpu->sysenter_eip = v; return 0;
    case 0x17a: cpu->mcg_status = v; return 0;
    case 0x1a0: cpu->misc_enable = v; return 0;
    case 0x277: {
        for (int i = 0; i < 8; i++) {
            unsigned t = (v >> (8 * i)) & 0xff;
            if (t == 2 || t == 3 || t > 7)
                return -EINVAL;
        }
        cpu->pat = v;
        return 0;
    }
    case 0xc0000080:
        if (v & ~(uint64_t)(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
            return -EINVAL;
        if ((cpu->cr0 & CR0_PG) && ((v ^ cpu->efer) & EFER_LME))
            return -EINVAL;
        cpu_write_efer(cpu, v);
        return 0;
    case 0xc0000081: cpu->star = v; return 0;
    case 0xc0000082: if (!canonical(v)) return -EINVAL; cpu->lstar = v; return 0;
    case 0xc0000083: if (!canonical(v)) return -EINVAL; cpu->cstar = v; return 0;
    case 0xc0000084: cpu->sfmask = v & 0xffffffffu; return 0;
    case 0xc0000100: if (!canonical(v)) return -EINVAL; cpu->seg[S_FS].base = v; return 0;
    case 0xc0000101: if (!canonical(v)) return -EINVAL; cpu->seg[S_GS].base = v; return 0;
    case 0xc0000102: if (!canonical(v)) return -EINVAL; cpu->kernel_gs_base = v; return 0;
    case 0xc0000103: cpu->tsc_aux = v & 0xffffffffu; return 0;
    default: return -EINVAL;
    }
}
