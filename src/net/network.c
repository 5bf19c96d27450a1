/* Network start/stop/adopt: see network.h. Order of a start, each step
 * recorded in the status so a failure (or a later stop) undoes exactly
 * what was done:
 *   1. check (nothing touched): bridge name, subnet overlap, binaries
 *   2. bridge: create, MAC, STP, forward delay; addresses; up
 *   3. nftables table (nat/route/isolated) and IPv4/IPv6 forwarding
 *   4. dnsmasq (when the network has an <ip>)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "network.h"

int net_status_save(const char *state_dir, const char *name, const struct net_status *st,
                    struct vk_err *err)
{
    char path[512], buf[512];
    int r = vk_mkdir_p(state_dir, 0755);
    if (r < 0)
        return vk_err_errno(err, r, "creating %s", state_dir);
    net_dnsmasq_path(state_dir, name, "status", path, sizeof(path));
    int n = snprintf(buf, sizeof(buf), "bridge=%s\nbridge_created=%d\nnft=%d\nnft_table=%s\n"
                     "dnsmasq_pid=%d\n", st->bridge, st->bridge_created, st->nft,
                     st->nft_table, (int)st->dnsmasq_pid);
    return vk_write_file_atomic(path, buf, (size_t)n, 0644, err);
}

int net_status_load(const char *state_dir, const char *name, struct net_status *st)
{
    char path[512];
    net_dnsmasq_path(state_dir, name, "status", path, sizeof(path));
    char *data = NULL;
    size_t len;
    memset(st, 0, sizeof(*st));
    int r = vk_read_file(path, &data, &len, NULL);
    if (r < 0)
        return r;
    char *save = NULL;
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');
        if (!eq)
            continue;
        *eq++ = 0;
        if (!strcmp(l, "bridge") && net_ifname_ok(eq))
            snprintf(st->bridge, sizeof(st->bridge), "%s", eq);
        else if (!strcmp(l, "bridge_created"))
            st->bridge_created = atoi(eq) != 0;
        else if (!strcmp(l, "nft"))
            st->nft = atoi(eq) != 0;
        else if (!strcmp(l, "nft_table"))
            snprintf(st->nft_table, sizeof(st->nft_table), "%s", eq);
        else if (!strcmp(l, "dnsmasq_pid"))
            st->dnsmasq_pid = (pid_t)atoi(eq);
    }
    free(data);
    return 0;
}

void net_status_remove(const char *state_dir, const char *name)
{
    char path[512];
    net_dnsmasq_path(state_dir, name, "status", path, sizeof(path));
    unlink(path);
}

int net_network_check(const struct net_def *d, const struct net_run_opts *o,
                      struct vk_err *err)
{
    struct net_link l;
    int r;
    if (!d->bridge[0])
        return vk_err_set(err, -EINVAL, "network %s has no bridge name", d->name);
    if (d->forward == NET_FWD_BRIDGE) {
        r = net_link_get(d->bridge, &l, NULL);
        if (r < 0 || !l.is_bridge)
            return vk_err_set(err, -ENODEV, "network %s: host bridge %s does not exist",
                              d->name, d->bridge);
        return 0;
    }
    if (net_link_get(d->bridge, &l, NULL) == 0)
        return vk_err_set(err, -EEXIST, "network %s: bridge name %s is already in use by "
                          "an existing interface", d->name, d->bridge);
    for (size_t i = 0; i < d->nips; i++) {
        char who[NET_IFNAMSIZ] = "", a[64];
        const struct net_ip *ip = &d->ips[i];
        r = net_addr_overlaps(ip->addr.family, ip->addr.b, ip->prefix, who, err);
        if (r < 0)
            return r;
        if (r > 0) {
            net_addr_format(&ip->addr, a, sizeof(a));
            return vk_err_set(err, -EADDRINUSE, "network %s: subnet of %s/%d overlaps with "
                              "an address on interface %s", d->name, a, ip->prefix, who);
        }
    }
    char bin[512];
    if (net_needs_dnsmasq(d) &&
        (r = net_find_binary(o->dnsmasq, "VIRTKIT_DNSMASQ", "dnsmasq", bin, sizeof(bin), err)) < 0) {
        vk_err_prefix(err, "network %s needs dnsmasq for DHCP/DNS", d->name);
        return r;
    }
    if (d->forward != NET_FWD_OPEN &&
        (r = net_find_binary(o->nft, "VIRTKIT_NFT", "nft", bin, sizeof(bin), err)) < 0) {
        vk_err_prefix(err, "network %s needs nftables", d->name);
        return r;
    }
    return 0;
}

static int write_proc(const char *path, const char *val, struct vk_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return vk_err_errno(err, -errno, "opening %s", path);
    int ok = fputs(val, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return vk_err_errno(err, -EIO, "writing %s", path);
    return 0;
}

static int bridge_up(const struct net_def *d, struct net_status *st, struct vk_err *err)
{
    int r = net_bridge_add(d->bridge, err);
    if (r < 0)
        return r;
    st->bridge_created = true;
    snprintf(st->bridge, sizeof(st->bridge), "%s", d->bridge);
    if (d->has_mac && (r = net_link_set_mac(d->bridge, d->mac, err)) < 0)
        return r;
    if (d->mtu && (r = net_link_set_mtu(d->bridge, d->mtu, err)) < 0)
        return r;
    /* delay before STP: the kernel refuses forward delays below 2 s while
     * STP runs, libvirt's default delay is 0 */
    if ((r = net_bridge_set(d->bridge, NET_BR_FORWARD_DELAY, (uint32_t)d->delay * 100, err)) < 0 ||
        (r = net_bridge_set(d->bridge, NET_BR_STP, d->stp, err)) < 0)
        return r;
    for (size_t i = 0; i < d->nips; i++)
        if ((r = net_addr_add(d->bridge, d->ips[i].addr.family, d->ips[i].addr.b,
                              d->ips[i].prefix, err)) < 0) {
            char a[64];
            net_addr_format(&d->ips[i].addr, a, sizeof(a));
            vk_err_prefix(err, "adding %s/%d to %s", a, d->ips[i].prefix, d->bridge);
            return r;
        }
    return net_link_set_up(d->bridge, true, err);
}

int net_network_start(const struct net_def *d, const struct net_run_opts *o,
                      struct net_status *st, struct vk_err *err)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->bridge, sizeof(st->bridge), "%s", d->bridge);
    int r = net_network_check(d, o, err);
    if (r < 0)
        return r;
    if (d->forward == NET_FWD_BRIDGE)
        return net_status_save(o->state_dir, d->name, st, err);
    if ((r = bridge_up(d, st, err)) < 0)
        goto fail;
    if (d->forward != NET_FWD_OPEN) {
        net_nft_table_name(d->name, st->nft_table, sizeof(st->nft_table));
        if ((r = net_nft_apply(d, o, st->nft_table, err)) < 0)
            goto fail;
        st->nft = true;
    }
    if (d->forward == NET_FWD_NAT || d->forward == NET_FWD_ROUTE) {
        if ((r = write_proc("/proc/sys/net/ipv4/ip_forward", "1\n", err)) < 0)
            goto fail;
        for (size_t i = 0; i < d->nips; i++)
            if (d->ips[i].addr.family == AF_INET6 &&
                (r = write_proc("/proc/sys/net/ipv6/conf/all/forwarding", "1\n", err)) < 0)
                goto fail;
    }
    if (net_needs_dnsmasq(d)) {
        pid_t pid = net_dnsmasq_start(d, o, err);
        if (pid < 0) {
            r = pid;
            goto fail;
        }
        st->dnsmasq_pid = pid;
    }
    if ((r = net_status_save(o->state_dir, d->name, st, err)) < 0)
        goto fail;
    return 0;
fail:
    net_network_stop(d, o, st, NULL);
    return r;
}

int net_network_stop(const struct net_def *d, const struct net_run_opts *o,
                     struct net_status *st, struct vk_err *err)
{
    int first = 0;
    struct vk_err e2 = { 0 };
    if (st->dnsmasq_pid) {
        net_dnsmasq_stop(st->dnsmasq_pid, o->state_dir, d->name);
        st->dnsmasq_pid = 0;
    }
    if (st->nft) {
        int r = net_nft_remove(o, st->nft_table, &e2);
        if (r < 0 && !first) {
            first = r;
            if (err)
                *err = e2;
        }
        st->nft = false;
    }
    if (st->bridge_created) {
        struct net_link l;
        if (net_link_get(st->bridge, &l, NULL) == 0 && l.is_bridge) {
            /* guests' TAPs may still be attached; deleting the bridge
             * releases them (they stay, owned by their VMs) */
            if (net_link_set_up(st->bridge, false, &e2) < 0 ||
                net_link_del(st->bridge, &e2) < 0) {
                if (!first) {
                    first = e2.code ? e2.code : -EIO;
                    if (err)
                        *err = e2;
                }
            }
        }
        st->bridge_created = false;
    }
    net_status_remove(o->state_dir, d->name);
    return first;
}

int net_network_adopt(const struct net_def *d, const struct net_run_opts *o,
                      struct net_status *st, struct vk_err *err)
{
    if (net_status_load(o->state_dir, d->name, st) < 0) {
        memset(st, 0, sizeof(*st));
        return 0;
    }
    struct net_link l;
    bool bridge_ok = st->bridge[0] && net_link_get(st->bridge, &l, NULL) == 0 && l.is_bridge;
    if (!bridge_ok || (d->forward != NET_FWD_BRIDGE && !st->bridge_created)) {
        /* the bridge went away behind our back: clean the rest */
        net_network_stop(d, o, st, NULL);
        return 0;
    }
    int r;
    if (st->nft && (r = net_nft_apply(d, o, st->nft_table, err)) < 0)
        return r;
    if (net_needs_dnsmasq(d) && !net_dnsmasq_is_ours(st->dnsmasq_pid, o->state_dir, d->name)) {
        pid_t pid = net_dnsmasq_start(d, o, err);
        if (pid < 0)
            return pid;
        st->dnsmasq_pid = pid;
    }
    if ((r = net_status_save(o->state_dir, d->name, st, err)) < 0)
        return r;
    return 1;
}
