/* virsh reboot: ask the guest to power off (ACPI), then start it again. */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--mode acpi", "reboot mode (only acpi)" }, { NULL, NULL },
};

const struct cli_command cmd_reboot = {
    .name = "reboot",
    .group = "Domains",
    .summary = "reboot a domain (ACPI power-off, then start)",
    .usage = "virtkit reboot DOMAIN [--mode acpi]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL, *mode = NULL;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "mode", 's', &mode }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_reboot, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = virsh_dom_params(dom), *info = NULL;
    if (mode)
        json_object_object_add(p, "mode", json_object_new_string(mode));
    struct vk_client *cl = virsh_connect("reboot");
    if (!cl) {
        json_object_put(p);
        return CLI_FAIL;
    }
    r = virsh_call("reboot", cl, "domain.info", virsh_dom_params(dom), &info);
    if (r == CLI_OK)
        r = virsh_call("reboot", cl, "domain.reboot", p, NULL);
    else
        json_object_put(p);
    if (r == CLI_OK) {
        printf("Domain '%s' is being rebooted\n", virsh_dom_name(info, dom));
        virsh_done();
    }
    json_object_put(info);
    vk_client_close(cl);
    return r;
}
