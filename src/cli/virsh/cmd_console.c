/* virsh console: the guest's serial console, relayed by the daemon.
 * ^] (Ctrl+]) detaches. On a terminal the line discipline is switched to
 * raw mode for the session and restored afterwards. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "virsh.h"

#define ESCAPE_CHAR 0x1d    /* ^] */

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--force", "take over a console another client has open" },
    { "--safe", "accepted; no effect" },
    { "--devname NAME", "accepted if it names the serial console" },
    { NULL, NULL },
};

const struct cli_command cmd_console = {
    .name = "console",
    .group = "Domains",
    .summary = "connect to the guest console",
    .usage = "virtkit console DOMAIN [--force]",
    .options = opts_help,
    .run = run,
};

int virsh_console(const char *cmd, const char *dom, bool force)
{
    return virsh_console_ex(cmd, dom, force, NULL);
}

int virsh_console_ex(const char *cmd, const char *dom, bool force, bool *remote_closed)
{
    if (remote_closed)
        *remote_closed = false;
    struct vk_client *cl = virsh_connect(cmd);
    if (!cl)
        return CLI_FAIL;
    struct json_object *info = NULL, *p = virsh_dom_params(dom);
    json_object_object_add(p, "force", json_object_new_boolean(force));
    if (virsh_call(cmd, cl, "domain.info", virsh_dom_params(dom), &info) ||
        virsh_call(cmd, cl, "domain.console", p, NULL)) {
        json_object_put(info);
        vk_client_close(cl);
        return CLI_FAIL;
    }
    printf("Connected to domain '%s'\nEscape character is ^] (Ctrl + ])\n", virsh_dom_name(info, dom));
    fflush(stdout);
    json_object_put(info);
    struct termios saved;
    bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
    if (tty) {
        struct termios raw = saved;
        cfmakeraw(&raw);
        tcsetattr(0, TCSAFLUSH, &raw);
    }
    int sock = vk_client_fd(cl);
    char buf[4096];
    size_t pending = vk_client_take_buffered(cl, buf, sizeof(buf));
    if (pending && vk_write_full(1, buf, pending) < 0)
        pending = 0;
    bool stdin_open = true;
    for (;;) {
        struct pollfd fds[2] = { { .fd = sock, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
        int n = poll(fds, stdin_open ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (fds[0].revents) {
            ssize_t k = read(sock, buf, sizeof(buf));
            if (k <= 0) {
                if (remote_closed)
                    *remote_closed = true;
                break;          /* the guest went away or another client took over */
            }
            if (vk_write_full(1, buf, (size_t)k) < 0)
                break;
        }
        if (stdin_open && fds[1].revents) {
            ssize_t k = read(0, buf, sizeof(buf));
            if (k <= 0) {
                stdin_open = false;     /* keep showing output until ^] or the end */
                if (!tty)
                    break;
                continue;
            }
            char *esc = memchr(buf, ESCAPE_CHAR, (size_t)k);
            size_t len = esc ? (size_t)(esc - buf) : (size_t)k;
            if (len && vk_write_full(sock, buf, len) < 0)
                break;
            if (esc)
                break;
        }
    }
    if (tty)
        tcsetattr(0, TCSAFLUSH, &saved);
    printf("\n");
    vk_client_close(cl);
    return CLI_OK;
}

static int run(int argc, char **argv)
{
    const char *dom = NULL, *devname = NULL;
    bool force = false, safe = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "force", 'b', &force }, { "safe", 'b', &safe },
                              { "devname", 's', &devname }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_console, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    if (devname && strcmp(devname, "serial0") && strcmp(devname, "console0"))
        return cli_error("console", "character device '%s' not found (serial0 only)", devname);
    return virsh_console("console", dom, force);
}
