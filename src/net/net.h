/* virtkit networking: bridges and links over netlink (nl.c), TAP devices
 * (tap.c), libvirt network XML (netdef.c), dnsmasq (dnsmasq.c), nftables
 * (nft.c) and the network lifecycle tying them together (network.c).
 *
 * Conventions: functions return 0 (or a count) / -errno and fill an optional
 * `struct vk_err *err` last. Everything acts on the calling thread's network
 * namespace; nothing here prints or exits.
 */
#ifndef VK_NET_H
#define VK_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "util.h"

/* ---- links and bridges (nl.c) ------------------------------------------ */

#define NET_IFNAMSIZ 16

struct net_link {
    char name[NET_IFNAMSIZ];
    int ifindex;
    int master;              /* ifindex of the bridge it is enslaved to, 0 if none */
    unsigned flags;          /* IFF_* */
    bool is_bridge;
    uint8_t mac[6];
    char kind[16];           /* "bridge", "veth", "tun", ... or "" */
};

/* Every link in the namespace, sorted by name. *out is malloc'd. */
int net_link_list(struct net_link **out, size_t *n, struct vk_err *err) VK_MUST_CHECK;
/* One link by name: 0, -ENODEV if absent. */
int net_link_get(const char *name, struct net_link *out, struct vk_err *err) VK_MUST_CHECK;

int net_link_set_up(const char *name, bool up, struct vk_err *err) VK_MUST_CHECK;
int net_link_del(const char *name, struct vk_err *err) VK_MUST_CHECK;
int net_link_set_mac(const char *name, const uint8_t mac[6], struct vk_err *err) VK_MUST_CHECK;
int net_link_set_mtu(const char *name, unsigned mtu, struct vk_err *err) VK_MUST_CHECK;
/* Enslave `port` to `bridge`; bridge NULL releases it. */
int net_link_set_master(const char *port, const char *bridge, struct vk_err *err) VK_MUST_CHECK;

/* Bridge-wide settings. Times are in centiseconds (clock_t, as in sysfs). */
enum net_br_opt {
    NET_BR_STP,              /* 0/1 */
    NET_BR_FORWARD_DELAY,    /* cs */
    NET_BR_HELLO_TIME,       /* cs */
    NET_BR_MAX_AGE,          /* cs */
    NET_BR_AGEING_TIME,      /* cs */
    NET_BR_PRIORITY,         /* 0..65535 */
};
/* Per-port settings. */
enum net_brport_opt {
    NET_BRPORT_COST,         /* 1..65535 */
    NET_BRPORT_PRIORITY,     /* 0..63 */
    NET_BRPORT_HAIRPIN,      /* 0/1 */
};

int net_bridge_add(const char *name, struct vk_err *err) VK_MUST_CHECK;
int net_bridge_set(const char *bridge, enum net_br_opt opt, uint32_t val,
                   struct vk_err *err) VK_MUST_CHECK;
int net_bridge_port_set(const char *port, enum net_brport_opt opt, uint32_t val,
                        struct vk_err *err) VK_MUST_CHECK;

/* Addresses: family AF_INET or AF_INET6, addr points to in_addr/in6_addr. */
int net_addr_add(const char *ifname, int family, const void *addr, int prefix,
                 struct vk_err *err) VK_MUST_CHECK;
/* Does any link carry an address in the same subnet as addr/prefix? Fills
 * `who` with that link's name. 1 = yes, 0 = no, -errno. */
int net_addr_overlaps(int family, const void *addr, int prefix,
                      char who[NET_IFNAMSIZ], struct vk_err *err) VK_MUST_CHECK;

/* Forwarding database of a bridge (what `brctl showmacs` lists). */
struct net_fdb {
    uint8_t mac[6];
    int port_no;
    bool is_local;
    uint32_t ageing_cs;      /* centiseconds since last seen */
};
int net_fdb_list(const char *bridge, struct net_fdb **out, size_t *n,
                 struct vk_err *err) VK_MUST_CHECK;

/* STP state (what `brctl showstp` shows), read from sysfs. Timers in cs. */
struct net_bridge_info {
    char bridge_id[32], designated_root[32];
    int root_port, root_path_cost;
    int max_age, bridge_max_age, hello_time, bridge_hello_time;
    int forward_delay, bridge_forward_delay, ageing_time;
    int hello_timer, tcn_timer, topology_change_timer, gc_timer;
    int stp_state, priority;
    bool topology_change, topology_change_detected;
};
struct net_port_info {
    char name[NET_IFNAMSIZ];
    int port_no, port_id, state, path_cost, priority;
    char designated_root[32], designated_bridge[32];
    int designated_port, designated_cost;
    int message_age_timer, forward_delay_timer, hold_timer;
    bool config_pending, top_change_ack;
    int hairpin_mode;
};
int net_bridge_info(const char *bridge, struct net_bridge_info *out,
                    struct vk_err *err) VK_MUST_CHECK;
int net_port_info(const char *bridge, const char *port, struct net_port_info *out,
                  struct vk_err *err) VK_MUST_CHECK;
/* Names of the bridge's ports sorted by name; *names malloc'd array of
 * NET_IFNAMSIZ strings. */
int net_bridge_ports(const char *bridge, char (**names)[NET_IFNAMSIZ], size_t *n,
                     struct vk_err *err) VK_MUST_CHECK;
extern const char *const net_port_state_names[5];

/* ---- TAP devices (tap.c) ----------------------------------------------- */

/* Create a TAP (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) named `name`, or the first
 * free "vnetN" when name is NULL/"". Returns the fd (caller owns it) and
 * writes the final name into `out_name`. With `persist` the device outlives
 * the fd. */
int net_tap_create(const char *name, bool persist, char out_name[NET_IFNAMSIZ],
                   struct vk_err *err) VK_MUST_CHECK;
/* Create a TAP, optionally set its MAC, enslave it to `bridge` and bring it
 * up. Rolls back on failure. Returns the fd. */
int net_tap_attach(const char *bridge, const uint8_t mac[6], char out_name[NET_IFNAMSIZ],
                   struct vk_err *err) VK_MUST_CHECK;

/* A multi-queue TAP (tap_mq.c): create `name` (NULL/"": the first free
 * vnetN) with IFF_MULTI_QUEUE and `queues` fds, one per queue, into fds[];
 * then as net_tap_attach (MAC, bridge, up). Rolls back on failure. */
#define NET_TAP_MAX_QUEUES 8
int net_tap_attach_queues(const char *bridge, const uint8_t mac[6], const char *name,
                          unsigned queues, int *fds, char out_name[NET_IFNAMSIZ],
                          struct vk_err *err) VK_MUST_CHECK;

/* ---- helpers ----------------------------------------------------------- */

/* "aa:bb:cc:dd:ee:ff" <-> bytes. */
int net_mac_parse(const char *s, uint8_t mac[6]);
void net_mac_format(const uint8_t mac[6], char buf[18]);
/* 52:54:00:xx:xx:xx with random low bytes. */
void net_mac_generate(uint8_t mac[6]);
/* Valid Linux interface name? */
bool net_ifname_ok(const char *name);

#endif
