/* virsh list: domains in a table (or names/uuids only). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "virsh.h"

static const struct cli_option_help opts_help[] = {
    { "--all", "active and inactive domains" },
    { "--inactive", "inactive domains only" },
    { "--state-running, --state-paused, --state-shutoff", "filter by state" },
    { "--persistent, --transient", "filter by persistence" },
    { "--autostart, --no-autostart", "filter by autostart" },
    { "--name", "print names only" },
    { "--uuid", "print UUIDs only" },
    { "--title", "add a Title column" },
    { "--json", "JSON output" },
    { NULL, NULL },
};

static int cmp_dom(const void *a, const void *b)
{
    struct json_object *x = *(struct json_object *const *)a, *y = *(struct json_object *const *)b;
    int64_t ix = vj_int(x, "id", -1), iy = vj_int(y, "id", -1);
    if (ix > 0 && iy > 0)
        return ix < iy ? -1 : ix > iy;
    if (ix > 0 || iy > 0)
        return ix > 0 ? -1 : 1;
    return strcasecmp(vj_str(x, "name", ""), vj_str(y, "name", ""));
}

static int run(int argc, char **argv);

const struct cli_command cmd_list = {
    .name = "list",
    .group = "Domains",
    .summary = "list domains",
    .usage = "virtkit list [--all] [--inactive] [--name|--uuid] [--title] [--autostart] [--json]",
    .description = "Running domains by default, as virsh list. Columns: Id, Name, State.",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    bool all = false, inactive = false, name = false, uuid = false, title = false, json = false;
    bool st_run = false, st_pause = false, st_off = false, pers = false, trans = false;
    bool autost = false, noautost = false, table = false;
    const struct vopt o[] = {
        { "all", 'b', &all }, { "inactive", 'b', &inactive }, { "name", 'b', &name },
        { "uuid", 'b', &uuid }, { "title", 'b', &title }, { "json", 'b', &json },
        { "state-running", 'b', &st_run }, { "state-paused", 'b', &st_pause },
        { "state-shutoff", 'b', &st_off }, { "persistent", 'b', &pers }, { "transient", 'b', &trans },
        { "autostart", 'b', &autost }, { "no-autostart", 'b', &noautost }, { "table", 'b', &table },
        { NULL, 0, NULL },
    };
    int r = virsh_parse(&cmd_list, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *res = NULL;
    if (virsh_call1("list", "domain.list", NULL, &res))
        return CLI_FAIL;
    struct json_object *arr = json_object_object_get(res, "domains");
    size_t n = arr ? json_object_array_length(arr) : 0;
    struct json_object **v = calloc(n + 1, sizeof(*v));
    size_t m = 0;
    bool any_state = st_run || st_pause || st_off;
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_array_get_idx(arr, i);
        bool active = vj_bool(d, "active");
        const char *state = vj_str(d, "state", "");
        if (any_state) {
            if (!((st_run && !strcmp(state, "running")) || (st_pause && !strcmp(state, "paused")) ||
                  (st_off && !strcmp(state, "shut off"))))
                continue;
        } else if (inactive) {
            if (active)
                continue;
        } else if (!all && !active) {
            continue;
        }
        if ((pers && !vj_bool(d, "persistent")) || (trans && vj_bool(d, "persistent")))
            continue;
        if ((autost && !vj_bool(d, "autostart")) || (noautost && vj_bool(d, "autostart")))
            continue;
        v[m++] = d;
    }
    qsort(v, m, sizeof(*v), cmp_dom);
    if (json) {
        struct json_object *out = json_object_new_array();
        for (size_t i = 0; i < m; i++)
            json_object_array_add(out, json_object_get(v[i]));
        virsh_print_json(out);
        json_object_put(out);
    } else if ((name || uuid) && !table) {
        for (size_t i = 0; i < m; i++) {
            if (name && uuid)
                printf("%-36s %s\n", vj_str(v[i], "uuid", ""), vj_str(v[i], "name", ""));
            else
                printf("%s\n", vj_str(v[i], name ? "name" : "uuid", ""));
        }
        virsh_done();
    } else {
        int cols = 3 + (title ? 1 : 0);
        const char **cells = calloc((m + 1) * (size_t)cols, sizeof(*cells));
        char (*ids)[16] = calloc(m + 1, sizeof(*ids));
        cells[0] = "Id"; cells[1] = "Name"; cells[2] = "State";
        if (title)
            cells[3] = "Title";
        for (size_t i = 0; i < m; i++) {
            int64_t id = vj_int(v[i], "id", -1);
            if (id > 0)
                snprintf(ids[i], sizeof(ids[i]), "%lld", (long long)id);
            else
                strcpy(ids[i], "-");
            const char **row = cells + (i + 1) * (size_t)cols;
            row[0] = ids[i];
            row[1] = vj_str(v[i], "name", "");
            row[2] = vj_str(v[i], "state", "");
            if (title)
                row[3] = vj_str(v[i], "title", "");
        }
        virsh_table(stdout, (int)m + 1, cols, cells);
        free(cells);
        free(ids);
        virsh_done();
    }
    free(v);
    json_object_put(res);
    return CLI_OK;
}
