/* Domains: the registry, the lifecycle state machine, supervision.
 *
 * States and reasons are the words virsh prints:
 *   shut off: unknown, shutdown, destroyed, crashed, failed, daemon
 *   running:  booted, unpaused, unknown
 *   paused:   user, unknown
 * Transitions (who may call what):
 *   shut off --start/create--> running (booted) or paused (user, --paused)
 *   running  --suspend--> paused (user) --resume--> running (unpaused)
 *   running/paused --destroy--> shut off (destroyed)
 *   running  --guest powers off / ACPI shutdown--> shut off (shutdown)
 *   running/paused --VM process dies otherwise--> shut off (crashed)
 * Everything runs on the daemon's loop thread.
 */
#ifndef VK_DOMAIN_H
#define VK_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "domain_xml.h"
#include "util.h"

struct vkd;
struct json_object;
struct dom_start;
struct vkd_conn;

enum dom_state { DOM_SHUTOFF, DOM_RUNNING, DOM_PAUSED };

struct domain {
    struct domain *next;
    struct dom_def *def;        /* persistent definition (NULL if transient) */
    struct dom_def *live;       /* definition the VM runs with; NULL when shut off */
    bool autostart;
    enum dom_state state;
    const char *reason;         /* static string, virsh word */
    int id;                     /* >= 1 when active, -1 when shut off */
    pid_t pid;
    int pidfd;
    uint64_t proc_start;        /* /proc/PID/stat starttime, to recognise it on adoption */
    /* control socket (QMP) and serial */
    int qmp_fd;
    char *qmp_in; size_t qmp_len, qmp_cap;
    int serial_fd;
    struct vkd_conn *console;   /* attached console client */
    /* why the VM is going away */
    bool destroy_requested;
    bool saw_shutdown_event;
    bool restart_pending;
    struct dom_start *starting; /* start in progress (supervise.c), else NULL */
};

/* The registry (domain.c) */
struct domain *dom_first(struct vkd *d);
struct domain *dom_by_name(struct vkd *d, const char *name);
struct domain *dom_by_uuid(struct vkd *d, const unsigned char uuid[16]);
/* name, uuid string or id string */
struct domain *dom_lookup(struct vkd *d, const char *key);
const struct dom_def *dom_current_def(const struct domain *dom);   /* live ?: def */
bool dom_is_active(const struct domain *dom);
const char *dom_state_name(enum dom_state s);
int dom_count(struct vkd *d);

/* Config persistence (config.c): atomic writes under config/domains/. */
int dom_config_save(struct vkd *d, const struct dom_def *def, struct vk_err *err) VK_MUST_CHECK;
int dom_config_remove(struct vkd *d, const char *name, struct vk_err *err);
int dom_config_set_autostart(struct vkd *d, const char *name, bool on, struct vk_err *err) VK_MUST_CHECK;
bool dom_config_autostart(struct vkd *d, const char *name);
/* Load every domains/NAME.xml; bad files are logged and skipped. */
int dom_config_load_all(struct vkd *d, struct vk_err *err);
/* Runtime state of a running domain (run/domains/NAME.{xml,status}). */
int dom_status_save(struct vkd *d, const struct domain *dom, struct vk_err *err);
void dom_status_remove(struct vkd *d, const char *name);

/* Registry changes (domain.c) */
struct domain *dom_add(struct vkd *d, struct dom_def *def_or_null, struct dom_def *live_or_null);
void dom_remove(struct vkd *d, struct domain *dom);
void dom_set_state(struct vkd *d, struct domain *dom, enum dom_state s, const char *reason);
/* Emit a domain.lifecycle event (event/detail as libvirt words). */
void dom_event(struct vkd *d, struct domain *dom, const char *event, const char *detail);
int dom_next_id(struct vkd *d);

/* Supervision (supervise.c) */
/* Start the VM for `dom` from `src` (NULL = dom->def; for transient
 * domains their placeholder live def). On failure nothing is left behind
 * (no process, no TAP, no runtime files); a transient domain then has no
 * definition left and the caller removes it. */
/* Asynchronous: a failure found before the emulator runs returns < 0
 * (done is not called); otherwise 0, and done(r, err) runs exactly once
 * from the loop when the VM's control socket answers (r = 0, the domain
 * is running) or the start failed (r < 0, everything undone; a transient
 * domain is then for done to remove). Meanwhile dom->starting is set and
 * the domain is still shut off: callers refuse lifecycle changes. */
typedef void (*dom_start_done_fn)(struct vkd *d, struct domain *dom, int r,
                                  const struct vk_err *err, void *opaque);
int dom_start_async(struct vkd *d, struct domain *dom, const struct dom_def *src, bool paused,
                    dom_start_done_fn done, void *opaque, struct vk_err *err) VK_MUST_CHECK;
/* A done callback that only logs failures (autostart, restarts). */
void dom_start_log_done(struct vkd *d, struct domain *dom, int r, const struct vk_err *err,
                        void *opaque);
/* Kill a VM whose start has not completed (daemon exit, destroy): done
 * gets -ECANCELED with `why`. */
void dom_start_abort(struct vkd *d, struct domain *dom, const char *why);
/* Graceful: SIGTERM and wait; else (or after 5 s) SIGKILL. Synchronous. */
int dom_destroy(struct vkd *d, struct domain *dom, bool graceful, struct vk_err *err);
/* Adopt VMs left running by a previous daemon (run/domains/NAME.status). */
void dom_adopt_all(struct vkd *d);
/* Seconds of CPU the VM process used (0 if unknown). */
double dom_cpu_time(const struct domain *dom);
/* Preflight checks used by start: disk files, kernel, initrd. */
int dom_check_files(const struct dom_def *def, struct vk_err *err);

/* QMP (qmp_client.c) */
/* Connect and negotiate; timeout_ms bounds each wait for the greeting and
 * the qmp_capabilities reply. */
int qmp_connect(struct vkd *d, struct domain *dom, const char *path, int timeout_ms,
                struct vk_err *err) VK_MUST_CHECK;
/* Execute a command and wait for its reply (events met meanwhile are
 * handled). 0 or -errno with err. */
int qmp_execute(struct vkd *d, struct domain *dom, const char *command, struct vk_err *err);
/* Same with arguments (borrowed; NULL = none); *ret (if ret) gets the
 * "return" value (caller puts it). A QMP error reply is -EIO with the VM's
 * text: "virtkit-vm: DESC". */
int qmp_call(struct vkd *d, struct domain *dom, const char *command, struct json_object *args,
             struct json_object **ret, struct vk_err *err);
void qmp_close(struct vkd *d, struct domain *dom);
/* PCI hot-plug: a command with a descriptor attached (SCM_RIGHTS; QMP
 * getfd), and waiting for an event whose data[key] == value (NULL key: any
 * data), handling other events met meanwhile. */
int qmp_call_fd(struct vkd *d, struct domain *dom, const char *command, struct json_object *args,
                int fd, struct vk_err *err);
int qmp_wait_event(struct vkd *d, struct domain *dom, const char *event, const char *key,
                   const char *value, int timeout_ms, struct vk_err *err);

/* Console (console.c) */
int console_connect(struct vkd *d, struct domain *dom, const char *path);
void console_close(struct vkd *d, struct domain *dom);
/* Attach conn as the console of dom; force kicks an existing one. */
int console_attach(struct vkd *d, struct domain *dom, struct vkd_conn *conn, bool force,
                   struct vk_err *err);

/* Runtime file paths */
void dom_run_path(struct vkd *d, const char *name, const char *suffix, char *out, size_t len);

#endif
