/* virsh shutdown: ask the guest to power off (ACPI power button). */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--mode acpi", "shutdown mode (only acpi)" }, { NULL, NULL },
};

const struct cli_command cmd_shutdown = {
    .name = "shutdown",
    .group = "Domains",
    .summary = "gracefully shut down a domain (ACPI power button)",
    .usage = "virtkit shutdown DOMAIN [--mode acpi]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL, *mode = NULL;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "mode", 's', &mode }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_shutdown, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = virsh_dom_params(dom), *info = NULL;
    if (mode)
        json_object_object_add(p, "mode", json_object_new_string(mode));
    struct vk_client *cl = virsh_connect("shutdown");
    if (!cl) {
        json_object_put(p);
        return CLI_FAIL;
    }
    r = virsh_call("shutdown", cl, "domain.info", virsh_dom_params(dom), &info);
    if (r == CLI_OK)
        r = virsh_call("shutdown", cl, "domain.shutdown", p, NULL);
    else
        json_object_put(p);
    if (r == CLI_OK) {
        printf("Domain '%s' is being shutdown\n", virsh_dom_name(info, dom));
        virsh_done();
    }
    json_object_put(info);
    vk_client_close(cl);
    return r;
}
