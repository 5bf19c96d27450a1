/* virsh attach-interface: add a network interface to a domain (--config;
 * --live needs PCI hot-plug in virtkit-vm and says so). */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--type network|bridge", "interface type" },
    { "--source NAME", "network name or host bridge" },
    { "--model virtio", "device model" },
    { "--mac MAC", "MAC address (default: generated 52:54:00:...)" },
    { "--target DEV", "TAP device name" },
    { "--config", "change the persistent config" },
    { "--live", "change the running domain (PCI hot-plug)" },
    { "--current", "live if running, else config" },
    { "--persistent", "same as --config --live" },
    { NULL, NULL },
};

const struct cli_command cmd_attach_interface = {
    .name = "attach-interface",
    .group = "Domains",
    .summary = "attach network interface",
    .usage = "virtkit attach-interface DOMAIN --type TYPE --source SOURCE [--model virtio] [--mac MAC] [--config|--live|--current]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL, *type = NULL, *source = NULL, *model = NULL, *mac = NULL, *target = NULL;
    bool config = false, live = false, current = false, persistent = false;
    const struct vopt o[] = {
        { "domain", 'P', &dom }, { "type", 'p', &type }, { "source", 'p', &source },
        { "model", 's', &model }, { "mac", 's', &mac }, { "target", 's', &target },
        { "config", 'b', &config }, { "live", 'b', &live }, { "current", 'b', &current },
        { "persistent", 'b', &persistent }, { NULL, 0, NULL },
    };
    int r = virsh_parse(&cmd_attach_interface, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    if (!type || !source)
        return cli_usage_error(&cmd_attach_interface, "--type and --source are required");
    if (persistent)
        config = live = true;
    struct json_object *p = virsh_dom_params(dom);
    json_object_object_add(p, "type", json_object_new_string(type));
    json_object_object_add(p, "source", json_object_new_string(source));
    if (model)
        json_object_object_add(p, "model", json_object_new_string(model));
    if (mac)
        json_object_object_add(p, "mac", json_object_new_string(mac));
    if (target)
        json_object_object_add(p, "target", json_object_new_string(target));
    json_object_object_add(p, "config", json_object_new_boolean(config));
    json_object_object_add(p, "live", json_object_new_boolean(live));
    if (virsh_call1("attach-interface", "domain.attach-interface", p, NULL))
        return CLI_FAIL;
    printf("Interface attached successfully\n");
    virsh_done();
    return CLI_OK;
}
