/* virsh autostart: start the domain when the daemon starts. */
#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--disable", "turn autostart off" }, { NULL, NULL },
};

const struct cli_command cmd_autostart = {
    .name = "autostart",
    .group = "Domains",
    .summary = "autostart a domain",
    .usage = "virtkit autostart DOMAIN [--disable]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool disable = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "disable", 'b', &disable }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_autostart, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct vk_client *cl = virsh_connect("autostart");
    if (!cl)
        return CLI_FAIL;
    struct json_object *info = NULL, *p = virsh_dom_params(dom);
    json_object_object_add(p, "enable", json_object_new_boolean(!disable));
    r = virsh_call("autostart", cl, "domain.info", virsh_dom_params(dom), &info);
    if (r == CLI_OK) {
        r = virsh_call("autostart", cl, "domain.autostart", p, NULL);
        p = NULL;
    }
    json_object_put(p);
    if (r == CLI_OK) {
        printf(disable ? "Domain '%s' unmarked as autostarted\n" : "Domain '%s' marked as autostarted\n",
               virsh_dom_name(info, dom));
        virsh_done();
    }
    json_object_put(info);
    vk_client_close(cl);
    return r;
}
