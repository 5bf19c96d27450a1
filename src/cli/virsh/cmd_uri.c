/* virsh uri: the canonical URI of the connection. */
#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_uri = {
    .name = "uri",
    .group = "Host",
    .summary = "print the hypervisor canonical URI",
    .usage = "virtkit uri",
    .run = run,
};

static int run(int argc, char **argv)
{
    const struct vopt o[] = { { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_uri, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct vk_client *cl = virsh_connect("uri");
    if (!cl)
        return CLI_FAIL;
    printf("%s\n", vk_client_uri(cl));
    vk_client_close(cl);
    virsh_done();
    return CLI_OK;
}
