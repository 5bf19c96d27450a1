/* virtkit net-define: define an inactive persistent network from an XML file (as virsh). */
#include "netcmd.h"

static int run(int argc, char **argv);

const struct cli_command cmd_net_define = {
    .name = "net-define",
    .group = "Networks",
    .summary = "define an inactive persistent network from an XML file",
    .usage = "virtkit net-define FILE",
    .run = run,
};

static int run(int argc, char **argv)
{
    return netcmd_from_file(&cmd_net_define, argc, argv, "network.define", "Network %s defined from %s");
}
