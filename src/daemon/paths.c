/* Instance paths (see paths.h). */
#include "paths.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && *h)
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_dir : "/";
}

/* $VAR, else $HOME/fallback */
static void xdg(char *out, size_t len, const char *var, const char *fallback, const char *leaf)
{
    const char *v = getenv(var);
    if (v && *v == '/')
        snprintf(out, len, "%s/%s", v, leaf);
    else
        snprintf(out, len, "%s/%s/%s", home_dir(), fallback, leaf);
}

int vk_paths_init(struct vk_paths *p, bool system, const char *root, struct vk_err *err)
{
    memset(p, 0, sizeof(*p));
    if (!root) {
        root = getenv("VIRTKIT_ROOT");
        if (root && !*root)
            root = NULL;
    }
    if (root && root[0] != '/')
        return vk_err_set(err, -EINVAL, "root directory '%s' must be an absolute path", root);
    if (root) {
        if (system) {
            snprintf(p->config, sizeof(p->config), "%s/etc/virtkit", root);
            snprintf(p->state, sizeof(p->state), "%s/var/lib/virtkit", root);
            snprintf(p->run, sizeof(p->run), "%s/run/virtkit", root);
            snprintf(p->log, sizeof(p->log), "%s/var/log/virtkit", root);
        } else {
            snprintf(p->config, sizeof(p->config), "%s/session/config", root);
            snprintf(p->state, sizeof(p->state), "%s/session/state", root);
            snprintf(p->run, sizeof(p->run), "%s/session/run", root);
            snprintf(p->log, sizeof(p->log), "%s/session/log", root);
        }
    } else if (system) {
        snprintf(p->config, sizeof(p->config), "/etc/virtkit");
        snprintf(p->state, sizeof(p->state), "/var/lib/virtkit");
        snprintf(p->run, sizeof(p->run), "/run/virtkit");
        snprintf(p->log, sizeof(p->log), "/var/log/virtkit");
    } else {
        xdg(p->config, sizeof(p->config), "XDG_CONFIG_HOME", ".config", "virtkit");
        xdg(p->state, sizeof(p->state), "XDG_DATA_HOME", ".local/share", "virtkit");
        xdg(p->log, sizeof(p->log), "XDG_STATE_HOME", ".local/state", "virtkit/log");
        const char *rt = getenv("XDG_RUNTIME_DIR");
        if (rt && *rt == '/')
            snprintf(p->run, sizeof(p->run), "%s/virtkit", rt);
        else
            snprintf(p->run, sizeof(p->run), "/tmp/virtkit-%u", (unsigned)getuid());
    }
    int n1 = snprintf(p->sock_rw, sizeof(p->sock_rw), "%s/virtkit-sock", p->run);
    int n2 = snprintf(p->sock_ro, sizeof(p->sock_ro), "%s/virtkit-sock-ro", p->run);
    /* sun_path is 108 bytes */
    if (n1 >= 108 || n2 >= 108)
        return vk_err_set(err, -ENAMETOOLONG, "socket path '%s' is too long for a UNIX socket",
                          p->sock_ro);
    return 0;
}

int vk_paths_mkdirs(const struct vk_paths *p, bool system, struct vk_err *err)
{
    mode_t mode = system ? 0755 : 0700;
    const char *dirs[] = { p->config, p->state, p->run, p->log };
    char sub[PATH_MAX + 32];
    for (size_t i = 0; i < VK_ARRAY_SIZE(dirs); i++) {
        int r = vk_mkdir_p(dirs[i], mode);
        if (r < 0)
            return vk_err_errno(err, r, "creating %s", dirs[i]);
    }
    const char *subs[][2] = {
        { p->config, "domains" }, { p->config, "domains/autostart" },
        { p->run, "domains" }, { p->log, "domains" },
    };
    for (size_t i = 0; i < VK_ARRAY_SIZE(subs); i++) {
        snprintf(sub, sizeof(sub), "%s/%s", subs[i][0], subs[i][1]);
        int r = vk_mkdir_p(sub, mode);
        if (r < 0)
            return vk_err_errno(err, r, "creating %s", sub);
    }
    return 0;
}
