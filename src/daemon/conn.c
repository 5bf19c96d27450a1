/* Client connections: the listening sockets, SO_PEERCRED access, JSON
 * lines in and out, events to subscribers, raw relay for consoles. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "dispatch.h"

#define MAX_OUT_QUEUE (1u << 20)

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
    if (!resp) {                /* deferred: no further request until it is answered */
        c->awaiting = true;
        return;
    }
    conn_send_json(d, c, resp);
    json_object_put(resp);
}

/* Serve the complete request lines in c->in (not while a reply is owed). */
static void conn_process_input(struct vkd *d, struct vkd_conn *c)
{
    size_t start = 0;
    for (size_t i = 0; i < c->in_len && !c->awaiting; i++) {
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
}

static struct vkd_conn *conn_by_serial(struct vkd *d, uint64_t serial)
{
    struct vkd_conn *c = d->conns;
    while (c && c->serial != serial)
        c = c->next;
    return c;
}

/* Requests that arrived while a reply was owed: served from the loop, not
 * from inside whatever completed the deferred call. */
static void conn_resume(struct vkd *d, void *opaque)
{
    uint64_t *serial = opaque;
    struct vkd_conn *c = conn_by_serial(d, *serial);
    free(serial);
    if (c && !c->awaiting && !c->closing)
        conn_process_input(d, c);
}

void vkd_conn_deferred_reply(struct vkd *d, uint64_t serial, struct json_object *resp)
{
    struct vkd_conn *c = conn_by_serial(d, serial);
    if (!c || !c->awaiting)
        return;                 /* the client went away meanwhile */
    c->awaiting = false;
    if (c->closing)
        return;
    conn_send_json(d, c, resp);
    if (!c->in_len || !memchr(c->in, '\n', c->in_len))
        return;
    uint64_t *p = malloc(sizeof(*p));
    if (p) {
        *p = serial;
        if (vkd_timer(d, 0, conn_resume, p) == 0)
            return;
        free(p);
    }
    conn_process_input(d, c);   /* no timer: serve them now */
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
    conn_process_input(d, c);
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

void vkd_accept(struct vkd *d, int lfd, uint32_t events, void *opaque)
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
    static uint64_t next_serial;
    c->fd = fd;
    c->serial = ++next_serial;
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

int vkd_listen(const char *path, mode_t mode, gid_t group, struct vk_err *err)
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

void vkd_conns_free_all(struct vkd *d)
{
    while (d->conns)
        conn_free(d, d->conns);
}
