/* Virtual network lifecycle on the host: what starting a libvirt-style
 * network installs (bridge, addresses, nftables table, IPv4 forwarding,
 * dnsmasq) and removing exactly that again. Independent of the daemon:
 * the daemon (rpc_network.c) calls these; tests can too.
 *
 * Everything a start created is recorded in a status file
 * (STATE/NAME.status) so stop, and adoption after a daemon restart, act on
 * facts rather than on the (possibly edited) definition.
 */
#ifndef VK_NET_NETWORK_H
#define VK_NET_NETWORK_H

#include <stdbool.h>
#include <sys/types.h>

#include "netdef.h"

struct net_run_opts {
    const char *state_dir;   /* dnsmasq conf/leases/pid and status files */
    const char *dnsmasq;     /* binary; NULL = $VIRTKIT_DNSMASQ, else "dnsmasq" in PATH */
    const char *nft;         /* binary; NULL = $VIRTKIT_NFT, else "nft" in PATH */
};

/* What a start created. */
struct net_status {
    char bridge[NET_IFNAMSIZ];
    bool bridge_created;     /* we created the bridge (delete on stop) */
    bool nft;                /* our nftables table exists */
    char nft_table[64];
    pid_t dnsmasq_pid;       /* 0 = none */
};

/* Check that the network can start without touching anything: bridge name
 * free (or, for forward='bridge', an existing bridge), no subnet overlap
 * with addresses on the host, dnsmasq and nft present when needed. */
int net_network_check(const struct net_def *d, const struct net_run_opts *o,
                      struct vk_err *err) VK_MUST_CHECK;
/* Start; on failure everything created so far is removed again. */
int net_network_start(const struct net_def *d, const struct net_run_opts *o,
                      struct net_status *st, struct vk_err *err) VK_MUST_CHECK;
/* Remove what `st` says was created. Best effort: keeps going on errors
 * and reports the first. */
int net_network_stop(const struct net_def *d, const struct net_run_opts *o,
                     struct net_status *st, struct vk_err *err);
/* After a daemon restart: 1 = the network is up (status file present and
 * bridge there); missing pieces are restored without duplicating anything
 * (the nft table is replaced atomically, dnsmasq is only started if its
 * recorded process is gone). 0 = not running (leftovers removed). */
int net_network_adopt(const struct net_def *d, const struct net_run_opts *o,
                      struct net_status *st, struct vk_err *err) VK_MUST_CHECK;

/* Status file I/O. */
int net_status_save(const char *state_dir, const char *name, const struct net_status *st,
                    struct vk_err *err) VK_MUST_CHECK;
int net_status_load(const char *state_dir, const char *name, struct net_status *st);
void net_status_remove(const char *state_dir, const char *name);

/* ---- dnsmasq (dnsmasq.c) ----------------------------------------------- */

bool net_needs_dnsmasq(const struct net_def *d);
/* Resolve the binary: 0 and path, or -ENOENT with a clear message. */
int net_find_binary(const char *explicit_path, const char *env, const char *name,
                    char *out, size_t len, struct vk_err *err) VK_MUST_CHECK;
/* Write NAME.conf / NAME.hostsfile / NAME.addnhosts (atomically). */
int net_dnsmasq_write_config(const struct net_def *d, const char *state_dir,
                             struct vk_err *err) VK_MUST_CHECK;
/* Start dnsmasq for the network; returns its pid (> 0). */
pid_t net_dnsmasq_start(const struct net_def *d, const struct net_run_opts *o,
                        struct vk_err *err);
/* Is `pid` our dnsmasq for this network (alive, and its command line names
 * our config file)? */
bool net_dnsmasq_is_ours(pid_t pid, const char *state_dir, const char *name);
void net_dnsmasq_stop(pid_t pid, const char *state_dir, const char *name);
/* Re-read hosts files (SIGHUP) after DHCP host changes. */
int net_dnsmasq_reload(const struct net_def *d, const char *state_dir, pid_t pid,
                       struct vk_err *err) VK_MUST_CHECK;
/* Paths of the network's files. */
void net_dnsmasq_path(const char *state_dir, const char *name, const char *ext,
                      char *out, size_t len);

struct net_lease {
    int64_t expiry;          /* unix time, 0 = infinite */
    uint8_t mac[6];
    bool has_mac;
    struct net_addr ip;
    int prefix;
    char hostname[64];       /* "" if unknown */
    char clientid[160];      /* "" if none */
};
/* Current leases from the lease file (expired ones skipped). */
int net_leases_read(const struct net_def *d, const char *state_dir, struct net_lease **out,
                    size_t *n, struct vk_err *err) VK_MUST_CHECK;

/* ---- nftables (nft.c) -------------------------------------------------- */

/* Table name for a network: "virtkit_" + name with unsafe chars mapped. */
void net_nft_table_name(const char *netname, char *out, size_t len);
/* The ruleset text (for tests and docs); malloc'd; NULL for forward modes
 * that install nothing (open, bridge). */
char *net_nft_ruleset(const struct net_def *d, const char *table);
/* Install (atomically replacing any previous version of the table). */
int net_nft_apply(const struct net_def *d, const struct net_run_opts *o, const char *table,
                  struct vk_err *err) VK_MUST_CHECK;
int net_nft_remove(const struct net_run_opts *o, const char *table, struct vk_err *err);
/* 1 if the table exists, 0 if not, -errno. */
int net_nft_exists(const struct net_run_opts *o, const char *table);

#endif
