/* virtkit net-uuid: the UUID of a network (as virsh). */
#include <stdio.h>

#include "netcmd.h"

static int run(int argc, char **argv);

const struct cli_command cmd_net_uuid = {
    .name = "net-uuid",
    .group = "Networks",
    .summary = "the UUID of a network",
    .usage = "virtkit net-uuid NETWORK",
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *net = NULL;
    const struct vopt opts[] = { { "network", 'P', &net }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_net_uuid, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    struct json_object *o = NULL;
    if (virsh_call1(cmd_net_uuid.name, "network.info", netcmd_params(net), &o) != CLI_OK)
        return CLI_FAIL;
    printf("%s\n", vj_str(o, "uuid", ""));
    json_object_put(o);
    virsh_done();
    return CLI_OK;
}
