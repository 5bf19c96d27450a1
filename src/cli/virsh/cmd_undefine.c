/* virsh undefine: remove a domain's persistent configuration. */
#include <string.h>

#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--remove-all-storage", "also delete the domain's disk image files" },
    { "--managed-save, --snapshots-metadata, --nvram, --keep-nvram", "accepted; nothing to remove" },
    { NULL, NULL },
};

const struct cli_command cmd_undefine = {
    .name = "undefine",
    .group = "Domains",
    .summary = "undefine a domain",
    .usage = "virtkit undefine DOMAIN [--remove-all-storage] [--managed-save]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    bool storage = false, managed = false, snaps = false, nvram = false, keep = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "remove-all-storage", 'b', &storage },
                              { "managed-save", 'b', &managed }, { "snapshots-metadata", 'b', &snaps },
                              { "nvram", 'b', &nvram }, { "keep-nvram", 'b', &keep }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_undefine, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct vk_client *cl = virsh_connect("undefine");
    if (!cl)
        return CLI_FAIL;
    struct json_object *info = NULL, *disks = NULL, *p = virsh_dom_params(dom);
    json_object_object_add(p, "remove_all_storage", json_object_new_boolean(storage));
    json_object_object_add(p, "managed_save", json_object_new_boolean(managed));
    r = virsh_call("undefine", cl, "domain.info", virsh_dom_params(dom), &info);
    if (r == CLI_OK && storage)
        r = virsh_call("undefine", cl, "domain.disks", virsh_dom_params(dom), &disks);
    if (r == CLI_OK) {
        r = virsh_call("undefine", cl, "domain.undefine", p, NULL);
        p = NULL;
    }
    json_object_put(p);
    if (r == CLI_OK) {
        printf("Domain '%s' has been undefined\n", virsh_dom_name(info, dom));
        struct json_object *arr = json_object_object_get(disks, "disks");
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
            struct json_object *k = json_object_array_get_idx(arr, i);
            if (!strcmp(vj_str(k, "device", ""), "disk") && !vj_bool(k, "readonly") &&
                !strcmp(vj_str(k, "type", ""), "file"))
                printf("Volume '%s'(%s) removed.\n", vj_str(k, "target", ""), vj_str(k, "source", ""));
        }
        virsh_done();
    }
    json_object_put(info);
    json_object_put(disks);
    vk_client_close(cl);
    return r;
}
