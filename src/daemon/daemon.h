/* virtkitd internals shared by the areas: instance paths, the event loop,
 * events to subscribers. One thread; everything runs from the loop. */
#ifndef VK_DAEMON_H
#define VK_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "paths.h"
#include "util.h"

struct vkd;
struct vkd_conn;
struct domain;
typedef void (*vkd_fd_cb)(struct vkd *d, int fd, uint32_t events, void *opaque);

struct vkd {
    struct vk_paths paths;     /* paths.h: config/state/run/log dirs, sockets */
    bool system;               /* system instance (else session) */
    uid_t owner_uid;           /* the daemon's uid: always privileged */
    gid_t virtkit_gid;         /* group "virtkit", (gid_t)-1 if absent */
    int epfd;
    int listen_rw, listen_ro;
    bool quit;
    struct vkd_conn *conns;    /* client connections */
    struct domain *domains;    /* domain registry (domain.c) */
    int next_domain_id;
    void *area_state[8];       /* other areas' private state (index: theirs to pick) */
};

/* Watch fd for epoll `events` (EPOLLIN...); cb runs on the loop. One watch
 * per fd. Returns 0 or -errno. */
int vkd_watch(struct vkd *d, int fd, uint32_t events, vkd_fd_cb cb, void *opaque) VK_MUST_CHECK;
int vkd_watch_modify(struct vkd *d, int fd, uint32_t events);
void vkd_unwatch(struct vkd *d, int fd);
/* Run cb once after ms milliseconds (timerfd based). */
int vkd_timer(struct vkd *d, int ms, void (*cb)(struct vkd *d, void *opaque), void *opaque);

/* Send {"event": name, "data": data} to every subscribed client. Takes
 * ownership of data. */
void vkd_emit(struct vkd *d, const char *name, struct json_object *data);

/* Children: open a pidfd for `pid` (a child or an adopted process), watch
 * it, and call cb once when it exits. wstatus is the waitpid() status for
 * our own children, -1 when unknown (an adopted process is not our child).
 * Returns the pidfd (owned by the daemon) or -errno. */
typedef void (*vkd_exit_cb)(struct vkd *d, pid_t pid, int wstatus, void *opaque);
int vkd_watch_pid(struct vkd *d, pid_t pid, vkd_exit_cb cb, void *opaque) VK_MUST_CHECK;
void vkd_unwatch_pid(struct vkd *d, pid_t pid);
/* Wait up to timeout_ms for the process behind a watched pidfd to exit; if
 * it did, its callback runs now. 1 = exited, 0 = still running. */
int vkd_wait_pidfd(struct vkd *d, int pidfd, int timeout_ms);

/* A client connection. */
struct vkd_conn {
    struct vkd_conn *next;
    int fd;
    bool readonly_socket;     /* accepted on the read-only socket */
    bool privileged;          /* may call every method */
    bool subscribed;          /* receives events */
    bool closing;             /* close once the output is flushed */
    bool awaiting;            /* a deferred reply is owed: requests wait in `in` */
    uint64_t serial;          /* unique per daemon run (deferred replies find it) */
    uid_t uid;
    gid_t gid;
    pid_t pid;
    char *in;  size_t in_len, in_cap;
    char *out; size_t out_len, out_cap;
    /* raw relay mode (console): bytes from the client go to on_input */
    void (*relay_input)(struct vkd *d, struct vkd_conn *c, const char *buf, size_t n, void *opaque);
    void (*relay_closed)(struct vkd *d, struct vkd_conn *c, void *opaque);
    void *relay_opaque;
};

/* Switch a connection to raw relay after its current response is queued. */
void vkd_conn_relay(struct vkd *d, struct vkd_conn *c,
                    void (*input)(struct vkd *d, struct vkd_conn *c, const char *buf, size_t n, void *opaque),
                    void (*closed)(struct vkd *d, struct vkd_conn *c, void *opaque),
                    void *opaque);
/* Queue raw bytes to a connection (console output). Drops bytes when the
 * client does not keep up (more than 1 MiB queued). */
void vkd_conn_send(struct vkd *d, struct vkd_conn *c, const char *buf, size_t n);
/* Send a deferred reply (dispatch.c) to the connection with this serial,
 * if it is still there, and go on with the requests it sent meanwhile. */
void vkd_conn_deferred_reply(struct vkd *d, uint64_t serial, struct json_object *resp);
/* Close a connection once its queued output is flushed (relay_closed is
 * not called for closes the daemon asks for). */
void vkd_conn_close(struct vkd *d, struct vkd_conn *c);

/* For main.c: the loop (loop.c) and the client sockets (conn.c). */
struct epoll_event;
void vkd_loop_dispatch(struct vkd *d, const struct epoll_event *ev);
void vkd_loop_fini(void);
void vkd_reap_children(void);       /* SIGCHLD: reap exited unwatched children */
int vkd_listen(const char *path, mode_t mode, gid_t group, struct vk_err *err);
void vkd_accept(struct vkd *d, int lfd, uint32_t events, void *opaque);  /* opaque != NULL: read-only */
void vkd_conns_free_all(struct vkd *d);

/* The emulator binary: XML <emulator> if set (pass it), else $VIRTKIT_VM,
 * else virtkit-vm beside virtkitd (../vm/virtkit-vm in a build tree),
 * else the libexec dir, else "virtkit-vm" from PATH. */
void vkd_emulator_path(const char *xml_emulator, char *out, size_t len);

#endif
