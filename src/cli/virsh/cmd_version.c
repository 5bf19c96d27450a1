/* virsh version: library, API and hypervisor versions. */
#include "config.h"
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--daemon", "also the daemon's version" }, { "--json", "JSON output" }, { NULL, NULL },
};

const struct cli_command cmd_version = {
    .name = "version",
    .group = "Host",
    .summary = "show version",
    .usage = "virtkit version [--daemon] [--json]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    bool daemon = false, json = false;
    const struct vopt o[] = { { "daemon", 'b', &daemon }, { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_version, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *res = NULL;
    if (virsh_call1("version", "daemon.hello", NULL, &res))
        return CLI_FAIL;
    const char *dv = vj_str(res, "version", "?");
    if (json) {
        struct json_object *out = json_object_new_object();
        json_object_object_add(out, "library", json_object_new_string(VK_VERSION));
        json_object_object_add(out, "hypervisor", json_object_new_string(dv));
        json_object_object_add(out, "daemon", json_object_new_string(dv));
        json_object_object_add(out, "protocol", json_object_new_int((int)vj_int(res, "protocol", 0)));
        virsh_print_json(out);
        json_object_put(out);
    } else {
        printf("Compiled against library: virtkit %s\n", VK_VERSION);
        printf("Using library: virtkit %s\n", VK_VERSION);
        printf("Using API: virtkit %s\n", VK_VERSION);
        printf("Running hypervisor: virtkit-vm %s\n", dv);
        if (daemon)
            printf("Running against daemon: %s\n", dv);
        virsh_done();
    }
    json_object_put(res);
    return CLI_OK;
}
