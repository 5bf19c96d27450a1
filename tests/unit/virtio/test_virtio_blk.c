/* virtio-blk end to end without a CPU: the test is the guest driver (the
 * same vdrv.c the freestanding guests use), the device is the real one on
 * the real PCI bus, the disk a qcow2 overlay made by qemu-img over a qcow2
 * base; qemu-io checks what we wrote. Also the hostile cases: loops,
 * addresses outside RAM, huge lengths, wrong directions. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "vtest_io.h"
#include "virtio.h"

extern const struct device_ops pci_host_device, virtio_disks_device;

static char dir[64], base[128], overlay[128];

static int sh(const char *fmt, ...) VK_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* One block request: header, data, status. Returns the status byte. */
static int blk_req(struct vdrv *d, uint32_t type, uint64_t sector, void *data, uint64_t data_gpa,
                   uint32_t len, bool data_write)
{
    uint64_t hgpa, sgpa;
    uint8_t *hdr = alloc(NULL, 16, &hgpa);
    uint8_t *status = alloc(NULL, 1, &sgpa);
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    *status = 0xff;
    struct vdrv_seg segs[3] = { { hgpa, 16, false }, { data_gpa, len, data_write }, { sgpa, 1, true } };
    long r = len ? vdrv_transfer(d, 0, segs, 3, 200000) : vdrv_transfer(d, 0, (struct vdrv_seg[]){ segs[0], segs[2] }, 2, 200000);
    (void)data;
    return r < 0 ? -1 : *status;
}

static struct machine *boot(const char *disk, struct vm_config *cfg, const char **disks)
{
    memset(cfg, 0, sizeof(*cfg));
    disks[0] = disk;
    cfg->disks = disks;
    cfg->nr_disks = 1;
    M = fake_machine_new(cfg);
    next_gpa = 1 << 20;
    struct vk_err err = { 0 };
    if (fake_machine_add(M, &pci_host_device, NULL, &err) ||
        fake_machine_add(M, &virtio_disks_device, NULL, &err)) {
        printf("# machine: %s\n", err.msg);
        return NULL;
    }
    return M;
}

int main(void)
{
    if (sh("command -v qemu-img >/dev/null && command -v qemu-io >/dev/null") != 0)
        tap_skip_all("qemu-img/qemu-io not installed (scripts/bootstrap installs qemu-utils)");
    snprintf(dir, sizeof(dir), "/tmp/vk-vblk-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(base, sizeof(base), "%s/base.qcow2", dir);
    snprintf(overlay, sizeof(overlay), "%s/overlay.qcow2", dir);
    tap_ok(sh("qemu-img create -q -f qcow2 %s 8M && qemu-io -c 'write -q -P 0x11 0 1M' %s", base, base) == 0,
           "qemu-img made a base image with a pattern");
    tap_ok(sh("qemu-img create -q -f qcow2 -b %s -F qcow2 %s && qemu-io -c 'write -q -P 0x22 64k 64k' %s",
              base, overlay, overlay) == 0, "qemu-img made an overlay with its own data");

    struct vm_config cfg;
    const char *disks[1];
    char spec[256];
    snprintf(spec, sizeof(spec), "path=%s,format=qcow2,serial=VK-SERIAL-1", overlay);
    if (!boot(spec, &cfg, disks)) {
        tap_ok(0, "machine with a virtio-blk disk on the overlay");
        return tap_done();
    }
    struct vdrv d;
    int slot = vdrv_find(&d, &io, 2, 0);
    tap_ok(slot > 0, "PCI enumeration finds virtio-blk (1af4:1042) in slot %d", slot);
    uint64_t offered = vdrv_offered(&d);
    tap_ok(offered >> 32 & 1, "VERSION_1 offered");
    tap_ok(offered >> 9 & 1, "FLUSH offered");
    tap_ok(offered >> 13 & 1 && offered >> 14 & 1, "DISCARD and WRITE_ZEROES offered");
    tap_is_int(vdrv_init(&d, 1ULL << 9 | 1ULL << 13 | 1ULL << 14 | 1ULL << 28), 0, "features accepted");
    tap_is_int(vdrv_setup_queue(&d, 0, 64), 0, "queue 0 set up");
    vdrv_driver_ok(&d);
    tap_is_int(vdrv_dev_cfg64(&d, 0), 8 << 11, "capacity = 8 MiB in sectors");

    uint64_t bgpa;
    uint8_t *buf = alloc(NULL, 65536, &bgpa);
    tap_is_int(blk_req(&d, 0, 0, buf, bgpa, 4096, true), 0, "read sector 0");
    tap_ok(buf[0] == 0x11 && buf[4095] == 0x11, "sector 0 comes from the backing file");
    tap_is_int(blk_req(&d, 0, 128, buf, bgpa, 4096, true), 0, "read at 64 KiB");
    tap_ok(buf[0] == 0x22 && buf[4095] == 0x22, "overlay data shadows the backing file");
    tap_is_int(blk_req(&d, 0, 4096, buf, bgpa, 4096, true), 0, "read at 2 MiB");
    tap_ok(buf[0] == 0 && buf[4095] == 0, "unallocated everywhere reads zeroes");

    memset(buf, 0x33, 65536);
    tap_is_int(blk_req(&d, 1, 2048, buf, bgpa, 65536, false), 0, "write 64 KiB at 1 MiB");
    tap_is_int(blk_req(&d, 4, 0, NULL, 0, 0, false), 0, "flush");
    uint8_t *id = alloc(NULL, 20, &bgpa);
    tap_is_int(blk_req(&d, 8, 0, id, bgpa, 20, true), 0, "get-id");
    tap_is_str((char *)id, "VK-SERIAL-1", "serial from --disk serial=");
    tap_ok(atomic_load(&fake_irq_level[pci_intx_gsi((unsigned)slot, 0)]) == 1,
           "INTx asserted on the _PRT GSI (no MSI-X enabled)");
    mmio_read(NULL, d.isr, 1);
    tap_ok(atomic_load(&fake_irq_level[pci_intx_gsi((unsigned)slot, 0)]) == 0, "reading ISR deasserts INTx");

    /* out of range request: IOERR, the device stays usable */
    uint8_t *big = alloc(NULL, 4096, &bgpa);
    tap_is_int(blk_req(&d, 0, (8 << 11) - 2, big, bgpa, 4096, true), 1, "read past the end: IOERR");
    tap_is_int(blk_req(&d, 99, 0, big, bgpa, 512, true), 2, "unknown request type: UNSUPP");

    /* hostile guests from here on: the image file must not change */
    tap_is_int(blk_req(&d, 4, 0, NULL, 0, 0, false), 0, "flush before the hostile requests");
    sh("md5sum %s > %s/hostile1", overlay, dir);

    /* hostile: a chain pointing outside guest RAM marks the device broken */
    struct vdrv_seg evil[3] = { { 1 << 20, 16, false }, { (uint64_t)FAKE_RAM - 8, 4096, true },
                                { (1 << 20) + 64, 1, true } };
    vdrv_post(&d, 0, evil, 3);
    long r = vdrv_wait(&d, 0, 2000);
    tap_ok(r < 0, "no completion for a buffer outside RAM");
    for (int i = 0; i < 2000 && !(vdrv_status(&d) & 64); i++)
        relax(NULL);
    tap_ok(vdrv_status(&d) & 64, "device says DEVICE_NEEDS_RESET");

    /* after a reset the device works again; then a descriptor loop */
    vdrv_init(&d, 1ULL << 9);
    vdrv_setup_queue(&d, 0, 64);
    vdrv_driver_ok(&d);
    tap_ok(!(vdrv_status(&d) & 64), "reset clears NEEDS_RESET");
    buf = alloc(NULL, 4096, &bgpa);
    tap_is_int(blk_req(&d, 0, 2048, buf, bgpa, 4096, true), 0, "read back after reset");
    tap_ok(buf[0] == 0x33 && buf[4095] == 0x33, "data written before is there");
    struct vdrv_queue *vq = vdrv_queue(&d, 0);
    uint8_t *e = vq->desc + 16 * vq->next_desc;
    memset(e, 0, 16);
    uint64_t a = 1 << 20;
    memcpy(e, &a, 8);
    uint32_t l = 16; memcpy(e + 8, &l, 4);
    uint16_t fl = 1, nx = vq->next_desc;   /* NEXT pointing at itself */
    memcpy(e + 12, &fl, 2); memcpy(e + 14, &nx, 2);
    ((uint16_t *)(vq->avail + 4))[vq->avail_idx % vq->size] = vq->next_desc;
    vq->avail_idx++;
    __atomic_store_n((uint16_t *)(vq->avail + 2), vq->avail_idx, __ATOMIC_RELEASE);
    vdrv_kick(&d, 0);
    for (int i = 0; i < 2000 && !(vdrv_status(&d) & 64); i++)
        relax(NULL);
    tap_ok(vdrv_status(&d) & 64, "descriptor loop: NEEDS_RESET, VMM alive");

    /* wrong direction: data buffer for a read marked device-readable */
    vdrv_init(&d, 0);
    vdrv_setup_queue(&d, 0, 64);
    vdrv_driver_ok(&d);
    tap_is_int(blk_req(&d, 0, 0, buf, bgpa, 4096, false), 1, "read into a read-only buffer: IOERR");
    /* huge length */
    struct vdrv_seg huge[3] = { { 1 << 20, 16, false }, { 1 << 21, 0xfffffff0u, true }, { (1 << 20) + 64, 1, true } };
    vdrv_post(&d, 0, huge, 3);
    tap_ok(vdrv_wait(&d, 0, 2000) < 0, "4 GiB buffer refused");
    /* a write whose data lies outside RAM: refused before any byte is written */
    vdrv_init(&d, 0);
    vdrv_setup_queue(&d, 0, 64);
    vdrv_driver_ok(&d);
    uint64_t hg;
    uint8_t *hdr = alloc(NULL, 16, &hg);
    uint32_t t_out = 1;
    uint64_t sect = 0;
    memcpy(hdr, &t_out, 4);
    memcpy(hdr + 8, &sect, 8);
    struct vdrv_seg wild[3] = { { hg, 16, false }, { (uint64_t)FAKE_RAM + 4096, 4096, false },
                                { hg + 32, 1, true } };
    vdrv_post(&d, 0, wild, 3);
    tap_ok(vdrv_wait(&d, 0, 2000) < 0, "write from outside RAM refused");
    sh("md5sum %s > %s/hostile2", overlay, dir);
    tap_ok(sh("cmp -s %s/hostile1 %s/hostile2", dir, dir) == 0, "hostile requests left the image file untouched");

    fake_machine_free(M);
    tap_ok(sh("qemu-io -r -c 'read -q -P 0x33 1M 64k' -c 'read -q -P 0x11 0 64k' -c 'read -q -P 0x22 64k 64k' %s"
              " 2>&1 | grep -q . && exit 1 || exit 0", overlay) == 0,
           "qemu-io sees the guest's write, the overlay and the backing data");
    tap_ok(sh("qemu-img check -q %s", overlay) == 0, "qemu-img check: image clean");

    /* read-only disk: writes refused, file untouched */
    char sum1[128], sum2[128];
    snprintf(spec, sizeof(spec), "path=%s,format=qcow2,readonly=on", overlay);
    sh("md5sum %s > %s/sum1", overlay, dir);
    if (boot(spec, &cfg, disks)) {
        slot = vdrv_find(&d, &io, 2, 0);
        tap_ok((vdrv_offered(&d) >> 5) & 1, "read-only disk offers VIRTIO_BLK_F_RO");
        vdrv_init(&d, 1ULL << 5);
        vdrv_setup_queue(&d, 0, 64);
        vdrv_driver_ok(&d);
        buf = alloc(NULL, 4096, &bgpa);
        memset(buf, 0x44, 4096);
        tap_is_int(blk_req(&d, 1, 0, buf, bgpa, 4096, false), 1, "write to a read-only disk: IOERR");
        tap_is_int(blk_req(&d, 0, 0, buf, bgpa, 4096, true), 0, "reads still work");
        fake_machine_free(M);
    }
    sh("md5sum %s > %s/sum2", overlay, dir);
    snprintf(sum1, sizeof(sum1), "%s/sum1", dir);
    snprintf(sum2, sizeof(sum2), "%s/sum2", dir);
    tap_ok(sh("cmp -s %s %s", sum1, sum2) == 0, "read-only: image file unchanged");

    sh("rm -rf %s", dir);
    return tap_done();
}
