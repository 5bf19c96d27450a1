/* Instance paths: system vs session, optionally rooted under a directory.
 *
 * system:  config /etc/virtkit, state /var/lib/virtkit, run /run/virtkit,
 *          log /var/log/virtkit; sockets run/virtkit-sock (rw, 0660 group
 *          virtkit) and run/virtkit-sock-ro (0666).
 * session: config $XDG_CONFIG_HOME/virtkit (~/.config/virtkit),
 *          state $XDG_DATA_HOME/virtkit (~/.local/share/virtkit),
 *          log $XDG_STATE_HOME/virtkit/log (~/.local/state/virtkit/log),
 *          run $XDG_RUNTIME_DIR/virtkit (else /tmp/virtkit-UID);
 *          socket run/virtkit-sock (0600) and run/virtkit-sock-ro (0600).
 * root:    with $VIRTKIT_ROOT=DIR (or virtkitd --root DIR), every path
 *          above is prefixed with DIR, and session paths become
 *          DIR/session/{config,state,log,run}. Tests use this.
 *
 * Inside config: domains/NAME.xml, domains/autostart/NAME (a link);
 * networks/ belongs to the networks code. Inside run: domains/NAME.pid,
 * NAME.qmp, NAME.serial, NAME.xml (live definition + runtime state).
 */
#ifndef VK_DAEMON_PATHS_H
#define VK_DAEMON_PATHS_H

#include <limits.h>
#include <stdbool.h>

#include "util.h"

struct vk_paths {
    char config[PATH_MAX];
    char state[PATH_MAX];
    char run[PATH_MAX];
    char log[PATH_MAX];
    char sock_rw[PATH_MAX];
    char sock_ro[PATH_MAX];
};

/* Fill paths for an instance. root NULL = $VIRTKIT_ROOT if set, else none. */
int vk_paths_init(struct vk_paths *p, bool system, const char *root, struct vk_err *err);
/* Create the directories (mode 0755 for system, 0700 for session). */
int vk_paths_mkdirs(const struct vk_paths *p, bool system, struct vk_err *err);

#endif
