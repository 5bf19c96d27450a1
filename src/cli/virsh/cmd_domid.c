/* virsh domid: convert a domain name or UUID to its id. */
#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_domid = {
    .name = "domid",
    .group = "Domains",
    .summary = "convert a domain name or UUID to its id",
    .usage = "virtkit domid DOMAIN",
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    const struct vopt o[] = { { "domain", 'P', &dom }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_domid, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *i = NULL;
    if (virsh_call1("domid", "domain.info", virsh_dom_params(dom), &i))
        return CLI_FAIL;
    int64_t id = vj_int(i, "id", -1);
    if (id > 0)
        printf("%lld\n", (long long)id);
    else
        printf("-\n");
    json_object_put(i);
    virsh_done();
    return CLI_OK;
}
