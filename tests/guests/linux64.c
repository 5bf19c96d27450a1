/* Loaded as an ELF64 vmlinux through the Linux x86 boot protocol: checks
 * the zero page (command line, e820 map) and that the ACPI tables are
 * reachable from 64-bit code, then reports. */
#include "lib/guest.h"

static const uint8_t *zero_page;

void guest_start(const char *cmdline);
void linux_entry(const uint8_t *zp);
void linux_entry(const uint8_t *zp)
{
    zero_page = zp;
    guest_start((const char *)(uintptr_t)rd32(zp + 0x228));     /* hdr.cmd_line_ptr */
}

int guest_main(const char *cmdline)
{
    unsigned n = zero_page[0x1e8];                              /* e820_entries */
    uint64_t ram_at_1m = 0;
    uint64_t cr0, efer_lo;

    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("rdmsr" : "=a"(efer_lo) : "c"(0xc0000080u) : "rdx");
    gprintf("linux64: long mode %s, paging %s\n", (efer_lo & 0x400) ? "active" : "off",
            (cr0 & 0x80000000u) ? "on" : "off");
    gprintf("linux64: cmdline '%s'\n", cmdline);
    gprintf("linux64: %u e820 entries\n", n);
    for (unsigned i = 0; i < n && i < 128; i++) {
        const uint8_t *e = zero_page + 0x2d0 + 20 * i;
        uint64_t addr = rd64(e), size = rd64(e + 8);
        uint32_t type = rd32(e + 16);
        gprintf("linux64: e820 %016lx-%016lx type %u\n", (unsigned long)addr,
                (unsigned long)(addr + size - 1), type);
        if (type == 1 && addr <= 0x100000 && addr + size > 0x100000)
            ram_at_1m = addr + size - 0x100000;
    }
    if (!ram_at_1m)
        return gprintf("linux64: no RAM at 1 MiB in e820\n"), 1;
    if (!acpi_find("FACP") || !acpi_find("APIC"))
        return gprintf("linux64: ACPI tables not found\n"), 1;
    gprintf("linux64: ACPI FADT and MADT found\n");
    return 0;
}
