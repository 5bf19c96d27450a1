/* Helpers for the network commands. */
#include <stdio.h>
#include <stdlib.h>

#include "netcmd.h"

struct json_object *netcmd_params(const char *net)
{
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "network", json_object_new_string(net));
    return p;
}

int netcmd_simple(const struct cli_command *c, int argc, char **argv, const char *method,
                  const char *done_fmt)
{
    const char *net = NULL;
    const struct vopt opts[] = { { "network", 'P', &net }, { NULL, 0, NULL } };
    int r = virsh_parse(c, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    struct json_object *res = NULL;
    if (virsh_call1(c->name, method, netcmd_params(net), &res) != CLI_OK)
        return CLI_FAIL;
    printf(done_fmt, vj_str(res, "name", net));
    printf("\n");
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}

int netcmd_from_file(const struct cli_command *c, int argc, char **argv, const char *method,
                     const char *done_fmt)
{
    const char *file = NULL;
    bool validate = false;
    const struct vopt opts[] = { { "file", 'P', &file }, { "validate", 'b', &validate },
                                 { NULL, 0, NULL } };
    int r = virsh_parse(c, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    char *xml = virsh_read_file(c->name, file);
    if (!xml)
        return CLI_FAIL;
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "xml", json_object_new_string(xml));
    free(xml);
    struct json_object *res = NULL;
    if (virsh_call1(c->name, method, p, &res) != CLI_OK)
        return CLI_FAIL;
    printf(done_fmt, vj_str(res, "name", "?"), file);
    printf("\n");
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}
