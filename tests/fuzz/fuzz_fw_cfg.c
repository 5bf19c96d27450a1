/* libFuzzer: a guest's port traffic to fw_cfg, including DMA descriptors
 * in guest memory. Input: the first 256 bytes are the start of guest RAM (4 KiB), the
 * rest a list of 7-byte operations {kind, offset, size, value[4]}. */
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "devices/fw_cfg.h"

/* fw_cfg.c's board glue refers to the machine; the fuzzer drives the
 * device directly, so this is never called. */
struct machine;
void *machine_gpa_to_hva(struct machine *m, uint64_t gpa, uint64_t len);
void *machine_gpa_to_hva(struct machine *m, uint64_t gpa, uint64_t len) { return NULL; }

#define RAM_SIZE 4096
static uint8_t ram[RAM_SIZE];

static void *gpa(void *o, uint64_t addr, uint64_t len)
{
    return addr <= RAM_SIZE && len <= RAM_SIZE - addr ? ram + addr : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fw_cfg *fc = fw_cfg_new(gpa, NULL);
    size_t n = size < 256 ? size : 256;

    if (!fc)
        return 0;
    memset(ram, 0, sizeof(ram));
    memcpy(ram, data, n);
    if (fw_cfg_add_file(fc, "etc/test", "0123456789abcdef", 16, NULL) ||
        fw_cfg_add_u16(fc, FW_CFG_NB_CPUS, 4, NULL)) {
        fw_cfg_free(fc);
        return 0;
    }
    for (size_t i = n; i + 7 <= size; i += 7) {
        uint64_t off = data[i + 1] % FW_CFG_PORT_LEN;
        unsigned sz = 1u << (data[i + 2] % 3);
        uint32_t v;
        memcpy(&v, data + i + 3, 4);
        if (data[i] & 1)
            fw_cfg_pio_ops.write(fc, off, v, sz);
        else
            fw_cfg_pio_ops.read(fc, off, sz);
    }
    fw_cfg_free(fc);
    return 0;
}
