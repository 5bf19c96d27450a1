/* nftables for virtual networks: one `inet` table per network, owned by
 * virtkit ("virtkit_<name>"), applied with `nft -f -`. The script first
 * declares and deletes the table, then recreates it, all in one nft
 * transaction: applying twice never duplicates a rule, and a failed apply
 * leaves the previous state.
 *
 * nat:      forward: from the bridge with a subnet source -> accept;
 *           to the bridge, established/related -> accept; bridge<->bridge
 *           accept; anything else in or out of the bridge -> reject.
 *           postrouting: subnet -> outside masquerade (TCP/UDP source ports
 *           in the <nat><port> range; SNAT to the <nat><address> range when
 *           given); multicast/broadcast left alone.
 * route:    forward accept both ways for the subnet, no NAT.
 * isolated: bridge<->bridge only; everything else through it rejected.
 * open/bridge: no table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "spawn.h"

void net_nft_table_name(const char *netname, char *out, size_t len)
{
    char tmp[64];
    size_t i = 0;
    for (const char *p = netname; *p && i + 1 < sizeof(tmp) - 8; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        tmp[i++] = ok ? ch : '_';
    }
    tmp[i] = 0;
    snprintf(out, len, "virtkit_%s", tmp);
}


static void subnet_str(const struct net_ip *ip, char *buf, size_t len)
{
    struct net_addr net = ip->addr;
    int alen = net.family == AF_INET ? 4 : 16;
    for (int i = 0; i < alen; i++) {
        int bits = ip->prefix - i * 8;
        uint8_t m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        net.b[i] &= m;
    }
    char a[64];
    net_addr_format(&net, a, sizeof(a));
    snprintf(buf, len, "%s/%d", a, ip->prefix);
}

char *net_nft_ruleset(const struct net_def *d, const char *table)
{
    if (d->forward == NET_FWD_OPEN || d->forward == NET_FWD_BRIDGE)
        return NULL;
    struct vk_strbuf b = { 0 };
    const char *br = d->bridge;
    char out_if[64] = "";
    if (d->forward_dev[0])
        snprintf(out_if, sizeof(out_if), "oifname \"%s\" ", d->forward_dev);

    vk_strbuf_printf(&b, "table inet %s\ndelete table inet %s\n", table, table);
    vk_strbuf_printf(&b, "table inet %s {\n", table);
    vk_strbuf_printf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
    vk_strbuf_printf(&b, "\t\tiifname \"%s\" oifname \"%s\" accept\n", br, br);
    for (size_t i = 0; i < d->nips && d->forward != NET_FWD_NONE; i++) {
        const struct net_ip *ip = &d->ips[i];
        const char *fam = ip->addr.family == AF_INET ? "ip" : "ip6";
        char sn[80];
        subnet_str(ip, sn, sizeof(sn));
        if (d->forward == NET_FWD_NAT && ip->addr.family != AF_INET)
            continue;   /* IPv6 is not NATed: route-like only if asked */
        vk_strbuf_printf(&b, "\t\tiifname \"%s\" %s%s saddr %s accept\n", br, out_if, fam, sn);
        if (d->forward == NET_FWD_NAT)
            vk_strbuf_printf(&b, "\t\toifname \"%s\" %s daddr %s ct state established,related accept\n",
                br, fam, sn);
        else
            vk_strbuf_printf(&b, "\t\toifname \"%s\" %s daddr %s accept\n", br, fam, sn);
    }
    vk_strbuf_printf(&b, "\t\tiifname \"%s\" reject\n", br);
    vk_strbuf_printf(&b, "\t\toifname \"%s\" reject\n", br);
    vk_strbuf_printf(&b, "\t}\n");

    if (d->forward == NET_FWD_NAT) {
        vk_strbuf_printf(&b, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        for (size_t i = 0; i < d->nips; i++) {
            const struct net_ip *ip = &d->ips[i];
            if (ip->addr.family != AF_INET)
                continue;
            char sn[80], to[160] = "", ports[32] = "";
            subnet_str(ip, sn, sizeof(sn));
            vk_strbuf_printf(&b, "\t\tip saddr %s ip daddr 224.0.0.0/24 return\n", sn);
            vk_strbuf_printf(&b, "\t\tip saddr %s ip daddr 255.255.255.255 return\n", sn);
            if (d->nat_port_start)
                snprintf(ports, sizeof(ports), ":%u-%u", d->nat_port_start, d->nat_port_end);
            if (d->has_nat_addr) {
                char s[64], e[64];
                net_addr_format(&d->nat_addr_start, s, sizeof(s));
                net_addr_format(&d->nat_addr_end, e, sizeof(e));
                if (net_addr_cmp(&d->nat_addr_start, &d->nat_addr_end))
                    snprintf(to, sizeof(to), "snat ip to %s-%s", s, e);
                else
                    snprintf(to, sizeof(to), "snat ip to %s", s);
                vk_strbuf_printf(&b, "\t\t%sip saddr %s ip daddr != %s meta l4proto { tcp, udp } %s%s\n",
                    out_if, sn, sn, to, ports);
                vk_strbuf_printf(&b, "\t\t%sip saddr %s ip daddr != %s %s\n", out_if, sn, sn, to);
            } else {
                vk_strbuf_printf(&b, "\t\t%sip saddr %s ip daddr != %s meta l4proto { tcp, udp } masquerade%s%s\n",
                    out_if, sn, sn, ports[0] ? " to " : "", ports);
                vk_strbuf_printf(&b, "\t\t%sip saddr %s ip daddr != %s masquerade\n", out_if, sn, sn);
            }
        }
        vk_strbuf_printf(&b, "\t}\n");
    }
    vk_strbuf_printf(&b, "}\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

static int nft_bin(const struct net_run_opts *o, char *out, size_t len, struct vk_err *err)
{
    return net_find_binary(o ? o->nft : NULL, "VIRTKIT_NFT", "nft", out, len, err);
}

static int nft_run(const struct net_run_opts *o, char *const *args, const char *input,
                   char *errbuf, size_t errlen, struct vk_err *err)
{
    char bin[512];
    int r = nft_bin(o, bin, sizeof(bin), err);
    if (r < 0)
        return r;
    char *argv[8] = { bin };
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    int st;
    r = net_spawn(argv, input, &st, errbuf, errlen);
    if (r < 0)
        return vk_err_errno(err, r, "running %s", bin);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int net_nft_apply(const struct net_def *d, const struct net_run_opts *o, const char *table,
                  struct vk_err *err)
{
    char *rules = net_nft_ruleset(d, table);
    if (!rules)
        return 0;
    char *args[] = { "-f", "-", NULL };
    char msg[400];
    int r = nft_run(o, args, rules, msg, sizeof(msg), err);
    free(rules);
    if (r < 0)
        return r;
    if (r != 0)
        return vk_err_set(err, -EIO, "nftables refused the rules for network %s: %s", d->name,
                          msg[0] ? msg : "nft failed");
    return 0;
}

int net_nft_exists(const struct net_run_opts *o, const char *table)
{
    char *args[] = { "list", "table", "inet", (char *)table, NULL };
    int r = nft_run(o, args, NULL, NULL, 0, NULL);
    return r < 0 ? r : r == 0;
}

int net_nft_remove(const struct net_run_opts *o, const char *table, struct vk_err *err)
{
    int ex = net_nft_exists(o, table);
    if (ex <= 0)
        return ex;
    char *args[] = { "delete", "table", "inet", (char *)table, NULL };
    char msg[400];
    int r = nft_run(o, args, NULL, msg, sizeof(msg), err);
    if (r > 0)
        return vk_err_set(err, -EIO, "removing nftables table %s: %s", table, msg);
    return r;
}
