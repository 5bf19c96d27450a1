/* The netif seam's default: no networking linked (see netif.h). */
#include "netif.h"

#include <errno.h>

static int none_acquire(struct vkd *d, const struct vk_netif_request *req,
                        char ifname[16], struct vk_err *err)
{
    return vk_err_set(err, -ENOTSUP,
                      "interface type '%s': networking is not available in this virtkitd",
                      req->type);
}

static void none_release(struct vkd *d, const char *type, const char *source,
                         const char *ifname)
{
}

static int none_addresses(struct vkd *d, const char *type, const char *source,
                          const char *mac, struct json_object **addrs, struct vk_err *err)
{
    *addrs = NULL;
    return 0;
}

static const struct vk_netif_ops netif_none = {
    .acquire = none_acquire,
    .release = none_release,
    .addresses = none_addresses,
};

const struct vk_netif_ops *vk_netif(void)
{
    if (&vk_netif_network_ops)
        return &vk_netif_network_ops;
    return &netif_none;
}
