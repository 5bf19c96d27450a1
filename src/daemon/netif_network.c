/* The netif seam (netif.h) implemented by the networks code: a TAP per
 * domain interface, on the network's bridge (type='network') or on an
 * existing host bridge (type='bridge'); addresses from dnsmasq leases. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "netif.h"
#include "rpc_network.h"

static int resolve_bridge(struct vkd *d, const char *type, const char *source,
                          char br[NET_IFNAMSIZ], struct vk_err *err)
{
    if (!source || !*source)
        return vk_err_set(err, -EINVAL, "interface type '%s' needs a source", type ? type : "?");
    if (type && !strcmp(type, "network")) {
        const struct net_def *def = rpc_network_live(d, source, NULL);
        if (!def)
            return vk_err_set(err, -ENONET, "network '%s' is not active", source);
        snprintf(br, NET_IFNAMSIZ, "%s", def->bridge);
        return 0;
    }
    if (type && !strcmp(type, "bridge")) {
        struct net_link l;
        if (net_link_get(source, &l, NULL) < 0 || !l.is_bridge)
            return vk_err_set(err, -ENODEV, "host bridge '%s' does not exist", source);
        snprintf(br, NET_IFNAMSIZ, "%s", source);
        return 0;
    }
    return vk_err_set(err, -ENOTSUP, "interface type '%s' is not supported (network, bridge)",
                      type ? type : "");
}

static int nw_acquire(struct vkd *d, const struct vk_netif_request *req,
                      char ifname[16], struct vk_err *err)
{
    char br[NET_IFNAMSIZ];
    int r = resolve_bridge(d, req->type, req->source, br, err);
    if (r < 0)
        return r;
    uint8_t mac[6];
    if (!req->mac || net_mac_parse(req->mac, mac) < 0)
        return vk_err_set(err, -EINVAL, "invalid MAC address '%s'", req->mac ? req->mac : "");
    int fd;
    if (req->queues > 1 && req->queue_fds) {
        /* multi-queue: one fd per queue pair (virtio-net queues=N) */
        int fds[NET_TAP_MAX_QUEUES];
        bool named = req->target && *req->target && strncmp(req->target, "vnet", 4);
        fd = net_tap_attach_queues(br, mac, named ? req->target : NULL, req->queues, fds,
                                   ifname, err);
        if (fd >= 0) {
            memcpy(req->queue_fds, fds + 1, (req->queues - 1) * sizeof(int));
            fd = fds[0];
        }
    } else if (req->target && *req->target && strncmp(req->target, "vnet", 4)) {
        /* an explicit <target dev=>: create it by that name */
        fd = net_tap_create(req->target, false, ifname, err);
        if (fd >= 0) {
            uint8_t host_mac[6];
            memcpy(host_mac, mac, 6);
            host_mac[0] = 0xfe;
            if ((r = net_link_set_mac(ifname, host_mac, err)) < 0 ||
                (r = net_link_set_master(ifname, br, err)) < 0 ||
                (r = net_link_set_up(ifname, true, err)) < 0) {
                close(fd);
                return r;
            }
        }
    } else {
        fd = net_tap_attach(br, mac, ifname, err);
    }
    if (fd < 0)
        vk_err_prefix(err, "domain %s", req->domain);
    return fd;
}

static void nw_release(struct vkd *d, const char *type, const char *source, const char *ifname)
{
    /* Nothing to do: TAPs are created non-persistent, so the kernel removes
     * one when the last fd (the VM's) closes. Deleting by name here could
     * hit a newer domain's TAP that got the recycled vnetN name. */
}

static int nw_addresses(struct vkd *d, const char *type, const char *source,
                        const char *mac, struct json_object **addrs, struct vk_err *err)
{
    *addrs = NULL;
    if (!type || strcmp(type, "network") || !source)
        return 0;
    const char *state_dir = NULL;
    const struct net_def *def = rpc_network_live(d, source, &state_dir);
    uint8_t want[6];
    if (!def || !mac || net_mac_parse(mac, want) < 0)
        return 0;
    struct net_lease *v;
    size_t n;
    int r = net_leases_read(def, state_dir, &v, &n, err);
    if (r < 0)
        return r;
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        if (!v[i].has_mac || memcmp(v[i].mac, want, 6))
            continue;
        char a[64];
        net_addr_format(&v[i].ip, a, sizeof(a));
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string(
            v[i].ip.family == AF_INET ? "ipv4" : "ipv6"));
        json_object_object_add(o, "addr", json_object_new_string(a));
        json_object_object_add(o, "prefix", json_object_new_int(v[i].prefix));
        json_object_array_add(arr, o);
    }
    free(v);
    *addrs = arr;
    return 0;
}

const struct vk_netif_ops vk_netif_network_ops = {
    .acquire = nw_acquire,
    .release = nw_release,
    .addresses = nw_addresses,
};
