/* Choosing a boot protocol and the common register set-ups. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../machine.h"
#include "boot.h"

uint64_t boot_low_ram_end(const struct machine *m)
{
    for (unsigned i = 0; i < m->nr_ram; i++)
        if (m->ram[i].gpa == 0)
            return m->ram[i].size;
    return 0;
}

/* (declared in machine.h; lives here so boot code and its tests need no
 * whole machine) */
unsigned machine_e820(const struct machine *m, struct e820_entry *e, unsigned max)
{
    struct e820_entry all[8];
    unsigned n = 0;
    uint64_t low = 0;
    for (unsigned i = 0; i < m->nr_ram; i++)
        if (m->ram[i].gpa == 0)
            low = m->ram[i].size;
    /* Conventional memory up to the EBDA, the BIOS ROM area, then RAM from
     * 1 MiB to the PCI hole; the top of 4 GiB holds firmware and the
     * accelerator's private pages. */
    all[n++] = (struct e820_entry){ 0, VK_MIN(low, 0x9fc00ULL), E820_RAM };
    all[n++] = (struct e820_entry){ 0x9fc00, 0x400, E820_RESERVED };
    all[n++] = (struct e820_entry){ 0xf0000, 0x10000, E820_RESERVED };
    if (low > 0x100000)
        all[n++] = (struct e820_entry){ 0x100000, low - 0x100000, E820_RAM };
    all[n++] = (struct e820_entry){ 0xfffbc000, 0x100000000ULL - 0xfffbc000, E820_RESERVED };
    for (unsigned i = 0; i < m->nr_ram; i++)
        if (m->ram[i].gpa >= MACHINE_HIGH_RAM_START)
            all[n++] = (struct e820_entry){ m->ram[i].gpa, m->ram[i].size, E820_RAM };
    unsigned w = 0;
    for (unsigned i = 0; i < n && w < max; i++)
        if (all[i].size)
            e[w++] = all[i];
    return w;
}

int boot_copy(struct machine *m, uint64_t gpa, const void *src, size_t len, struct vk_err *err)
{
    if (len == 0)
        return 0;
    void *dst = machine_gpa_to_hva(m, gpa, len);
    if (!dst)
        return vk_err_set(err, -EFAULT, "0x%llx+0x%zx is outside guest RAM (too little --memory?)",
                          (unsigned long long)gpa, len);
    memcpy(dst, src, len);
    return 0;
}

int boot_zero(struct machine *m, uint64_t gpa, size_t len, struct vk_err *err)
{
    if (len == 0)
        return 0;
    void *dst = machine_gpa_to_hva(m, gpa, len);
    if (!dst)
        return vk_err_set(err, -EFAULT, "0x%llx+0x%zx is outside guest RAM (too little --memory?)",
                          (unsigned long long)gpa, len);
    memset(dst, 0, len);
    return 0;
}

static struct vk_segment flat(uint16_t sel, uint8_t type, bool code64)
{
    return (struct vk_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
                                .present = 1, .s = 1, .g = 1, .db = code64 ? 0 : 1,
                                .l = code64 ? 1 : 0 };
}

static void common_sregs(struct vk_sregs *s, uint16_t cs, uint16_t ds, bool code64,
                         uint64_t gdt_base)
{
    s->cs = flat(cs, 0xb, code64);
    s->ds = s->es = s->fs = s->gs = s->ss = flat(ds, 0x3, false);
    /* A busy 32-bit TSS and an unusable LDT: what VMX requires of a
     * protected-mode guest, harmless for the others. */
    s->tr = (struct vk_segment){ .limit = 0x67, .type = 0xb, .present = 1 };
    s->ldt = (struct vk_segment){ .limit = 0xffff, .type = 2, .present = 1, .unusable = 1 };
    s->gdt = (struct vk_dtable){ gdt_base, gdt_base ? 4 * 8 - 1 : 0 };
    s->idt = (struct vk_dtable){ 0, 0 };
}

int boot_set_flat32(struct vcpu *v, uint32_t eip, uint32_t eax, uint32_t ebx, uint32_t esi,
                    bool linux_selectors, uint64_t gdt_base)
{
    const struct accel_ops *a = v->m->accel;
    struct vk_sregs s;
    int rc = a->get_sregs(v, &s);
    if (rc < 0)
        return rc;
    common_sregs(&s, linux_selectors ? 0x10 : 0x08, linux_selectors ? 0x18 : 0x10, false,
                 gdt_base);
    s.cr0 = 0x11;   /* PE, ET */
    s.cr3 = s.cr4 = 0;
    s.efer = 0;
    rc = a->set_sregs(v, &s);
    if (rc < 0)
        return rc;
    struct vk_regs r = { .rip = eip, .rax = eax, .rbx = ebx, .rsi = esi, .rflags = 2 };
    return a->set_regs(v, &r);
}

int boot_set_long64(struct vcpu *v, uint64_t rip, uint64_t rsi, uint64_t gdt_base,
                    uint64_t cr3)
{
    const struct accel_ops *a = v->m->accel;
    struct vk_sregs s;
    int rc = a->get_sregs(v, &s);
    if (rc < 0)
        return rc;
    common_sregs(&s, 0x10, 0x18, true, gdt_base);
    s.cr0 = 0x80050033;   /* PG, AM, WP, NE, ET, MP, PE */
    s.cr3 = cr3;
    s.cr4 = 0x20;         /* PAE */
    s.efer = 0x500;       /* LME, LMA */
    rc = a->set_sregs(v, &s);
    if (rc < 0)
        return rc;
    struct vk_regs r = { .rip = rip, .rsi = rsi, .rflags = 2 };
    return a->set_regs(v, &r);
}

/* fw_cfg lives in another file (devices/fw_cfg.c); weak so boot code and
 * its unit tests link without it. */
struct fw_cfg;
struct fw_cfg *fw_cfg_find(struct machine *m) __attribute__((weak));
int fw_cfg_add_file(struct fw_cfg *fc, const char *name, const void *data, size_t len,
                    struct vk_err *err) __attribute__((weak));

/* Firmware boot (SeaBIOS): the image is already mapped below 4 GiB (see
 * machine.c); the CPU starts at its reset vector. */
static int boot_firmware(struct machine *m, struct vk_err *err)
{
    size_t alias = VK_MIN(m->rom_size, (uint64_t)128 * 1024);
    int rc = boot_copy(m, 0x100000 - alias, m->rom + m->rom_size - alias, alias, err);
    if (rc < 0)
        return rc;
    /* Text output on COM1 ("etc/sercon-port", as QEMU without a display). */
    if (fw_cfg_find && fw_cfg_add_file && m->cfg->serial[0]) {
        struct fw_cfg *fc = fw_cfg_find(m);
        uint16_t port = 0x3f8;
        if (fc && (rc = fw_cfg_add_file(fc, "etc/sercon-port", &port, sizeof(port), err)) < 0)
            return rc;
    }
    if (m->accel->vcpu_reset)
        for (unsigned i = 0; i < m->nr_vcpus; i++)
            if ((rc = m->accel->vcpu_reset(m->vcpus[i])) < 0)
                return vk_err_errno(err, rc, "resetting vCPU %u", i);
    return 0;
}

int boot_load(struct machine *m, struct vk_err *err)
{
    const struct vm_config *cfg = m->cfg;
    if (!cfg->kernel) {
        if (cfg->firmware && m->rom)
            return boot_firmware(m, err);
        return vk_err_set(err, -EINVAL, "no --kernel given");
    }
    if (cfg->firmware)
        return vk_err_set(err, -ENOTSUP, "--firmware with --kernel is not supported yet "
                          "(give one or the other)");
    char *img;
    size_t len;
    int rc = vk_read_file(cfg->kernel, &img, &len, err);
    if (rc < 0)
        return rc;
    rc = boot_linux(m, (const uint8_t *)img, len, err);
    if (rc == -ENOEXEC)
        rc = boot_multiboot(m, (const uint8_t *)img, len, err);
    if (rc == -ENOEXEC)
        rc = vk_err_set(err, -ENOEXEC, "%s: not a Linux bzImage, vmlinux ELF or Multiboot kernel",
                        cfg->kernel);
    else if (rc < 0)
        vk_err_prefix(err, "%s", cfg->kernel);
    free(img);
    return rc;
}
