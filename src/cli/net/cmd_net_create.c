/* virtkit net-create: create (start) a transient network from an XML file (as virsh). */
#include "netcmd.h"

static int run(int argc, char **argv);

const struct cli_command cmd_net_create = {
    .name = "net-create",
    .group = "Networks",
    .summary = "create (start) a transient network from an XML file",
    .usage = "virtkit net-create FILE",
    .run = run,
};

static int run(int argc, char **argv)
{
    return netcmd_from_file(&cmd_net_create, argc, argv, "network.create", "Network %s created from %s");
}
