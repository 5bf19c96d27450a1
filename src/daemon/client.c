/* virtkitd client library (client.h). */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "paths.h"

struct vk_client {
    int fd;
    int next_id;
    enum vk_rpc_code last_code;
    char uri[256];
    char *buf;                  /* received, not yet consumed */
    size_t len, cap;
    struct json_object **events;    /* events that arrived while waiting */
    size_t n_events;
};

static int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        close(fd);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

/* virtkitd for session auto-start: $VIRTKIT_DAEMON, beside us, or PATH. */
static void daemon_path(char *out, size_t len)
{
    const char *env = getenv("VIRTKIT_DAEMON");
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
            const char *cands[] = { "/virtkitd", "/../daemon/virtkitd", "/../sbin/virtkitd" };
            for (size_t i = 0; i < VK_ARRAY_SIZE(cands); i++) {
                snprintf(out, len, "%s%s", self, cands[i]);
                if (access(out, X_OK) == 0)
                    return;
            }
        }
    }
    snprintf(out, len, "virtkitd");
}

static int autostart_session(const char *sock, struct vk_err *err)
{
    char exe[PATH_MAX];
    daemon_path(exe, sizeof(exe));
    pid_t pid = fork();
    if (pid < 0)
        return vk_err_errno(err, -errno, "starting virtkitd");
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
        }
        execlp(exe, exe, "--session", "--daemon", "--timeout", "120", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);   /* --daemon returns once the socket listens */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* maybe another client started it at the same time: try anyway */
        int fd = connect_unix(sock);
        if (fd >= 0)
            return fd;
        return vk_err_set(err, -ECONNREFUSED,
                          "could not start the session daemon %s (exit status %d)", exe,
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    for (int i = 0; i < 100; i++) {
        int fd = connect_unix(sock);
        if (fd >= 0)
            return fd;
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return vk_err_set(err, -ETIMEDOUT, "the session daemon did not answer on %s", sock);
}

int vk_client_open(const char *uri, bool readonly, struct vk_client **out,
                   struct vk_err *err)
{
    *out = NULL;
    if (!uri || !*uri)
        uri = getenv("VIRTKIT_DEFAULT_URI");
    if (!uri || !*uri)
        uri = geteuid() == 0 ? "virtkit:///system" : "virtkit:///session";
    if (!readonly) {
        const char *ro = getenv("VIRTKIT_READONLY");
        readonly = ro && *ro && strcmp(ro, "0");
    }
    bool system;
    const char *rest;
    if (!strncmp(uri, "virtkit:///system", 17) || !strncmp(uri, "qemu:///system", 14)) {
        system = true;
        rest = uri + (uri[0] == 'v' ? 17 : 14);
    } else if (!strncmp(uri, "virtkit:///session", 18) || !strncmp(uri, "qemu:///session", 15)) {
        system = false;
        rest = uri + (uri[0] == 'v' ? 18 : 15);
    } else {
        return vk_err_set(err, -EINVAL,
                          "unsupported URI '%s' (use virtkit:///system or virtkit:///session)", uri);
    }
    char sock[PATH_MAX] = "";
    if (*rest) {
        if (strncmp(rest, "?socket=", 8) || rest[8] != '/')
            return vk_err_set(err, -EINVAL, "unsupported URI parameters in '%s'", uri);
        snprintf(sock, sizeof(sock), "%s", rest + 8);
    }
    struct vk_paths p;
    int r = vk_paths_init(&p, system, NULL, err);
    if (r < 0)
        return r;
    if (!*sock)
        snprintf(sock, sizeof(sock), "%s", readonly ? p.sock_ro : p.sock_rw);
    int fd = connect_unix(sock);
    if (fd < 0 && !system && !*rest && (fd == -ENOENT || fd == -ECONNREFUSED)) {
        fd = autostart_session(sock, err);
        if (fd < 0)
            return fd;
    } else if (fd < 0) {
        return vk_err_errno(err, fd, "failed to connect to the daemon at '%s'", sock);
    }
    struct vk_client *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return vk_err_set(err, -ENOMEM, "out of memory");
    }
    c->fd = fd;
    c->next_id = 1;
    snprintf(c->uri, sizeof(c->uri), "%s", system ? "virtkit:///system" : "virtkit:///session");
    *out = c;
    return 0;
}

void vk_client_close(struct vk_client *c)
{
    if (!c)
        return;
    close(c->fd);
    for (size_t i = 0; i < c->n_events; i++)
        json_object_put(c->events[i]);
    free(c->events);
    free(c->buf);
    free(c);
}

const char *vk_client_uri(const struct vk_client *c) { return c->uri; }
enum vk_rpc_code vk_client_last_code(const struct vk_client *c) { return c->last_code; }
int vk_client_fd(const struct vk_client *c) { return c->fd; }

size_t vk_client_take_buffered(struct vk_client *c, char *buf, size_t len)
{
    size_t n = VK_MIN(len, c->len);
    memcpy(buf, c->buf, n);
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    return n;
}

/* Read one JSON line. timeout_ms < 0 = forever. 1 = got one, 0 = timeout. */
static int read_message(struct vk_client *c, int timeout_ms, struct json_object **out,
                        struct vk_err *err)
{
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            *nl = 0;
            struct json_object *o = json_tokener_parse(c->buf);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            if (!o)
                return vk_err_set(err, -EPROTO, "the daemon sent invalid JSON");
            *out = o;
            return 1;
        }
        if (c->len > VK_RPC_MAX_MESSAGE)
            return vk_err_set(err, -EPROTO, "the daemon sent an oversized message");
        if (timeout_ms >= 0) {
            struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
            int r = poll(&pfd, 1, timeout_ms);
            if (r == 0)
                return 0;
            if (r < 0 && errno != EINTR)
                return vk_err_errno(err, -errno, "poll");
        }
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap * 2 + 65536;
            char *b = realloc(c->buf, cap + 1);
            if (!b)
                return vk_err_set(err, -ENOMEM, "out of memory");
            c->buf = b;
            c->cap = cap;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vk_err_errno(err, -errno, "reading from the daemon");
        if (n == 0)
            return vk_err_set(err, -EPIPE, "the daemon closed the connection");
        c->len += (size_t)n;
    }
}

/* write() would raise SIGPIPE when the daemon went away: send() does not */
static int send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int vk_client_call(struct vk_client *c, const char *method, struct json_object *params,
                   struct json_object **result, struct vk_err *err)
{
    if (result)
        *result = NULL;
    c->last_code = VK_RPC_OK;
    int id = c->next_id++;
    struct json_object *req = json_object_new_object();
    json_object_object_add(req, "id", json_object_new_int(id));
    json_object_object_add(req, "method", json_object_new_string(method));
    json_object_object_add(req, "params", params ? params : json_object_new_object());
    size_t len;
    const char *s = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &len);
    /* One write per message, newline included: a peer that answers and
     * closes after reading the JSON must not turn the newline into EPIPE. */
    char *line = malloc(len + 1);
    int r = -ENOMEM;
    if (line) {
        memcpy(line, s, len);
        line[len] = '\n';
        r = send_all(c->fd, line, len + 1);
        free(line);
    }
    json_object_put(req);
    if (r < 0) {
        c->last_code = VK_RPC_E_INTERNAL;
        return vk_err_errno(err, r, "sending to the daemon");
    }
    for (;;) {
        struct json_object *msg = NULL;
        r = read_message(c, -1, &msg, err);
        if (r < 0) {
            c->last_code = VK_RPC_E_INTERNAL;
            return r;
        }
        struct json_object *v;
        if (json_object_object_get_ex(msg, "event", &v)) {
            struct json_object **ev = realloc(c->events, (c->n_events + 1) * sizeof(*ev));
            if (ev) {
                c->events = ev;
                c->events[c->n_events++] = msg;
            } else {
                json_object_put(msg);
            }
            continue;
        }
        if (!json_object_object_get_ex(msg, "id", &v) || json_object_get_int(v) != id) {
            json_object_put(msg);
            continue;
        }
        struct json_object *e;
        if (json_object_object_get_ex(msg, "error", &e)) {
            struct json_object *code = NULL, *m = NULL, *en = NULL;
            json_object_object_get_ex(e, "code", &code);
            json_object_object_get_ex(e, "message", &m);
            json_object_object_get_ex(e, "errno", &en);
            c->last_code = vk_rpc_code_from_name(json_object_get_string(code));
            int eno = en ? json_object_get_int(en) : 0;
            vk_err_set(err, eno > 0 ? -eno : -EPROTO, "%s",
                       m ? json_object_get_string(m) : "unknown error");
            json_object_put(msg);
            return eno > 0 ? -eno : -EPROTO;
        }
        if (json_object_object_get_ex(msg, "result", &v) && result)
            *result = json_object_get(v);
        json_object_put(msg);
        return 0;
    }
}

int vk_client_subscribe(struct vk_client *c, struct vk_err *err)
{
    return vk_client_call(c, VK_RPC_SUBSCRIBE, NULL, NULL, err);
}

int vk_client_next_event(struct vk_client *c, int timeout_ms, struct json_object **event,
                         struct vk_err *err)
{
    if (c->n_events) {
        *event = c->events[0];
        memmove(c->events, c->events + 1, (c->n_events - 1) * sizeof(*c->events));
        c->n_events--;
        return 1;
    }
    for (;;) {
        struct json_object *msg = NULL;
        int r = read_message(c, timeout_ms, &msg, err);
        if (r <= 0)
            return r;
        struct json_object *v;
        if (json_object_object_get_ex(msg, "event", &v)) {
            *event = msg;
            return 1;
        }
        json_object_put(msg);
    }
}
