/* libvirt network XML (libxml2). Parsing is strict: unknown elements and
 * attributes are refused with the element named, so nothing a user wrote
 * is silently dropped. Formatting is canonical (libvirt's layout). */
#include <arpa/inet.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netdef.h"

const char *const net_forward_names[] = {
    [NET_FWD_NONE] = "none", [NET_FWD_NAT] = "nat", [NET_FWD_ROUTE] = "route",
    [NET_FWD_OPEN] = "open", [NET_FWD_BRIDGE] = "bridge",
};

/* ---- small helpers ----------------------------------------------------- */

int net_addr_parse(const char *s, struct net_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (!s)
        return -EINVAL;
    if (inet_pton(AF_INET, s, a->b) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a->b) == 1) {
        a->family = AF_INET6;
        return 0;
    }
    return -EINVAL;
}

void net_addr_format(const struct net_addr *a, char *buf, size_t len)
{
    if (!a->family || !inet_ntop(a->family, a->b, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

static int addr_len(const struct net_addr *a)
{
    return a->family == AF_INET ? 4 : 16;
}

int net_addr_cmp(const struct net_addr *a, const struct net_addr *b)
{
    if (a->family != b->family)
        return a->family - b->family;
    return memcmp(a->b, b->b, (size_t)addr_len(a));
}

bool net_addr_in_subnet(const struct net_addr *a, const struct net_addr *net, int prefix)
{
    if (a->family != net->family)
        return false;
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a->b, net->b, (size_t)full))
        return false;
    if (rest) {
        uint8_t m = (uint8_t)(0xff << (8 - rest));
        return (a->b[full] & m) == (net->b[full] & m);
    }
    return true;
}

void net_uuid_format(const uint8_t u[16], char buf[37])
{
    snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
             u[12], u[13], u[14], u[15]);
}

int net_uuid_parse(const char *s, uint8_t u[16])
{
    int n = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '-')
            continue;
        if (n >= 32)
            return -EINVAL;
        int v;
        if (*p >= '0' && *p <= '9') v = *p - '0';
        else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F') v = *p - 'A' + 10;
        else return -EINVAL;
        if (n % 2 == 0)
            u[n / 2] = (uint8_t)(v << 4);
        else
            u[n / 2] |= (uint8_t)v;
        n++;
    }
    return n == 32 ? 0 : -EINVAL;
}

static void uuid_generate(uint8_t u[16])
{
    FILE *f = fopen("/dev/urandom", "r");
    if (!f || fread(u, 1, 16, f) != 16) {
        uint64_t t = (uint64_t)vk_now_ns() ^ ((uint64_t)getpid() << 32);
        for (int i = 0; i < 16; i++)
            u[i] = (uint8_t)(t >> ((i % 8) * 8)) ^ (uint8_t)(i * 37);
    }
    if (f)
        fclose(f);
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
}

/* ---- parsing ----------------------------------------------------------- */

struct pctx {
    struct vk_err *err;
};

static int perr(struct pctx *c, const char *fmt, ...) VK_PRINTF(2, 3);
static int perr(struct pctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vk_err_set(c->err, -EINVAL, "invalid network XML: %s", msg);
}

static bool is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* Attribute value copied into buf; returns false when absent. */
static bool attr(const xmlNode *n, const char *name, char *buf, size_t len)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return false;
    snprintf(buf, len, "%s", (const char *)v);
    xmlFree(v);
    return true;
}

/* Refuse attributes not in `allowed` (NULL-terminated). */
static int check_attrs(struct pctx *c, const xmlNode *n, const char *const *allowed)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        bool ok = false;
        for (const char *const *p = allowed; *p; p++)
            if (!strcmp((const char *)a->name, *p))
                ok = true;
        if (!ok)
            return perr(c, "<%s>: unsupported attribute '%s'", n->name, a->name);
    }
    return 0;
}

static int unknown_child(struct pctx *c, const xmlNode *parent, const xmlNode *n)
{
    return perr(c, "<%s>: unsupported element <%s>", parent->name, n->name);
}

/* Text content of an element, trimmed. */
static void text(const xmlNode *n, char *buf, size_t len)
{
    xmlChar *v = xmlNodeGetContent(n);
    const char *s = v ? (const char *)v : "";
    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    snprintf(buf, len, "%s", s);
    size_t l = strlen(buf);
    while (l && (buf[l - 1] == ' ' || buf[l - 1] == '\n' || buf[l - 1] == '\t'))
        buf[--l] = 0;
    if (v)
        xmlFree(v);
}

/* Names that end up in dnsmasq/nft configuration: a conservative set, so
 * no quoting or separator of those languages can slip in. */
static bool safe_token(const char *s, bool allow_dot)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || (allow_dot && *p == '.')))
            return false;
    return true;
}

static int parse_addr_attr(struct pctx *c, const xmlNode *n, const char *name,
                           struct net_addr *a, bool required)
{
    char buf[80];
    if (!attr(n, name, buf, sizeof(buf))) {
        if (required)
            return perr(c, "<%s>: missing attribute '%s'", n->name, name);
        return 0;
    }
    if (net_addr_parse(buf, a) < 0)
        return perr(c, "<%s>: '%s' is not a valid IP address in '%s'", n->name, buf, name);
    return 0;
}

static int parse_forward(struct pctx *c, struct net_def *d, const xmlNode *n)
{
    static const char *const fa[] = { "mode", "dev", NULL };
    char mode[32] = "nat";
    int r = check_attrs(c, n, fa);
    if (r < 0)
        return r;
    attr(n, "mode", mode, sizeof(mode));
    size_t i;
    for (i = 1; i < VK_ARRAY_SIZE(net_forward_names); i++)
        if (!strcmp(mode, net_forward_names[i]))
            break;
    if (i == VK_ARRAY_SIZE(net_forward_names))
        return perr(c, "<forward>: unsupported mode '%s' (nat, route, open, bridge)", mode);
    d->forward = (enum net_forward)i;
    char dev[64];
    if (attr(n, "dev", dev, sizeof(dev))) {
        if (!net_ifname_ok(dev) || !safe_token(dev, true))
            return perr(c, "<forward>: invalid dev '%s'", dev);
        snprintf(d->forward_dev, sizeof(d->forward_dev), "%s", dev);
    }
    for (const xmlNode *ch = n->children; ch; ch = ch->next) {
        if (ch->type != XML_ELEMENT_NODE)
            continue;
        if (!is(ch, "nat"))
            return unknown_child(c, n, ch);
        if (d->forward != NET_FWD_NAT)
            return perr(c, "<nat>: only allowed with <forward mode='nat'>");
        for (const xmlNode *g = ch->children; g; g = g->next) {
            if (g->type != XML_ELEMENT_NODE)
                continue;
            static const char *const ra[] = { "start", "end", NULL };
            if ((r = check_attrs(c, g, ra)) < 0)
                return r;
            if (is(g, "port")) {
                char s[16] = "", e[16] = "";
                int ps, pe;
                if (!attr(g, "start", s, sizeof(s)) || !attr(g, "end", e, sizeof(e)))
                    return perr(c, "<port>: needs start and end");
                if (vk_parse_int(s, 1, 65535, &ps) < 0 || vk_parse_int(e, 1, 65535, &pe) < 0)
                    return perr(c, "<port>: start and end must be 1-65535 (got '%s', '%s')", s, e);
                if (ps > pe)
                    return perr(c, "<port>: start %d is after end %d", ps, pe);
                d->nat_port_start = (uint16_t)ps;
                d->nat_port_end = (uint16_t)pe;
            } else if (is(g, "address")) {
                if ((r = parse_addr_attr(c, g, "start", &d->nat_addr_start, true)) < 0 ||
                    (r = parse_addr_attr(c, g, "end", &d->nat_addr_end, true)) < 0)
                    return r;
                if (d->nat_addr_start.family != AF_INET || d->nat_addr_end.family != AF_INET)
                    return perr(c, "<address>: NAT addresses must be IPv4");
                if (net_addr_cmp(&d->nat_addr_start, &d->nat_addr_end) > 0)
                    return perr(c, "<address>: start is after end");
                d->has_nat_addr = true;
            } else {
                return unknown_child(c, ch, g);
            }
        }
    }
    return 0;
}

static int parse_mac_attr(struct pctx *c, const xmlNode *n, uint8_t mac[6], bool *has)
{
    char buf[40];
    if (!attr(n, n->name[0] == 'm' ? "address" : "mac", buf, sizeof(buf)))
        return 0;
    if (net_mac_parse(buf, mac) < 0)
        return perr(c, "<%s>: invalid MAC address '%s'", n->name, buf);
    if (mac[0] & 1)
        return perr(c, "<%s>: MAC address '%s' is multicast", n->name, buf);
    *has = true;
    return 0;
}

static int parse_dhcp_host(struct pctx *c, const xmlNode *h, struct net_dhcp_host *o)
{
    static const char *const ha[] = { "mac", "name", "ip", NULL };
    int r = check_attrs(c, h, ha);
    if (r < 0)
        return r;
    memset(o, 0, sizeof(*o));
    if ((r = parse_mac_attr(c, h, o->mac, &o->has_mac)) < 0)
        return r;
    char name[128];
    if (attr(h, "name", name, sizeof(name))) {
        if (strlen(name) >= sizeof(o->name) || !*name)
            return perr(c, "<host>: name '%s' is empty or too long", name);
        for (const char *p = name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
                return perr(c, "<host>: invalid host name '%s'", name);
        snprintf(o->name, sizeof(o->name), "%s", name);
    }
    if ((r = parse_addr_attr(c, h, "ip", &o->ip, true)) < 0)
        return r;
    if (!o->has_mac && !o->name[0])
        return perr(c, "<host>: needs a mac or a name");
    return 0;
}

/* <lease expiry='N' unit='seconds|minutes|hours'/> (libvirt: 0 = infinite,
 * default unit minutes). Kept as seconds; UINT32_MAX = infinite. */
static int parse_lease(struct pctx *c, const xmlNode *l, uint32_t *out)
{
    static const char *const la[] = { "expiry", "unit", NULL };
    int r = check_attrs(c, l, la);
    if (r < 0)
        return r;
    char ex[32], unit[16] = "minutes";
    uint64_t v;
    if (!attr(l, "expiry", ex, sizeof(ex)) || vk_parse_u64(ex, &v) < 0)
        return perr(c, "<lease>: expiry must be a number");
    attr(l, "unit", unit, sizeof(unit));
    uint64_t mul = !strcmp(unit, "seconds") ? 1 : !strcmp(unit, "minutes") ? 60 :
                   !strcmp(unit, "hours") ? 3600 : 0;
    if (!mul)
        return perr(c, "<lease>: unit must be seconds, minutes or hours, not '%s'", unit);
    if (v == 0) {
        *out = UINT32_MAX;
        return 0;
    }
    if (v > 0xffffffffull / mul || v * mul < 120)
        return perr(c, "<lease>: expiry out of range (at least 2 minutes)");
    *out = (uint32_t)(v * mul);
    return 0;
}

static int parse_ip(struct pctx *c, struct net_ip *ip, const xmlNode *n)
{
    static const char *const ia[] = { "address", "netmask", "prefix", "family", NULL };
    int r = check_attrs(c, n, ia);
    if (r < 0)
        return r;
    if ((r = parse_addr_attr(c, n, "address", &ip->addr, true)) < 0)
        return r;
    char fam[16], mask[64], pfx[16];
    if (attr(n, "family", fam, sizeof(fam))) {
        int want = !strcmp(fam, "ipv4") ? AF_INET : !strcmp(fam, "ipv6") ? AF_INET6 : -1;
        if (want < 0)
            return perr(c, "<ip>: family must be ipv4 or ipv6, not '%s'", fam);
        if (want != ip->addr.family)
            return perr(c, "<ip>: address does not match family '%s'", fam);
    }
    int maxp = ip->addr.family == AF_INET ? 32 : 128;
    bool has_mask = attr(n, "netmask", mask, sizeof(mask));
    bool has_pfx = attr(n, "prefix", pfx, sizeof(pfx));
    if (has_mask && has_pfx)
        return perr(c, "<ip>: give netmask or prefix, not both");
    if (has_mask) {
        struct in_addr m;
        if (ip->addr.family != AF_INET || inet_pton(AF_INET, mask, &m) != 1)
            return perr(c, "<ip>: invalid netmask '%s'", mask);
        uint32_t v = ntohl(m.s_addr);
        int p = __builtin_popcount(v);
        if (p == 0 || (p < 32 && v != (~0u << (32 - p))))
            return perr(c, "<ip>: netmask '%s' is not contiguous", mask);
        ip->prefix = p;
        ip->netmask_form = true;
    } else if (has_pfx) {
        if (vk_parse_int(pfx, 1, maxp, &ip->prefix) < 0)
            return perr(c, "<ip>: prefix '%s' out of range 1-%d", pfx, maxp);
    } else {
        ip->prefix = ip->addr.family == AF_INET ? 24 : 64;
        ip->netmask_form = ip->addr.family == AF_INET;
    }
    for (const xmlNode *ch = n->children; ch; ch = ch->next) {
        if (ch->type != XML_ELEMENT_NODE)
            continue;
        if (!is(ch, "dhcp"))
            return unknown_child(c, n, ch);
        for (const xmlNode *g = ch->children; g; g = g->next) {
            if (g->type != XML_ELEMENT_NODE)
                continue;
            if (is(g, "range")) {
                static const char *const ra[] = { "start", "end", NULL };
                if ((r = check_attrs(c, g, ra)) < 0)
                    return r;
                if (ip->has_range)
                    return perr(c, "<range>: only one DHCP range per <ip> is supported");
                for (const xmlNode *l = g->children; l; l = l->next) {
                    if (l->type != XML_ELEMENT_NODE)
                        continue;
                    if (!is(l, "lease"))
                        return unknown_child(c, g, l);
                    if ((r = parse_lease(c, l, &ip->lease_seconds)) < 0)
                        return r;
                }
                if ((r = parse_addr_attr(c, g, "start", &ip->range_start, true)) < 0 ||
                    (r = parse_addr_attr(c, g, "end", &ip->range_end, true)) < 0)
                    return r;
                ip->has_range = true;
            } else if (is(g, "host")) {
                struct net_dhcp_host *v = realloc(ip->hosts, (ip->nhosts + 1) * sizeof(*v));
                if (!v)
                    return vk_err_set(c->err, -ENOMEM, "out of memory");
                ip->hosts = v;
                if ((r = parse_dhcp_host(c, g, &v[ip->nhosts])) < 0)
                    return r;
                ip->nhosts++;
            } else {
                return unknown_child(c, ch, g);
            }
        }
    }
    return 0;
}

static int parse_dns(struct pctx *c, struct net_def *d, const xmlNode *n)
{
    static const char *const da[] = { "enable", NULL };
    int r = check_attrs(c, n, da);
    if (r < 0)
        return r;
    char en[16];
    if (attr(n, "enable", en, sizeof(en))) {
        int b = vk_parse_bool(en);
        if (b < 0)
            return perr(c, "<dns>: enable must be yes or no, not '%s'", en);
        d->dns_disabled = !b;
    }
    for (const xmlNode *h = n->children; h; h = h->next) {
        if (h->type != XML_ELEMENT_NODE)
            continue;
        if (!is(h, "host"))
            return unknown_child(c, n, h);
        static const char *const ha[] = { "ip", NULL };
        if ((r = check_attrs(c, h, ha)) < 0)
            return r;
        struct net_dns_host *v = realloc(d->dns_hosts, (d->ndns_hosts + 1) * sizeof(*v));
        if (!v)
            return vk_err_set(c->err, -ENOMEM, "out of memory");
        d->dns_hosts = v;
        struct net_dns_host *dh = &v[d->ndns_hosts++];
        memset(dh, 0, sizeof(*dh));
        if ((r = parse_addr_attr(c, h, "ip", &dh->ip, true)) < 0)
            return r;
        for (const xmlNode *hn = h->children; hn; hn = hn->next) {
            if (hn->type != XML_ELEMENT_NODE)
                continue;
            if (!is(hn, "hostname"))
                return unknown_child(c, h, hn);
            char name[128];
            text(hn, name, sizeof(name));
            if (strlen(name) >= 64 || !safe_token(name, true))
                return perr(c, "<hostname>: invalid host name '%s'", name);
            void *nv = realloc(dh->names, (dh->nnames + 1) * sizeof(*dh->names));
            if (!nv)
                return vk_err_set(c->err, -ENOMEM, "out of memory");
            dh->names = nv;
            snprintf(dh->names[dh->nnames++], 64, "%s", name);
        }
        if (!dh->nnames)
            return perr(c, "<dns><host>: needs at least one <hostname>");
    }
    return 0;
}

static int parse_root(struct pctx *c, struct net_def *d, const xmlNode *root)
{
    int r;
    static const char *const na[] = { "ipv6", "connections", NULL };
    if (!is(root, "network"))
        return perr(c, "root element must be <network>, not <%s>", root->name);
    if ((r = check_attrs(c, root, na)) < 0)
        return r;
    bool seen_name = false, seen_uuid = false;
    d->stp = true;
    for (const xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is(n, "name")) {
            char name[128];
            text(n, name, sizeof(name));
            if (!*name || strlen(name) >= sizeof(d->name))
                return perr(c, "<name>: empty or longer than %zu characters", sizeof(d->name) - 1);
            for (const char *p = name; *p; p++)
                if (*p == '/' || *p <= ' ' || *p == '\'' || *p == '"' || *p == '\\')
                    return perr(c, "<name>: '%s' contains an invalid character", name);
            snprintf(d->name, sizeof(d->name), "%s", name);
            seen_name = true;
        } else if (is(n, "uuid")) {
            char u[64];
            text(n, u, sizeof(u));
            if (net_uuid_parse(u, d->uuid) < 0)
                return perr(c, "<uuid>: '%s' is not a valid UUID", u);
            seen_uuid = true;
        } else if (is(n, "forward")) {
            if ((r = parse_forward(c, d, n)) < 0)
                return r;
        } else if (is(n, "bridge")) {
            static const char *const ba[] = { "name", "stp", "delay", NULL };
            char buf[64];
            if ((r = check_attrs(c, n, ba)) < 0)
                return r;
            if (attr(n, "name", buf, sizeof(buf))) {
                if (!net_ifname_ok(buf) || !safe_token(buf, true))
                    return perr(c, "<bridge>: invalid bridge name '%s'", buf);
                snprintf(d->bridge, sizeof(d->bridge), "%s", buf);
            }
            if (attr(n, "stp", buf, sizeof(buf))) {
                int b = vk_parse_bool(buf);
                if (b < 0)
                    return perr(c, "<bridge>: stp must be on or off, not '%s'", buf);
                d->stp = b;
            }
            if (attr(n, "delay", buf, sizeof(buf)) &&
                vk_parse_int(buf, 0, 30, &d->delay) < 0)
                return perr(c, "<bridge>: delay '%s' out of range 0-30", buf);
        } else if (is(n, "mtu")) {
            static const char *const ma[] = { "size", NULL };
            char buf[32];
            int v;
            if ((r = check_attrs(c, n, ma)) < 0)
                return r;
            if (!attr(n, "size", buf, sizeof(buf)) || vk_parse_int(buf, 68, 65535, &v) < 0)
                return perr(c, "<mtu>: size must be 68-65535");
            d->mtu = (unsigned)v;
        } else if (is(n, "mac")) {
            static const char *const ma[] = { "address", NULL };
            if ((r = check_attrs(c, n, ma)) < 0 ||
                (r = parse_mac_attr(c, n, d->mac, &d->has_mac)) < 0)
                return r;
        } else if (is(n, "domain")) {
            static const char *const da[] = { "name", "localOnly", NULL };
            if ((r = check_attrs(c, n, da)) < 0)
                return r;
            if (!attr(n, "name", d->domain, sizeof(d->domain)) || !safe_token(d->domain, true))
                return perr(c, "<domain>: missing or invalid name");
        } else if (is(n, "dns")) {
            if ((r = parse_dns(c, d, n)) < 0)
                return r;
        } else if (is(n, "ip")) {
            struct net_ip *v = realloc(d->ips, (d->nips + 1) * sizeof(*v));
            if (!v)
                return vk_err_set(c->err, -ENOMEM, "out of memory");
            d->ips = v;
            memset(&v[d->nips], 0, sizeof(v[0]));
            d->nips++;
            if ((r = parse_ip(c, &v[d->nips - 1], n)) < 0)
                return r;
        } else {
            return unknown_child(c, root, n);
        }
    }
    if (!seen_name)
        return perr(c, "<network>: missing <name>");
    (void)seen_uuid;
    return 0;
}

static void silent_errors(void *ctx, const char *msg, ...) { }

int net_def_parse(const char *xml, size_t len, struct net_def **out, struct vk_err *err)
{
    struct pctx c = { .err = err };
    xmlParserCtxtPtr px = xmlNewParserCtxt();
    if (!px)
        return vk_err_set(err, -ENOMEM, "out of memory");
    xmlSetGenericErrorFunc(NULL, silent_errors);
    xmlDocPtr doc = xmlCtxtReadMemory(px, xml, (int)VK_MIN(len, (size_t)0x7fffffff), "network.xml",
                                      NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlCtxtGetLastError(px);
        int r = vk_err_set(err, -EINVAL, "malformed network XML: %s (line %d)",
                           e && e->message ? e->message : "parse error", e ? e->line : 0);
        if (err) {
            size_t l = strlen(err->msg);
            /* libxml2 messages end in a newline; keep ours on one line */
            char *nl = strchr(err->msg, '\n');
            if (nl && (size_t)(nl - err->msg) < l)
                memmove(nl, nl + 1, l - (size_t)(nl - err->msg));
        }
        xmlFreeParserCtxt(px);
        return r;
    }
    struct net_def *d = calloc(1, sizeof(*d));
    int r = d ? parse_root(&c, d, xmlDocGetRootElement(doc)) : -ENOMEM;
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(px);
    if (r == 0)
        r = net_def_validate(d, err);
    if (r < 0) {
        net_def_free(d);
        return r;
    }
    *out = d;
    return 0;
}

/* ---- validation -------------------------------------------------------- */

static bool is_net_or_bcast(const struct net_addr *a, const struct net_ip *ip)
{
    if (a->family != AF_INET || ip->prefix >= 31)
        return false;
    uint32_t v, m = ~0u << (32 - ip->prefix);
    memcpy(&v, a->b, 4);
    v = ntohl(v);
    return (v & ~m) == 0 || (v & ~m) == ~m;
}

int net_def_validate(const struct net_def *d, struct vk_err *err)
{
    struct pctx c = { .err = err };
    char a1[64];
    if (d->forward == NET_FWD_BRIDGE) {
        if (!d->bridge[0])
            return perr(&c, "<forward mode='bridge'>: needs <bridge name='...'/> of an existing host bridge");
        if (d->nips || d->ndns_hosts || d->domain[0] || d->has_mac || d->mtu)
            return perr(&c, "<forward mode='bridge'>: <ip>, <dns>, <domain>, <mtu> and <mac> are not allowed "
                        "(the host bridge is managed outside virtkit)");
    }
    if (d->has_nat_addr && d->forward != NET_FWD_NAT)
        return perr(&c, "<nat>: only with <forward mode='nat'>");
    int dhcp4 = 0, dhcp6 = 0;
    for (size_t i = 0; i < d->nips; i++) {
        const struct net_ip *ip = &d->ips[i];
        net_addr_format(&ip->addr, a1, sizeof(a1));
        if (ip->addr.family == AF_INET && is_net_or_bcast(&ip->addr, ip))
            return perr(&c, "<ip>: %s/%d is the network or broadcast address", a1, ip->prefix);
        for (size_t j = 0; j < i; j++)
            if (net_addr_in_subnet(&ip->addr, &d->ips[j].addr,
                                   VK_MIN(ip->prefix, d->ips[j].prefix)))
                return perr(&c, "<ip>: %s/%d overlaps another <ip> of this network", a1, ip->prefix);
        if (ip->has_range || ip->nhosts)
            *(ip->addr.family == AF_INET ? &dhcp4 : &dhcp6) += 1;
        if (ip->has_range) {
            char s[64], e[64];
            net_addr_format(&ip->range_start, s, sizeof(s));
            net_addr_format(&ip->range_end, e, sizeof(e));
            if (ip->range_start.family != ip->addr.family || ip->range_end.family != ip->addr.family)
                return perr(&c, "<range>: %s-%s is not the same family as %s", s, e, a1);
            if (!net_addr_in_subnet(&ip->range_start, &ip->addr, ip->prefix) ||
                !net_addr_in_subnet(&ip->range_end, &ip->addr, ip->prefix))
                return perr(&c, "<range>: %s-%s is not inside %s/%d", s, e, a1, ip->prefix);
            if (net_addr_cmp(&ip->range_start, &ip->range_end) > 0)
                return perr(&c, "<range>: start %s is after end %s", s, e);
            if (is_net_or_bcast(&ip->range_start, ip) || is_net_or_bcast(&ip->range_end, ip))
                return perr(&c, "<range>: %s-%s includes the network or broadcast address", s, e);
            if (net_addr_cmp(&ip->range_start, &ip->addr) <= 0 &&
                net_addr_cmp(&ip->addr, &ip->range_end) <= 0)
                return perr(&c, "<range>: %s-%s includes the network's own address %s", s, e, a1);
        }
        for (size_t h = 0; h < ip->nhosts; h++) {
            const struct net_dhcp_host *hh = &ip->hosts[h];
            char s[64];
            net_addr_format(&hh->ip, s, sizeof(s));
            if (!net_addr_in_subnet(&hh->ip, &ip->addr, ip->prefix) || is_net_or_bcast(&hh->ip, ip) ||
                !net_addr_cmp(&hh->ip, &ip->addr))
                return perr(&c, "<host>: ip %s is not a usable address in %s/%d", s, a1, ip->prefix);
            for (size_t k = 0; k < h; k++) {
                const struct net_dhcp_host *o = &ip->hosts[k];
                if (!net_addr_cmp(&o->ip, &hh->ip))
                    return perr(&c, "<host>: ip %s is given twice", s);
                if (hh->has_mac && o->has_mac && !memcmp(o->mac, hh->mac, 6))
                    return perr(&c, "<host>: mac of %s is given twice", s);
                if (hh->name[0] && !strcmp(o->name, hh->name))
                    return perr(&c, "<host>: name '%s' is given twice", hh->name);
            }
        }
    }
    if (dhcp4 > 1 || dhcp6 > 1)
        return perr(&c, "<dhcp>: only one IPv4 and one IPv6 <ip> may have DHCP");
    if (d->forward == NET_FWD_NAT && !net_def_ipv4(d))
        return perr(&c, "<forward mode='nat'>: needs an IPv4 <ip> to masquerade");
    return 0;
}

/* ---- formatting -------------------------------------------------------- */


static void fmt_ip(struct vk_strbuf *b, const struct net_ip *ip)
{
    char a[64], s[64], e[64];
    net_addr_format(&ip->addr, a, sizeof(a));
    if (ip->addr.family == AF_INET && ip->netmask_form) {
        struct in_addr m = { .s_addr = htonl(ip->prefix ? ~0u << (32 - ip->prefix) : 0) };
        char mb[32];
        inet_ntop(AF_INET, &m, mb, sizeof(mb));
        vk_strbuf_printf(b, "  <ip address='%s' netmask='%s'", a, mb);
    } else {
        vk_strbuf_printf(b, "  <ip%s address='%s' prefix='%d'",
                  ip->addr.family == AF_INET6 ? " family='ipv6'" : "", a, ip->prefix);
    }
    if (!ip->has_range && !ip->nhosts) {
        vk_strbuf_printf(b, "/>\n");
        return;
    }
    vk_strbuf_printf(b, ">\n    <dhcp>\n");
    if (ip->has_range) {
        net_addr_format(&ip->range_start, s, sizeof(s));
        net_addr_format(&ip->range_end, e, sizeof(e));
        if (ip->lease_seconds == UINT32_MAX)
            vk_strbuf_printf(b, "      <range start='%s' end='%s'>\n        <lease expiry='0'/>\n"
                      "      </range>\n", s, e);
        else if (ip->lease_seconds)
            vk_strbuf_printf(b, "      <range start='%s' end='%s'>\n        <lease expiry='%u' unit='seconds'/>\n"
                      "      </range>\n", s, e, ip->lease_seconds);
        else
            vk_strbuf_printf(b, "      <range start='%s' end='%s'/>\n", s, e);
    }
    for (size_t i = 0; i < ip->nhosts; i++) {
        const struct net_dhcp_host *h = &ip->hosts[i];
        vk_strbuf_printf(b, "      <host");
        if (h->has_mac) {
            char m[18];
            net_mac_format(h->mac, m);
            vk_strbuf_printf(b, " mac='%s'", m);
        }
        if (h->name[0])
            vk_strbuf_printf(b, " name='%s'", h->name);
        net_addr_format(&h->ip, s, sizeof(s));
        vk_strbuf_printf(b, " ip='%s'/>\n", s);
    }
    vk_strbuf_printf(b, "    </dhcp>\n  </ip>\n");
}

char *net_def_format(const struct net_def *d)
{
    struct vk_strbuf b = { 0 };
    char u[37], a[64], e[64];
    net_uuid_format(d->uuid, u);
    vk_strbuf_printf(&b, "<network>\n  <name>%s</name>\n  <uuid>%s</uuid>\n", d->name, u);
    if (d->forward != NET_FWD_NONE) {
        vk_strbuf_printf(&b, "  <forward mode='%s'", net_forward_names[d->forward]);
        if (d->forward_dev[0])
            vk_strbuf_printf(&b, " dev='%s'", d->forward_dev);
        if (d->forward == NET_FWD_NAT && (d->nat_port_start || d->has_nat_addr)) {
            vk_strbuf_printf(&b, ">\n    <nat>\n");
            if (d->has_nat_addr) {
                net_addr_format(&d->nat_addr_start, a, sizeof(a));
                net_addr_format(&d->nat_addr_end, e, sizeof(e));
                vk_strbuf_printf(&b, "      <address start='%s' end='%s'/>\n", a, e);
            }
            if (d->nat_port_start)
                vk_strbuf_printf(&b, "      <port start='%u' end='%u'/>\n", d->nat_port_start, d->nat_port_end);
            vk_strbuf_printf(&b, "    </nat>\n  </forward>\n");
        } else {
            vk_strbuf_printf(&b, "/>\n");
        }
    }
    if (d->bridge[0]) {
        if (d->forward == NET_FWD_BRIDGE)
            vk_strbuf_printf(&b, "  <bridge name='%s'/>\n", d->bridge);
        else
            vk_strbuf_printf(&b, "  <bridge name='%s' stp='%s' delay='%d'/>\n", d->bridge,
                      d->stp ? "on" : "off", d->delay);
    }
    if (d->mtu)
        vk_strbuf_printf(&b, "  <mtu size='%u'/>\n", d->mtu);
    if (d->has_mac) {
        char m[18];
        net_mac_format(d->mac, m);
        vk_strbuf_printf(&b, "  <mac address='%s'/>\n", m);
    }
    if (d->domain[0])
        vk_strbuf_printf(&b, "  <domain name='%s'/>\n", d->domain);
    if (d->dns_disabled && !d->ndns_hosts)
        vk_strbuf_printf(&b, "  <dns enable='no'/>\n");
    if (d->ndns_hosts) {
        vk_strbuf_printf(&b, "  <dns%s>\n", d->dns_disabled ? " enable='no'" : "");
        for (size_t i = 0; i < d->ndns_hosts; i++) {
            net_addr_format(&d->dns_hosts[i].ip, a, sizeof(a));
            vk_strbuf_printf(&b, "    <host ip='%s'>\n", a);
            for (size_t j = 0; j < d->dns_hosts[i].nnames; j++)
                vk_strbuf_printf(&b, "      <hostname>%s</hostname>\n", d->dns_hosts[i].names[j]);
            vk_strbuf_printf(&b, "    </host>\n");
        }
        vk_strbuf_printf(&b, "  </dns>\n");
    }
    for (size_t i = 0; i < d->nips; i++)
        fmt_ip(&b, &d->ips[i]);
    vk_strbuf_printf(&b, "</network>\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- lifetime, defaults ------------------------------------------------ */

void net_def_free(struct net_def *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nips; i++)
        free(d->ips[i].hosts);
    free(d->ips);
    for (size_t i = 0; i < d->ndns_hosts; i++)
        free(d->dns_hosts[i].names);
    free(d->dns_hosts);
    free(d);
}

struct net_def *net_def_dup(const struct net_def *d)
{
    char *x = net_def_format(d);
    struct net_def *o = NULL;
    if (x && net_def_parse(x, strlen(x), &o, NULL) < 0)
        o = NULL;
    free(x);
    return o;
}

void net_def_fill_defaults(struct net_def *d)
{
    static const uint8_t zero[16];
    if (!memcmp(d->uuid, zero, 16))
        uuid_generate(d->uuid);
    if (!d->has_mac && d->forward != NET_FWD_BRIDGE) {
        net_mac_generate(d->mac);
        d->has_mac = true;
    }
}

const struct net_ip *net_def_ipv4(const struct net_def *d)
{
    const struct net_ip *first = NULL;
    for (size_t i = 0; i < d->nips; i++) {
        if (d->ips[i].addr.family != AF_INET)
            continue;
        if (d->ips[i].has_range || d->ips[i].nhosts)
            return &d->ips[i];
        if (!first)
            first = &d->ips[i];
    }
    return first;
}

/* ---- net-update ip-dhcp-host ------------------------------------------- */

int net_def_update_dhcp_host(struct net_def *d, enum net_update_op op,
                             const char *host_xml, struct vk_err *err)
{
    struct pctx c = { .err = err };
    xmlDocPtr doc = xmlReadMemory(host_xml, (int)strlen(host_xml), "host.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return vk_err_set(err, -EINVAL, "malformed <host> XML");
    const xmlNode *root = xmlDocGetRootElement(doc);
    struct net_dhcp_host h;
    int r;
    if (!root || !is(root, "host"))
        r = perr(&c, "expected a <host mac='...' name='...' ip='...'/> element");
    else
        r = parse_dhcp_host(&c, root, &h);
    xmlFreeDoc(doc);
    if (r < 0)
        return r;
    /* Apply to a copy, validate it, then swap: a rejected edit changes nothing. */
    struct net_def *nd = net_def_dup(d);
    if (!nd)
        return vk_err_set(err, -ENOMEM, "out of memory");
    struct net_ip *ip = NULL;
    for (size_t i = 0; i < nd->nips; i++)
        if (net_addr_in_subnet(&h.ip, &nd->ips[i].addr, nd->ips[i].prefix))
            ip = &nd->ips[i];
    r = 0;
    size_t k = 0;
    if (!ip)
        r = vk_err_set(err, -EINVAL, "ip of <host> is not in any <ip> subnet of network %s", d->name);
    for (k = 0; ip && k < ip->nhosts; k++) {
        const struct net_dhcp_host *o = &ip->hosts[k];
        bool same_mac = h.has_mac && o->has_mac && !memcmp(o->mac, h.mac, 6);
        bool same_name = h.name[0] && !strcmp(o->name, h.name);
        if (op == NET_UPDATE_ADD && (same_mac || same_name || !net_addr_cmp(&o->ip, &h.ip))) {
            r = vk_err_set(err, -EEXIST, "there is already a DHCP host entry with this mac, name or ip");
            break;
        }
        if (op != NET_UPDATE_ADD && (h.has_mac ? same_mac : same_name))
            break;
    }
    if (r == 0 && op == NET_UPDATE_ADD) {
        struct net_dhcp_host *v = realloc(ip->hosts, (ip->nhosts + 1) * sizeof(*v));
        if (!v)
            r = vk_err_set(err, -ENOMEM, "out of memory");
        else {
            ip->hosts = v;
            v[ip->nhosts++] = h;
        }
    } else if (r == 0 && k == ip->nhosts) {
        r = vk_err_set(err, -ENOENT, "couldn't locate a matching DHCP host entry in network %s", d->name);
    } else if (r == 0 && op == NET_UPDATE_DELETE) {
        memmove(&ip->hosts[k], &ip->hosts[k + 1], (ip->nhosts - k - 1) * sizeof(h));
        ip->nhosts--;
    } else if (r == 0) {
        ip->hosts[k] = h;
    }
    if (r == 0)
        r = net_def_validate(nd, err);
    if (r == 0) {
        struct net_def tmp = *d;
        *d = *nd;
        *nd = tmp;
    }
    net_def_free(nd);
    return r;
}
