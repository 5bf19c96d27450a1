/* Networks inside virtkitd: what netif_network.c needs from rpc_network.c. */
#ifndef VK_DAEMON_RPC_NETWORK_H
#define VK_DAEMON_RPC_NETWORK_H

#include "netdef.h"
#include "network.h"

struct vkd;

/* The running definition of network `name` (NULL when unknown or
 * inactive) and the directory holding its dnsmasq files. */
const struct net_def *rpc_network_live(struct vkd *d, const char *name, const char **state_dir);

#endif
