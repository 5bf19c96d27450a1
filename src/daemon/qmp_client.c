/* QMP client for virtkit-vm's control socket (domain.h).
 *
 * One connection per running domain, kept open: events (SHUTDOWN, STOP,
 * RESUME, RESET, POWERDOWN) arrive on the daemon loop and update the
 * domain; commands are sent synchronously with a timeout (the VM answers
 * at once; a wedged VM costs at most QMP_TIMEOUT_MS of loop time). Input
 * from the VM is untrusted: bounded lines, JSON checked before use. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "domain.h"

#define QMP_TIMEOUT_MS 5000
#define QMP_MAX_LINE (1u << 20)

static void handle_event(struct vkd *d, struct domain *dom, const char *ev)
{
    if (!strcmp(ev, "SHUTDOWN")) {
        dom->saw_shutdown_event = true;
    } else if (!strcmp(ev, "STOP")) {
        if (dom->state == DOM_RUNNING) {
            dom_set_state(d, dom, DOM_PAUSED, "unknown");
            dom_event(d, dom, "suspended", "paused");
        }
    } else if (!strcmp(ev, "RESUME")) {
        if (dom->state == DOM_PAUSED) {
            dom_set_state(d, dom, DOM_RUNNING, "unpaused");
            dom_event(d, dom, "resumed", "unpaused");
        }
    }
}

/* Read one line (blocking up to timeout). 1 = line in *out (malloc'd),
 * 0 = timeout, <0 = error/EOF. */
static int read_line(struct domain *dom, int timeout_ms, char **out)
{
    int64_t deadline = vk_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        char *nl = dom->qmp_len ? memchr(dom->qmp_in, '\n', dom->qmp_len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - dom->qmp_in);
            *out = strndup(dom->qmp_in, n);
            memmove(dom->qmp_in, nl + 1, dom->qmp_len - n - 1);
            dom->qmp_len -= n + 1;
            return *out ? 1 : -ENOMEM;
        }
        if (dom->qmp_len > QMP_MAX_LINE)
            return -EPROTO;
        int left = (int)((deadline - vk_now_ns()) / 1000000);
        if (timeout_ms >= 0) {
            if (left < 0)
                return 0;
            struct pollfd p = { .fd = dom->qmp_fd, .events = POLLIN };
            int r = poll(&p, 1, left);
            if (r < 0 && errno == EINTR)
                continue;
            if (r == 0)
                return 0;
        }
        if (dom->qmp_cap - dom->qmp_len < 4096) {
            size_t cap = dom->qmp_cap * 2 + 8192;
            char *b = realloc(dom->qmp_in, cap);
            if (!b)
                return -ENOMEM;
            dom->qmp_in = b;
            dom->qmp_cap = cap;
        }
        ssize_t n = recv(dom->qmp_fd, dom->qmp_in + dom->qmp_len, dom->qmp_cap - dom->qmp_len,
                         timeout_ms >= 0 ? 0 : MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return n < 0 ? -errno : -EPIPE;
        dom->qmp_len += (size_t)n;
    }
}

/* Classify a message: 'e' event (handled), 'r' return, 'x' error, 'g' greeting, '?'.
 * For 'r', *ret (when ret is not NULL) gets a reference to the value. */
static char classify(struct vkd *d, struct domain *dom, const char *line, char *errmsg, size_t len,
                     struct json_object **ret)
{
    struct json_object *o = json_tokener_parse(line), *v;
    char kind = '?';
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return '?';
    }
    if (json_object_object_get_ex(o, "event", &v) && json_object_is_type(v, json_type_string)) {
        kind = 'e';
        handle_event(d, dom, json_object_get_string(v));
    } else if (json_object_object_get_ex(o, "return", &v)) {
        kind = 'r';
        if (ret)
            *ret = json_object_get(v);
    } else if (json_object_object_get_ex(o, "error", &v)) {
        kind = 'x';
        struct json_object *desc;
        snprintf(errmsg, len, "%s",
                 json_object_object_get_ex(v, "desc", &desc) ? json_object_get_string(desc) : "error");
    } else if (json_object_object_get_ex(o, "QMP", &v)) {
        kind = 'g';
    }
    json_object_put(o);
    return kind;
}

static void qmp_readable(struct vkd *d, int fd, uint32_t events, void *opaque)
{
    struct domain *dom = opaque;
    for (;;) {
        char *line = NULL;
        int r = read_line(dom, -1, &line);
        if (r == 0)
            return;
        if (r < 0) {
            /* VM closing: its pidfd tells us the rest */
            qmp_close(d, dom);
            return;
        }
        char msg[256];
        classify(d, dom, line, msg, sizeof(msg), NULL);
        free(line);
        if (dom->qmp_fd < 0)
            return;
    }
}

static int wait_reply(struct vkd *d, struct domain *dom, char want, struct json_object **ret,
                      int timeout_ms, struct vk_err *err)
{
    for (;;) {
        char *line = NULL;
        int r = read_line(dom, timeout_ms, &line);
        if (r == 0)
            return vk_err_set(err, -ETIMEDOUT, "the VM's control socket did not answer");
        if (r < 0)
            return vk_err_errno(err, r, "the VM's control socket");
        char msg[256] = "";
        char k = classify(d, dom, line, msg, sizeof(msg), want == 'r' ? ret : NULL);
        free(line);
        if (k == want)
            return 0;
        if (k == 'x')
            return vk_err_set(err, -EIO, "virtkit-vm: %s", msg);
    }
}

static int send_cmd(struct domain *dom, const char *cmd, struct json_object *args,
                    struct vk_err *err)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "execute", json_object_new_string(cmd));
    if (args)
        json_object_object_add(o, "arguments", json_object_get(args));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(s);
    char *buf = malloc(n + 2);
    int r = -ENOMEM;
    if (buf) {
        memcpy(buf, s, n);
        buf[n] = '\n';
        r = vk_write_full(dom->qmp_fd, buf, n + 1);
        free(buf);
    }
    json_object_put(o);
    return r < 0 ? vk_err_errno(err, r, "writing to the VM's control socket") : 0;
}

int qmp_connect(struct vkd *d, struct domain *dom, const char *path, int timeout_ms,
                struct vk_err *err)
{
    if (dom->qmp_fd >= 0)
        qmp_close(d, dom);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vk_err_errno(err, -errno, "socket");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(fd);
        return vk_err_errno(err, r, "connecting to %s", path);
    }
    dom->qmp_fd = fd;
    dom->qmp_len = 0;
    int r = wait_reply(d, dom, 'g', NULL, timeout_ms, err);
    if (r == 0)
        r = send_cmd(dom, "qmp_capabilities", NULL, err);
    if (r == 0)
        r = wait_reply(d, dom, 'r', NULL, timeout_ms, err);
    if (r == 0)
        r = vkd_watch(d, fd, EPOLLIN, qmp_readable, dom);
    if (r < 0) {
        close(fd);
        dom->qmp_fd = -1;
        return r;
    }
    return 0;
}

int qmp_call(struct vkd *d, struct domain *dom, const char *command, struct json_object *args,
             struct json_object **ret, struct vk_err *err)
{
    if (ret)
        *ret = NULL;
    if (dom->qmp_fd < 0)
        return vk_err_set(err, -ENOTCONN, "the VM's control socket is not connected");
    int r = send_cmd(dom, command, args, err);
    if (r == 0)
        r = wait_reply(d, dom, 'r', ret, QMP_TIMEOUT_MS, err);
    return r;
}

int qmp_execute(struct vkd *d, struct domain *dom, const char *command, struct vk_err *err)
{
    return qmp_call(d, dom, command, NULL, NULL, err);
}

/* ---- hot-plug helpers (PCI hot-plug engineer) ---- */

int qmp_call_fd(struct vkd *d, struct domain *dom, const char *command, struct json_object *args,
                int fd, struct vk_err *err)
{
    if (dom->qmp_fd < 0)
        return vk_err_set(err, -ENOTCONN, "the VM's control socket is not connected");
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "execute", json_object_new_string(command));
    if (args)
        json_object_object_add(o, "arguments", json_object_get(args));
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    if (n < 0 || (size_t)n >= sizeof(line))
        return vk_err_set(err, -E2BIG, "QMP command too long");
    /* the descriptor travels with the command's bytes (SCM_RIGHTS) */
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = { line, (size_t)n };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                          .msg_controllen = sizeof(ctl.b) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t w;
    do
        w = sendmsg(dom->qmp_fd, &msg, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w != n)
        return vk_err_errno(err, w < 0 ? -errno : -EIO, "writing to the VM's control socket");
    return wait_reply(d, dom, 'r', NULL, QMP_TIMEOUT_MS, err);
}

int qmp_wait_event(struct vkd *d, struct domain *dom, const char *event, const char *key,
                   const char *value, int timeout_ms, struct vk_err *err)
{
    int64_t deadline = vk_now_ns() + (int64_t)timeout_ms * 1000000;
    if (dom->qmp_fd < 0)
        return vk_err_set(err, -ENOTCONN, "the VM's control socket is not connected");
    for (;;) {
        int left = (int)((deadline - vk_now_ns()) / 1000000);
        if (left <= 0)
            return vk_err_set(err, -ETIMEDOUT, "no %s event from the VM", event);
        char *line = NULL;
        int r = read_line(dom, left, &line);
        if (r == 0)
            continue;
        if (r < 0)
            return vk_err_errno(err, r, "the VM's control socket");
        struct json_object *o = json_tokener_parse(line), *v, *data;
        bool match = false;
        if (o && json_object_is_type(o, json_type_object) &&
            json_object_object_get_ex(o, "event", &v) && json_object_is_type(v, json_type_string)) {
            handle_event(d, dom, json_object_get_string(v));
            match = !strcmp(json_object_get_string(v), event) &&
                    (!key || (json_object_object_get_ex(o, "data", &data) &&
                              json_object_object_get_ex(data, key, &v) &&
                              json_object_is_type(v, json_type_string) &&
                              !strcmp(json_object_get_string(v), value)));
        }
        json_object_put(o);
        free(line);
        if (match)
            return 0;
    }
}

void qmp_close(struct vkd *d, struct domain *dom)
{
    if (dom->qmp_fd < 0)
        return;
    vkd_unwatch(d, dom->qmp_fd);
    close(dom->qmp_fd);
    dom->qmp_fd = -1;
    dom->qmp_len = 0;
}
