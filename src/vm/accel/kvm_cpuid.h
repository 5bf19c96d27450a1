/* CPU models for KVM: KVM_GET_SUPPORTED_CPUID filtered through a named model. */
#ifndef VK_VM_KVM_CPUID_H
#define VK_VM_KVM_CPUID_H

#include <linux/kvm.h>

#include "util.h"

/* Known model names, for --help and errors. */
extern const char *const kvm_cpu_models[];
bool kvm_cpu_model_known(const char *name);

/* Build the CPUID table of one vCPU (APIC ID = index) from the host's
 * supported table. Returns a malloc'd kvm_cpuid2 in *out. */
int kvm_cpuid_build(const struct kvm_cpuid2 *supported, const char *model, unsigned index,
                    unsigned ncpus, struct kvm_cpuid2 **out, struct vk_err *err) VK_MUST_CHECK;

#endif
