/* virtkitd: the management daemon. One thread, one epoll loop: client
 * connections (JSON lines, rpc.h), VM process exits (pidfds), VM control
 * and serial sockets, timers, signals. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "dispatch.h"
#include "domain.h"

#define MAX_OUT_QUEUE (1u << 20)

/* ---- fd watches ------------------------------------------------------------ */

struct watch {
    vkd_fd_cb cb;
    void *opaque;
    /* pid watches */
    pid_t pid;
    vkd_exit_cb exit_cb;
};

static struct watch *watches;
static size_t n_watches;

static struct watch *watch_slot(int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= n_watches) {
        size_t n = VK_MAX((size_t)fd + 1, n_watches * 2 + 64);
        struct watch *w = realloc(watches, n * sizeof(*w));
        if (!w)
            return NULL;
        memset(w + n_watches, 0, (n - n_watches) * sizeof(*w));
        watches = w;
        n_watches = n;
    }
    return &watches[fd];
}

int vkd_watch(struct vkd *d, int fd, uint32_t events, vkd_fd_cb cb, void *opaque)
{
    struct watch *w = watch_slot(fd);
    if (!w)
        return -ENOMEM;
    struct epoll_event ev = { .events = events, .data.fd = fd };
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    memset(w, 0, sizeof(*w));
    w->cb = cb;
    w->opaque = opaque;
    return 0;
}

int vkd_watch_modify(struct vkd *d, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    return epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void vkd_unwatch(struct vkd *d, int fd)
{
    if (fd < 0)
        return;
    epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
    if ((size_t)fd < n_watches)
        memset(&watches[fd], 0, sizeof(watches[fd]));
}

/* ---- timers ------------------------------------------------------------- */

struct timer {
    void (*cb)(struct vkd *d, void *opaque);
    void *opaque;
};

static void timer_fired(struct vkd *d, int fd, uint32_t events, void *opaque)
{
    struct timer *t = opaque;
    vkd_unwatch(d, fd);
    close(fd);
    t->cb(d, t->opaque);
    free(t);
}

int vkd_timer(struct vkd *d, int ms, void (*cb)(struct vkd *d, void *opaque), void *opaque)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct itimerspec its = { .it_value = { ms / 1000, (long)(ms % 1000) * 1000000L + 1 } };
    struct timer *t = malloc(sizeof(*t));
    if (!t || timerfd_settime(fd, 0, &its, NULL) < 0) {
        free(t);
        close(fd);
        return -ENOMEM;
    }
    t->cb = cb;
    t->opaque = opaque;
    int r = vkd_watch(d, fd, EPOLLIN, timer_fired, t);
    if (r < 0) {
        free(t);
        close(fd);
    }
    return r;
}

/* ---- child processes ---------------------------------------------------- */

static void pid_exited(struct vkd *d, int pidfd, uint32_t events, void *opaque)
{
    struct watch *w = &watches[pidfd];
    pid_t pid = w->pid;
    vkd_exit_cb cb = w->exit_cb;
    siginfo_t si = { 0 };
    int wstatus = -1;
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) == 0) {
        if (si.si_pid == 0)
            return;     /* spurious: not exited yet */
        if (si.si_code == CLD_EXITED)
            wstatus = W_EXITCODE(si.si_status, 0);
        else
            wstatus = si.si_status & 0x7f;   /* killed / dumped: signal number */
    }
    vkd_unwatch(d, pidfd);
    close(pidfd);
    cb(d, pid, wstatus, opaque);
}

int vkd_watch_pid(struct vkd *d, pid_t pid, vkd_exit_cb cb, void *opaque)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        return -errno;
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    int r = vkd_watch(d, pidfd, EPOLLIN, pid_exited, opaque);
    if (r < 0) {
        close(pidfd);
        return r;
    }
    watches[pidfd].pid = pid;
    watches[pidfd].exit_cb = cb;
    return pidfd;
}

/* Wait up to timeout_ms for a watched pidfd; if the process exited, run
 * its exit callback now. 1 = exited (callback ran), 0 = still running. */
int vkd_wait_pidfd(struct vkd *d, int pidfd, int timeout_ms)
{
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    int64_t deadline = vk_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int left = (int)((deadline - vk_now_ns()) / 1000000);
        int r = poll(&p, 1, left > 0 ? left : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        break;
    }
    if ((size_t)pidfd < n_watches && watches[pidfd].exit_cb)
        pid_exited(d, pidfd, EPOLLIN, watches[pidfd].opaque);
    return 1;
}

void vkd_unwatch_pid(struct vkd *d, pid_t pid)
{
    for (size_t fd = 0; fd < n_watches; fd++) {
        if (watches[fd].exit_cb && watches[fd].pid == pid) {
            vkd_unwatch(d, (int)fd);
            close((int)fd);
            return;
        }
    }
}

static bool pid_is_watched(pid_t pid)
{
    for (size_t fd = 0; fd < n_watches; fd++)
        if (watches[fd].exit_cb && watches[fd].pid == pid)
            return true;
    return false;
}

/* SIGCHLD: we are a child subreaper, so orphaned grandchildren land here;
 * reap every exited child nobody watches. Watched ones are reaped by their
 * pidfd handler (which needs the status). */
static void reap_unwatched(void)
{
    for (;;) {
        siginfo_t si = { 0 };
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        if (pid_is_watched(si.si_pid))
            return;     /* its pidfd is readable; the loop handles it */
        waitpid(si.si_pid, NULL, WNOHANG);
    }
}

/* ---- connections --------------------------------------------------------- */

static int buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n > *cap) {
        size_t c = VK_MAX(*cap * 2, *len + n + 4096);
        char *b = realloc(*buf, c);
        if (!b)
            return -ENOMEM;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return 0;
}

static void conn_free(struct vkd *d, struct vkd_conn *c)
{
    for (struct vkd_conn **pp = &d->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    vkd_unwatch(d, c->fd);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void conn_drop(struct vkd *d, struct vkd_conn *c)
{
    if (c->relay_closed)
        c->relay_closed(d, c, c->relay_opaque);
    conn_free(d, c);
}

static void conn_update_events(struct vkd *d, struct vkd_conn *c)
{
    vkd_watch_modify(d, c->fd, EPOLLIN | (c->out_len ? EPOLLOUT : 0));
}

/* Try to write queued output; returns -1 if the connection was freed. */
static int conn_flush(struct vkd *d, struct vkd_conn *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            conn_drop(d, c);
            return -1;
        }
        off += (size_t)n;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    if (!c->out_len && c->closing) {
        conn_free(d, c);
        return -1;
    }
    conn_update_events(d, c);
    return 0;
}

void vkd_conn_send(struct vkd *d, struct vkd_conn *c, const char *buf, size_t n)
{
    if (c->out_len + n > MAX_OUT_QUEUE)
        return;
    if (buf_append(&c->out, &c->out_len, &c->out_cap, buf, n) == 0)
        conn_update_events(d, c);
}

static void conn_send_json(struct vkd *d, struct vkd_conn *c, struct json_object *o)
{
    size_t n;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
    if (c->out_len + n + 1 > MAX_OUT_QUEUE * 8) {
        /* a client that does not read its responses/events: drop it (the
         * loop frees it when it sees the hang-up; c stays valid until then) */
        c->out_len = 0;
        c->closing = true;
        shutdown(c->fd, SHUT_RDWR);
        return;
    }
    if (buf_append(&c->out, &c->out_len, &c->out_cap, s, n) == 0 &&
        buf_append(&c->out, &c->out_len, &c->out_cap, "\n", 1) == 0)
        conn_update_events(d, c);
}

void vkd_conn_relay(struct vkd *d, struct vkd_conn *c,
                    void (*input)(struct vkd *, struct vkd_conn *, const char *, size_t, void *),
                    void (*closed)(struct vkd *, struct vkd_conn *, void *), void *opaque)
{
    c->relay_input = input;
    c->relay_closed = closed;
    c->relay_opaque = opaque;
    c->subscribed = false;
}

void vkd_conn_close(struct vkd *d, struct vkd_conn *c)
{
    c->relay_input = NULL;
    c->relay_closed = NULL;
    c->closing = true;
    shutdown(c->fd, SHUT_RD);
    conn_update_events(d, c);
}

void vkd_emit(struct vkd *d, const char *name, struct json_object *data)
{
    struct json_object *ev = json_object_new_object();
    json_object_object_add(ev, "event", json_object_new_string(name));
    json_object_object_add(ev, "data", data);
    for (struct vkd_conn *c = d->conns; c; c = c->next)
        if (c->subscribed && !c->relay_input && !c->closing)
            conn_send_json(d, c, ev);
    json_object_put(ev);
}

static void conn_handle_line(struct vkd *d, struct vkd_conn *c, const char *line, size_t len)
{
    struct rpc_call call = {
        .d = d, .conn = c, .uid = c->uid, .gid = c->gid, .pid = c->pid,
        .privileged = c->privileged,
    };
    struct json_tokener *tok = json_tokener_new_ex(64);
    struct json_object *req = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
    bool complete = tok && json_tokener_get_error(tok) == json_tokener_success;
    if (tok)
        json_tokener_free(tok);
    struct json_object *resp;
    if (!req || !complete) {
        json_object_put(req);
        rpc_fail(&call, VK_RPC_E_INVALID, "request is not valid JSON");
        resp = rpc_error_response(NULL, &call);
    } else {
        resp = rpc_dispatch(&call, req);
        json_object_put(req);
    }
    conn_send_json(d, c, resp);
    json_object_put(resp);
}

static void conn_readable(struct vkd *d, int fd, uint32_t events, void *opaque)
{
    struct vkd_conn *c = opaque;
    if (events & EPOLLOUT) {
        if (conn_flush(d, c) < 0)
            return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->closing && c->out_len && !(events & (EPOLLHUP | EPOLLERR))) {
            vkd_watch_modify(d, c->fd, EPOLLOUT);
            return;
        }
        conn_drop(d, c);
        return;
    }
    if (c->closing)
        return;
    if (c->relay_input) {
        c->relay_input(d, c, buf, (size_t)n, c->relay_opaque);
        return;
    }
    if (buf_append(&c->in, &c->in_len, &c->in_cap, buf, (size_t)n) < 0) {
        conn_drop(d, c);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < c->in_len; i++) {
        if (c->in[i] != '\n')
            continue;
        if (i > start)
            conn_handle_line(d, c, c->in + start, i - start);
        start = i + 1;
        if (c->closing)
            break;
        if (c->relay_input) {
            /* the rest is console input */
            if (start < c->in_len)
                c->relay_input(d, c, c->in + start, c->in_len - start, c->relay_opaque);
            start = c->in_len;
            break;
        }
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (c->in_len > VK_RPC_MAX_MESSAGE) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "id", NULL);
        struct json_object *err = json_object_new_object();
        json_object_object_add(err, "code", json_object_new_string("invalid-request"));
        json_object_object_add(err, "errno", json_object_new_int(E2BIG));
        json_object_object_add(err, "message", json_object_new_string("request too large"));
        json_object_object_add(e, "error", err);
        conn_send_json(d, c, e);
        json_object_put(e);
        vkd_conn_close(d, c);
    }
}

/* Supplementary groups of a peer, from /proc/PID/status. */
static bool peer_in_group(pid_t pid, gid_t gid, gid_t want)
{
    if (want == (gid_t)-1)
        return false;
    if (gid == want)
        return true;
    char path[64], *data = NULL;
    size_t len;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (vk_read_file(path, &data, &len, NULL) < 0)
        return false;
    bool found = false;
    char *g = strstr(data, "\nGroups:");
    if (g) {
        char *p = g + 8, *end;
        for (;;) {
            unsigned long v = strtoul(p, &end, 10);
            if (end == p)
                break;
            if ((gid_t)v == want)
                found = true;
            p = end;
        }
    }
    free(data);
    return found;
}

#define MAX_CONNS 1024

static void accept_conn(struct vkd *d, int lfd, uint32_t events, void *opaque)
{
    bool ro = opaque != NULL;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    int nconns = 0;
    for (struct vkd_conn *x = d->conns; x; x = x->next)
        nconns++;
    if (nconns >= MAX_CONNS) {
        /* anyone may connect to the read-only socket: bound what they cost */
        vk_warn_ratelimited("too many client connections (%d): refusing one", nconns);
        close(fd);
        return;
    }
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
        close(fd);
        return;
    }
    struct vkd_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->readonly_socket = ro;
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->pid = cred.pid;
    c->privileged = !ro && (cred.uid == 0 || cred.uid == d->owner_uid ||
                            peer_in_group(cred.pid, cred.gid, d->virtkit_gid));
    if (vkd_watch(d, fd, EPOLLIN, conn_readable, c) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->next = d->conns;
    d->conns = c;
}

static int listen_on(const char *path, mode_t mode, gid_t group, struct vk_err *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return vk_err_errno(err, -errno, "socket");
    unlink(path);
    mode_t old = umask(0077);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 128) < 0) {
        r = -errno;
        close(fd);
        return vk_err_errno(err, r, "listening on %s", path);
    }
    if (group != (gid_t)-1 && chown(path, (uid_t)-1, group) < 0)
        vk_warn("chown %s to group virtkit: %s", path, strerror(errno));
    if (chmod(path, mode) < 0)
        vk_warn("chmod %s: %s", path, strerror(errno));
    return fd;
}

/* ---- emulator lookup ------------------------------------------------------- */

/* libvirt-written XML names QEMU as the emulator; virtkit runs its own. */
static bool is_qemu(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return !strncmp(base, "qemu-system-", 12) || !strcmp(base, "qemu-kvm") || !strcmp(base, "kvm");
}

void vkd_emulator_path(const char *xml_emulator, char *out, size_t len)
{
    if (xml_emulator && *xml_emulator && !is_qemu(xml_emulator)) {
        snprintf(out, len, "%s", xml_emulator);
        return;
    }
    const char *env = getenv("VIRTKIT_VM");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            const char *cands[] = { "/virtkit-vm", "/../vm/virtkit-vm" };
            for (size_t i = 0; i < VK_ARRAY_SIZE(cands); i++) {
                snprintf(out, len, "%s%s", self, cands[i]);
                if (access(out, X_OK) == 0)
                    return;
            }
        }
    }
    snprintf(out, len, "%s/virtkit-vm", VK_LIBEXECDIR);
    if (access(out, X_OK) == 0)
        return;
    snprintf(out, len, "virtkit-vm");
}

/* ---- main -------------------------------------------------------------- */

static void signal_ready(struct vkd *d, int fd, uint32_t events, void *opaque)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            reap_unwatched();
        else if (si.ssi_signo == SIGHUP)
            vk_info("SIGHUP: nothing to reload (definitions are read at start-up)");
        else
            d->quit = true;
    }
}

/* --timeout: a session daemon started on demand exits when it has had no
 * clients and no running domains for that long (as libvirt's does). */
static int idle_timeout_s, idle_s;

static void idle_tick(struct vkd *d, void *opaque)
{
    bool busy = d->conns != NULL;
    for (struct domain *x = d->domains; x && !busy; x = x->next)
        busy = dom_is_active(x);
    idle_s = busy ? 0 : idle_s + 1;
    if (idle_s >= idle_timeout_s) {
        vk_info("idle for %d s: exiting", idle_s);
        d->quit = true;
        return;
    }
    if (vkd_timer(d, 1000, idle_tick, NULL) < 0)
        vk_warn("idle timer failed; --timeout disabled");
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: virtkitd [--system|--session] [--root DIR] [--daemon] [--verbose]\n\n"
        "The virtkit management daemon: keeps domain definitions, supervises one\n"
        "virtkit-vm process per running domain and serves the RPC API (docs/rpc.md).\n\n"
        "  --system       system instance (default for root): /etc/virtkit, /var/lib/virtkit,\n"
        "                 /run/virtkit/virtkit-sock (rw) and virtkit-sock-ro\n"
        "  --session      per-user instance (default for other users), XDG directories\n"
        "  --root DIR     prefix every path with DIR (also $VIRTKIT_ROOT)\n"
        "  --daemon       detach once the sockets listen; log to LOGDIR/virtkitd.log\n"
        "  --timeout SECS exit after SECS without clients and running domains\n"
        "  --group NAME   the admin group (default virtkit, also $VIRTKIT_GROUP)\n"
        "  --verbose      debug logging\n"
        "  --version      print the version\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "system", no_argument, NULL, 's' },
        { "session", no_argument, NULL, 'S' },
        { "root", required_argument, NULL, 'r' },
        { "daemon", no_argument, NULL, 'd' },
        { "verbose", no_argument, NULL, 'v' },
        { "timeout", required_argument, NULL, 't' },
        { "group", required_argument, NULL, 'g' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int mode = -1;
    const char *root = NULL;
    bool daemonize = false;
    int o;
    vk_log_set_prefix("virtkitd");
    const char *group = getenv("VIRTKIT_GROUP");
    while ((o = getopt_long(argc, argv, "r:dvVht:g:", opts, NULL)) != -1) {
        switch (o) {
        case 's': mode = 1; break;
        case 'S': mode = 0; break;
        case 'r': root = optarg; break;
        case 'd': daemonize = true; break;
        case 'g': group = optarg; break;
        case 'v': vk_log_set_level(VK_LOG_DEBUG); break;
        case 't':
            if (vk_parse_int(optarg, 1, 1 << 30, &idle_timeout_s) < 0) {
                fprintf(stderr, "virtkitd: --timeout: '%s' is not a number of seconds\n", optarg);
                return 2;
            }
            break;
        case 'V': printf("virtkitd %s (protocol %d)\n", VK_VERSION, VK_RPC_PROTOCOL); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    /* --daemon: fork first (epoll and signalfd must belong to the process
     * that uses them); the parent exits once the child reports that its
     * sockets listen, with the child's status. */
    int ready_pipe[2] = { -1, -1 };
    if (daemonize) {
        if (pipe2(ready_pipe, O_CLOEXEC) < 0) {
            fprintf(stderr, "virtkitd: pipe: %s\n", strerror(errno));
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "virtkitd: fork: %s\n", strerror(errno));
            return 1;
        }
        if (pid > 0) {
            close(ready_pipe[1]);
            char ok = 0;
            ssize_t n = read(ready_pipe[0], &ok, 1);
            _exit(n == 1 && ok == 1 ? 0 : 1);
        }
        close(ready_pipe[0]);
        setsid();
    }
    static struct vkd d;
    struct vk_err err = { 0 };
    d.system = mode < 0 ? geteuid() == 0 : mode == 1;
    d.owner_uid = geteuid();
    struct group *gr = getgrnam(group && *group ? group : "virtkit");
    d.virtkit_gid = gr ? gr->gr_gid : (gid_t)-1;
    if (vk_paths_init(&d.paths, d.system, root, &err) < 0 ||
        vk_paths_mkdirs(&d.paths, d.system, &err) < 0) {
        fprintf(stderr, "virtkitd: %s\n", err.msg);
        return 1;
    }
    /* one daemon per instance */
    char lockpath[PATH_MAX + 32];
    snprintf(lockpath, sizeof(lockpath), "%s/virtkitd.lock", d.paths.run);
    int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "virtkitd: another virtkitd runs for %s (%s)\n", d.paths.run,
                lockfd < 0 ? strerror(errno) : "lock held");
        return 1;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* every client and every VM (pidfd, QMP, serial) costs descriptors */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    d.epfd = epoll_create1(EPOLL_CLOEXEC);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (d.epfd < 0 || sfd < 0 || vkd_watch(&d, sfd, EPOLLIN, signal_ready, NULL) < 0) {
        fprintf(stderr, "virtkitd: event loop: %s\n", strerror(errno));
        return 1;
    }
    d.listen_rw = listen_on(d.paths.sock_rw, d.system ? 0660 : 0600,
                            d.system ? d.virtkit_gid : (gid_t)-1, &err);
    d.listen_ro = d.listen_rw < 0 ? -1 :
                  listen_on(d.paths.sock_ro, d.system ? 0666 : 0600, (gid_t)-1, &err);
    if (d.listen_rw < 0 || d.listen_ro < 0 ||
        vkd_watch(&d, d.listen_rw, EPOLLIN, accept_conn, NULL) < 0 ||
        vkd_watch(&d, d.listen_ro, EPOLLIN, accept_conn, (void *)1) < 0) {
        fprintf(stderr, "virtkitd: %s\n", err.msg);
        return 1;
    }
    for (size_t a = 0; a < rpc_n_areas; a++) {
        if (!rpc_areas[a] || !rpc_areas[a]->init)
            continue;
        if (rpc_areas[a]->init(&d, &err) < 0) {
            fprintf(stderr, "virtkitd: %s: %s\n", rpc_areas[a]->name, err.msg);
            return 1;
        }
    }
    if (daemonize) {
        char logpath[PATH_MAX + 32];
        snprintf(logpath, sizeof(logpath), "%s/virtkitd.log", d.paths.log);
        int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul >= 0)
            dup2(nul, 0);
        if (lfd >= 0) {
            dup2(lfd, 1);
            dup2(lfd, 2);
        }
    }
    {
        char pidpath[PATH_MAX + 32], pidtxt[32];
        snprintf(pidpath, sizeof(pidpath), "%s/virtkitd.pid", d.paths.run);
        int n = snprintf(pidtxt, sizeof(pidtxt), "%d\n", (int)getpid());
        if (vk_write_file_atomic(pidpath, pidtxt, (size_t)n, 0644, &err) < 0)
            vk_warn("%s", err.msg);
    }
    vk_info("listening on %s and %s", d.paths.sock_rw, d.paths.sock_ro);
    if (ready_pipe[1] >= 0) {
        char ok = 1;
        if (write(ready_pipe[1], &ok, 1) != 1)
            vk_warn("could not tell the parent that the daemon is ready");
        close(ready_pipe[1]);
    }
    for (size_t a = 0; a < rpc_n_areas; a++)
        if (rpc_areas[a] && rpc_areas[a]->autostart)
            rpc_areas[a]->autostart(&d);

    if (idle_timeout_s && vkd_timer(&d, 1000, idle_tick, NULL) < 0)
        vk_warn("idle timer failed; --timeout disabled");
    while (!d.quit) {
        struct epoll_event evs[64];
        int n = epoll_wait(d.epfd, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            vk_error("epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if ((size_t)fd >= n_watches || !watches[fd].cb)
                continue;
            watches[fd].cb(&d, fd, evs[i].events, watches[fd].opaque);
        }
    }
    vk_info("exiting; running domains keep running");
    for (size_t a = rpc_n_areas; a-- > 0;)
        if (rpc_areas[a] && rpc_areas[a]->fini)
            rpc_areas[a]->fini(&d);
    while (d.conns)
        conn_free(&d, d.conns);
    for (size_t fd = 0; fd < n_watches; fd++) {
        if (watches[fd].cb == timer_fired) {       /* timers that never fired */
            free(watches[fd].opaque);
            close((int)fd);
        }
    }
    unlink(d.paths.sock_rw);
    unlink(d.paths.sock_ro);
    snprintf(lockpath, sizeof(lockpath), "%s/virtkitd.pid", d.paths.run);
    unlink(lockpath);
    free(watches);
    return 0;
}
