/* virsh dommemstat: memory statistics of a running domain, one "name
 * value" line each (KiB): "actual" (the guest memory the balloon reports;
 * absent without a balloon device) and "rss" (resident memory of the VM
 * process on the host). */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--live", "the running domain (the only one with statistics)" },
    { "--current", "same as --live" },
    { "--json", "JSON output" },
    { NULL, NULL },
};

const struct cli_command cmd_dommemstat = {
    .name = "dommemstat",
    .group = "Domains",
    .summary = "memory statistics of a running domain",
    .usage = "virtkit dommemstat DOMAIN [--live|--current] [--json]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool json = false, live = false, current = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "live", 'b', &live }, { "current", 'b', &current },
                              { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_dommemstat, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *st = NULL;
    if (virsh_call1("dommemstat", "domain.memory-stats", virsh_dom_params(dom), &st))
        return CLI_FAIL;
    if (json) {
        virsh_print_json(st);
        json_object_put(st);
        return CLI_OK;
    }
    static const char *const order[] = { "actual", "rss" };
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        struct json_object *v;
        if (json_object_object_get_ex(st, order[i], &v))
            printf("%s %lld\n", order[i], (long long)json_object_get_int64(v));
    }
    json_object_put(st);
    virsh_done();
    return CLI_OK;
}
