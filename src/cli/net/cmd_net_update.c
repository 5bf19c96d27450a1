/* virtkit net-update: change part of a network's definition (as virsh);
 * supported section: ip-dhcp-host (add, delete, modify). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcmd.h"

static int run(int argc, char **argv);

static const struct cli_option_help options[] = {
    { "--live", "change the running network (dnsmasq re-reads its hosts)" },
    { "--config", "change the persistent definition" },
    { "--current", "the running network if active, else the definition (default)" },
    { "--parent-index N", "accepted for compatibility (the <ip> is found by address)" },
    { NULL, NULL },
};

const struct cli_command cmd_net_update = {
    .name = "net-update",
    .group = "Networks",
    .summary = "update parts of an existing network's configuration",
    .usage = "virtkit net-update NETWORK add|delete|modify ip-dhcp-host XML|FILE "
             "[--live] [--config] [--current]",
    .description =
        "XML is the element itself when it starts with '<', else a file holding it,\n"
        "e.g. \"<host mac='52:54:00:00:00:01' name='vm1' ip='192.168.122.10'/>\".",
    .options = options,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *net = NULL, *command = NULL, *section = NULL, *xml = NULL, *pidx = NULL;
    bool live = false, config = false, current = false;
    const struct vopt opts[] = {
        { "network", 'P', &net }, { "command", 'P', &command }, { "section", 'P', &section },
        { "xml", 'P', &xml }, { "live", 'b', &live }, { "config", 'b', &config },
        { "current", 'b', &current }, { "parent-index", 's', &pidx }, { NULL, 0, NULL },
    };
    int r = virsh_parse(&cmd_net_update, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    if (current && (live || config))
        return cli_usage_error(&cmd_net_update, "--current is exclusive with --live and --config");
    char *text = NULL;
    if (xml[0] != '<' && !(text = virsh_read_file(cmd_net_update.name, xml)))
        return CLI_FAIL;
    struct json_object *p = netcmd_params(net), *res = NULL;
    json_object_object_add(p, "command", json_object_new_string(command));
    json_object_object_add(p, "section", json_object_new_string(section));
    json_object_object_add(p, "xml", json_object_new_string(text ? text : xml));
    json_object_object_add(p, "live", json_object_new_boolean(live));
    json_object_object_add(p, "config", json_object_new_boolean(config));
    free(text);
    if (virsh_call1(cmd_net_update.name, "network.update", p, &res) != CLI_OK)
        return CLI_FAIL;
    bool l = vj_bool(res, "live"), c = vj_bool(res, "config");
    if (l && c)
        printf("Updated network %s persistent config and live state\n", net);
    else if (l)
        printf("Updated network %s live state\n", net);
    else
        printf("Updated network %s persistent config\n", net);
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}
