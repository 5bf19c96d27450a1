/* virtkit net-start: start a (previously defined) inactive network (as virsh). */
#include "netcmd.h"

static int run(int argc, char **argv);

const struct cli_command cmd_net_start = {
    .name = "net-start",
    .group = "Networks",
    .summary = "start a (previously defined) inactive network",
    .usage = "virtkit net-start NETWORK",
    .run = run,
};

static int run(int argc, char **argv)
{
    return netcmd_simple(&cmd_net_start, argc, argv, "network.start", "Network %s started");
}
