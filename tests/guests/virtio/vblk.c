/* virtio-blk from the guest side: read known sectors (backing file and
 * overlay), write, flush, write-zeroes, get-id, and read-only refusal.
 *
 * Command line (all optional):
 *   p0=N          byte expected in sector 0 (decimal)
 *   p128=N        byte expected in sector 128 (64 KiB)
 *   write=SECT:N  write 8 KiB of byte N at sector SECT, read it back
 *   zero=SECT     write-zeroes 8 KiB at SECT and read zeroes back
 *   discard=SECT  discard 8 KiB at SECT (completes with OK)
 *   serial=ID     expected GET_ID
 *   ro=1          the disk is read-only: writes must fail (IOERR)
 *   bench=N       only do N 4 KiB reads (bench/virtio.py), then exit
 *   qd=K          with bench: K reads posted at once (one kick), all K
 *                 collected, again (K <= 16)
 */
#include "guest_io.h"

/* Small transfers: under an emulating KVM each guest instruction is slow. */
#define CHUNK 8192u

static struct vdrv d;

static int req(uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len, bool data_in)
{
    static uint64_t hg, sg;
    static uint8_t *hdr, *status;
    if (!hdr) {   /* one header and status byte, reused: requests are sequential */
        hdr = g_alloc(0, 16, &hg);
        status = g_alloc(0, 1, &sg);
    }
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    *status = 0xff;
    struct vdrv_seg s[3] = { { hg, 16, false }, { data_gpa, len, data_in }, { sg, 1, true } };
    long r;
    if (len)
        r = vdrv_transfer(&d, 0, s, 3, SPINS);
    else {
        s[1] = s[2];
        r = vdrv_transfer(&d, 0, s, 2, SPINS);
    }
    if (r < 0)
        guest_fail("virtio-blk: request type %u timed out", (unsigned)type);
    return *status;
}

/* bench=N,qd=K: batches of K reads in flight together. */
static void bench_batches(unsigned long n, unsigned k)
{
    static uint64_t hg[16], sg[16], dg[16];
    static uint8_t *hdr[16], *status[16];
    for (unsigned i = 0; i < k; i++) {
        hdr[i] = g_alloc(0, 16, &hg[i]);
        status[i] = g_alloc(0, 1, &sg[i]);
        g_alloc(0, 4096, &dg[i]);
    }
    unsigned long done = 0;
    while (done < n) {
        unsigned m = n - done < k ? (unsigned)(n - done) : k;
        for (unsigned i = 0; i < m; i++) {
            uint32_t type = 0;
            uint64_t sector = ((done + i) * 8) % 8192;
            memcpy(hdr[i], &type, 4);
            memcpy(hdr[i] + 8, &sector, 8);
            *status[i] = 0xff;
            struct vdrv_seg s[3] = { { hg[i], 16, false }, { dg[i], 4096, true }, { sg[i], 1, true } };
            vdrv_post_quiet(&d, 0, s, 3);
        }
        vdrv_kick(&d, 0);
        for (unsigned i = 0; i < m; i++)
            if (vdrv_wait(&d, 0, SPINS) < 0)
                guest_fail("bench batch read timed out");
        for (unsigned i = 0; i < m; i++)
            if (*status[i] != 0)
                guest_fail("bench read %lu failed", done + i);
        done += m;
    }
}

static void expect_fill(const uint8_t *buf, unsigned len, uint8_t v, const char *what)
{
    for (unsigned i = 0; i < len; i++)
        if (buf[i] != v)
            guest_fail("%s: byte %u is 0x%x, want 0x%x", what, i, buf[i], v);
    gprintf("vblk: %s ok (0x%x)\n", what, v);
}

int guest_main(const char *cmdline)
{
    char arg[64];
    if (vdrv_find(&d, &guest_vio, 2, 0) < 0)
        guest_fail("no virtio-blk device on the PCI bus");
    gprintf("vblk: virtio-blk in slot %d\n", d.slot);
    uint64_t want = 1ULL << 9 | 1ULL << 13 | 1ULL << 14 | 1ULL << 5;   /* FLUSH, DISCARD, WRITE_ZEROES, RO */
    if (vdrv_init(&d, want) < 0)
        guest_fail("feature negotiation failed");
    if (vdrv_setup_queue(&d, 0, 64) < 0)
        guest_fail("queue setup failed");
    vdrv_driver_ok(&d);
    gprintf("vblk: capacity %u sectors\n", (unsigned)vdrv_dev_cfg64(&d, 0));

    uint64_t bg;
    uint8_t *buf = g_alloc(0, CHUNK, &bg);
    if (cmdline_get(cmdline, "bench", arg, sizeof(arg))) {
        unsigned long n = parse_ulong(arg), k = 1;
        if (cmdline_get(cmdline, "qd", arg, sizeof(arg)))
            k = parse_ulong(arg);
        if (k > 1 && k <= 16)
            bench_batches(n, (unsigned)k);
        else
            for (unsigned long i = 0; i < n; i++)
                if (req(0, (i * 8) % 8192, bg, 4096, true) != 0)
                    guest_fail("bench read %lu failed", i);
        gprintf("vblk: bench %lu reads done\n", n);
        return 0;
    }
    if (cmdline_get(cmdline, "p0", arg, sizeof(arg))) {
        if (req(0, 0, bg, 4096, true) != 0)
            guest_fail("read sector 0 failed");
        expect_fill(buf, 4096, (uint8_t)parse_ulong(arg), "sector 0");
    }
    if (cmdline_get(cmdline, "p128", arg, sizeof(arg))) {
        if (req(0, 128, bg, 4096, true) != 0)
            guest_fail("read sector 128 failed");
        expect_fill(buf, 4096, (uint8_t)parse_ulong(arg), "sector 128");
    }
    bool ro = cmdline_get(cmdline, "ro", arg, sizeof(arg));
    if (ro) {
        if (!((d.features >> 5) & 1))
            guest_fail("read-only disk did not offer VIRTIO_BLK_F_RO");
        memset(buf, 0x77, 4096);
        if (req(1, 0, bg, 4096, false) != 1)
            guest_fail("write to a read-only disk was not refused");
        gprintf("vblk: read-only write refused ok\n");
    }
    if (cmdline_get(cmdline, "write", arg, sizeof(arg))) {
        unsigned long sect = parse_ulong(arg);
        const char *colon = strstr_g(arg, ":");
        uint8_t v = colon ? (uint8_t)parse_ulong(colon + 1) : 0x5a;
        memset(buf, v, CHUNK);
        if (req(1, sect, bg, CHUNK, false) != 0)
            guest_fail("write failed");
        if (req(4, 0, 0, 0, false) != 0)
            guest_fail("flush failed");
        memset(buf, 0, CHUNK);
        if (req(0, sect, bg, CHUNK, true) != 0)
            guest_fail("read back failed");
        expect_fill(buf, CHUNK, v, "write + flush + read back");
    }
    if (cmdline_get(cmdline, "zero", arg, sizeof(arg))) {
        unsigned long sect = parse_ulong(arg);
        uint64_t sg;
        struct { uint64_t sector; uint32_t num, flags; } *seg = g_alloc(0, 16, &sg);
        seg->sector = sect;
        seg->num = CHUNK / 512;
        seg->flags = 1;   /* may unmap */
        if (req(13, 0, sg, 16, false) != 0)
            guest_fail("write-zeroes failed");
        if (req(0, sect, bg, CHUNK, true) != 0)
            guest_fail("read after write-zeroes failed");
        expect_fill(buf, CHUNK, 0, "write-zeroes");
    }
    if (cmdline_get(cmdline, "discard", arg, sizeof(arg))) {
        if (!((d.features >> 13) & 1))
            guest_fail("DISCARD was not negotiated");
        uint64_t sg;
        struct { uint64_t sector; uint32_t num, flags; } *seg = g_alloc(0, 16, &sg);
        seg->sector = parse_ulong(arg);
        seg->num = CHUNK / 512;
        seg->flags = 0;
        if (req(11, 0, sg, 16, false) != 0)
            guest_fail("discard failed");
        seg->flags = 2;   /* reserved flag bits must be refused */
        if (req(11, 0, sg, 16, false) != 2)
            guest_fail("discard with reserved flags was not refused (UNSUPP)");
        gprintf("vblk: discard ok\n");
    }
    if (cmdline_get(cmdline, "serial", arg, sizeof(arg))) {
        memset(buf, 0, 32);
        if (req(8, 0, bg, 20, true) != 0)
            guest_fail("get-id failed");
        if (strncmp((char *)buf, arg, 20))
            guest_fail("serial is '%s', want '%s'", (char *)buf, arg);
        gprintf("vblk: serial '%s' ok\n", (char *)buf);
    }
    /* past the end: IOERR, and the device keeps working */
    uint64_t cap = vdrv_dev_cfg64(&d, 0);
    if (req(0, cap, bg, 512, true) != 1)
        guest_fail("read past the end was not refused");
    if (req(0, 0, bg, 512, true) != 0)
        guest_fail("device stopped working after an out-of-range request");
    return 0;
}
