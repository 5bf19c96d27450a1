/* CPU models for the KVM accelerator.
 *
 * "host" exposes everything KVM supports on this host (like QEMU's -cpu
 * host/max); "baseline" is a conservative x86-64 model (roughly QEMU's
 * qemu64: SSE2, SSE3, CX16, POPCNT, NX, LM, no AVX/XSAVE/leaf 7), for guests
 * that must not depend on the host. Both fix up the per-vCPU topology
 * fields (APIC IDs) and set the hypervisor bit.
 */
#include "kvm_cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const kvm_cpu_models[] = { "host", "baseline", NULL };

bool kvm_cpu_model_known(const char *name)
{
    for (unsigned i = 0; kvm_cpu_models[i]; i++)
        if (!strcmp(kvm_cpu_models[i], name))
            return true;
    return false;
}

/* baseline: which feature bits survive, per register. */
#define B1_EDX 0x0789fbffu   /* fpu..pse36 (no psn), clflush, mmx, fxsr, sse, sse2 */
#define B1_ECX ((1u << 0) | (1u << 13) | (1u << 23))  /* sse3, cx16, popcnt */
#define B81_EDX ((1u << 11) | (1u << 20) | (1u << 29)) /* syscall, nx, lm */
#define B81_ECX (1u << 0)                              /* lahf_lm */

static void baseline_filter(struct kvm_cpuid_entry2 *e)
{
    switch (e->function) {
    case 0:
        if (e->eax > 0xd)
            e->eax = 0xd;
        break;
    case 1:
        e->edx &= B1_EDX | (1u << 28) | (1u << 9);  /* HTT and APIC are topology-driven */
        e->ecx &= B1_ECX | (1u << 21) | (1u << 31);  /* x2apic stays if KVM has it */
        break;
    case 7: case 0xd:
        e->eax = e->ebx = e->ecx = e->edx = 0;
        break;
    case 0x80000001:
        e->edx &= B81_EDX | 0x0183f3ffu;   /* the leaf-1 mirror bits AMD defines */
        e->ecx &= B81_ECX;
        break;
    }
}

int kvm_cpuid_build(const struct kvm_cpuid2 *supported, const char *model, unsigned index,
                    unsigned ncpus, struct kvm_cpuid2 **out, struct vk_err *err)
{
    if (!kvm_cpu_model_known(model))
        return vk_err_set(err, -EINVAL, "unknown CPU model '%s' (want host or baseline)", model);
    size_t sz = sizeof(struct kvm_cpuid2) + supported->nent * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = calloc(1, sz);
    if (!c)
        return vk_err_set(err, -ENOMEM, "out of memory");
    memcpy(c, supported, sz);
    bool baseline = !strcmp(model, "baseline");
    unsigned w = 0;
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (baseline && e->function >= 0x7 && e->function < 0x40000000 && e->function != 0xb &&
            e->function != 0xd && e->function != 0x1f)
            continue;   /* drop leaves the baseline does not describe */
        if (baseline)
            baseline_filter(e);
        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0x0000ffffu) | ((ncpus & 0xff) << 16) | (index << 24);
            if (ncpus > 1)
                e->edx |= 1u << 28;       /* HTT: the count field is valid */
            else
                e->edx &= ~(1u << 28);
            e->ecx |= 1u << 31;           /* running on a hypervisor */
            e->ecx &= ~(1u << 27);        /* OSXSAVE mirrors CR4; KVM sets it */
            break;
        case 0xb: case 0x1f:
            e->edx = index;               /* x2APIC ID */
            break;
        }
        c->entries[w++] = *e;
    }
    c->nent = w;
    *out = c;
    return 0;
}
