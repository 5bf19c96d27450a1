/* virsh capabilities: host and guest capabilities as XML. */
#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_capabilities = {
    .name = "capabilities",
    .group = "Host",
    .summary = "capabilities",
    .usage = "virtkit capabilities",
    .run = run,
};

static int run(int argc, char **argv)
{
    const struct vopt o[] = { { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_capabilities, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *res = NULL;
    if (virsh_call1("capabilities", "node.capabilities", NULL, &res))
        return CLI_FAIL;
    fputs(vj_str(res, "xml", ""), stdout);
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}
