/* virsh detach-interface: remove a network interface (--config). */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--type network|bridge", "interface type" },
    { "--mac MAC", "which interface (needed when several match)" },
    { "--config", "change the persistent config" },
    { "--live", "change the running domain (PCI hot-plug)" },
    { "--current", "live if running, else config" },
    { "--persistent", "same as --config --live" },
    { NULL, NULL },
};

const struct cli_command cmd_detach_interface = {
    .name = "detach-interface",
    .group = "Domains",
    .summary = "detach network interface",
    .usage = "virtkit detach-interface DOMAIN --type TYPE [--mac MAC] [--config|--live|--current]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL, *type = NULL, *mac = NULL;
    bool config = false, live = false, current = false, persistent = false;
    const struct vopt o[] = {
        { "domain", 'P', &dom }, { "type", 'p', &type }, { "mac", 'p', &mac },
        { "config", 'b', &config }, { "live", 'b', &live }, { "current", 'b', &current },
        { "persistent", 'b', &persistent }, { NULL, 0, NULL },
    };
    int r = virsh_parse(&cmd_detach_interface, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    if (!type)
        return cli_usage_error(&cmd_detach_interface, "--type is required");
    if (persistent)
        config = live = true;
    struct json_object *p = virsh_dom_params(dom);
    json_object_object_add(p, "type", json_object_new_string(type));
    if (mac)
        json_object_object_add(p, "mac", json_object_new_string(mac));
    json_object_object_add(p, "config", json_object_new_boolean(config));
    json_object_object_add(p, "live", json_object_new_boolean(live));
    if (virsh_call1("detach-interface", "domain.detach-interface", p, NULL))
        return CLI_FAIL;
    printf("Interface detached successfully\n");
    virsh_done();
    return CLI_OK;
}
