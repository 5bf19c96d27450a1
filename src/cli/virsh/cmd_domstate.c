/* virsh domstate: "running", or "running (booted)" with --reason. */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--reason", "also print the reason" }, { "--json", "JSON output" }, { NULL, NULL },
};

const struct cli_command cmd_domstate = {
    .name = "domstate",
    .group = "Domains",
    .summary = "domain state",
    .usage = "virtkit domstate DOMAIN [--reason] [--json]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool reason = false, json = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "reason", 'b', &reason },
                              { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_domstate, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *i = NULL;
    if (virsh_call1("domstate", "domain.info", virsh_dom_params(dom), &i))
        return CLI_FAIL;
    if (json) {
        struct json_object *out = json_object_new_object();
        json_object_object_add(out, "state", json_object_new_string(vj_str(i, "state", "")));
        json_object_object_add(out, "reason", json_object_new_string(vj_str(i, "reason", "")));
        virsh_print_json(out);
        json_object_put(out);
    } else {
        if (reason)
            printf("%s (%s)\n", vj_str(i, "state", ""), vj_str(i, "reason", ""));
        else
            printf("%s\n", vj_str(i, "state", ""));
        virsh_done();
    }
    json_object_put(i);
    return CLI_OK;
}
