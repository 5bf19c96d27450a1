/* accel/kvm_cpuid.c: CPU models over a synthetic KVM_GET_SUPPORTED_CPUID
 * table (no /dev/kvm needed). */
#include <errno.h>
#include <stdlib.h>

#include "accel/kvm_cpuid.h"
#include "tap.h"

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (unsigned i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx)
            return &c->entries[i];
    return NULL;
}

int main(void)
{
    struct kvm_cpuid2 *sup = calloc(1, sizeof(*sup) + 8 * sizeof(struct kvm_cpuid_entry2));
    struct kvm_cpuid_entry2 e[] = {
        { .function = 0, .eax = 0x1f, .ebx = 0x756e6547 },
        { .function = 1, .eax = 0x806c1, .ebx = 0x00010800, .ecx = 0xfffa3203 | (1u << 27),
          .edx = 0x178bfbff },
        { .function = 7, .ebx = 0xffffffff },
        { .function = 0xb, .index = 0, .eax = 1, .ebx = 1, .ecx = 0x100, .edx = 0x55 },
        { .function = 0xd, .eax = 0x7 },
        { .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b },
        { .function = 0x80000001, .ecx = 0x121, .edx = 0x2c100800 },
        { .function = 0x80000008, .eax = 0x3030 },
    };
    sup->nent = 8;
    memcpy(sup->entries, e, sizeof(e));

    struct kvm_cpuid2 *c = NULL;
    struct vk_err err = { 0 };
    tap_is_int(kvm_cpuid_build(sup, "pentium", 0, 1, &c, &err), -EINVAL, "unknown model refused");
    tap_ok(strstr(err.msg, "pentium") != NULL, "error names it: %s", err.msg);

    tap_is_int(kvm_cpuid_build(sup, "host", 2, 4, &c, &err), 0, "host model");
    tap_is_int(c->nent, 8, "host keeps every leaf");
    const struct kvm_cpuid_entry2 *l1 = find(c, 1, 0);
    tap_is_int(l1->ebx >> 24, 2, "leaf 1: initial APIC ID = vCPU index");
    tap_is_int((l1->ebx >> 16) & 0xff, 4, "leaf 1: logical processor count");
    tap_ok(l1->edx & (1u << 28), "leaf 1: HTT with several CPUs");
    tap_ok(l1->ecx & (1u << 31), "leaf 1: hypervisor bit");
    tap_ok(!(l1->ecx & (1u << 27)), "leaf 1: OSXSAVE left to KVM");
    tap_is_int(find(c, 0xb, 0)->edx, 2, "leaf 0xB: x2APIC ID");
    tap_is_int(find(c, 7, 0)->ebx, 0xffffffff, "host: leaf 7 passes through");
    free(c);

    tap_is_int(kvm_cpuid_build(sup, "baseline", 0, 1, &c, &err), 0, "baseline model");
    l1 = find(c, 1, 0);
    tap_ok(!(l1->ecx & (1u << 28)), "baseline: no AVX");
    tap_ok(!(l1->ecx & (1u << 26)), "baseline: no XSAVE");
    tap_ok(l1->ecx & 1 && l1->ecx & (1u << 13), "baseline: SSE3 and CX16");
    tap_ok((l1->edx & 0x06000000) == 0x06000000, "baseline: SSE and SSE2");
    tap_ok(!(l1->edx & (1u << 28)), "baseline: no HTT with one CPU");
    tap_ok(find(c, 7, 0) == NULL || find(c, 7, 0)->ebx == 0, "baseline: no leaf-7 features");
    tap_ok(find(c, 0xd, 0) == NULL || find(c, 0xd, 0)->eax == 0, "baseline: no XSAVE leaf");
    tap_ok(find(c, 0, 0)->eax <= 0xd, "baseline: max basic leaf capped");
    tap_ok(find(c, 0x40000000, 0) != NULL, "baseline: KVM signature leaf kept");
    const struct kvm_cpuid_entry2 *x1 = find(c, 0x80000001, 0);
    tap_ok(x1->edx & (1u << 29) && x1->edx & (1u << 20), "baseline: LM and NX");
    tap_ok(!(x1->ecx & (1u << 8)), "baseline: no PREFETCHW/3DNow extras");
    tap_ok(find(c, 0x80000008, 0) != NULL, "baseline: address sizes leaf kept");
    free(c);
    free(sup);
    return tap_done();
}
