/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), as a
 * boot loader that enters the kernel directly: bzImage through its 64-bit
 * entry (startup_64, 0x200 past the protected-mode code) when the header
 * says it has one, else the 32-bit entry; vmlinux ELF through its ELF
 * entry in 64-bit mode (as Firecracker does). Both get a zero page
 * (struct boot_params) with the e820 map, command line and initrd.
 *
 * Low memory layout: GDT at 0x500, zero page at 0x7000, page tables at
 * 0x9000-0xdfff (identity map of the first 4 GiB with 2 MiB pages), command
 * line at 0x20000; the kernel at its preferred address (or 1 MiB); the
 * initrd at the top of RAM below 4 GiB (and below initrd_addr_max).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../machine.h"
#include "boot.h"

#define HDR_SETUP_SECTS   0x1f1
#define HDR_BOOT_FLAG     0x1fe
#define HDR_JUMP          0x200
#define HDR_MAGIC         0x202
#define HDR_VERSION       0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS     0x211
#define HDR_CODE32_START  0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE  0x21c
#define HDR_HEAP_END_PTR  0x224
#define HDR_CMD_LINE_PTR  0x228
#define HDR_INITRD_MAX    0x22c
#define HDR_KERNEL_ALIGN  0x230
#define HDR_XLOADFLAGS    0x236
#define HDR_CMDLINE_SIZE  0x238
#define HDR_PREF_ADDRESS  0x258
#define HDR_INIT_SIZE     0x260
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE  0x0c4
#define ZP_EXT_CMD_LINE_PTR  0x0c8
#define ZP_E820_ENTRIES   0x1e8
#define ZP_E820_TABLE     0x2d0
#define ZP_E820_MAX       128

#define LOADED_HIGH       0x01
#define CAN_USE_HEAP      0x80
#define XLF_KERNEL_64     0x01

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static bool is_bzimage(const uint8_t *img, size_t len)
{
    return len >= 0x400 && rd16(img + HDR_BOOT_FLAG) == 0xaa55 && !memcmp(img + HDR_MAGIC, "HdrS", 4);
}

int linux_build_zero_page(uint8_t *zp, const uint8_t *img, size_t len,
                          const struct linux_boot_params *p, struct vk_err *err)
{
    memset(zp, 0, 4096);
    if (img) {
        if (!is_bzimage(img, len))
            return -ENOEXEC;
        uint16_t version = rd16(img + HDR_VERSION);
        if (version < 0x0202)
            return vk_err_set(err, -ENOEXEC, "boot protocol %u.%02u is too old (want 2.02+)",
                              version >> 8, version & 0xff);
        if (!(img[HDR_LOADFLAGS] & LOADED_HIGH))
            return vk_err_set(err, -ENOEXEC, "zImage (loaded low) kernels are not supported");
        /* The setup header runs from 0x1f1 to 0x202 + the jump's offset byte. */
        size_t end = 0x202 + img[0x201];
        if (end > 0x1000 || end > len)
            end = VK_MIN(len, (size_t)0x1000);
        memcpy(zp + HDR_SETUP_SECTS, img + HDR_SETUP_SECTS, end - HDR_SETUP_SECTS);
        if (version >= 0x0206 && p->cmdline_len > rd32(img + HDR_CMDLINE_SIZE))
            return vk_err_set(err, -E2BIG, "--append is %u bytes, the kernel takes at most %u",
                              p->cmdline_len, rd32(img + HDR_CMDLINE_SIZE));
    } else {
        /* vmlinux has no setup header: write the fields a 64-bit entry reads. */
        wr16(zp + HDR_BOOT_FLAG, 0xaa55);
        memcpy(zp + HDR_MAGIC, "HdrS", 4);
        wr16(zp + HDR_VERSION, 0x020c);
        wr32(zp + HDR_KERNEL_ALIGN, 0x200000);
    }
    zp[HDR_TYPE_OF_LOADER] = 0xff;   /* undefined boot loader */
    zp[HDR_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
    wr16(zp + HDR_HEAP_END_PTR, 0xfe00);
    wr32(zp + HDR_CMD_LINE_PTR, (uint32_t)p->cmdline_addr);
    wr32(zp + ZP_EXT_CMD_LINE_PTR, (uint32_t)(p->cmdline_addr >> 32));
    wr32(zp + HDR_RAMDISK_IMAGE, (uint32_t)p->initrd_addr);
    wr32(zp + HDR_RAMDISK_SIZE, (uint32_t)p->initrd_size);
    wr32(zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t)(p->initrd_addr >> 32));
    wr32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(p->initrd_size >> 32));
    unsigned n = VK_MIN(p->nr_e820, (unsigned)ZP_E820_MAX);
    zp[ZP_E820_ENTRIES] = (uint8_t)n;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *e = zp + ZP_E820_TABLE + i * 20;
        wr64(e, p->e820[i].addr);
        wr64(e + 8, p->e820[i].size);
        wr32(e + 16, p->e820[i].type);
    }
    return 0;
}

/* GDT (null, null, code at 0x10, data at 0x18: the boot protocol's
 * __BOOT_CS/__BOOT_DS) and an identity map of the first 4 GiB. */
static int write_gdt_and_tables(struct machine *m, bool code64, struct vk_err *err)
{
    uint64_t gdt[4] = { 0, 0, code64 ? 0x00af9b000000ffffULL : 0x00cf9b000000ffffULL,
                        0x00cf93000000ffffULL };
    int rc = boot_copy(m, BOOT_GDT, gdt, sizeof(gdt), err);
    if (rc < 0 || !code64)
        return rc;
    uint64_t (*t)[512] = calloc(6, sizeof(*t));
    if (!t)
        return vk_err_set(err, -ENOMEM, "out of memory");
    t[0][0] = (BOOT_PML4 + 0x1000) | 3;                     /* PML4 -> PDPT */
    for (unsigned i = 0; i < 4; i++) {
        t[1][i] = (BOOT_PML4 + 0x2000 + i * 0x1000ULL) | 3; /* PDPT -> PD i */
        for (unsigned j = 0; j < 512; j++)
            t[2 + i][j] = ((uint64_t)i << 30 | (uint64_t)j << 21) | 0x83;  /* 2 MiB, RW, P */
    }
    rc = boot_copy(m, BOOT_PML4, t, 6 * sizeof(*t), err);
    free(t);
    return rc;
}

static int load_initrd(struct machine *m, uint64_t max_addr, uint64_t kernel_end,
                       uint64_t *addr, uint64_t *size, struct vk_err *err)
{
    *addr = *size = 0;
    if (!m->cfg->initrd)
        return 0;
    char *data;
    size_t len;
    int rc = vk_read_file(m->cfg->initrd, &data, &len, err);
    if (rc < 0) {
        vk_err_prefix(err, "--initrd");
        return rc;
    }
    uint64_t top = VK_MIN(boot_low_ram_end(m), max_addr + 1);
    if (len > top || VK_ALIGN_DOWN(top - len, 4096) < kernel_end) {
        free(data);
        return vk_err_set(err, -ENOMEM, "--initrd %s (%zu bytes) does not fit in guest RAM",
                          m->cfg->initrd, len);
    }
    *addr = VK_ALIGN_DOWN(top - len, 4096);
    *size = len;
    rc = boot_copy(m, *addr, data, len, err);
    free(data);
    return rc;
}

int boot_linux(struct machine *m, const uint8_t *img, size_t len, struct vk_err *err)
{
    bool bz = is_bzimage(img, len);
    if (!bz && !(elf_probe(img, len) == 64 && multiboot_find_header(img, len) < 0))
        return -ENOEXEC;
    const struct vm_config *cfg = m->cfg;
    uint64_t low_end = boot_low_ram_end(m);
    uint64_t load, entry, kernel_end, initrd_max = 0x37ffffff;
    bool entry64 = true;
    int rc;
    if (bz) {
        uint16_t version = rd16(img + HDR_VERSION);
        size_t setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
        size_t koff = (setup_sects + 1) * 512;
        if (koff >= len)
            return vk_err_set(err, -ENOEXEC, "bzImage: setup is larger than the file");
        size_t ksize = len - koff;
        entry64 = version >= 0x020c && (rd16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64);
        uint64_t init_size = version >= 0x020a ? rd32(img + HDR_INIT_SIZE) : ksize;
        load = 0x100000;
        if (version >= 0x020a) {
            uint64_t pref = rd64(img + HDR_PREF_ADDRESS);
            if (pref >= 0x100000 && pref + VK_MAX(init_size, (uint64_t)ksize) <= low_end)
                load = pref;
        }
        if (version >= 0x0203)
            initrd_max = rd32(img + HDR_INITRD_MAX);
        kernel_end = load + VK_MAX(init_size, (uint64_t)ksize);
        rc = boot_copy(m, load, img + koff, ksize, err);
        if (rc < 0)
            return rc;
        entry = entry64 ? load + 0x200 : load;
    } else {
        struct elf_info ei;
        rc = elf_load(m, img, len, &ei, err);
        if (rc < 0)
            return rc;
        load = ei.lo;
        entry = ei.entry;
        kernel_end = ei.hi;
    }
    uint64_t initrd_addr, initrd_size;
    rc = load_initrd(m, initrd_max, kernel_end, &initrd_addr, &initrd_size, err);
    if (rc < 0)
        return rc;
    const char *append = cfg->append ? cfg->append : "";
    size_t alen = strlen(append);
    if (alen >= 0x10000)
        return vk_err_set(err, -E2BIG, "--append is too long");
    rc = boot_copy(m, LINUX_CMDLINE, append, alen + 1, err);
    if (rc < 0)
        return rc;
    struct e820_entry e820[16];
    struct linux_boot_params p = {
        .cmdline_addr = LINUX_CMDLINE, .cmdline_len = (uint32_t)alen,
        .initrd_addr = initrd_addr, .initrd_size = initrd_size,
        .e820 = e820, .nr_e820 = machine_e820(m, e820, 16),
    };
    uint8_t zp[4096];
    rc = linux_build_zero_page(zp, bz ? img : NULL, len, &p, err);
    if (rc == 0)
        rc = boot_copy(m, LINUX_ZERO_PAGE, zp, sizeof(zp), err);
    if (rc == 0)
        rc = write_gdt_and_tables(m, entry64, err);
    if (rc < 0)
        return rc;
    if (entry64)
        rc = boot_set_long64(m->vcpus[0], entry, LINUX_ZERO_PAGE, BOOT_GDT, BOOT_PML4);
    else
        rc = boot_set_flat32(m->vcpus[0], (uint32_t)entry, 0, 0, LINUX_ZERO_PAGE, true, BOOT_GDT);
    if (rc < 0)
        return vk_err_errno(err, rc, "setting boot registers");
    vk_debug("linux: kernel at 0x%llx, entry 0x%llx (%s), initrd 0x%llx+0x%llx",
             (unsigned long long)load, (unsigned long long)entry, entry64 ? "64-bit" : "32-bit",
             (unsigned long long)initrd_addr, (unsigned long long)initrd_size);
    return 0;
}
