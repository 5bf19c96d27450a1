/* virtio-net multiqueue and vhost-net on a CPU-less machine, driven by the
 * shared mini driver, in a private network namespace (unshare): the host
 * side is an AF_PACKET socket on the TAP, nothing leaves the namespace.
 *
 *  - queues=3: MQ and CTRL_VQ offered, max_virtqueue_pairs = 3, the control
 *    queue switches to 3 pairs (and refuses 0 and 9), a UDP frame sent on
 *    pair 2 reaches the TAP, and the answer of the same flow comes back on
 *    pair 2 (the TAP steers a flow to the queue it came from).
 *  - vhost: without /dev/vhost-net, vhost=on is refused with a clear message
 *    and vhost=auto runs in user space; a node that opens but is not vhost
 *    (VIRTKIT_VHOST_NET=/dev/null) likewise; with a real /dev/vhost-net,
 *    traffic both ways through the kernel, and again after a device reset
 *    (rings handed back and forth).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "virtio.h"
#include "vtest_io.h"

extern const struct device_ops pci_host_device, virtio_disks_device;

#define F_MAC     (1ULL << 5)
#define F_MRG     (1ULL << 15)
#define F_CTRL_VQ (1ULL << 17)
#define F_MQ      (1ULL << 22)

static struct vm_config cfg;
static struct vk_err last_err;

static const uint8_t GUEST_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
static const uint8_t HOST_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

static struct machine *net_machine(const char *net)
{
    static const char *nets[1];
    memset(&cfg, 0, sizeof(cfg));
    nets[0] = net;
    cfg.nets = nets;
    cfg.nr_nets = 1;
    M = fake_machine_new(&cfg);
    next_gpa = 1 << 20;
    memset(&last_err, 0, sizeof(last_err));
    if (fake_machine_add(M, &pci_host_device, NULL, &last_err) ||
        fake_machine_add(M, &virtio_disks_device, NULL, &last_err)) {
        printf("# machine: %s\n", last_err.msg);
        fake_machine_free(M);
        M = NULL;
    }
    return M;
}

static int if_up(const char *name)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP;
    if (r == 0)
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    return r;
}

static int packet_socket(const char *ifname)
{
    int ps = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)if_nametoindex(ifname) };
    if (ps >= 0 && bind(ps, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
        close(ps);
        ps = -1;
    }
    return ps;
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* An Ethernet + IPv4 + UDP frame (60 bytes) carrying `tag`. */
static void udp_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint32_t sip,
                      uint32_t dip, uint16_t sport, uint16_t dport, const char *tag)
{
    memset(f, 0, 60);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08; f[13] = 0x00;
    uint8_t *ip = f + 14;
    ip[0] = 0x45; ip[3] = 46;            /* total length 20 + 8 + 18 */
    ip[8] = 64; ip[9] = 17;              /* TTL, UDP */
    uint32_t s = htonl(sip), d = htonl(dip);
    memcpy(ip + 12, &s, 4);
    memcpy(ip + 16, &d, 4);
    uint16_t c = htons(ip_csum(ip, 20));
    memcpy(ip + 10, &c, 2);
    uint8_t *udp = ip + 20;
    uint16_t sp = htons(sport), dp = htons(dport), ul = htons(26);
    memcpy(udp, &sp, 2);
    memcpy(udp + 2, &dp, 2);
    memcpy(udp + 4, &ul, 2);
    memcpy(udp + 8, tag, strlen(tag));
}

static bool has_tag(const uint8_t *f, size_t len, const char *tag)
{
    return len >= 60 && f[12] == 0x08 && f[13] == 0x00 && !memcmp(f + 42, tag, strlen(tag));
}

/* The host reads frames until one carries `tag` (skipping the IPv6 noise
 * the kernel sends on a new link). */
static bool host_sees(int ps, const char *tag)
{
    uint8_t got[2048];
    for (int tries = 0; tries < 20; tries++) {
        struct pollfd p = { ps, POLLIN, 0 };
        if (poll(&p, 1, 2000) != 1)
            return false;
        ssize_t n = recv(ps, got, sizeof(got), 0);
        if (n > 0 && has_tag(got, (size_t)n, tag))
            return true;
    }
    return false;
}

/* The guest transmits one UDP frame on `pair`. */
static bool guest_tx(struct vdrv *d, unsigned pair, const char *tag)
{
    uint64_t gpa;
    uint8_t *pkt = alloc(NULL, 12 + 64, &gpa);
    udp_frame(pkt + 12, HOST_MAC, GUEST_MAC, 0x0a000002, 0x0a000001, 4000, 5000, tag);
    struct vdrv_seg seg = { gpa, 12 + 60, false };
    return vdrv_transfer(d, 2 * pair + 1, &seg, 1, 100000) >= 0;
}

/* One receive buffer per queue, posted until the device uses it. */
struct rxbufs {
    uint8_t *p[8];
    struct vdrv_seg seg[8];
    bool posted[8];
};

static void rx_post(struct vdrv *d, unsigned pair, struct rxbufs *b)
{
    if (b->posted[pair])
        return;
    if (!b->p[pair])
        b->p[pair] = alloc(NULL, 2048, &b->seg[pair].gpa);
    b->seg[pair].len = 2048;
    b->seg[pair].write = true;
    memset(b->p[pair], 0, 2048);
    vdrv_post(d, 2 * pair, &b->seg[pair], 1);
    b->posted[pair] = true;
}

/* Which of the first `pairs` receive queues gets the frame tagged `tag`
 * the host sends; -1 if none within a few seconds. */
static int host_to_guest(struct vdrv *d, struct rxbufs *b, int ps, unsigned pairs, const char *tag)
{
    for (unsigned i = 0; i < pairs; i++)
        rx_post(d, i, b);
    uint8_t frame[60];
    udp_frame(frame, GUEST_MAC, HOST_MAC, 0x0a000001, 0x0a000002, 5000, 4000, tag);
    if (send(ps, frame, sizeof(frame), 0) != sizeof(frame))
        return -1;
    for (int spins = 0; spins < 100000; spins++) {
        for (unsigned i = 0; i < pairs; i++) {
            struct vdrv_queue *q = vdrv_queue(d, 2 * i);
            uint16_t used;
            memcpy(&used, q->used + 2, 2);
            if (used == q->last_used)
                continue;
            long len = vdrv_wait(d, 2 * i, 10);
            b->posted[i] = false;
            if (len >= 12 + 60 && has_tag(b->p[i] + 12, (size_t)len - 12, tag))
                return (int)i;
            rx_post(d, i, b);   /* noise: post again */
        }
        relax(NULL);
    }
    return -1;
}

/* The control queue: one command, returns the device's ack (or -1). */
static int ctrl(struct vdrv *d, unsigned q, uint8_t cls, uint8_t cmd, uint16_t arg)
{
    uint64_t gpa;
    uint8_t *b = alloc(NULL, 8, &gpa);
    b[0] = cls;
    b[1] = cmd;
    memcpy(b + 2, &arg, 2);
    b[4] = 0xee;
    struct vdrv_seg segs[2] = { { gpa, 4, false }, { gpa + 4, 1, true } };
    if (vdrv_transfer(d, q, segs, 2, 100000) < 0)
        return -1;
    return b[4];
}

static void test_multiqueue(void)
{
    if (!net_machine("tap=vkmq0,mac=52:54:00:12:34:57,queues=3,vhost=off"))
        return tap_ok(0, "mq: machine with a 3-pair virtio-net on TAP vkmq0");
    struct vdrv d;
    struct rxbufs rb = { 0 };
    tap_ok(vdrv_find(&d, &io, 1, 0) > 0, "mq: found 1af4:1041");
    uint64_t off = vdrv_offered(&d);
    tap_ok((off & F_MQ) && (off & F_CTRL_VQ), "mq: MQ and CTRL_VQ offered");
    tap_is_int(vdrv_init(&d, F_MAC | F_MRG | F_MQ | F_CTRL_VQ), 0, "mq: features negotiated");
    tap_is_int(io.mmio_read(NULL, d.device + 8, 2), 3, "mq: max_virtqueue_pairs = 3");
    for (unsigned q = 0; q < 7; q++)
        vdrv_setup_queue(&d, q, 16);
    vdrv_driver_ok(&d);
    tap_is_int(if_up("vkmq0"), 0, "mq: TAP link up");
    int ps = packet_socket("vkmq0");
    tap_ok(ps >= 0, "mq: host packet socket on the TAP");
    tap_is_int(ctrl(&d, 6, 4, 0, 9), 1, "mq: VQ_PAIRS_SET 9 refused (ERR)");
    tap_is_int(ctrl(&d, 6, 4, 0, 0), 1, "mq: VQ_PAIRS_SET 0 refused (ERR)");
    tap_is_int(ctrl(&d, 6, 0, 0, 1), 1, "mq: unknown control class refused (ERR)");
    tap_is_int(ctrl(&d, 6, 4, 0, 3), 0, "mq: VQ_PAIRS_SET 3 accepted (OK)");
    tap_ok(guest_tx(&d, 2, "virtkit-mq2"), "mq: transmit on pair 2 completed");
    tap_ok(host_sees(ps, "virtkit-mq2"), "mq: host receives the frame sent on pair 2");
    tap_is_int(host_to_guest(&d, &rb, ps, 3, "virtkit-back2"), 2,
               "mq: the answer of that flow arrives on pair 2");
    tap_ok(guest_tx(&d, 0, "virtkit-mq0"), "mq: transmit on pair 0 completed");
    tap_ok(host_sees(ps, "virtkit-mq0"), "mq: host receives the frame sent on pair 0");
    /* Back to one pair: everything arrives on pair 0 again. */
    tap_is_int(ctrl(&d, 6, 4, 0, 1), 0, "mq: VQ_PAIRS_SET 1 accepted");
    tap_is_int(host_to_guest(&d, &rb, ps, 3, "virtkit-one"), 0, "mq: with one pair, frames arrive on pair 0");
    tap_ok(!(vdrv_status(&d) & 64), "mq: device not marked broken");
    close(ps);
    fake_machine_free(M);
}

static void test_mq_options(void)
{
    tap_ok(!net_machine("tap=vkmq1,queues=9"), "mq: queues=9 refused");
    tap_ok(strstr(last_err.msg, "queues=9") != NULL, "mq: ... naming the option (%s)", last_err.msg);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vkmq2");
    tap_ok(fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0, "mq: a multi-queue TAP opened by the test");
    char spec[64];
    snprintf(spec, sizeof(spec), "fd=%d,queues=2", fd);
    tap_ok(!net_machine(spec), "mq: fd=N with queues=2 refused");
    tap_ok(strstr(last_err.msg, "needs 2 fds") != NULL, "mq: ... one fd per pair (%s)", last_err.msg);
    tap_ok(fcntl(fd, F_GETFD) >= 0, "mq: the refused fd stays open (still the caller's)");
    close(fd);
}

/* One frame each way on pair 0, single queue. */
static void roundtrip(const char *what, const char *ifname, bool reinit_only)
{
    struct vdrv d;
    tap_ok(vdrv_find(&d, &io, 1, 0) > 0, "%s: found 1af4:1041", what);
    for (int round = 0; round < (reinit_only ? 1 : 2); round++) {
        /* round 1 starts with a device reset: the rings go back to user
         * space and (with vhost) to the kernel again */
        tap_is_int(vdrv_init(&d, F_MAC | F_MRG), 0, "%s: features negotiated (round %d)", what, round);
        vdrv_setup_queue(&d, 0, 16);
        vdrv_setup_queue(&d, 1, 16);
        vdrv_driver_ok(&d);
        if (round == 0)
            tap_is_int(if_up(ifname), 0, "%s: TAP link up", what);
        int ps = packet_socket(ifname);
        struct rxbufs rb = { 0 };
        char tag[32];
        snprintf(tag, sizeof(tag), "vk-tx-%d", round);
        tap_ok(guest_tx(&d, 0, tag), "%s: transmit completed (round %d)", what, round);
        tap_ok(host_sees(ps, tag), "%s: host receives the guest's frame (round %d)", what, round);
        snprintf(tag, sizeof(tag), "vk-rx-%d", round);
        tap_is_int(host_to_guest(&d, &rb, ps, 1, tag), 0, "%s: guest receives the host's frame (round %d)",
                   what, round);
        close(ps);
    }
}

static void test_vhost_fallback(void)
{
    unsetenv("VIRTKIT_VHOST_NET");
    if (access("/dev/vhost-net", F_OK) == 0) {
        tap_ok(1, "# SKIP vhost=on refusal: this host has /dev/vhost-net");
    } else {
        tap_ok(!net_machine("tap=vkvh0,vhost=on"), "vhost=on without /dev/vhost-net refused");
        tap_ok(strstr(last_err.msg, "vhost=on") && strstr(last_err.msg, "/dev/vhost-net"),
               "... with a clear message (%s)", last_err.msg);
    }
    tap_ok(!net_machine("tap=vkvh0,vhost=maybe"), "vhost=maybe refused");
    /* A node that opens but is not vhost: the ioctls fail. */
    setenv("VIRTKIT_VHOST_NET", "/dev/null", 1);
    tap_ok(!net_machine("tap=vkvh0,vhost=on"), "vhost=on on a non-vhost node refused");
    tap_ok(strstr(last_err.msg, "VHOST_SET_OWNER") != NULL, "... naming the failed step (%s)",
           last_err.msg);
    if (net_machine("tap=vkvh0,mac=52:54:00:12:34:57,vhost=auto")) {
        tap_ok(1, "vhost=auto on a non-vhost node: user-space virtio-net");
        roundtrip("auto-fallback", "vkvh0", true);
        fake_machine_free(M);
    } else {
        tap_ok(0, "vhost=auto on a non-vhost node: user-space virtio-net");
    }
    unsetenv("VIRTKIT_VHOST_NET");
}

static void test_vhost_real(void)
{
    int fd = open("/dev/vhost-net", O_RDWR);
    if (fd < 0) {
        tap_ok(1, "# SKIP vhost-net traffic: no /dev/vhost-net (%s)", strerror(errno));
        return;
    }
    close(fd);
    if (!net_machine("tap=vkvh1,mac=52:54:00:12:34:57,vhost=on"))
        return tap_ok(0, "vhost: machine with vhost=on (%s)", last_err.msg);
    roundtrip("vhost", "vkvh1", false);
    fake_machine_free(M);
}

int main(void)
{
    if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
        tap_skip_all("needs root to create a private network namespace");
        return 0;
    }
    test_multiqueue();
    test_mq_options();
    test_vhost_fallback();
    test_vhost_real();
    return tap_done();
}
