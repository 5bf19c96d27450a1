/* A DHCP client guest for the networks tests: over virtio-net it sends
 * DHCPDISCOVER, takes the first DHCPOFFER, sends DHCPREQUEST and waits for
 * the DHCPACK (RFC 2131 message flow, RFC 2132 options), then prints
 * "vdhcp: lease A.B.C.D from S.S.S.S" and passes. Command line:
 * hostname=NAME (option 12, default "vdhcp"). */
#include "guest_io.h"

static struct vdrv d;
static uint8_t mac[6];
static uint8_t *rx, *tx;
static uint64_t rg, tg;

#define VNET_HDR 12              /* virtio_net_hdr with num_buffers (MRG_RXBUF) */
#define XID 0x564b4448u          /* "VKDH" */
/* Polls per receive wait (each a `pause`: a few ms in all on bare KVM, up
 * to about a second where pause exits to the host); the caller
 * retransmits on timeout, up to 1000 times. */
#define WAIT_SPINS 100000ul

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned ip_checksum(const uint8_t *h, unsigned len)
{
    uint32_t sum = 0;
    for (unsigned i = 0; i < len; i += 2)
        sum += (uint32_t)h[i] << 8 | h[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return ~sum & 0xffff;
}

/* Build and send one DHCP message of `type` (1 DISCOVER, 3 REQUEST). */
static void send_dhcp(int type, uint32_t want_ip, uint32_t server, const char *host)
{
    memset(tx, 0, VNET_HDR + 600);
    uint8_t *f = tx + VNET_HDR, *ip = f + 14, *udp = ip + 20, *b = udp + 8;
    memset(f, 0xff, 6);                       /* broadcast */
    memcpy(f + 6, mac, 6);
    put16(f + 12, 0x0800);
    b[0] = 1; b[1] = 1; b[2] = 6;             /* BOOTREQUEST, Ethernet, hlen */
    put32(b + 4, XID);
    put16(b + 10, 0x8000);                    /* answer by broadcast: no IP yet */
    memcpy(b + 28, mac, 6);                   /* chaddr */
    uint8_t *o = b + 236;
    put32(o, 0x63825363);                     /* magic cookie */
    o += 4;
    *o++ = 53; *o++ = 1; *o++ = (uint8_t)type;
    *o++ = 61; *o++ = 7; *o++ = 1;            /* client id: type 1 + MAC */
    memcpy(o, mac, 6);
    o += 6;
    size_t hl = strlen(host);
    if (hl > 32)
        hl = 32;
    *o++ = 12; *o++ = (uint8_t)hl;
    memcpy(o, host, hl);
    o += hl;
    if (type == 3) {
        *o++ = 50; *o++ = 4; put32(o, want_ip); o += 4;
        *o++ = 54; *o++ = 4; put32(o, server); o += 4;
    }
    *o++ = 55; *o++ = 3; *o++ = 1; *o++ = 3; *o++ = 6;   /* mask, router, dns */
    *o++ = 255;
    unsigned blen = (unsigned)(o - b);
    if (blen < 300)
        blen = 300;                           /* BOOTP minimum */
    put16(udp, 68);
    put16(udp + 2, 67);
    put16(udp + 4, 8 + blen);                 /* UDP checksum 0: none (IPv4) */
    ip[0] = 0x45;
    put16(ip + 2, 20 + 8 + blen);
    ip[8] = 64;
    ip[9] = 17;
    put32(ip + 12, 0);
    put32(ip + 16, 0xffffffffu);
    put16(ip + 10, ip_checksum(ip, 20));
    struct vdrv_seg ts = { tg, VNET_HDR + 14 + 20 + 8 + blen, false };
    if (vdrv_transfer(&d, 1, &ts, 1, SPINS) < 0)
        guest_fail("vdhcp: transmit timed out");
}

static bool rx_posted;

/* Wait for a DHCP reply of `type` (2 OFFER, 5 ACK) to our xid: 0, or -1 when
 * nothing came in time (the receive buffer stays posted for next time);
 * a DHCPNAK fails the test. */
static int wait_dhcp(int type, uint32_t *yiaddr, uint32_t *server)
{
    struct vdrv_seg rs = { rg, 2048, true };
    /* Other traffic (STP BPDUs every 2 s, IPv6 noise) also wakes us: give
     * up after a few frames so the caller retransmits. */
    for (int frames = 0; frames < 4; frames++) {
        if (!rx_posted) {
            memset(rx, 0, 2048);
            vdrv_post(&d, 0, &rs, 1);
            rx_posted = true;
        }
        long len = vdrv_wait(&d, 0, WAIT_SPINS);
        if (len < 0)
            return -1;
        rx_posted = false;
        uint8_t *f = rx + VNET_HDR, *ip = f + 14;
        long flen = len - VNET_HDR;
        if (flen < 14 + 20 + 8 + 240 || f[12] != 0x08 || f[13] != 0x00 || ip[9] != 17)
            continue;
        unsigned ihl = (ip[0] & 15u) * 4;
        if (ihl < 20 || 14 + ihl + 8 + 240 > (unsigned long)flen)
            continue;
        uint8_t *udp = ip + ihl, *b = udp + 8;
        if (udp[2] != 0 || udp[3] != 68 || b[0] != 2 || get32(b + 4) != XID ||
            memcmp(b + 28, mac, 6) || get32(b + 236) != 0x63825363)
            continue;
        int got = 0;
        uint32_t sid = 0;
        uint8_t *o = b + 240, *end = f + flen;
        while (o < end && *o != 255) {
            if (*o == 0) {
                o++;
                continue;
            }
            if (o + 2 > end || o + 2 + o[1] > end)
                break;
            if (o[0] == 53 && o[1] == 1)
                got = o[2];
            if (o[0] == 54 && o[1] == 4)
                sid = get32(o + 2);
            o += 2 + o[1];
        }
        if (got == 6)
            guest_fail("vdhcp: DHCPNAK");
        if (got != type)
            continue;
        *yiaddr = get32(b + 16);
        *server = sid;
        return 0;
    }
    return -1;
}

int guest_main(const char *cmdline)
{
    char host[40] = "vdhcp";
    cmdline_get(cmdline, "hostname", host, sizeof(host));
    if (vdrv_find(&d, &guest_vio, 1, 0) < 0)
        guest_fail("no virtio-net device on the PCI bus");
    if (vdrv_init(&d, 1ULL << 5 | 1ULL << 15) < 0)   /* MAC, MRG_RXBUF */
        guest_fail("feature negotiation failed");
    vdrv_setup_queue(&d, 0, 16);
    vdrv_setup_queue(&d, 1, 16);
    vdrv_driver_ok(&d);
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)g_mmio_read(0, d.device + (unsigned)i, 1);
    rx = g_alloc(0, 2048, &rg);
    tx = g_alloc(0, VNET_HDR + 600, &tg);

    /* The bridge port may still be in STP listening/learning, dropping
     * frames: repeat DISCOVER until an OFFER arrives, then REQUEST. */
    uint32_t offer = 0, server = 0, ack = 0, server2 = 0;
    int attempt = 0;
    do {
        if (attempt++ == 1000)
            guest_fail("vdhcp: no DHCPOFFER");
        if (attempt % 50 == 1)
            gprintf("vdhcp: DHCPDISCOVER #%d\n", attempt);
        send_dhcp(1, 0, 0, host);
    } while (wait_dhcp(2, &offer, &server) < 0);
    attempt = 0;
    do {
        if (attempt++ == 100)
            guest_fail("vdhcp: no DHCPACK");
        if (attempt % 50 == 1)
            gprintf("vdhcp: DHCPREQUEST #%d\n", attempt);
        send_dhcp(3, offer, server, host);
    } while (wait_dhcp(5, &ack, &server2) < 0);
    gprintf("vdhcp: lease %u.%u.%u.%u from %u.%u.%u.%u\n", ack >> 24, (ack >> 16) & 255,
            (ack >> 8) & 255, ack & 255, server2 >> 24, (server2 >> 16) & 255,
            (server2 >> 8) & 255, server2 & 255);
    return 0;
}
