/* virtkit net-edit: edit a network's XML in $VISUAL/$EDITOR (as virsh): the
 * result is validated by the daemon; on error the old definition stays and
 * the user may edit again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netcmd.h"

static int run(int argc, char **argv);

const struct cli_command cmd_net_edit = {
    .name = "net-edit",
    .group = "Networks",
    .summary = "edit XML configuration for a network",
    .usage = "virtkit net-edit NETWORK",
    .description = "Opens $VISUAL, else $EDITOR, else vi on the persistent definition.",
    .run = run,
};

static int edit_file(const char *path)
{
    const char *ed = getenv("VISUAL");
    if (!ed || !*ed)
        ed = getenv("EDITOR");
    if (!ed || !*ed)
        ed = "vi";
    char *cmd;
    if (asprintf(&cmd, "%s '%s'", ed, path) < 0)
        return -1;
    int st = system(cmd);
    free(cmd);
    return st == 0 ? 0 : -1;
}

static int run(int argc, char **argv)
{
    const char *net = NULL;
    const struct vopt opts[] = { { "network", 'P', &net }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_net_edit, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    struct vk_client *c = virsh_connect(cmd_net_edit.name);
    if (!c)
        return CLI_FAIL;
    struct json_object *p = netcmd_params(net), *res = NULL;
    json_object_object_add(p, "inactive", json_object_new_boolean(true));
    if (virsh_call(cmd_net_edit.name, c, "network.xml", p, &res) != CLI_OK) {
        vk_client_close(c);
        return CLI_FAIL;
    }
    char *orig = strdup(vj_str(res, "xml", ""));
    json_object_put(res);
    char path[] = "/tmp/virtkit-net-edit-XXXXXX.xml";
    int fd = mkstemps(path, 4);
    if (fd < 0 || vk_write_full(fd, orig, strlen(orig)) < 0) {
        if (fd >= 0)
            close(fd);
        free(orig);
        vk_client_close(c);
        return cli_error(cmd_net_edit.name, "cannot create a temporary file");
    }
    close(fd);
    int rc = CLI_FAIL;
    for (;;) {
        if (edit_file(path) < 0) {
            cli_error(cmd_net_edit.name, "the editor failed");
            break;
        }
        char *now = virsh_read_file(cmd_net_edit.name, path);
        if (!now)
            break;
        if (!strcmp(now, orig)) {
            printf("Network %s XML configuration not changed.\n", net);
            free(now);
            rc = CLI_OK;
            break;
        }
        p = json_object_new_object();
        json_object_object_add(p, "xml", json_object_new_string(now));
        free(now);
        res = NULL;
        if (virsh_call(cmd_net_edit.name, c, "network.define", p, &res) == CLI_OK) {
            printf("Network %s XML configuration edited.\n", vj_str(res, "name", net));
            json_object_put(res);
            rc = CLI_OK;
            break;
        }
        /* Keep the old definition; offer another round when interactive. */
        if (!isatty(0))
            break;
        fprintf(stderr, "Failed. Try again? [y,n]: ");
        char ans[16];
        if (!fgets(ans, sizeof(ans), stdin) || (ans[0] != 'y' && ans[0] != 'Y'))
            break;
    }
    unlink(path);
    free(orig);
    vk_client_close(c);
    if (rc == CLI_OK)
        virsh_done();
    return rc;
}
