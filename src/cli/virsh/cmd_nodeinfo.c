/* virsh nodeinfo: host CPU and memory. */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--json", "JSON output" }, { NULL, NULL },
};

const struct cli_command cmd_nodeinfo = {
    .name = "nodeinfo",
    .group = "Host",
    .summary = "node information",
    .usage = "virtkit nodeinfo [--json]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    bool json = false;
    const struct vopt o[] = { { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_nodeinfo, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *i = NULL;
    if (virsh_call1("nodeinfo", "node.info", NULL, &i))
        return CLI_FAIL;
    if (json) {
        virsh_print_json(i);
    } else {
        printf("%-20s %s\n", "CPU model:", vj_str(i, "model", ""));
        printf("%-20s %lld\n", "CPU(s):", (long long)vj_int(i, "cpus", 0));
        printf("%-20s %lld MHz\n", "CPU frequency:", (long long)vj_int(i, "mhz", 0));
        printf("%-20s %lld\n", "CPU socket(s):", (long long)vj_int(i, "sockets", 0));
        printf("%-20s %lld\n", "Core(s) per socket:", (long long)vj_int(i, "cores", 0));
        printf("%-20s %lld\n", "Thread(s) per core:", (long long)vj_int(i, "threads", 0));
        printf("%-20s %lld\n", "NUMA cell(s):", (long long)vj_int(i, "nodes", 1));
        printf("%-20s %lld KiB\n", "Memory size:", (long long)vj_int(i, "memory_kib", 0));
        virsh_done();
    }
    json_object_put(i);
    return CLI_OK;
}
