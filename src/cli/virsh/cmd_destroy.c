/* virsh destroy: stop a domain now (SIGTERM to its VM, then SIGKILL). */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--graceful", "SIGTERM only: fail rather than SIGKILL" }, { NULL, NULL },
};

const struct cli_command cmd_destroy = {
    .name = "destroy",
    .group = "Domains",
    .summary = "destroy (stop) a domain",
    .usage = "virtkit destroy DOMAIN [--graceful]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool graceful = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "graceful", 'b', &graceful }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_destroy, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct vk_client *cl = virsh_connect("destroy");
    if (!cl)
        return CLI_FAIL;
    struct json_object *info = NULL, *p = virsh_dom_params(dom);
    json_object_object_add(p, "graceful", json_object_new_boolean(graceful));
    r = virsh_call("destroy", cl, "domain.info", virsh_dom_params(dom), &info);
    if (r == CLI_OK) {
        struct vk_err err = { 0 };
        if (vk_client_call(cl, "domain.destroy", p, NULL, &err) < 0)
            r = cli_error("destroy", "Failed to destroy domain '%s': %s", virsh_dom_name(info, dom), err.msg);
        p = NULL;
    }
    json_object_put(p);
    if (r == CLI_OK) {
        printf("Domain '%s' destroyed\n", virsh_dom_name(info, dom));
        virsh_done();
    }
    json_object_put(info);
    vk_client_close(cl);
    return r;
}
