/* virsh domiflist: a domain's network interfaces. */
#include <stdlib.h>

#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--inactive", "the persistent configuration" }, { "--json", "JSON output" }, { NULL, NULL },
};

const struct cli_command cmd_domiflist = {
    .name = "domiflist",
    .group = "Domains",
    .summary = "list all domain virtual interfaces",
    .usage = "virtkit domiflist DOMAIN [--inactive] [--json]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool inactive = false, json = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "inactive", 'b', &inactive },
                              { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_domiflist, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = virsh_dom_params(dom), *res = NULL;
    json_object_object_add(p, "inactive", json_object_new_boolean(inactive));
    if (virsh_call1("domiflist", "domain.interfaces", p, &res))
        return CLI_FAIL;
    struct json_object *arr = json_object_object_get(res, "interfaces");
    size_t n = arr ? json_object_array_length(arr) : 0;
    if (json) {
        virsh_print_json(arr);
    } else {
        const char **cells = calloc((n + 1) * 5, sizeof(*cells));
        const char *hdr[] = { "Interface", "Type", "Source", "Model", "MAC" };
        const char *keys[] = { "interface", "type", "source", "model", "mac" };
        for (int c = 0; c < 5; c++)
            cells[c] = hdr[c];
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 5; c++)
                cells[(i + 1) * 5 + (size_t)c] = vj_str(json_object_array_get_idx(arr, i), keys[c], "-");
        virsh_table(stdout, (int)n + 1, 5, cells);
        free(cells);
        virsh_done();
    }
    json_object_put(res);
    return CLI_OK;
}
