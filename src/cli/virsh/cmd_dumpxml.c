/* virsh dumpxml: the domain's XML (live if running, --inactive: the config). */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--inactive", "the persistent configuration, not the live one" },
    { "--security-info, --update-cpu, --migratable", "accepted; no effect" },
    { NULL, NULL },
};

const struct cli_command cmd_dumpxml = {
    .name = "dumpxml",
    .group = "Domains",
    .summary = "domain information in XML",
    .usage = "virtkit dumpxml DOMAIN [--inactive]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool inactive = false, sec = false, upd = false, mig = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "inactive", 'b', &inactive },
                              { "security-info", 'b', &sec }, { "update-cpu", 'b', &upd },
                              { "migratable", 'b', &mig }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_dumpxml, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = virsh_dom_params(dom), *res = NULL;
    json_object_object_add(p, "inactive", json_object_new_boolean(inactive));
    if (virsh_call1("dumpxml", "domain.xml", p, &res))
        return CLI_FAIL;
    fputs(vj_str(res, "xml", ""), stdout);
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}
