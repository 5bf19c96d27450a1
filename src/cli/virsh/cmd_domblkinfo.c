/* virsh domblkinfo: capacity, allocation and physical size of a disk. */
#include <stdlib.h>

#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--human", "sizes with units" },
    { "--all", "every disk, as a table" },
    { "--json", "JSON output" },
    { NULL, NULL },
};

const struct cli_command cmd_domblkinfo = {
    .name = "domblkinfo",
    .group = "Domains",
    .summary = "domain block device size information",
    .usage = "virtkit domblkinfo DOMAIN [DEVICE] [--all] [--human] [--json]",
    .options = opts_help,
    .run = run,
};

/* virsh --human: "1.000 GiB" */
static void human(uint64_t v, char *out, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    double d = (double)v;
    int u = 0;
    while (d >= 1024 && u < 5) {
        d /= 1024;
        u++;
    }
    snprintf(out, len, "%.3lf %s", d, units[u]);
}

static void fmt(uint64_t v, bool hum, char *out, size_t len)
{
    if (hum)
        human(v, out, len);
    else
        snprintf(out, len, "%llu", (unsigned long long)v);
}

static int run(int argc, char **argv)
{
    const char *dom = NULL, *dev = NULL;
    bool hum = false, all = false, json = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "device", 'p', &dev }, { "human", 'b', &hum },
                              { "all", 'b', &all }, { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_domblkinfo, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    if (!dev && !all)
        return cli_usage_error(&cmd_domblkinfo, "command 'domblkinfo' requires <device> option or --all");
    struct vk_client *cl = virsh_connect("domblkinfo");
    if (!cl)
        return CLI_FAIL;
    struct json_object *targets = json_object_new_array();
    if (all) {
        struct json_object *res = NULL;
        if (virsh_call("domblkinfo", cl, "domain.disks", virsh_dom_params(dom), &res)) {
            json_object_put(targets);
            vk_client_close(cl);
            return CLI_FAIL;
        }
        struct json_object *arr = json_object_object_get(res, "disks");
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
            json_object_array_add(targets, json_object_new_string(
                vj_str(json_object_array_get_idx(arr, i), "target", "")));
        json_object_put(res);
    } else {
        json_object_array_add(targets, json_object_new_string(dev));
    }
    size_t n = json_object_array_length(targets);
    struct json_object *infos = json_object_new_array();
    for (size_t i = 0; i < n && r == CLI_OK; i++) {
        struct json_object *p = virsh_dom_params(dom), *res = NULL;
        const char *t = json_object_get_string(json_object_array_get_idx(targets, i));
        json_object_object_add(p, "device", json_object_new_string(t));
        r = virsh_call("domblkinfo", cl, "domain.blkinfo", p, &res);
        if (r == CLI_OK) {
            json_object_object_add(res, "target", json_object_new_string(t));
            json_object_array_add(infos, res);
        }
    }
    vk_client_close(cl);
    if (r == CLI_OK && json) {
        virsh_print_json(all ? infos : json_object_array_get_idx(infos, 0));
    } else if (r == CLI_OK && !all) {
        struct json_object *i = json_object_array_get_idx(infos, 0);
        char a[64], b[64], c[64];
        fmt((uint64_t)vj_int(i, "capacity", 0), hum, a, sizeof(a));
        fmt((uint64_t)vj_int(i, "allocation", 0), hum, b, sizeof(b));
        fmt((uint64_t)vj_int(i, "physical", 0), hum, c, sizeof(c));
        printf("%-15s %s\n%-15s %s\n%-15s %s\n", "Capacity:", a, "Allocation:", b, "Physical:", c);
        virsh_done();
    } else if (r == CLI_OK) {
        const char **cells = calloc((n + 1) * 4, sizeof(*cells));
        char (*buf)[3][64] = calloc(n + 1, sizeof(*buf));
        cells[0] = "Target"; cells[1] = "Capacity"; cells[2] = "Allocation"; cells[3] = "Physical";
        for (size_t i = 0; i < n; i++) {
            struct json_object *x = json_object_array_get_idx(infos, i);
            fmt((uint64_t)vj_int(x, "capacity", 0), hum, buf[i][0], 64);
            fmt((uint64_t)vj_int(x, "allocation", 0), hum, buf[i][1], 64);
            fmt((uint64_t)vj_int(x, "physical", 0), hum, buf[i][2], 64);
            cells[(i + 1) * 4] = vj_str(x, "target", "");
            for (int c = 0; c < 3; c++)
                cells[(i + 1) * 4 + 1 + (size_t)c] = buf[i][c];
        }
        virsh_table(stdout, (int)n + 1, 4, cells);
        free(cells);
        free(buf);
        virsh_done();
    }
    json_object_put(infos);
    json_object_put(targets);
    return r;
}
