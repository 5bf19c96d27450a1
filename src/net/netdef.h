/* libvirt network XML: parse (strict), validate, format (canonical).
 * The supported subset is documented in docs/network.md. */
#ifndef VK_NETDEF_H
#define VK_NETDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "net.h"

enum net_forward {
    NET_FWD_NONE,       /* isolated: no <forward> */
    NET_FWD_NAT,
    NET_FWD_ROUTE,
    NET_FWD_OPEN,
    NET_FWD_BRIDGE,     /* an existing host bridge; virtkit manages nothing */
};
extern const char *const net_forward_names[];

struct net_addr {       /* an IPv4 or IPv6 address */
    int family;         /* AF_INET / AF_INET6, 0 = unset */
    uint8_t b[16];
};

struct net_dhcp_host {
    bool has_mac;
    uint8_t mac[6];
    char name[64];
    struct net_addr ip;
};

struct net_ip {
    struct net_addr addr;
    int prefix;
    bool netmask_form;              /* written as netmask= (kept on format) */
    bool has_range;
    uint32_t lease_seconds;         /* <range><lease expiry unit/>; 0 = default (1 h) */
    struct net_addr range_start, range_end;
    struct net_dhcp_host *hosts;
    size_t nhosts;
};

struct net_dns_host {
    struct net_addr ip;
    char (*names)[64];
    size_t nnames;
};

struct net_def {
    char name[64];
    uint8_t uuid[16];
    enum net_forward forward;
    char forward_dev[NET_IFNAMSIZ];
    uint16_t nat_port_start, nat_port_end;     /* 0,0 = not given */
    bool has_nat_addr;
    struct net_addr nat_addr_start, nat_addr_end;
    char bridge[NET_IFNAMSIZ];                  /* "" until defaults fill it */
    bool stp;                                   /* default on */
    int delay;                                  /* seconds, default 0 */
    unsigned mtu;                               /* <mtu size/>, 0 = kernel default */
    bool has_mac;
    uint8_t mac[6];
    char domain[128];
    bool dns_disabled;                          /* <dns enable='no'> */
    struct net_dns_host *dns_hosts;
    size_t ndns_hosts;
    struct net_ip *ips;
    size_t nips;
};

/* Parse and validate. Errors name the element and what is wrong. */
int net_def_parse(const char *xml, size_t len, struct net_def **out,
                  struct vk_err *err) VK_MUST_CHECK;
/* Validation only (parse calls it). */
int net_def_validate(const struct net_def *d, struct vk_err *err) VK_MUST_CHECK;
/* Canonical XML, malloc'd. */
char *net_def_format(const struct net_def *d);
void net_def_free(struct net_def *d);
struct net_def *net_def_dup(const struct net_def *d);

/* Fill what the user left out: a random UUID, a MAC (52:54:00:...) for the
 * bridge when virtkit creates it. The bridge name is chosen by the caller
 * (it needs to know which names are taken). */
void net_def_fill_defaults(struct net_def *d);

/* The IPv4 <ip> element that has DHCP, or the first IPv4, or NULL. */
const struct net_ip *net_def_ipv4(const struct net_def *d);

/* Helpers */
int net_addr_parse(const char *s, struct net_addr *a);
void net_addr_format(const struct net_addr *a, char *buf, size_t len);
int net_addr_cmp(const struct net_addr *a, const struct net_addr *b);
bool net_addr_in_subnet(const struct net_addr *a, const struct net_addr *net, int prefix);
void net_uuid_format(const uint8_t uuid[16], char buf[37]);
int net_uuid_parse(const char *s, uint8_t uuid[16]);

/* DHCP host edits for net-update: 0, -EEXIST (add of a MAC/IP/name already
 * present), -ENOENT (delete/modify of an absent entry), -EINVAL. */
enum net_update_op { NET_UPDATE_ADD, NET_UPDATE_DELETE, NET_UPDATE_MODIFY };
int net_def_update_dhcp_host(struct net_def *d, enum net_update_op op,
                             const char *host_xml, struct vk_err *err) VK_MUST_CHECK;

#endif
