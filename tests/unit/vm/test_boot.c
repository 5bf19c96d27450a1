/* Boot protocols without a CPU: the Linux zero page for a bzImage header,
 * the e820 map, bzImage loading and register state, Multiboot (a.out
 * kludge) boot information, modules and command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "boot/boot.h"
#include "fake_machine.h"
#include "tap.h"

static struct vk_regs regs;
static struct vk_sregs sregs;
static int get_sregs(struct vcpu *v, struct vk_sregs *s) { *s = sregs; return 0; }
static int set_sregs(struct vcpu *v, const struct vk_sregs *s) { sregs = *s; return 0; }
static int set_regs(struct vcpu *v, const struct vk_regs *r) { regs = *r; return 0; }
static const struct accel_ops fake_accel = { .name = "fake", .get_sregs = get_sregs,
                                             .set_sregs = set_sregs, .set_regs = set_regs };

static uint16_t r16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t r64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* A bzImage-shaped file: 3 setup sectors + the boot sector, then a body. */
static uint8_t *fake_bzimage(size_t *len)
{
    *len = 4 * 512 + 8192;
    uint8_t *img = calloc(1, *len);
    img[0x1f1] = 3;
    w16(img + 0x1fe, 0xaa55);
    img[0x200] = 0xeb;
    img[0x201] = 0x66;                 /* header ends at 0x268 */
    memcpy(img + 0x202, "HdrS", 4);
    w16(img + 0x206, 0x020f);
    img[0x211] = 0x01;                 /* LOADED_HIGH */
    w32(img + 0x214, 0x100000);
    w32(img + 0x22c, 0x7fffffff);      /* initrd_addr_max */
    w32(img + 0x230, 0x200000);
    w16(img + 0x236, 0x0001);          /* XLF_KERNEL_64 */
    w32(img + 0x238, 64);              /* cmdline_size */
    w32(img + 0x260, 0x10000);         /* init_size */
    for (size_t i = 4 * 512; i < *len; i++)
        img[i] = (uint8_t)i;
    return img;
}

static void test_zero_page(void)
{
    size_t len;
    uint8_t *img = fake_bzimage(&len), zp[4096];
    struct e820_entry e820[2] = { { 0, 0x9fc00, E820_RAM }, { 0x100000, 0x3f00000, E820_RAM } };
    struct linux_boot_params p = { .cmdline_addr = 0x20000, .cmdline_len = 10,
                                   .initrd_addr = 0x3000000, .initrd_size = 0x1234,
                                   .e820 = e820, .nr_e820 = 2 };
    struct vk_err err = { 0 };
    tap_is_int(linux_build_zero_page(zp, img, len, &p, &err), 0, "zero page built");
    tap_is_int(zp[0x1f1], 3, "setup_sects copied");
    tap_is_int(r16(zp + 0x206), 0x020f, "protocol version copied");
    tap_ok(!memcmp(zp + 0x202, "HdrS", 4), "header magic copied");
    tap_is_int(zp[0x210], 0xff, "type_of_loader = undefined");
    tap_is_int(zp[0x211] & 0x81, 0x81, "loadflags LOADED_HIGH | CAN_USE_HEAP");
    tap_is_int(r32(zp + 0x228), 0x20000, "cmd_line_ptr");
    tap_is_int(r32(zp + 0x218), 0x3000000, "ramdisk_image");
    tap_is_int(r32(zp + 0x21c), 0x1234, "ramdisk_size");
    tap_is_int(r32(zp + 0x0c0) | r32(zp + 0x0c4) | r32(zp + 0x0c8), 0, "ext_* fields zero below 4 GiB");
    tap_is_int(zp[0x1e8], 2, "e820_entries");
    tap_is_int(r64(zp + 0x2d0 + 20), 0x100000, "e820[1].addr");
    tap_is_int(r64(zp + 0x2d0 + 28), 0x3f00000, "e820[1].size");
    tap_is_int(r32(zp + 0x2d0 + 36), E820_RAM, "e820[1].type");
    tap_is_int(zp[0x268], 0, "nothing copied past the header's end");

    p.cmdline_len = 65;
    tap_is_int(linux_build_zero_page(zp, img, len, &p, &err), -E2BIG, "command line longer than cmdline_size refused");
    p.cmdline_len = 10;
    w16(img + 0x206, 0x0201);
    tap_is_int(linux_build_zero_page(zp, img, len, &p, &err), -ENOEXEC, "protocol 2.01 refused");
    memcpy(img + 0x202, "Nope", 4);
    tap_is_int(linux_build_zero_page(zp, img, len, &p, NULL), -ENOEXEC, "not a bzImage");
    free(img);
}

static void test_e820(void)
{
    struct machine m = { 0 };
    struct e820_entry e[16];
    m.nr_ram = 1;
    m.ram[0] = (struct ram_region){ 0, 64 << 20, NULL };
    unsigned n = machine_e820(&m, e, 16);
    tap_is_int(n, 5, "64 MiB: 5 e820 entries");
    tap_ok(e[0].addr == 0 && e[0].size == 0x9fc00 && e[0].type == E820_RAM, "conventional memory below the EBDA");
    tap_ok(e[1].addr == 0x9fc00 && e[1].type == E820_RESERVED, "EBDA reserved");
    tap_ok(e[2].addr == 0xf0000 && e[2].size == 0x10000 && e[2].type == E820_RESERVED, "BIOS area reserved");
    tap_ok(e[3].addr == 0x100000 && e[3].size == (64 << 20) - 0x100000 && e[3].type == E820_RAM, "RAM from 1 MiB");
    tap_ok(e[4].addr == 0xfffbc000 && e[4].addr + e[4].size == 1ULL << 32, "top of 4 GiB reserved");

    m.nr_ram = 2;
    m.ram[0] = (struct ram_region){ 0, MACHINE_PCI_HOLE_START, NULL };
    m.ram[1] = (struct ram_region){ MACHINE_HIGH_RAM_START, 1ULL << 30, NULL };
    n = machine_e820(&m, e, 16);
    tap_is_int(n, 6, "RAM above the hole: 6 entries");
    tap_ok(e[3].addr + e[3].size == MACHINE_PCI_HOLE_START, "low RAM ends at the PCI hole");
    tap_ok(e[5].addr == MACHINE_HIGH_RAM_START && e[5].size == 1ULL << 30 && e[5].type == E820_RAM,
           "the rest at 4 GiB");
    tap_is_int(machine_e820(&m, e, 2), 2, "max respected");
}

static void test_linux_load(struct fake_machine *f)
{
    size_t len;
    uint8_t *img = fake_bzimage(&len);
    struct vk_err err = { 0 };
    f->cfg.append = "console=ttyS0";
    f->cfg.initrd = NULL;
    tap_is_int(boot_linux(&f->m, img, len, &err), 0, "bzImage loads (%s)", err.msg);
    uint8_t *ram = f->m.ram[0].hva;
    tap_ok(!memcmp(ram + 0x100000, img + 2048, len - 2048), "protected-mode code at 1 MiB");
    tap_is_int(regs.rip, 0x100200, "64-bit entry = load address + 0x200");
    tap_is_int(regs.rsi, 0x7000, "RSI = zero page");
    tap_is_int(sregs.efer & 0x500, 0x500, "long mode active");
    tap_ok(sregs.cs.l && sregs.cs.selector == 0x10, "64-bit code segment __BOOT_CS");
    tap_is_int(sregs.cr3, 0x9000, "CR3 = identity map");
    tap_is_int(r64(ram + 0x9000) & ~0xfffULL, 0xa000, "PML4[0] -> PDPT");
    tap_is_int(r64(ram + 0xb000 + 8 * 5), (5ULL << 21) | 0x83, "PD maps 2 MiB pages 1:1");
    tap_is_str((char *)ram + 0x20000, "console=ttyS0", "command line in RAM");
    tap_is_int(r32(ram + 0x7000 + 0x228), 0x20000, "zero page in RAM points at it");
    tap_ok(ram[0x7000 + 0x1e8] >= 4, "zero page in RAM has the e820 map");
    free(img);
    tap_is_int(boot_linux(&f->m, (const uint8_t *)"not a kernel at all", 19, &err), -ENOEXEC,
               "garbage is not Linux");
}

static void test_multiboot(struct fake_machine *f, const char *dir)
{
    /* a.out kludge image: header at 0x40, loaded at 1 MiB, bss to 0x103000 */
    uint8_t img[4096] = { 0 };
    uint32_t flags = 0x00010003;
    w32(img + 0x40, 0x1BADB002);
    w32(img + 0x44, flags);
    w32(img + 0x48, (uint32_t)-(0x1BADB002u + flags));
    w32(img + 0x4c, 0x100040);       /* header_addr */
    w32(img + 0x50, 0x100000);       /* load_addr */
    w32(img + 0x54, 0);              /* load_end_addr: whole file */
    w32(img + 0x58, 0x103000);       /* bss_end_addr */
    w32(img + 0x5c, 0x100080);       /* entry */
    img[0x80] = 0xf4;                /* hlt */
    char m1[256], m2[256], spec[600];
    snprintf(m1, sizeof(m1), "%s/mod1", dir);
    snprintf(m2, sizeof(m2), "%s/mod2", dir);
    FILE *fp = fopen(m1, "w");
    fputs("KEY=value\n", fp);
    fclose(fp);
    fp = fopen(m2, "w");
    fputs("second", fp);
    fclose(fp);
    snprintf(spec, sizeof(spec), "%s arg1 arg2,%s", m1, m2);
    f->cfg.kernel = "/boot/test.elf";
    f->cfg.append = "foo bar";
    f->cfg.initrd = spec;
    uint8_t *ram = f->m.ram[0].hva;
    memset(ram + 0x100000, 0xcc, 0x4000);
    struct vk_err err = { 0 };
    tap_is_int(boot_multiboot(&f->m, img, sizeof(img), &err), 0, "multiboot a.out kludge loads (%s)", err.msg);
    tap_is_int(regs.rax, 0x2BADB002, "EAX = boot magic");
    tap_is_int(regs.rip, 0x100080, "EIP = entry_addr");
    tap_ok(!sregs.cs.l && sregs.cs.db && sregs.cr0 == 0x11, "32-bit protected mode, paging off");
    tap_ok(!memcmp(ram + 0x100000, img, sizeof(img)), "image at load_addr");
    tap_ok(ram[0x101000] == 0 && ram[0x102fff] == 0, "bss zeroed");
    uint64_t mbi = regs.rbx;
    tap_ok(mbi >= 0x103000 && mbi % 4096 == 0, "MBI on a page after the kernel (0x%llx)", (unsigned long long)mbi);
    uint8_t *info = ram + mbi;
    tap_is_int(r32(info) & 0x24d, 0x24d, "flags: mem, cmdline, mods, mmap, loader name");
    tap_is_int(r32(info + 4), 640, "mem_lower");
    tap_is_int(r32(info + 8), (16 << 20) / 1024 - 1024, "mem_upper (KiB above 1 MiB)");
    tap_is_str((char *)ram + r32(info + 16), "/boot/test.elf foo bar", "cmdline = kernel path + append");
    tap_is_int(r32(info + 20), 2, "two modules");
    uint8_t *mods = ram + r32(info + 24);
    uint32_t s1 = r32(mods), e1 = r32(mods + 4), s2 = r32(mods + 16), e2 = r32(mods + 20);
    tap_ok(s1 % 4096 == 0 && s2 % 4096 == 0 && s2 >= e1, "modules page-aligned, in order");
    tap_ok(e1 - s1 == 10 && !memcmp(ram + s1, "KEY=value\n", 10), "module 1 contents");
    tap_ok(e2 - s2 == 6 && !memcmp(ram + s2, "second", 6), "module 2 contents");
    char want[300];
    snprintf(want, sizeof(want), "%s arg1 arg2", m1);
    tap_is_str((char *)ram + r32(mods + 8), want, "module 1 string keeps its arguments");
    uint32_t mmap_len = r32(info + 44), mmap = r32(info + 48);
    tap_is_int(mmap_len % 24, 0, "mmap entries of 24 bytes");
    tap_ok(r32(ram + mmap) == 20 && r64(ram + mmap + 4) == 0 && r32(ram + mmap + 20) == 1,
           "first mmap entry: RAM at 0");
    tap_is_str((char *)ram + r32(info + 64), "virtkit", "boot loader name");

    /* hostile headers */
    w32(img + 0x44, 0x00010010);
    w32(img + 0x48, (uint32_t)-(0x1BADB002u + 0x00010010u));
    tap_is_int(boot_multiboot(&f->m, img, sizeof(img), &err), -ENOEXEC, "unknown required flag refused");
    w32(img + 0x44, flags);
    w32(img + 0x48, (uint32_t)-(0x1BADB002u + flags));
    w32(img + 0x50, 0x200000);       /* load_addr after header_addr */
    tap_is_int(boot_multiboot(&f->m, img, sizeof(img), &err), -ENOEXEC, "load_addr after header_addr refused");
    w32(img + 0x50, 0x0ff000);       /* file offset would be negative */
    tap_ok(boot_multiboot(&f->m, img, sizeof(img), &err) < 0, "header_addr too far from load_addr refused");
    w32(img + 0x50, 0x100000);
    w32(img + 0x4c, 0x100040);
    w32(img + 0x54, 0x100000 + 8192);  /* load_end past the file */
    tap_ok(boot_multiboot(&f->m, img, sizeof(img), &err) < 0, "load_end past the file refused");
    w32(img + 0x54, 0);
    w32(img + 0x50, 0x3fff040 - 0x40 + 0x1000);  /* beyond 16 MiB of RAM */
    w32(img + 0x4c, 0x3fff040 + 0x1000);
    tap_ok(boot_multiboot(&f->m, img, sizeof(img), &err) < 0, "image outside RAM refused: %s", err.msg);
    unlink(m1);
    unlink(m2);
}

int main(void)
{
    char dir[] = "/tmp/vk-boot-XXXXXX";
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    test_zero_page();
    test_e820();
    struct fake_machine *f = fake_machine_new(16 << 20, 1);
    struct vcpu v = { .m = &f->m };
    f->m.accel = &fake_accel;
    f->m.vcpus[0] = &v;
    test_linux_load(f);
    test_multiboot(f, dir);
    f->m.vcpus[0] = NULL;
    fake_machine_free(f);
    rmdir(dir);
    return tap_done();
}
