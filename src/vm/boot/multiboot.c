/* Multiboot v1 (the 0.6.96 specification): ELF kernels and the a.out
 * kludge, modules (the --initrd list, comma-separated as in QEMU, each
 * "file [args]"), command line ("<kernel path> <append>", as QEMU passes
 * it, so argv[0] is the kernel) and the memory map.
 *
 * The boot information (MBI, memory map, module list, strings) goes on the
 * page after the highest address the kernel loads, and the modules follow
 * page-aligned: memory the kernel knows it does not use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../machine.h"
#include "boot.h"

#define MB_MAGIC        0x1BADB002u
#define MB_BOOT_MAGIC   0x2BADB002u
#define MB_SEARCH       8192
#define MB_AOUT_KLUDGE  (1u << 16)
#define MB_KNOWN_REQ    0x7u      /* page-aligned modules, mem info, video (ignored) */

#define MBI_MEM         (1u << 0)
#define MBI_CMDLINE     (1u << 2)
#define MBI_MODS        (1u << 3)
#define MBI_MMAP        (1u << 6)
#define MBI_LOADER_NAME (1u << 9)
#define MBI_SIZE        116
#define MAX_MODULES     32

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

long multiboot_find_header(const uint8_t *img, size_t len)
{
    size_t lim = VK_MIN(len, (size_t)MB_SEARCH);
    for (size_t off = 0; off + 12 <= lim; off += 4) {
        uint32_t magic = rd32(img + off), flags = rd32(img + off + 4), sum = rd32(img + off + 8);
        if (magic == MB_MAGIC && (uint32_t)(magic + flags + sum) == 0)
            return (long)off;
    }
    return -1;
}

static int load_aout(struct machine *m, const uint8_t *img, size_t len, size_t hoff,
                     uint64_t *entry, uint64_t *end, struct vk_err *err)
{
    if (hoff + 32 > len)
        return vk_err_set(err, -ENOEXEC, "multiboot: truncated a.out kludge header");
    uint32_t header_addr = rd32(img + hoff + 12), load_addr = rd32(img + hoff + 16);
    uint32_t load_end = rd32(img + hoff + 20), bss_end = rd32(img + hoff + 24);
    uint32_t entry_addr = rd32(img + hoff + 28);
    if (load_addr > header_addr || header_addr - load_addr > hoff)
        return vk_err_set(err, -ENOEXEC, "multiboot: load_addr 0x%x after header_addr 0x%x",
                          load_addr, header_addr);
    uint64_t file_off = hoff - (header_addr - load_addr);
    uint64_t size = load_end ? (uint64_t)load_end - load_addr : len - file_off;
    if (load_end && load_end < load_addr)
        return vk_err_set(err, -ENOEXEC, "multiboot: load_end_addr before load_addr");
    if (!vk_range_ok(file_off, size, len))
        return vk_err_set(err, -ENOEXEC, "multiboot: load range is outside the file");
    int rc = boot_copy(m, load_addr, img + file_off, size, err);
    if (rc < 0)
        return rc;
    uint64_t top = (uint64_t)load_addr + size;
    if (bss_end) {
        if (bss_end < top)
            return vk_err_set(err, -ENOEXEC, "multiboot: bss_end_addr before the loaded image");
        rc = boot_zero(m, top, bss_end - top, err);
        if (rc < 0)
            return rc;
        top = bss_end;
    }
    *entry = entry_addr;
    *end = top;
    return 0;
}

/* Split "a args,b args" at commas (",," is a literal comma). */
static unsigned split_modules(const char *spec, char **out, unsigned max)
{
    unsigned n = 0;
    const char *p = spec;
    while (*p && n < max) {
        char *item = malloc(strlen(p) + 1), *w = item;
        if (!item)
            break;
        for (; *p; p++) {
            if (*p == ',' && p[1] == ',') {
                *w++ = ',';
                p++;
            } else if (*p == ',') {
                p++;
                break;
            } else {
                *w++ = *p;
            }
        }
        *w = 0;
        out[n++] = item;
    }
    return n;
}

int boot_multiboot(struct machine *m, const uint8_t *img, size_t len, struct vk_err *err)
{
    long h = multiboot_find_header(img, len);
    if (h < 0)
        return -ENOEXEC;
    size_t hoff = (size_t)h;
    uint32_t flags = rd32(img + hoff + 4);
    if (flags & 0xffffu & ~MB_KNOWN_REQ)
        return vk_err_set(err, -ENOEXEC, "multiboot: unsupported required features 0x%x",
                          flags & 0xffffu & ~MB_KNOWN_REQ);
    uint64_t entry = 0, kend = 0;
    int rc;
    if (flags & MB_AOUT_KLUDGE) {
        rc = load_aout(m, img, len, hoff, &entry, &kend, err);
    } else {
        struct elf_info ei = { 0 };
        rc = elf_load(m, img, len, &ei, err);
        if (rc == -ENOEXEC && !err)
            return rc;
        if (rc == -ENOEXEC && err && !err->code)
            rc = vk_err_set(err, -ENOEXEC, "multiboot: no a.out kludge and not an ELF file");
        entry = ei.entry;
        kend = ei.hi;
    }
    if (rc < 0)
        return rc;

    const struct vm_config *cfg = m->cfg;
    uint64_t low_end = boot_low_ram_end(m);
    uint64_t info = VK_ALIGN_UP(kend, 4096);
    /* Layout of the info area: MBI | mmap | module list | strings. */
    struct e820_entry e820[16];
    unsigned ne = machine_e820(m, e820, 16);
    char *mods[MAX_MODULES];
    unsigned nmods = cfg->initrd ? split_modules(cfg->initrd, mods, MAX_MODULES) : 0;
    size_t cmdlen = strlen(cfg->kernel) + 1 + (cfg->append ? strlen(cfg->append) : 0) + 1;
    size_t strings = cmdlen + sizeof("virtkit");
    for (unsigned i = 0; i < nmods; i++)
        strings += strlen(mods[i]) + 1;
    size_t mmap_off = MBI_SIZE, mods_off = mmap_off + ne * 24, str_off = mods_off + nmods * 16;
    size_t info_size = str_off + strings;
    uint8_t *buf = calloc(1, info_size);
    if (!buf) {
        rc = vk_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    size_t s = str_off;
    /* command line */
    uint32_t cmdline_addr = (uint32_t)(info + s);
    strcpy((char *)buf + s, cfg->kernel);
    if (cfg->append) {
        strcat((char *)buf + s, " ");
        strcat((char *)buf + s, cfg->append);
    }
    s += strlen((char *)buf + s) + 1;
    uint32_t name_addr = (uint32_t)(info + s);
    memcpy(buf + s, "virtkit", sizeof("virtkit"));
    s += sizeof("virtkit");

    /* modules, page-aligned after the info area */
    uint64_t mod_at = VK_ALIGN_UP(info + info_size, 4096);
    for (unsigned i = 0; i < nmods; i++) {
        char *path = mods[i];
        size_t plen = strcspn(path, " ");
        char *file = strndup(path, plen);
        char *data = NULL;
        size_t dlen = 0;
        rc = file ? vk_read_file(file, &data, &dlen, err) : vk_err_set(err, -ENOMEM, "oom");
        free(file);
        if (rc < 0) {
            vk_err_prefix(err, "--initrd");
            goto out;
        }
        if (mod_at + dlen > low_end) {
            free(data);
            rc = vk_err_set(err, -ENOMEM, "module %s does not fit in guest RAM below %llu MiB",
                            path, (unsigned long long)(low_end >> 20));
            goto out;
        }
        rc = boot_copy(m, mod_at, data, dlen, err);
        free(data);
        if (rc < 0)
            goto out;
        uint8_t *me = buf + mods_off + i * 16;
        wr32(me, (uint32_t)mod_at);
        wr32(me + 4, (uint32_t)(mod_at + dlen));
        wr32(me + 8, (uint32_t)(info + s));
        strcpy((char *)buf + s, path);
        s += strlen(path) + 1;
        mod_at = VK_ALIGN_UP(mod_at + dlen, 4096);
    }
    /* memory map: entries of {size=20, base, length, type} */
    for (unsigned i = 0; i < ne; i++) {
        uint8_t *e = buf + mmap_off + i * 24;
        wr32(e, 20);
        wr64(e + 4, e820[i].addr);
        wr64(e + 12, e820[i].size);
        wr32(e + 20, e820[i].type);
    }
    wr32(buf + 0, MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
    wr32(buf + 4, 640);                                              /* mem_lower, KiB */
    wr32(buf + 8, low_end > 0x100000 ? (uint32_t)((low_end - 0x100000) >> 10) : 0);  /* mem_upper */
    wr32(buf + 16, cmdline_addr);
    wr32(buf + 20, nmods);
    wr32(buf + 24, (uint32_t)(info + mods_off));
    wr32(buf + 44, ne * 24);
    wr32(buf + 48, (uint32_t)(info + mmap_off));
    wr32(buf + 64, name_addr);
    if (info + info_size > low_end) {
        rc = vk_err_set(err, -ENOMEM, "multiboot: no room for boot information in guest RAM");
        goto out;
    }
    rc = boot_copy(m, info, buf, info_size, err);
    if (rc < 0)
        goto out;
    rc = boot_set_flat32(m->vcpus[0], (uint32_t)entry, MB_BOOT_MAGIC, (uint32_t)info, 0, false, 0);
    if (rc < 0)
        vk_err_errno(err, rc, "setting boot registers");
out:
    free(buf);
    for (unsigned i = 0; i < nmods; i++)
        free(mods[i]);
    return rc;
}
