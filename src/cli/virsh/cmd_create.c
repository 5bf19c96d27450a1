/* virsh create: start a transient domain from an XML file. */
#include <stdlib.h>

#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--paused", "leave the guest paused" },
    { "--console", "attach to the console after creation" },
    { "--validate", "accepted: virtkit always validates" },
    { NULL, NULL },
};

const struct cli_command cmd_create = {
    .name = "create",
    .group = "Domains",
    .summary = "create a domain from an XML file",
    .usage = "virtkit create FILE [--paused] [--console]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *file = NULL;
    bool paused = false, console = false, validate = false;
    const struct vopt o[] = { { "file", 'P', &file }, { "paused", 'b', &paused },
                              { "console", 'b', &console }, { "validate", 'b', &validate },
                              { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_create, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    char *xml = virsh_read_file("create", file);
    if (!xml)
        return CLI_FAIL;
    struct json_object *p = json_object_new_object(), *res = NULL;
    json_object_object_add(p, "xml", json_object_new_string(xml));
    json_object_object_add(p, "paused", json_object_new_boolean(paused));
    free(xml);
    if (virsh_call1("create", "domain.create", p, &res))
        return CLI_FAIL;
    printf("Domain '%s' created from %s\n", vj_str(res, "name", ""), file);
    virsh_done();
    fflush(stdout);
    if (console)
        r = virsh_console("create", vj_str(res, "uuid", ""), false);
    json_object_put(res);
    return r;
}
