/* The seam between domains and networks: the daemon asks the network side
 * for a TAP device (as an open fd) for each domain interface it starts.
 *
 * Implemented by the networks code in netif_network.c, which defines
 * `vk_netif_network_ops`. Until (or unless) it is linked, vk_netif() returns
 * a default whose calls fail with -ENOTSUP, so a domain with an
 * <interface> cannot start ("networking is not available") but everything
 * else works.
 *
 * All calls run on the daemon's single event-loop thread.
 */
#ifndef VK_DAEMON_NETIF_H
#define VK_DAEMON_NETIF_H

#include <stddef.h>

#include <json-c/json.h>

#include "util.h"

struct vkd;

struct vk_netif_request {
    const char *domain;     /* domain name */
    const char *type;       /* "network" or "bridge" (<interface type=>) */
    const char *source;     /* network name or host bridge name */
    const char *mac;        /* "52:54:00:xx:xx:xx", always set by the daemon */
    const char *model;      /* "virtio" */
    const char *target;     /* requested TAP name (<target dev=>) or NULL */
    unsigned queues;        /* > 1: a multi-queue TAP with this many queues */
    int *queue_fds;         /* queues > 1: acquire stores queues 1.. here */
};

struct vk_netif_ops {
    /* Create (or open) a TAP for the interface, attach it to the bridge
     * (the network's, or the host bridge), bring it up. Returns the TAP fd
     * (>= 0, O_CLOEXEC; the daemon passes it to virtkit-vm and closes its
     * copy) and the device name in ifname; or -errno with err set. With
     * req->queues > 1 the TAP is multi-queue: the fd returned is queue 0
     * and req->queue_fds[0..queues-2] receive the others. */
    int (*acquire)(struct vkd *d, const struct vk_netif_request *req,
                   char ifname[16], struct vk_err *err);
    /* The domain stopped (or its start failed): remove the TAP `ifname`
     * created by acquire. Called once per successful acquire, also after a
     * daemon restart (the name is kept in the domain's runtime state). */
    void (*release)(struct vkd *d, const char *type, const char *source,
                    const char *ifname);
    /* Addresses for domifaddr: leases of `mac` on network `source`.
     * *addrs = JSON array of {"type": "ipv4"|"ipv6", "addr": "...",
     * "prefix": N}. May be NULL (then no addresses are known). */
    int (*addresses)(struct vkd *d, const char *type, const char *source,
                     const char *mac, struct json_object **addrs,
                     struct vk_err *err);
};

/* Provided by netif_network.c when linked (weak reference). */
extern const struct vk_netif_ops vk_netif_network_ops __attribute__((weak));

/* The ops in effect: the network side's, or the -ENOTSUP default. */
const struct vk_netif_ops *vk_netif(void);

#endif
