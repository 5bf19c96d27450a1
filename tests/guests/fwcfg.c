/* fw_cfg as firmware sees it: signature, features, CPU count (compared with
 * cpus=N on the command line), RAM size, the file directory, and a DMA read
 * of etc/acpi/rsdp compared with the port read. */
#include "lib/guest.h"

int guest_main(const char *cmdline)
{
    char sig[5] = {0}, want[8];
    uint32_t id = 0, size = 0;
    uint16_t nb = 0;
    uint64_t ram = 0;
    static const char *const files[] = {
        "etc/acpi/rsdp", "etc/acpi/tables", "etc/table-loader", "bootorder",
    };

    fwcfg_read(FWCFG_SIGNATURE, sig, 4);
    fwcfg_read(FWCFG_ID, &id, 4);
    fwcfg_read(FWCFG_NB_CPUS, &nb, 2);
    fwcfg_read(FWCFG_RAM_SIZE, &ram, 8);
    gprintf("fwcfg: signature '%s' id 0x%x cpus %u ram %u MiB\n", sig, id, nb,
            (unsigned)(ram >> 20));
    if (memcmp(sig, "QEMU", 4))
        return 1;
    if (cmdline_get(cmdline, "cpus", want, sizeof(want)) && nb != parse_ulong(want))
        return gprintf("fwcfg: expected %s cpus\n", want), 1;
    for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int key = fwcfg_find_file(files[i], &size);
        gprintf("fwcfg: file %s key 0x%x size %u\n", files[i], key, size);
        if (key < 0x20)
            return 1;
    }
    if (!(id & 2))
        return gprintf("fwcfg: no DMA interface\n"), 1;
    static uint8_t by_port[64], by_dma[64];
    int key = fwcfg_find_file("etc/acpi/rsdp", &size);
    if (size > 64)
        return 1;
    fwcfg_read((uint16_t)key, by_port, size);
    uint32_t ctl = fwcfg_dma_read((uint16_t)key, by_dma, size);
    gprintf("fwcfg: dma control 0x%x, %s\n", ctl, memcmp(by_port, by_dma, size) ? "differs" : "matches");
    if (ctl != 0 || memcmp(by_port, by_dma, size) || memcmp(by_dma, "RSD PTR ", 8))
        return 1;
    return 0;
}
