/* virsh setvcpus: change the number of vCPUs (--config; no CPU hot-plug). */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--count N", "number of vCPUs" },
    { "--config", "change the persistent config" },
    { "--maximum", "accepted with --config (one count: maximum = current)" },
    { "--live", "change the running domain (not supported yet)" },
    { "--current", "live if running, else config" },
    { NULL, NULL },
};

const struct cli_command cmd_setvcpus = {
    .name = "setvcpus",
    .group = "Domains",
    .summary = "change number of virtual CPUs",
    .usage = "virtkit setvcpus DOMAIN COUNT [--config|--live|--current] [--maximum]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL, *count = NULL;
    bool config = false, live = false, current = false, maximum = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "count", 'P', &count }, { "config", 'b', &config },
                              { "live", 'b', &live }, { "current", 'b', &current },
                              { "maximum", 'b', &maximum }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_setvcpus, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    int n;
    if (vk_parse_int(count, 1, 255, &n) < 0)
        return cli_usage_error(&cmd_setvcpus, "invalid vCPU count '%s' (1-255)", count);
    struct json_object *p = virsh_dom_params(dom);
    json_object_object_add(p, "count", json_object_new_int(n));
    json_object_object_add(p, "config", json_object_new_boolean(config));
    json_object_object_add(p, "live", json_object_new_boolean(live));
    if (virsh_call1("setvcpus", "domain.set-vcpus", p, NULL))
        return CLI_FAIL;
    virsh_done();
    return CLI_OK;
}
