/* Shared by the virsh network commands (src/cli/net/cmd_net_*.c). */
#ifndef VK_CLI_NETCMD_H
#define VK_CLI_NETCMD_H

#include "virsh.h"

/* {"network": name} */
struct json_object *netcmd_params(const char *net);
/* The usual one-argument command: parse NETWORK, call `method`, print
 * `done_fmt` (with the network's name) and virsh's blank line. */
int netcmd_simple(const struct cli_command *c, int argc, char **argv, const char *method,
                  const char *done_fmt);
/* Define or create from a file: `method` is network.define/create. */
int netcmd_from_file(const struct cli_command *c, int argc, char **argv, const char *method,
                     const char *done_fmt);

#endif
