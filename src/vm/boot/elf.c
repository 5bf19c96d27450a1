/* ELF loading by physical address (vmlinux, Multiboot ELF kernels). The
 * file is hostile: every header, offset and size is checked. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "../machine.h"
#include "boot.h"

int elf_probe(const uint8_t *img, size_t len)
{
    if (len < sizeof(Elf32_Ehdr) || memcmp(img, ELFMAG, SELFMAG))
        return 0;
    if (img[EI_CLASS] == ELFCLASS64 && len >= sizeof(Elf64_Ehdr)) {
        Elf64_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        return eh.e_machine == EM_X86_64 ? 64 : 0;
    }
    if (img[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        return eh.e_machine == EM_386 || eh.e_machine == EM_X86_64 ? 32 : 0;
    }
    return 0;
}

/* One program header in a class-independent form. */
struct phdr { uint32_t type; uint64_t off, vaddr, paddr, filesz, memsz; };

static int get_phdr(const uint8_t *img, size_t len, bool is64, uint64_t phoff, unsigned i,
                    unsigned phentsize, struct phdr *p)
{
    uint64_t at;
    if (vk_mul_overflow_u64(i, phentsize, &at) || vk_add_overflow_u64(at, phoff, &at))
        return -ENOEXEC;
    if (is64) {
        Elf64_Phdr ph;
        if (phentsize < sizeof(ph) || !vk_range_ok(at, sizeof(ph), len))
            return -ENOEXEC;
        memcpy(&ph, img + at, sizeof(ph));
        *p = (struct phdr){ ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz,
                            ph.p_memsz };
    } else {
        Elf32_Phdr ph;
        if (phentsize < sizeof(ph) || !vk_range_ok(at, sizeof(ph), len))
            return -ENOEXEC;
        memcpy(&ph, img + at, sizeof(ph));
        *p = (struct phdr){ ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz,
                            ph.p_memsz };
    }
    return 0;
}

int elf_load(struct machine *m, const uint8_t *img, size_t len, struct elf_info *info,
             struct vk_err *err)
{
    int cls = elf_probe(img, len);
    if (!cls)
        return -ENOEXEC;
    bool is64 = cls == 64;
    uint64_t phoff, entry;
    unsigned phnum, phentsize;
    if (is64) {
        Elf64_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        phoff = eh.e_phoff; phnum = eh.e_phnum; phentsize = eh.e_phentsize; entry = eh.e_entry;
    } else {
        Elf32_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        phoff = eh.e_phoff; phnum = eh.e_phnum; phentsize = eh.e_phentsize; entry = eh.e_entry;
    }
    if (phnum == 0 || phnum > 256)
        return vk_err_set(err, -ENOEXEC, "ELF: %u program headers", phnum);
    info->is64 = is64;
    info->lo = UINT64_MAX;
    info->hi = 0;
    info->entry = entry;
    bool entry_found = false;
    for (unsigned i = 0; i < phnum; i++) {
        struct phdr p;
        if (get_phdr(img, len, is64, phoff, i, phentsize, &p) < 0)
            return vk_err_set(err, -ENOEXEC, "ELF: program header %u is outside the file", i);
        if (p.type != PT_LOAD || p.memsz == 0)
            continue;
        if (p.filesz > p.memsz || !vk_range_ok(p.off, p.filesz, len))
            return vk_err_set(err, -ENOEXEC, "ELF: segment %u is outside the file", i);
        uint64_t end;
        if (vk_add_overflow_u64(p.paddr, p.memsz, &end))
            return vk_err_set(err, -ENOEXEC, "ELF: segment %u wraps around", i);
        int rc = boot_copy(m, p.paddr, img + p.off, p.filesz, err);
        if (rc == 0)
            rc = boot_zero(m, p.paddr + p.filesz, p.memsz - p.filesz, err);
        if (rc < 0) {
            vk_err_prefix(err, "ELF segment %u", i);
            return rc;
        }
        info->lo = VK_MIN(info->lo, p.paddr);
        info->hi = VK_MAX(info->hi, end);
        if (!entry_found && entry >= p.vaddr && entry - p.vaddr < p.memsz) {
            info->entry = entry - p.vaddr + p.paddr;
            entry_found = true;
        }
    }
    if (info->hi == 0)
        return vk_err_set(err, -ENOEXEC, "ELF: nothing to load");
    return 0;
}
