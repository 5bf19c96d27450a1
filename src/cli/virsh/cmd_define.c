/* virsh define: define (but don't start) a domain from an XML file. */
#include <stdlib.h>

#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--validate", "accepted: virtkit always validates" }, { NULL, NULL },
};

const struct cli_command cmd_define = {
    .name = "define",
    .group = "Domains",
    .summary = "define (but don't start) a domain from an XML file",
    .usage = "virtkit define FILE [--validate]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *file = NULL;
    bool validate = false;
    const struct vopt o[] = { { "file", 'P', &file }, { "validate", 'b', &validate }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_define, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    char *xml = virsh_read_file("define", file);
    if (!xml)
        return CLI_FAIL;
    struct json_object *p = json_object_new_object(), *res = NULL;
    json_object_object_add(p, "xml", json_object_new_string(xml));
    free(xml);
    if (virsh_call1("define", "domain.define", p, &res))
        return CLI_FAIL;
    printf("Domain '%s' defined from %s\n", vj_str(res, "name", ""), file);
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}
