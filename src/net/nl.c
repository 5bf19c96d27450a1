/* Links, bridges, ports, addresses over rtnetlink (libmnl).
 *
 * Every call opens a short-lived NETLINK_ROUTE socket: callers are CLI
 * commands and the daemon's (rare) network start/stop, so simplicity wins
 * over socket reuse. Kernel errors come back as -errno with the extended
 * ack message (when the kernel sends one) in `err`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

struct nl {
    struct mnl_socket *sock;
    uint32_t portid, seq;
    char buf[32768];
};

static int nl_open(struct nl *nl, struct vk_err *err)
{
    nl->sock = mnl_socket_open(NETLINK_ROUTE);
    if (!nl->sock)
        return vk_err_errno(err, -errno, "netlink socket");
    if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = -errno;
        mnl_socket_close(nl->sock);
        return vk_err_errno(err, e, "netlink bind");
    }
    int one = 1;
    mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
    nl->portid = mnl_socket_get_portid(nl->sock);
    nl->seq = (uint32_t)time(NULL);
    return 0;
}

static void nl_close(struct nl *nl)
{
    if (nl->sock)
        mnl_socket_close(nl->sock);
    nl->sock = NULL;
}

static struct nlmsghdr *nl_msg(struct nl *nl, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *h = mnl_nlmsg_put_header(nl->buf);
    h->nlmsg_type = type;
    /* NLM_F_EXCL shares a bit with NLM_F_DUMP, so decide here: everything
     * that is not a pure dump request asks for an ACK. */
    h->nlmsg_flags = NLM_F_REQUEST | flags | (flags == NLM_F_DUMP ? 0 : NLM_F_ACK);
    h->nlmsg_seq = ++nl->seq;
    return h;
}

/* Pull the extended-ack text out of an NLMSG_ERROR, if present. */
static const char *ext_ack_msg(const struct nlmsghdr *h)
{
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
    if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
        return NULL;
    size_t off = sizeof(*e);
    if (!(h->nlmsg_flags & NLM_F_CAPPED))
        off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
    if (mnl_nlmsg_get_payload_len(h) < off)
        return NULL;
    const struct nlattr *attr;
    const char *msg = NULL;
    mnl_attr_for_each_payload((const void *)((const char *)e + off), mnl_nlmsg_get_payload_len(h) - off) {
        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
            mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
            msg = mnl_attr_get_str(attr);
    }
    return msg;
}

/* Send `h` and run `cb` on every reply until the ACK/DONE. */
static int nl_talk(struct nl *nl, struct nlmsghdr *h, mnl_cb_t cb, void *data,
                   struct vk_err *err)
{
    uint32_t seq = h->nlmsg_seq;
    if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0)
        return vk_err_errno(err, -errno, "netlink send");
    for (;;) {
        ssize_t len = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
        if (len < 0)
            return vk_err_errno(err, -errno, "netlink receive");
        /* Look for an error with ext-ack text before handing to libmnl. */
        const struct nlmsghdr *m = (const struct nlmsghdr *)nl->buf;
        int rem = (int)len;
        for (; mnl_nlmsg_ok(m, rem); m = mnl_nlmsg_next(m, &rem)) {
            if (m->nlmsg_type == NLMSG_ERROR && m->nlmsg_seq == seq &&
                mnl_nlmsg_get_payload_len(m) >= sizeof(struct nlmsgerr)) {
                const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);
                if (e->error) {
                    const char *t = ext_ack_msg(m);
                    if (t)
                        return vk_err_set(err, e->error, "%s", t);
                    return vk_err_errno(err, e->error, "netlink");
                }
            }
        }
        int r = mnl_cb_run(nl->buf, (size_t)len, seq, nl->portid, cb, data);
        if (r < 0)
            return vk_err_errno(err, -errno, "netlink");
        if (r == MNL_CB_STOP)
            return 0;
    }
}

static int ifindex_of(const char *name, struct vk_err *err)
{
    if (!name || !net_ifname_ok(name))
        return vk_err_set(err, -EINVAL, "invalid interface name '%s'", name ? name : "");
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return vk_err_set(err, -ENODEV, "interface %s does not exist", name);
    return (int)idx;
}

bool net_ifname_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= NET_IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* ---- link listing ------------------------------------------------------ */

struct link_vec { struct net_link *v; size_t n, cap; };

static int parse_link(const struct nlmsghdr *h, struct net_link *l)
{
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
    const struct nlattr *a;
    memset(l, 0, sizeof(*l));
    l->ifindex = ifi->ifi_index;
    l->flags = ifi->ifi_flags;
    mnl_attr_for_each(a, h, sizeof(*ifi)) {
        switch (mnl_attr_get_type(a)) {
        case IFLA_IFNAME:
            if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
                snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
            break;
        case IFLA_MASTER:
            if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
                l->master = (int)mnl_attr_get_u32(a);
            break;
        case IFLA_ADDRESS:
            if (mnl_attr_get_payload_len(a) == 6)
                memcpy(l->mac, mnl_attr_get_payload(a), 6);
            break;
        case IFLA_LINKINFO: {
            const struct nlattr *b;
            mnl_attr_for_each_nested(b, a) {
                if (mnl_attr_get_type(b) == IFLA_INFO_KIND &&
                    mnl_attr_validate(b, MNL_TYPE_NUL_STRING) == 0)
                    snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(b));
            }
            break;
        }
        }
    }
    l->is_bridge = !strcmp(l->kind, "bridge");
    return 0;
}

static int link_cb(const struct nlmsghdr *h, void *data)
{
    struct link_vec *lv = data;
    if (h->nlmsg_type != RTM_NEWLINK)
        return MNL_CB_OK;
    if (lv->n == lv->cap) {
        size_t cap = lv->cap ? lv->cap * 2 : 16;
        struct net_link *v = realloc(lv->v, cap * sizeof(*v));
        if (!v)
            return MNL_CB_ERROR;
        lv->v = v;
        lv->cap = cap;
    }
    parse_link(h, &lv->v[lv->n]);
    if (lv->v[lv->n].name[0])
        lv->n++;
    return MNL_CB_OK;
}

static int link_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct net_link *)a)->name, ((const struct net_link *)b)->name);
}

int net_link_list(struct net_link **out, size_t *n, struct vk_err *err)
{
    struct nl nl;
    struct link_vec lv = { 0 };
    int r = nl_open(&nl, err);
    if (r < 0)
        return r;
    struct nlmsghdr *h = nl_msg(&nl, RTM_GETLINK, NLM_F_DUMP);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    r = nl_talk(&nl, h, link_cb, &lv, err);
    nl_close(&nl);
    if (r < 0) {
        free(lv.v);
        return r;
    }
    if (lv.n)
        qsort(lv.v, lv.n, sizeof(*lv.v), link_name_cmp);
    *out = lv.v;
    *n = lv.n;
    return 0;
}

int net_link_get(const char *name, struct net_link *out, struct vk_err *err)
{
    struct net_link *v;
    size_t n;
    int r = net_link_list(&v, &n, err);
    if (r < 0)
        return r;
    r = -ENODEV;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name)) {
            *out = v[i];
            r = 0;
            break;
        }
    free(v);
    if (r < 0)
        vk_err_set(err, r, "interface %s does not exist", name);
    return r;
}

/* ---- link changes ------------------------------------------------------ */

/* Start an RTM_NEWLINK for an existing link by index. */
static struct nlmsghdr *link_msg(struct nl *nl, int ifindex, int family)
{
    struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = (unsigned char)family;
    ifi->ifi_index = ifindex;
    return h;
}

static int link_simple(const char *name, int (*fill)(struct nlmsghdr *, const void *),
                       const void *arg, struct vk_err *err)
{
    struct nl nl;
    int idx = ifindex_of(name, err);
    if (idx < 0)
        return idx;
    int r = nl_open(&nl, err);
    if (r < 0)
        return r;
    struct nlmsghdr *h = link_msg(&nl, idx, AF_UNSPEC);
    r = fill(h, arg);
    if (r == 0)
        r = nl_talk(&nl, h, NULL, NULL, err);
    nl_close(&nl);
    return r;
}

static int fill_updown(struct nlmsghdr *h, const void *arg)
{
    struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = *(const bool *)arg ? IFF_UP : 0;
    return 0;
}

int net_link_set_up(const char *name, bool up, struct vk_err *err)
{
    return link_simple(name, fill_updown, &up, err);
}

static int fill_mac(struct nlmsghdr *h, const void *arg)
{
    mnl_attr_put(h, IFLA_ADDRESS, 6, arg);
    return 0;
}

int net_link_set_mac(const char *name, const uint8_t mac[6], struct vk_err *err)
{
    return link_simple(name, fill_mac, mac, err);
}

static int fill_mtu(struct nlmsghdr *h, const void *arg)
{
    mnl_attr_put_u32(h, IFLA_MTU, *(const unsigned *)arg);
    return 0;
}

int net_link_set_mtu(const char *name, unsigned mtu, struct vk_err *err)
{
    return link_simple(name, fill_mtu, &mtu, err);
}

static int fill_master(struct nlmsghdr *h, const void *arg)
{
    mnl_attr_put_u32(h, IFLA_MASTER, (uint32_t)*(const int *)arg);
    return 0;
}

int net_link_set_master(const char *port, const char *bridge, struct vk_err *err)
{
    int bidx = 0;
    if (bridge) {
        bidx = ifindex_of(bridge, err);
        if (bidx < 0)
            return bidx;
    }
    return link_simple(port, fill_master, &bidx, err);
}

int net_link_del(const char *name, struct vk_err *err)
{
    struct nl nl;
    int idx = ifindex_of(name, err);
    if (idx < 0)
        return idx;
    int r = nl_open(&nl, err);
    if (r < 0)
        return r;
    struct nlmsghdr *h = nl_msg(&nl, RTM_DELLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = idx;
    r = nl_talk(&nl, h, NULL, NULL, err);
    nl_close(&nl);
    return r;
}

/* ---- bridges ----------------------------------------------------------- */

int net_bridge_add(const char *name, struct vk_err *err)
{
    struct nl nl;
    if (!net_ifname_ok(name))
        return vk_err_set(err, -EINVAL, "invalid bridge name '%s'", name);
    int r = nl_open(&nl, err);
    if (r < 0)
        return r;
    struct nlmsghdr *h = nl_msg(&nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(h, IFLA_IFNAME, name);
    struct nlattr *li = mnl_attr_nest_start(h, IFLA_LINKINFO);
    mnl_attr_put_strz(h, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(h, li);
    r = nl_talk(&nl, h, NULL, NULL, err);
    nl_close(&nl);
    if (r == -EEXIST)
        vk_err_set(err, r, "device %s already exists", name);
    return r;
}

/* Kernel netlink wants STP times in clock_t (1/100 s) like sysfs. */
int net_bridge_set(const char *bridge, enum net_br_opt opt, uint32_t val,
                   struct vk_err *err)
{
    static const uint16_t attr[] = {
        [NET_BR_STP] = IFLA_BR_STP_STATE,
        [NET_BR_FORWARD_DELAY] = IFLA_BR_FORWARD_DELAY,
        [NET_BR_HELLO_TIME] = IFLA_BR_HELLO_TIME,
        [NET_BR_MAX_AGE] = IFLA_BR_MAX_AGE,
        [NET_BR_AGEING_TIME] = IFLA_BR_AGEING_TIME,
        [NET_BR_PRIORITY] = IFLA_BR_PRIORITY,
    };
    if ((unsigned)opt >= VK_ARRAY_SIZE(attr))
        return vk_err_set(err, -EINVAL, "unknown bridge option");
    struct net_link l;
    int r = net_link_get(bridge, &l, err);
    if (r < 0)
        return r;
    if (!l.is_bridge)
        return vk_err_set(err, -EINVAL, "%s is not a bridge", bridge);
    struct nl nl;
    r = nl_open(&nl, err);
    if (r < 0)
        return r;
    struct nlmsghdr *h = link_msg(&nl, l.ifindex, AF_UNSPEC);
    struct nlattr *li = mnl_attr_nest_start(h, IFLA_LINKINFO);
    mnl_attr_put_strz(h, IFLA_INFO_KIND, "bridge");
    struct nlattr *d = mnl_attr_nest_start(h, IFLA_INFO_DATA);
    if (opt == NET_BR_PRIORITY)
        mnl_attr_put_u16(h, attr[opt], (uint16_t)val);
    else
        mnl_attr_put_u32(h, attr[opt], val);
    mnl_attr_nest_end(h, d);
    mnl_attr_nest_end(h, li);
    r = nl_talk(&nl, h, NULL, NULL, err);
    nl_close(&nl);
    return r;
}

int net_bridge_port_set(const char *port, enum net_brport_opt opt, uint32_t val,
                        struct vk_err *err)
{
    struct net_link l;
    int r = net_link_get(port, &l, err);
    if (r < 0)
        return r;
    if (!l.master)
        return vk_err_set(err, -EINVAL, "%s is not a bridge port", port);
    struct nl nl;
    r = nl_open(&nl, err);
    if (r < 0)
        return r;
    /* AF_BRIDGE RTM_SETLINK with IFLA_PROTINFO works on every kernel with
     * bridge netlink support. */
    struct nlmsghdr *h = nl_msg(&nl, RTM_SETLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_BRIDGE;
    ifi->ifi_index = l.ifindex;
    struct nlattr *p = mnl_attr_nest_start(h, IFLA_PROTINFO);
    switch (opt) {
    case NET_BRPORT_COST:
        mnl_attr_put_u32(h, IFLA_BRPORT_COST, val);
        break;
    case NET_BRPORT_PRIORITY:
        mnl_attr_put_u16(h, IFLA_BRPORT_PRIORITY, (uint16_t)val);
        break;
    case NET_BRPORT_HAIRPIN:
        mnl_attr_put_u8(h, IFLA_BRPORT_MODE, val ? 1 : 0);
        break;
    default:
        nl_close(&nl);
        return vk_err_set(err, -EINVAL, "unknown port option");
    }
    mnl_attr_nest_end(h, p);
    r = nl_talk(&nl, h, NULL, NULL, err);
    nl_close(&nl);
    return r;
}

/* ---- addresses --------------------------------------------------------- */

int net_addr_add(const char *ifname, int family, const void *addr, int prefix,
                 struct vk_err *err)
{
    int alen = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
    if (!alen || prefix < 0 || prefix > alen * 8)
        return vk_err_set(err, -EINVAL, "invalid address family or prefix");
    int idx = ifindex_of(ifname, err);
    if (idx < 0)
        return idx;
    struct nl nl;
    int r = nl_open(&nl, err);
    if (r < 0)
        return r;
    struct nlmsghdr *h = nl_msg(&nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
    ifa->ifa_family = (unsigned char)family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = (unsigned)idx;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    mnl_attr_put(h, IFA_LOCAL, (size_t)alen, addr);
    mnl_attr_put(h, IFA_ADDRESS, (size_t)alen, addr);
    if (family == AF_INET && prefix < 31) {
        uint32_t a, mask = prefix ? htonl(~0u << (32 - prefix)) : 0;
        memcpy(&a, addr, 4);
        a |= ~mask;
        mnl_attr_put(h, IFA_BROADCAST, 4, &a);
    }
    r = nl_talk(&nl, h, NULL, NULL, err);
    nl_close(&nl);
    return r;
}

struct overlap_ctx {
    int family, prefix;
    uint8_t addr[16];
    int hit_index;
};

static bool same_subnet(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full))
        return false;
    if (rest) {
        uint8_t m = (uint8_t)(0xff << (8 - rest));
        return (a[full] & m) == (b[full] & m);
    }
    return true;
}

static int addr_cb(const struct nlmsghdr *h, void *data)
{
    struct overlap_ctx *c = data;
    if (h->nlmsg_type != RTM_NEWADDR || c->hit_index)
        return MNL_CB_OK;
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(h);
    if (ifa->ifa_family != c->family)
        return MNL_CB_OK;
    int alen = c->family == AF_INET ? 4 : 16;
    const struct nlattr *a;
    mnl_attr_for_each(a, h, sizeof(*ifa)) {
        int t = mnl_attr_get_type(a);
        if ((t == IFA_ADDRESS || t == IFA_LOCAL) && mnl_attr_get_payload_len(a) == (unsigned)alen) {
            int bits = VK_MIN(c->prefix, (int)ifa->ifa_prefixlen);
            if (same_subnet(mnl_attr_get_payload(a), c->addr, bits)) {
                c->hit_index = (int)ifa->ifa_index;
                break;
            }
        }
    }
    return MNL_CB_OK;
}

int net_addr_overlaps(int family, const void *addr, int prefix,
                      char who[NET_IFNAMSIZ], struct vk_err *err)
{
    struct overlap_ctx c = { .family = family, .prefix = prefix };
    memcpy(c.addr, addr, family == AF_INET ? 4 : 16);
    struct nl nl;
    int r = nl_open(&nl, err);
    if (r < 0)
        return r;
    struct nlmsghdr *h = nl_msg(&nl, RTM_GETADDR, NLM_F_DUMP);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
    ifa->ifa_family = (unsigned char)family;
    r = nl_talk(&nl, h, addr_cb, &c, err);
    nl_close(&nl);
    if (r < 0)
        return r;
    if (!c.hit_index)
        return 0;
    if (who && !if_indextoname((unsigned)c.hit_index, who))
        snprintf(who, NET_IFNAMSIZ, "#%d", c.hit_index);
    return 1;
}

/* ---- forwarding database ----------------------------------------------- */

struct fdb_ctx {
    int br_index;
    struct net_fdb *v;
    size_t n, cap;
    int fail;
};

static int port_no_of_index(int ifindex)
{
    char name[IF_NAMESIZE], path[128], buf[32];
    if (!if_indextoname((unsigned)ifindex, name))
        return 0;
    snprintf(path, sizeof(path), "/sys/class/net/%s/brport/port_no", name);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int no = 0;
    if (fgets(buf, sizeof(buf), f))
        no = (int)strtol(buf, NULL, 0);
    fclose(f);
    return no;
}

static int fdb_cb(const struct nlmsghdr *h, void *data)
{
    struct fdb_ctx *c = data;
    if (h->nlmsg_type != RTM_NEWNEIGH)
        return MNL_CB_OK;
    const struct ndmsg *nd = mnl_nlmsg_get_payload(h);
    if (nd->ndm_family != AF_BRIDGE || nd->ndm_ifindex == c->br_index)
        return MNL_CB_OK;   /* entries on the bridge itself are not port entries */
    struct net_fdb e = { .is_local = !!(nd->ndm_state & NUD_PERMANENT) };
    int master = 0;
    bool have_mac = false;
    const struct nlattr *a;
    mnl_attr_for_each(a, h, sizeof(*nd)) {
        switch (mnl_attr_get_type(a)) {
        case NDA_LLADDR:
            if (mnl_attr_get_payload_len(a) == 6) {
                memcpy(e.mac, mnl_attr_get_payload(a), 6);
                have_mac = true;
            }
            break;
        case NDA_MASTER:
            if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
                master = (int)mnl_attr_get_u32(a);
            break;
        case NDA_CACHEINFO:
            if (mnl_attr_get_payload_len(a) >= sizeof(struct nda_cacheinfo)) {
                const struct nda_cacheinfo *ci = mnl_attr_get_payload(a);
                e.ageing_cs = ci->ndm_updated;
            }
            break;
        }
    }
    if (!have_mac || master != c->br_index)
        return MNL_CB_OK;
    if (e.is_local || (nd->ndm_state & NUD_NOARP))
        e.ageing_cs = 0;
    e.port_no = port_no_of_index(nd->ndm_ifindex);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        struct net_fdb *v = realloc(c->v, cap * sizeof(*v));
        if (!v) {
            c->fail = -ENOMEM;
            return MNL_CB_ERROR;
        }
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = e;
    return MNL_CB_OK;
}

static int fdb_cmp(const void *a, const void *b)
{
    const struct net_fdb *x = a, *y = b;
    int r = memcmp(x->mac, y->mac, 6);
    return r ? r : x->port_no - y->port_no;
}

int net_fdb_list(const char *bridge, struct net_fdb **out, size_t *n, struct vk_err *err)
{
    struct net_link l;
    int r = net_link_get(bridge, &l, err);
    if (r < 0)
        return r;
    if (!l.is_bridge)
        return vk_err_set(err, -EINVAL, "%s is not a bridge", bridge);
    struct fdb_ctx c = { .br_index = l.ifindex };
    struct nl nl;
    r = nl_open(&nl, err);
    if (r < 0)
        return r;
    struct nlmsghdr *h = nl_msg(&nl, RTM_GETNEIGH, NLM_F_DUMP);
    struct ndmsg *nd = mnl_nlmsg_put_extra_header(h, sizeof(*nd));
    nd->ndm_family = AF_BRIDGE;
    mnl_attr_put_u32(h, NDA_MASTER, (uint32_t)l.ifindex);
    r = nl_talk(&nl, h, fdb_cb, &c, err);
    nl_close(&nl);
    if (r < 0 || c.fail) {
        free(c.v);
        return r < 0 ? r : vk_err_set(err, c.fail, "out of memory");
    }
    if (c.n)
        qsort(c.v, c.n, sizeof(*c.v), fdb_cmp);
    *out = c.v;
    *n = c.n;
    return 0;
}

/* ---- MAC helpers ------------------------------------------------------- */

int net_mac_parse(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    char tail;
    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
                     &b[4], &b[5], &tail) != 6 || strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return 0;
}

void net_mac_format(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

void net_mac_generate(uint8_t mac[6])
{
    uint8_t r[3] = { 0 };
    FILE *f = fopen("/dev/urandom", "r");
    if (!f || fread(r, 1, 3, f) != 3) {
        uint64_t t = (uint64_t)vk_now_ns() ^ (uint64_t)getpid() << 16;
        r[0] = (uint8_t)t;
        r[1] = (uint8_t)(t >> 8);
        r[2] = (uint8_t)(t >> 24);
    }
    if (f)
        fclose(f);
    mac[0] = 0x52; mac[1] = 0x54; mac[2] = 0x00;
    mac[3] = r[0]; mac[4] = r[1]; mac[5] = r[2];
}
