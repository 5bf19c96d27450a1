/* TAP devices for guest NICs: created by the privileged side, handed to the
 * VM process as an fd (the VM never opens /dev/net/tun itself). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net.h"
#include "tap_int.h"

int tap_open_flags(const char *name, int extra_flags, char out_name[NET_IFNAMSIZ])
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | extra_flags);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    snprintf(out_name, NET_IFNAMSIZ, "%s", ifr.ifr_name);
    return fd;
}

int net_tap_create(const char *name, bool persist, char out_name[NET_IFNAMSIZ],
                   struct vk_err *err)
{
    int fd;
    if (name && *name) {
        if (!net_ifname_ok(name))
            return vk_err_set(err, -EINVAL, "invalid TAP name '%s'", name);
        fd = tap_open_flags(name, 0, out_name);
        if (fd < 0)
            return vk_err_errno(err, fd, "creating TAP %s", name);
    } else {
        /* The kernel's "vnet%d" template picks the lowest free number
         * atomically, so two callers never race for the same name. */
        fd = tap_open_flags("vnet%d", 0, out_name);
        if (fd < 0)
            return vk_err_errno(err, fd, "creating TAP vnetN");
    }
    if (persist && ioctl(fd, TUNSETPERSIST, 1) < 0) {
        int e = -errno;
        close(fd);
        return vk_err_errno(err, e, "making %s persistent", out_name);
    }
    return fd;
}

int tap_plug(const char *name, const uint8_t mac[6], const char *bridge, struct vk_err *err)
{
    int r = 0;
    if (mac) {
        uint8_t host_mac[6];
        memcpy(host_mac, mac, 6);
        host_mac[0] = 0xfe;
        r = net_link_set_mac(name, host_mac, err);
    }
    if (r == 0 && bridge)
        r = net_link_set_master(name, bridge, err);
    if (r == 0)
        r = net_link_set_up(name, true, err);
    return r;
}

int net_tap_attach(const char *bridge, const uint8_t mac[6], char out_name[NET_IFNAMSIZ],
                   struct vk_err *err)
{
    int fd = net_tap_create(NULL, false, out_name, err);
    if (fd < 0)
        return fd;
    int r = tap_plug(out_name, mac, bridge, err);
    if (r < 0) {
        vk_err_prefix(err, "attaching %s to %s", out_name, bridge ? bridge : "-");
        close(fd);     /* non-persistent TAP disappears with its fd */
        return r;
    }
    return fd;
}
