/* Loading a guest: Linux boot protocol (bzImage, vmlinux ELF), Multiboot v1
 * (ELF32 and the a.out kludge), and the register state each one starts in.
 * Registers are set through the accelerator ops, so KVM and the software
 * CPU share this code. All image parsing treats the file as hostile:
 * every offset and length is checked against the file and guest RAM. */
#ifndef VK_VM_BOOT_H
#define VK_VM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct machine;
struct vcpu;

/* Load cfg->kernel (+ initrd, append) into RAM and set up the boot vCPU.
 * Called at creation and again on every reboot. */
int boot_load(struct machine *m, struct vk_err *err) VK_MUST_CHECK;

/* Offset of a valid Multiboot v1 header in the first 8 KiB, or -1. */
long multiboot_find_header(const uint8_t *img, size_t len);

/* Each loader returns -ENOEXEC when the image is not its format. */
int boot_multiboot(struct machine *m, const uint8_t *img, size_t len, struct vk_err *err);
int boot_linux(struct machine *m, const uint8_t *img, size_t len, struct vk_err *err);

/* ELF (32 or 64-bit) loading by physical address. `entry` is translated
 * to a physical address through the segment that contains it. */
struct elf_info {
    bool is64;
    uint64_t entry;       /* physical */
    uint64_t lo, hi;      /* lowest and highest physical address loaded */
};
int elf_probe(const uint8_t *img, size_t len);   /* 32, 64, or 0 if not ELF x86 */
int elf_load(struct machine *m, const uint8_t *img, size_t len, struct elf_info *info,
             struct vk_err *err);

/* Copy into guest RAM; -EFAULT with detail if [gpa, gpa+len) is not RAM. */
int boot_copy(struct machine *m, uint64_t gpa, const void *src, size_t len, struct vk_err *err);
int boot_zero(struct machine *m, uint64_t gpa, size_t len, struct vk_err *err);
/* End of RAM below 4 GiB. */
uint64_t boot_low_ram_end(const struct machine *m);

/* Register set-ups shared by the loaders. */
int boot_set_flat32(struct vcpu *v, uint32_t eip, uint32_t eax, uint32_t ebx, uint32_t esi,
                    bool linux_selectors, uint64_t gdt_base);
int boot_set_long64(struct vcpu *v, uint64_t rip, uint64_t rsi, uint64_t gdt_base,
                    uint64_t cr3);

/* The Linux zero page (struct boot_params, 4 KiB) for a bzImage, built
 * without touching guest RAM so it can be unit tested. */
struct linux_boot_params {
    uint64_t cmdline_addr;
    uint32_t cmdline_len;          /* without the NUL */
    uint64_t initrd_addr, initrd_size;
    const struct e820_entry *e820;
    unsigned nr_e820;
};
/* Fill zp (4096 bytes) from the image's setup header and p. Returns 0 or
 * -ENOEXEC/-EINVAL with detail. */
int linux_build_zero_page(uint8_t *zp, const uint8_t *img, size_t len,
                          const struct linux_boot_params *p, struct vk_err *err);

#define LINUX_ZERO_PAGE  0x7000
#define LINUX_CMDLINE    0x20000
#define BOOT_GDT         0x500
#define BOOT_PML4        0x9000

#endif
