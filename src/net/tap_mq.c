/* Multi-queue TAPs (IFF_MULTI_QUEUE): one fd per queue, for a guest NIC
 * with several queue pairs (virtio-net queues=N). The first open creates
 * the device, each further open of the same name adds a queue. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net.h"

static int mq_open(const char *name, char out_name[NET_IFNAMSIZ])
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    snprintf(out_name, NET_IFNAMSIZ, "%s", ifr.ifr_name);
    return fd;
}

int net_tap_attach_queues(const char *bridge, const uint8_t mac[6], const char *name,
                          unsigned queues, int *fds, char out_name[NET_IFNAMSIZ],
                          struct vk_err *err)
{
    if (queues < 1 || queues > NET_TAP_MAX_QUEUES)
        return vk_err_set(err, -EINVAL, "%u TAP queues: expected 1..%d", queues,
                          NET_TAP_MAX_QUEUES);
    if (name && *name && !net_ifname_ok(name))
        return vk_err_set(err, -EINVAL, "invalid TAP name '%s'", name);
    unsigned n = 0;
    int r = 0;
    /* "vnet%d": the kernel picks the lowest free number atomically */
    r = mq_open(name && *name ? name : "vnet%d", out_name);
    if (r < 0)
        return vk_err_errno(err, r, "creating multi-queue TAP %s", name && *name ? name : "vnetN");
    fds[n++] = r;
    r = 0;
    while (n < queues && r == 0) {
        char again[NET_IFNAMSIZ];
        int fd = mq_open(out_name, again);
        if (fd < 0)
            r = vk_err_errno(err, fd, "adding queue %u to TAP %s", n, out_name);
        else
            fds[n++] = fd;
    }
    if (r == 0 && mac) {   /* the TAP's own MAC differs from the guest's (fe:...) */
        uint8_t host_mac[6];
        memcpy(host_mac, mac, 6);
        host_mac[0] = 0xfe;
        r = net_link_set_mac(out_name, host_mac, err);
    }
    if (r == 0 && bridge)
        r = net_link_set_master(out_name, bridge, err);
    if (r == 0)
        r = net_link_set_up(out_name, true, err);
    if (r < 0) {
        vk_err_prefix(err, "attaching %s to %s", out_name, bridge ? bridge : "-");
        while (n)   /* non-persistent: the TAP goes with its last fd */
            close(fds[--n]);
    }
    return r;
}
