/* virsh domblklist: a domain's block devices. */
#include <stdlib.h>

#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--details", "add Type and Device columns" },
    { "--inactive", "the persistent configuration" },
    { "--json", "JSON output" },
    { NULL, NULL },
};

const struct cli_command cmd_domblklist = {
    .name = "domblklist",
    .group = "Domains",
    .summary = "list all domain blocks",
    .usage = "virtkit domblklist DOMAIN [--details] [--inactive] [--json]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool details = false, inactive = false, json = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "details", 'b', &details },
                              { "inactive", 'b', &inactive }, { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_domblklist, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = virsh_dom_params(dom), *res = NULL;
    json_object_object_add(p, "inactive", json_object_new_boolean(inactive));
    if (virsh_call1("domblklist", "domain.disks", p, &res))
        return CLI_FAIL;
    struct json_object *arr = json_object_object_get(res, "disks");
    size_t n = arr ? json_object_array_length(arr) : 0;
    if (json) {
        virsh_print_json(arr);
    } else {
        static const char *const hdr_d[] = { "Type", "Device", "Target", "Source" };
        static const char *const keys_d[] = { "type", "device", "target", "source" };
        static const char *const hdr[] = { "Target", "Source" };
        static const char *const keys[] = { "target", "source" };
        int cols = details ? 4 : 2;
        const char *const *h = details ? hdr_d : hdr, *const *k = details ? keys_d : keys;
        const char **cells = calloc((n + 1) * (size_t)cols, sizeof(*cells));
        for (int c = 0; c < cols; c++)
            cells[c] = h[c];
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < cols; c++)
                cells[(i + 1) * (size_t)cols + (size_t)c] = vj_str(json_object_array_get_idx(arr, i), k[c], "-");
        virsh_table(stdout, (int)n + 1, cols, cells);
        free(cells);
        virsh_done();
    }
    json_object_put(res);
    return CLI_OK;
}
