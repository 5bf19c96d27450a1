/* virsh start: start a (previously defined) inactive domain. */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--paused", "leave the guest paused" },
    { "--console", "attach to the console after start" },
    { "--autodestroy, --bypass-cache, --force-boot", "accepted; no effect" },
    { NULL, NULL },
};

const struct cli_command cmd_start = {
    .name = "start",
    .group = "Domains",
    .summary = "start a (previously defined) inactive domain",
    .usage = "virtkit start DOMAIN [--paused] [--console]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool paused = false, console = false, x1 = false, x2 = false, x3 = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "paused", 'b', &paused },
                              { "console", 'b', &console }, { "autodestroy", 'b', &x1 },
                              { "bypass-cache", 'b', &x2 }, { "force-boot", 'b', &x3 },
                              { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_start, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = virsh_dom_params(dom), *res = NULL;
    json_object_object_add(p, "paused", json_object_new_boolean(paused));
    struct vk_client *cl = virsh_connect("start");
    if (!cl) {
        json_object_put(p);
        return CLI_FAIL;
    }
    struct vk_err err = { 0 };
    if (vk_client_call(cl, "domain.start", p, &res, &err) < 0) {
        cli_error("start", "Failed to start domain '%s': %s", dom, err.msg);
        vk_client_close(cl);
        return CLI_FAIL;
    }
    vk_client_close(cl);
    printf("Domain '%s' started\n", vj_str(res, "name", dom));
    virsh_done();
    fflush(stdout);
    if (console)
        r = virsh_console("start", vj_str(res, "uuid", dom), false);
    json_object_put(res);
    return r;
}
