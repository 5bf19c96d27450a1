/* virtkit net-dumpxml: network information in XML (as virsh). */
#include <stdio.h>

#include "netcmd.h"

static int run(int argc, char **argv);

static const struct cli_option_help options[] = {
    { "--inactive", "the persistent definition rather than the running one" },
    { NULL, NULL },
};

const struct cli_command cmd_net_dumpxml = {
    .name = "net-dumpxml",
    .group = "Networks",
    .summary = "network information in XML",
    .usage = "virtkit net-dumpxml NETWORK [--inactive]",
    .options = options,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *net = NULL;
    bool inactive = false;
    const struct vopt opts[] = { { "network", 'P', &net }, { "inactive", 'b', &inactive },
                                 { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_net_dumpxml, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = netcmd_params(net), *o = NULL;
    json_object_object_add(p, "inactive", json_object_new_boolean(inactive));
    if (virsh_call1(cmd_net_dumpxml.name, "network.xml", p, &o) != CLI_OK)
        return CLI_FAIL;
    fputs(vj_str(o, "xml", ""), stdout);
    json_object_put(o);
    virsh_done();
    return CLI_OK;
}
