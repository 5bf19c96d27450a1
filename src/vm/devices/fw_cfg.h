/* fw_cfg: QEMU's firmware configuration interface (docs/acpi-fwcfg.md).
 *
 * The guest selects an item by writing its 16-bit key to the selector port
 * (base + 0) and reads its bytes from the data port (base + 1); the DMA
 * address register (base + 4, big-endian, 8 bytes) runs a transfer described
 * by a guest-memory descriptor. Items are read-only blobs.
 *
 * Other code adds items after the machine created the device:
 *     struct fw_cfg *fc = fw_cfg_find(m);
 *     if (fc) fw_cfg_add_file(fc, "etc/e820", buf, len, err);
 * All functions are thread-safe (a mutex guards the item table).
 */
#ifndef VK_VM_FW_CFG_H
#define VK_VM_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define FW_CFG_PORT_BASE   0x510
#define FW_CFG_PORT_LEN    0x0c        /* selector, data, DMA address */

/* Well-known keys */
#define FW_CFG_SIGNATURE   0x00
#define FW_CFG_ID          0x01
#define FW_CFG_UUID        0x02
#define FW_CFG_RAM_SIZE    0x03
#define FW_CFG_NOGRAPHIC   0x04
#define FW_CFG_NB_CPUS     0x05
#define FW_CFG_MACHINE_ID  0x06
#define FW_CFG_KERNEL_ADDR 0x07
#define FW_CFG_KERNEL_SIZE 0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR 0x0a
#define FW_CFG_INITRD_SIZE 0x0b
#define FW_CFG_BOOT_DEVICE 0x0c
#define FW_CFG_NUMA        0x0d
#define FW_CFG_BOOT_MENU   0x0e
#define FW_CFG_MAX_CPUS    0x0f
#define FW_CFG_FILE_DIR    0x19
#define FW_CFG_FILE_FIRST  0x20
#define FW_CFG_KEY_MASK    0x3fff      /* bit 14: write flag, bit 15: arch flag */
#define FW_CFG_ARCH_LOCAL  0x8000

#define FW_CFG_FILE_NAME_MAX 56        /* including the NUL */

/* FW_CFG_ID feature bits */
#define FW_CFG_VERSION     0x01
#define FW_CFG_VERSION_DMA 0x02

/* DMA control bits (big-endian in guest memory) */
#define FW_CFG_DMA_ERROR   0x01
#define FW_CFG_DMA_READ    0x02
#define FW_CFG_DMA_SKIP    0x04
#define FW_CFG_DMA_SELECT  0x08
#define FW_CFG_DMA_WRITE   0x10
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL   /* "QEMU CFG" */

struct fw_cfg;
struct machine;
struct bus_ops;

/* Guest memory access for DMA: host pointer for [gpa, gpa+len) or NULL. */
typedef void *(*fw_cfg_gpa_fn)(void *opaque, uint64_t gpa, uint64_t len);

/* Create an empty fw_cfg with the signature and ID items. `gpa` may be NULL
 * (no DMA). */
struct fw_cfg *fw_cfg_new(fw_cfg_gpa_fn gpa, void *gpa_opaque);
void fw_cfg_free(struct fw_cfg *fc);

/* Set a numbered item (copies data; replaces an existing one). Key must be
 * below FW_CFG_FILE_FIRST and not FW_CFG_FILE_DIR. */
int fw_cfg_add_bytes(struct fw_cfg *fc, uint16_t key, const void *data, size_t len,
                     struct vk_err *err) VK_MUST_CHECK;
int fw_cfg_add_u16(struct fw_cfg *fc, uint16_t key, uint16_t v, struct vk_err *err) VK_MUST_CHECK;
int fw_cfg_add_u32(struct fw_cfg *fc, uint16_t key, uint32_t v, struct vk_err *err) VK_MUST_CHECK;
int fw_cfg_add_u64(struct fw_cfg *fc, uint16_t key, uint64_t v, struct vk_err *err) VK_MUST_CHECK;
/* Add or replace a named file; it appears in the file directory (sorted by
 * name, as QEMU does) and gets a key from FW_CFG_FILE_FIRST up. */
int fw_cfg_add_file(struct fw_cfg *fc, const char *name, const void *data, size_t len,
                    struct vk_err *err) VK_MUST_CHECK;
/* Key of a file, or -ENOENT. */
int fw_cfg_file_key(struct fw_cfg *fc, const char *name);

/* Port handlers (offset 0: selector, 1: data, 4..11: DMA address). */
extern const struct bus_ops fw_cfg_pio_ops;

struct device_ops;
extern const struct device_ops fw_cfg_device;   /* board table entry */

/* The machine's fw_cfg instance (created from the board table), or NULL. */
struct fw_cfg *fw_cfg_find(struct machine *m);

#endif
