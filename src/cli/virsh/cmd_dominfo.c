/* virsh dominfo: facts about one domain. */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--json", "JSON output" }, { NULL, NULL },
};

const struct cli_command cmd_dominfo = {
    .name = "dominfo",
    .group = "Domains",
    .summary = "domain information",
    .usage = "virtkit dominfo DOMAIN [--json]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool json = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_dominfo, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *i = NULL;
    if (virsh_call1("dominfo", "domain.info", virsh_dom_params(dom), &i))
        return CLI_FAIL;
    if (json) {
        virsh_print_json(i);
        json_object_put(i);
        return CLI_OK;
    }
    int64_t id = vj_int(i, "id", -1);
    if (id > 0)
        printf("%-15s %lld\n", "Id:", (long long)id);
    else
        printf("%-15s %s\n", "Id:", "-");
    printf("%-15s %s\n", "Name:", vj_str(i, "name", ""));
    printf("%-15s %s\n", "UUID:", vj_str(i, "uuid", ""));
    printf("%-15s %s\n", "OS Type:", vj_str(i, "os_type", "hvm"));
    printf("%-15s %s\n", "State:", vj_str(i, "state", ""));
    printf("%-15s %lld\n", "CPU(s):", (long long)vj_int(i, "vcpus", 0));
    if (vj_bool(i, "active"))
        printf("%-15s %.1lfs\n", "CPU time:", vj_double(i, "cpu_time"));
    printf("%-15s %lld KiB\n", "Max memory:", (long long)vj_int(i, "max_memory_kib", 0));
    printf("%-15s %lld KiB\n", "Used memory:", (long long)vj_int(i, "memory_kib", 0));
    printf("%-15s %s\n", "Persistent:", vj_bool(i, "persistent") ? "yes" : "no");
    printf("%-15s %s\n", "Autostart:", vj_bool(i, "autostart") ? "enable" : "disable");
    printf("%-15s %s\n", "Managed save:", "no");
    printf("%-15s %s\n", "Security model:", "none");
    printf("%-15s %s\n", "Security DOI:", "0");
    json_object_put(i);
    virsh_done();
    return CLI_OK;
}
