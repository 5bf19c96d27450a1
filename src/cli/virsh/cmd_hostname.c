/* virsh hostname: the host's name, as the daemon sees it. */
#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_hostname = {
    .name = "hostname",
    .group = "Host",
    .summary = "print the hypervisor hostname",
    .usage = "virtkit hostname",
    .run = run,
};

static int run(int argc, char **argv)
{
    const struct vopt o[] = { { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_hostname, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *res = NULL;
    if (virsh_call1("hostname", "node.hostname", NULL, &res))
        return CLI_FAIL;
    printf("%s\n", vj_str(res, "hostname", ""));
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}
