/* virtio-net from the guest side: send an Ethernet frame through the TAP
 * and wait for the host's answer (ethertype 0x88b5, a local experimental
 * type, so nothing else on the link confuses it). Command line: count=N
 * round trips (default 3); bench=N: only transmit N frames (bench/virtio.py). */
#include "guest_io.h"

static struct vdrv d;
static const uint8_t mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

int guest_main(const char *cmdline)
{
    char arg[16];
    unsigned long count = cmdline_get(cmdline, "count", arg, sizeof(arg)) ? parse_ulong(arg) : 3;
    if (vdrv_find(&d, &guest_vio, 1, 0) < 0)
        guest_fail("no virtio-net device on the PCI bus");
    if (vdrv_init(&d, 1ULL << 5 | 1ULL << 15) < 0)   /* MAC, MRG_RXBUF */
        guest_fail("feature negotiation failed");
    vdrv_setup_queue(&d, 0, 16);
    vdrv_setup_queue(&d, 1, 16);
    vdrv_driver_ok(&d);
    uint8_t mac[6];
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)g_mmio_read(0, d.device + (unsigned)i, 1);
    gprintf("vnet: mac %x:%x:%x:%x:%x:%x\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);

    uint64_t rg, tg;
    uint8_t *rx = g_alloc(0, 2048, &rg);
    uint8_t *tx = g_alloc(0, 12 + 64, &tg);
    if (cmdline_get(cmdline, "bench", arg, sizeof(arg))) {
        unsigned long n = parse_ulong(arg);
        memset(tx, 0, 12 + 64);
        memcpy(tx + 12, mac_bcast, 6);
        memcpy(tx + 18, mac, 6);
        tx[24] = 0x88; tx[25] = 0xb5;
        struct vdrv_seg ts = { tg, 12 + 60, false };
        for (unsigned long i = 0; i < n; i++)
            if (vdrv_transfer(&d, 1, &ts, 1, SPINS) < 0)
                guest_fail("bench transmit %lu timed out", i);
        gprintf("vnet: bench %lu frames sent\n", n);
        return 0;
    }
    for (unsigned long n = 0; n < count; n++) {
        struct vdrv_seg rs = { rg, 2048, true };
        memset(rx, 0, 2048);
        vdrv_post(&d, 0, &rs, 1);
        memset(tx, 0, 12 + 64);
        uint8_t *f = tx + 12;
        memcpy(f, mac_bcast, 6);
        memcpy(f + 6, mac, 6);
        f[12] = 0x88; f[13] = 0xb5;
        memcpy(f + 14, "ping from guest #", 17);
        f[31] = (uint8_t)('0' + n % 10);
        struct vdrv_seg ts = { tg, 12 + 60, false };
        if (vdrv_transfer(&d, 1, &ts, 1, SPINS) < 0)
            guest_fail("transmit timed out");
        for (;;) {
            long len = vdrv_wait(&d, 0, SPINS);
            if (len < 0)
                guest_fail("no answer from the host to ping %lu", n);
            uint8_t *rf = rx + 12;
            if (len >= 12 + 14 + 4 && rf[12] == 0x88 && rf[13] == 0xb5 &&
                !memcmp(rf, mac, 6) && !memcmp(rf + 14, "pong", 4)) {
                gprintf("vnet: pong %lu ok (%ld bytes)\n", n, len - 12);
                break;
            }
            vdrv_post(&d, 0, &rs, 1);   /* other traffic: keep waiting */
        }
    }
    return 0;
}
