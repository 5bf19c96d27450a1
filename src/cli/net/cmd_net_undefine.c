/* virtkit net-undefine: undefine a persistent network (as virsh). */
#include "netcmd.h"

static int run(int argc, char **argv);

const struct cli_command cmd_net_undefine = {
    .name = "net-undefine",
    .group = "Networks",
    .summary = "undefine a persistent network",
    .usage = "virtkit net-undefine NETWORK",
    .run = run,
};

static int run(int argc, char **argv)
{
    return netcmd_simple(&cmd_net_undefine, argc, argv, "network.undefine", "Network %s has been undefined");
}
