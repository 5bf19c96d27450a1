/* fw_cfg: the guest's view through the I/O ports and the DMA interface. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "fake_machine.h"
#include "devices/fw_cfg.h"

static struct fake_machine *f;

static void sel(uint16_t key) { bus_write(&f->m.pio, 0x510, 2, key); }
static uint8_t rd8(void) { uint64_t v = 0; bus_read(&f->m.pio, 0x511, 1, &v); return (uint8_t)v; }
static void rdn(void *buf, size_t n) { for (size_t i = 0; i < n; i++) ((uint8_t *)buf)[i] = rd8(); }
static uint64_t rdle(unsigned n) { uint64_t v = 0; for (unsigned i = 0; i < n; i++) v |= (uint64_t)rd8() << (8 * i); return v; }

/* Run a DMA request whose descriptor sits at `desc`; returns the control
 * word the device wrote back. */
static uint32_t dma(uint64_t desc, uint32_t control, uint32_t len, uint64_t addr)
{
    uint8_t *ram = f->m.ram[0].hva;
    uint32_t c = htobe32(control), l = htobe32(len);
    uint64_t a = htobe64(addr);

    memcpy(ram + desc, &c, 4);
    memcpy(ram + desc + 4, &l, 4);
    memcpy(ram + desc + 8, &a, 8);
    bus_write(&f->m.pio, 0x514, 4, htobe32((uint32_t)(desc >> 32)));
    bus_write(&f->m.pio, 0x518, 4, htobe32((uint32_t)desc));
    memcpy(&c, ram + desc, 4);
    return be32toh(c);
}

int main(void)
{
    struct vk_err err = {0};
    char sig[5] = {0};
    f = fake_machine_new(1 << 20, 3);
    struct fw_cfg *fc = fake_machine_add(f, &fw_cfg_device, FW_CFG_PORT_BASE, 0, NULL);
    uint8_t *ram = f->m.ram[0].hva;

    tap_ok(fc != NULL, "device created and registered at 0x510");
    tap_ok(fw_cfg_find(&f->m) == fc, "fw_cfg_find returns the instance");

    sel(FW_CFG_SIGNATURE);
    rdn(sig, 4);
    tap_is_str(sig, "QEMU", "signature");
    sel(FW_CFG_ID);
    tap_is_int(rdle(4), FW_CFG_VERSION | FW_CFG_VERSION_DMA, "ID: traditional + DMA");
    sel(FW_CFG_NB_CPUS);
    tap_is_int(rdle(2), 3, "NB_CPUS");
    sel(FW_CFG_MAX_CPUS);
    tap_is_int(rdle(2), 3, "MAX_CPUS");
    sel(FW_CFG_RAM_SIZE);
    tap_is_int(rdle(8), 1 << 20, "RAM_SIZE");
    sel(FW_CFG_NB_CPUS);
    rdle(2);
    tap_is_int(rdle(4), 0, "reads past the end give zeros");
    sel(0x1234);
    tap_is_int(rdle(4), 0, "an absent key reads as zeros");
    sel(0x8003);
    tap_is_int(rdle(4), 0, "an arch-local key reads as zeros");
    { uint64_t v = 0; sel(FW_CFG_SIGNATURE); bus_read(&f->m.pio, 0x511, 4, &v);
      tap_is_int(v, 0x554d4551, "a 4-byte data read returns 4 bytes in string order"); }

    tap_is_int(fw_cfg_add_file(fc, "etc/zzz", "last", 4, &err), 0, "add etc/zzz");
    tap_is_int(fw_cfg_add_file(fc, "etc/e820", "abcdefgh", 8, &err), 0, "add etc/e820");
    tap_is_int(fw_cfg_add_file(fc, "etc/e820", "0123456789", 10, &err), 0, "replace etc/e820");
    char longname[80];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[79] = 0;
    tap_ok(fw_cfg_add_file(fc, longname, "", 0, &err) == -EINVAL, "too-long file name refused");
    tap_ok(fw_cfg_add_bytes(fc, FW_CFG_FILE_DIR, "x", 1, &err) == -EINVAL, "the directory key is not settable");

    sel(FW_CFG_FILE_DIR);
    uint32_t count = (uint32_t)be32toh((uint32_t)rdle(4));
    tap_is_int(count, 3, "directory: 3 files (bootorder, etc/e820, etc/zzz)");
    char names[3][56];
    uint16_t keys[3];
    uint32_t sizes[3];
    for (unsigned i = 0; i < 3 && i < count; i++) {
        uint8_t e[64];
        rdn(e, 64);
        sizes[i] = be32toh(*(uint32_t *)e);
        keys[i] = be16toh(*(uint16_t *)(e + 4));
        memcpy(names[i], e + 8, 56);
    }
    tap_is_str(names[0], "bootorder", "sorted entry 0");
    tap_is_str(names[1], "etc/e820", "sorted entry 1");
    tap_is_str(names[2], "etc/zzz", "sorted entry 2");
    tap_is_int(sizes[1], 10, "etc/e820 size after replace");
    tap_is_int(keys[1], fw_cfg_file_key(fc, "etc/e820"), "directory key matches");
    tap_ok(keys[0] >= FW_CFG_FILE_FIRST && keys[1] >= FW_CFG_FILE_FIRST, "file keys from 0x20");
    sel(keys[1]);
    char data[11] = {0};
    rdn(data, 10);
    tap_is_str(data, "0123456789", "file contents through the data port");

    /* DMA */
    uint64_t v = 0;
    bus_read(&f->m.pio, 0x514, 4, &v);
    tap_is_int(v, 0x554d4551, "DMA register reads back 'QEMU' (first half of 'QEMU CFG')");
    memset(ram + 0x2000, 0xaa, 32);
    uint32_t ctl = dma(0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ | ((uint32_t)keys[1] << 16),
                       16, 0x2000);
    tap_is_int(ctl, 0, "DMA select+read completes without error");
    tap_ok(!memcmp(ram + 0x2000, "0123456789\0\0\0\0\0\0", 16), "DMA read copies and zero-fills");
    tap_is_int(ram[0x2010], 0xaa, "DMA read stays within length");
    ctl = dma(0x1000, FW_CFG_DMA_SELECT | FW_CFG_DMA_SKIP | ((uint32_t)keys[1] << 16), 4, 0);
    tap_is_int(ctl, 0, "DMA skip");
    ctl = dma(0x1000, FW_CFG_DMA_READ, 2, 0x2100);
    tap_ok(ctl == 0 && !memcmp(ram + 0x2100, "45", 2), "DMA read continues after the skip");
    sel(keys[1]);
    rdle(3);
    tap_is_int(rd8(), '3', "port and DMA share the offset");
    ctl = dma(0x1000, FW_CFG_DMA_READ, 64, (1 << 20) - 8);
    tap_is_int(ctl, FW_CFG_DMA_ERROR, "DMA read beyond RAM sets the error bit");
    ctl = dma(0x1000, FW_CFG_DMA_READ, 0xffffffff, 0x10);
    tap_is_int(ctl, FW_CFG_DMA_ERROR, "DMA read with a huge length sets the error bit");
    ctl = dma(0x1000, FW_CFG_DMA_WRITE | FW_CFG_DMA_SELECT | (FW_CFG_SIGNATURE << 16), 4, 0x3000);
    tap_is_int(ctl, FW_CFG_DMA_ERROR, "DMA write is refused (read-only items)");
    bus_write(&f->m.pio, 0x514, 4, htobe32(0x7fffffff));
    bus_write(&f->m.pio, 0x518, 4, htobe32(0xfffffff0));
    tap_ok(1, "descriptor outside RAM is ignored");

    /* Hostile port traffic must not crash (ASan run). */
    srand(1);
    for (int i = 0; i < 20000; i++) {
        uint64_t port = 0x510 + (uint64_t)(rand() % 12);
        unsigned size = 1u << (rand() % 3);
        if (rand() & 1)
            bus_write(&f->m.pio, port, size, (uint64_t)rand() * (uint64_t)rand());
        else
            bus_read(&f->m.pio, port, size, &v);
    }
    tap_ok(1, "random port traffic survived");

    fake_machine_free(f);
    return tap_done();
}
