/* virsh domname: convert a domain id or UUID to its name. */
#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_domname = {
    .name = "domname",
    .group = "Domains",
    .summary = "convert a domain id or UUID to its name",
    .usage = "virtkit domname DOMAIN",
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    const struct vopt o[] = { { "domain", 'P', &dom }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_domname, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *i = NULL;
    if (virsh_call1("domname", "domain.info", virsh_dom_params(dom), &i))
        return CLI_FAIL;
    printf("%s\n", vj_str(i, "name", ""));
    json_object_put(i);
    virsh_done();
    return CLI_OK;
}
