/* Host capability probing shared by `virtkit host-validate` and
 * `virtkit-vm --accel auto`. Every path goes through a root prefix so
 * tests can fake /proc, /sys, /dev and /etc. */
#ifndef VK_UTIL_HOST_H
#define VK_UTIL_HOST_H

#include <stdbool.h>

enum vk_kvm_flavour {
    VK_KVM_NONE,        /* no usable /dev/kvm */
    VK_KVM_HW,          /* VT-x/AMD-V: stock guests run natively */
    VK_KVM_PVM,         /* PVM-based: only PVM-enabled guest kernels run accelerated */
};

/* Which kvm module is loaded: "kvm_intel", "kvm_amd", "kvm_pvm" or NULL. */
const char *vk_host_kvm_module(const char *root);
/* Flavour from the loaded modules and whether /dev/kvm exists. */
enum vk_kvm_flavour vk_host_kvm_flavour(const char *root);
/* Build "<root><path>" into buf (root may be NULL or ""). */
const char *vk_host_path(const char *root, const char *path, char *buf, unsigned len);
/* True if the line-oriented file contains a word-bounded token. */
bool vk_host_file_has_word(const char *file, const char *word);

#endif
