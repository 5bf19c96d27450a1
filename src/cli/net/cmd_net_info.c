/* virtkit net-info: basic information about a network (as virsh). */
#include <stdio.h>

#include "netcmd.h"

static int run(int argc, char **argv);

static const struct cli_option_help options[] = {
    { "--json", "print the information as JSON" },
    { NULL, NULL },
};

const struct cli_command cmd_net_info = {
    .name = "net-info",
    .group = "Networks",
    .summary = "network information",
    .usage = "virtkit net-info NETWORK [--json]",
    .options = options,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *net = NULL;
    bool json = false;
    const struct vopt opts[] = { { "network", 'P', &net }, { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_net_info, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    struct json_object *o = NULL;
    if (virsh_call1(cmd_net_info.name, "network.info", netcmd_params(net), &o) != CLI_OK)
        return CLI_FAIL;
    if (json) {
        virsh_print_json(o);
    } else {
        printf("%-15s %s\n", "Name:", vj_str(o, "name", ""));
        printf("%-15s %s\n", "UUID:", vj_str(o, "uuid", ""));
        printf("%-15s %s\n", "Active:", vj_bool(o, "active") ? "yes" : "no");
        printf("%-15s %s\n", "Persistent:", vj_bool(o, "persistent") ? "yes" : "no");
        printf("%-15s %s\n", "Autostart:", vj_bool(o, "autostart") ? "yes" : "no");
        printf("%-15s %s\n", "Bridge:", vj_str(o, "bridge", ""));
        virsh_done();
    }
    json_object_put(o);
    return CLI_OK;
}
