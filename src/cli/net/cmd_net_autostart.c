/* virtkit net-autostart: start a network when the daemon starts (as virsh). */
#include <stdio.h>

#include "netcmd.h"

static int run(int argc, char **argv);

static const struct cli_option_help options[] = {
    { "--disable", "disable autostarting" },
    { NULL, NULL },
};

const struct cli_command cmd_net_autostart = {
    .name = "net-autostart",
    .group = "Networks",
    .summary = "autostart a network",
    .usage = "virtkit net-autostart NETWORK [--disable]",
    .options = options,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *net = NULL;
    bool disable = false;
    const struct vopt opts[] = { { "network", 'P', &net }, { "disable", 'b', &disable },
                                 { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_net_autostart, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = netcmd_params(net);
    json_object_object_add(p, "enable", json_object_new_boolean(!disable));
    if (virsh_call1(cmd_net_autostart.name, "network.autostart", p, NULL) != CLI_OK)
        return CLI_FAIL;
    printf(disable ? "Network %s unmarked as autostarted\n" : "Network %s marked as autostarted\n", net);
    virsh_done();
    return CLI_OK;
}
