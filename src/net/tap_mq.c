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
#include "tap_int.h"

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
    r = tap_open_flags(name && *name ? name : "vnet%d", IFF_MULTI_QUEUE, out_name);
    if (r < 0)
        return vk_err_errno(err, r, "creating multi-queue TAP %s", name && *name ? name : "vnetN");
    fds[n++] = r;
    r = 0;
    while (n < queues && r == 0) {
        char again[NET_IFNAMSIZ];
        int fd = tap_open_flags(out_name, IFF_MULTI_QUEUE, again);
        if (fd < 0)
            r = vk_err_errno(err, fd, "adding queue %u to TAP %s", n, out_name);
        else
            fds[n++] = fd;
    }
    if (r == 0)
        r = tap_plug(out_name, mac, bridge, err);
    if (r < 0) {
        vk_err_prefix(err, "attaching %s to %s", out_name, bridge ? bridge : "-");
        while (n)   /* non-persistent: the TAP goes with its last fd */
            close(fds[--n]);
    }
    return r;
}
