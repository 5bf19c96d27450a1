/* virtkit net-destroy: destroy (stop) a network (as virsh). */
#include "netcmd.h"

static int run(int argc, char **argv);

const struct cli_command cmd_net_destroy = {
    .name = "net-destroy",
    .group = "Networks",
    .summary = "destroy (stop) a network",
    .usage = "virtkit net-destroy NETWORK",
    .run = run,
};

static int run(int argc, char **argv)
{
    return netcmd_simple(&cmd_net_destroy, argc, argv, "network.destroy", "Network %s destroyed");
}
