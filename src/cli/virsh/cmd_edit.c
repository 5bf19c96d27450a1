/* virsh edit: edit a domain's XML in $VISUAL/$EDITOR, re-validate on save;
 * on error the old config stays and the user may edit again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_edit = {
    .name = "edit",
    .group = "Domains",
    .summary = "edit XML configuration for a domain",
    .usage = "virtkit edit DOMAIN",
    .description = "Opens $VISUAL, else $EDITOR, else vi on the persistent XML. When the edited\n"
                   "XML does not validate the old configuration is kept and you may edit again.",
    .run = run,
};

static int run_editor(const char *path)
{
    const char *ed = getenv("VISUAL");
    if (!ed || !*ed)
        ed = getenv("EDITOR");
    if (!ed || !*ed)
        ed = "vi";
    /* $EDITOR may carry arguments ("code --wait"): run through the shell */
    char *cmd = NULL;
    if (asprintf(&cmd, "%s \"$1\"", ed) < 0)
        return -ENOMEM;
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static bool ask_again(void)
{
    fprintf(stderr, "Failed. Try again? [y,n,i,f,?]: ");
    char line[64];
    if (!isatty(0) || !fgets(line, sizeof(line), stdin))
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}

static int run(int argc, char **argv)
{
    const char *dom = NULL;
    const struct vopt o[] = { { "domain", 'P', &dom }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_edit, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct vk_client *cl = virsh_connect("edit");
    if (!cl)
        return CLI_FAIL;
    struct json_object *p = virsh_dom_params(dom), *res = NULL;
    json_object_object_add(p, "inactive", json_object_new_boolean(true));
    if (virsh_call("edit", cl, "domain.xml", p, &res)) {
        vk_client_close(cl);
        return CLI_FAIL;
    }
    char *orig = strdup(vj_str(res, "xml", ""));
    json_object_put(res);
    char path[] = "/tmp/virtkit-edit-XXXXXX.xml";
    int fd = mkstemps(path, 4);
    if (fd < 0 || vk_write_full(fd, orig, strlen(orig)) < 0) {
        r = cli_error("edit", "cannot create a temporary file: %s", strerror(errno));
        goto out;
    }
    close(fd);
    for (;;) {
        if (run_editor(path) < 0) {
            r = cli_error("edit", "the editor failed; domain '%s' XML configuration not changed", dom);
            break;
        }
        char *xml = virsh_read_file("edit", path);
        if (!xml) {
            r = CLI_FAIL;
            break;
        }
        if (!strcmp(xml, orig)) {
            printf("Domain '%s' XML configuration not changed.\n", dom);
            free(xml);
            virsh_done();
            r = CLI_OK;
            break;
        }
        struct json_object *dp = json_object_new_object(), *dres = NULL;
        json_object_object_add(dp, "xml", json_object_new_string(xml));
        free(xml);
        struct vk_err err = { 0 };
        if (vk_client_call(cl, "domain.define", dp, &dres, &err) == 0) {
            printf("Domain '%s' XML configuration edited.\n", vj_str(dres, "name", dom));
            json_object_put(dres);
            virsh_done();
            r = CLI_OK;
            break;
        }
        fprintf(stderr, "virtkit: edit: %s\n", err.msg);
        if (!ask_again()) {
            fprintf(stderr, "virtkit: edit: domain '%s' XML configuration not changed\n", dom);
            r = CLI_FAIL;
            break;
        }
    }
out:
    unlink(path);
    free(orig);
    vk_client_close(cl);
    return r;
}
