/* virtkit net-list: list networks (as virsh: active ones by default). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcmd.h"

static int run(int argc, char **argv);

static const struct cli_option_help options[] = {
    { "--all", "list inactive and active networks" },
    { "--inactive", "list inactive networks only" },
    { "--persistent / --transient", "only persistent / transient networks" },
    { "--autostart / --no-autostart", "only networks with / without autostart" },
    { "--name", "print names only" },
    { "--uuid", "print UUIDs only" },
    { "--json", "print the list as JSON" },
    { NULL, NULL },
};

const struct cli_command cmd_net_list = {
    .name = "net-list",
    .group = "Networks",
    .summary = "list networks",
    .usage = "virtkit net-list [--all | --inactive] [--name | --uuid] [--json]",
    .options = options,
    .run = run,
};

static int by_name(const void *a, const void *b)
{
    struct json_object *x = *(struct json_object *const *)a, *y = *(struct json_object *const *)b;
    return strcmp(vj_str(x, "name", ""), vj_str(y, "name", ""));
}

static int run(int argc, char **argv)
{
    bool all = false, inactive = false, name = false, uuid = false, json = false;
    bool persistent = false, transient = false, autostart = false, noautostart = false;
    const struct vopt opts[] = {
        { "all", 'b', &all }, { "inactive", 'b', &inactive }, { "name", 'b', &name },
        { "uuid", 'b', &uuid }, { "json", 'b', &json }, { "persistent", 'b', &persistent },
        { "transient", 'b', &transient }, { "autostart", 'b', &autostart },
        { "no-autostart", 'b', &noautostart },
        { NULL, 0, NULL },
    };
    int r = virsh_parse(&cmd_net_list, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    if (name && uuid)
        return cli_usage_error(&cmd_net_list, "--name and --uuid are mutually exclusive");
    struct json_object *res = NULL;
    if (virsh_call1(cmd_net_list.name, "network.list", NULL, &res) != CLI_OK)
        return CLI_FAIL;
    struct json_object *arr = NULL;
    json_object_object_get_ex(res, "networks", &arr);
    size_t n = arr ? json_object_array_length(arr) : 0;
    struct json_object **v = calloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        bool act = vj_bool(o, "active"), per = vj_bool(o, "persistent"), aut = vj_bool(o, "autostart");
        if (inactive ? act : (!all && !act))
            continue;
        if ((persistent && !per) || (transient && per) || (autostart && !aut) || (noautostart && aut))
            continue;
        v[k++] = o;
    }
    if (k)
        qsort(v, k, sizeof(*v), by_name);
    if (json) {
        struct json_object *out = json_object_new_array();
        for (size_t i = 0; i < k; i++)
            json_object_array_add(out, json_object_get(v[i]));
        virsh_print_json(out);
        json_object_put(out);
    } else if (name || uuid) {
        for (size_t i = 0; i < k; i++)
            printf("%s\n", vj_str(v[i], name ? "name" : "uuid", ""));
        virsh_done();
    } else {
        const char **cells = calloc((k + 1) * 4, sizeof(*cells));
        cells[0] = "Name";
        cells[1] = "State";
        cells[2] = "Autostart";
        cells[3] = "Persistent";
        for (size_t i = 0; i < k; i++) {
            cells[(i + 1) * 4 + 0] = vj_str(v[i], "name", "");
            cells[(i + 1) * 4 + 1] = vj_bool(v[i], "active") ? "active" : "inactive";
            cells[(i + 1) * 4 + 2] = vj_bool(v[i], "autostart") ? "yes" : "no";
            cells[(i + 1) * 4 + 3] = vj_bool(v[i], "persistent") ? "yes" : "no";
        }
        virsh_table(stdout, (int)k + 1, 4, cells);
        free(cells);
        virsh_done();
    }
    free(v);
    json_object_put(res);
    return CLI_OK;
}
