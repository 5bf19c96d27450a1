/* Control socket server (see control.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

struct control_client {
    struct control_server *srv;
    int fd;
    struct qmp_session s;
    char *out;
    size_t out_len, out_cap;
    bool dead;
};

struct control_server {
    int listen_fd;
    int wake[2];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pthread_t thread;
    bool thread_started;
    atomic_bool stopping;
    pthread_mutex_t lock;           /* clients[] membership and output buffers */
    struct control_client *clients[CONTROL_MAX_CLIENTS];
    unsigned nr_clients;
    struct qmp_env env;
};

static void wake(struct control_server *c)
{
    char b = 1;
    if (write(c->wake[1], &b, 1) < 0) {
        /* Full pipe: the thread is awake already. */
    }
}

/* Append one JSON text and CRLF to a client's output. Lock held. */
static void queue_locked(struct control_client *cl, const char *text, size_t len)
{
    size_t need = cl->out_len + len + 2;

    if (cl->dead)
        return;
    if (need > CONTROL_MAX_OUTPUT) {
        vk_warn_ratelimited("control: client is not reading its replies, disconnecting");
        cl->dead = true;
        return;
    }
    if (need > cl->out_cap) {
        size_t cap = cl->out_cap ? cl->out_cap : 4096;
        char *n;

        while (cap < need)
            cap *= 2;
        n = realloc(cl->out, cap);
        if (!n) {
            cl->dead = true;
            return;
        }
        cl->out = n;
        cl->out_cap = cap;
    }
    memcpy(cl->out + cl->out_len, text, len);
    memcpy(cl->out + cl->out_len + len, "\r\n", 2);
    cl->out_len = need;
}

static void session_write(void *opaque, const char *text, size_t len)
{
    struct control_client *cl = opaque;

    pthread_mutex_lock(&cl->srv->lock);
    queue_locked(cl, text, len);
    pthread_mutex_unlock(&cl->srv->lock);
}

void control_server_event(struct control_server *c, const char *event, struct json_object *data)
{
    struct json_object *o = qmp_event_new(event, data);
    size_t len;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);

    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->nr_clients; i++)
        if (c->clients[i]->s.negotiated)
            queue_locked(c->clients[i], text, len);
    pthread_mutex_unlock(&c->lock);
    json_object_put(o);
    wake(c);
}

static void emit_cb(void *opaque, const char *event, struct json_object *data)
{
    control_server_event(opaque, event, data);
}

/* Write what the socket takes without blocking. Lock held. */
static void flush_locked(struct control_client *cl)
{
    while (cl->out_len && !cl->dead) {
        ssize_t n = send(cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                cl->dead = true;
            return;
        }
        memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
        cl->out_len -= (size_t)n;
    }
}

static void client_free(struct control_client *cl)
{
    close(cl->fd);
    qmp_session_free(&cl->s);
    free(cl->out);
    free(cl);
}

static void accept_client(struct control_server *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    struct control_client *cl;

    if (fd < 0)
        return;
    if (c->nr_clients == CONTROL_MAX_CLIENTS) {
        static const char busy[] =
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"too many clients\"}}\r\n";
        if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            /* nothing to do: the client is being turned away */
        }
        close(fd);
        return;
    }
    cl = calloc(1, sizeof(*cl));
    if (!cl || qmp_session_init(&cl->s, &c->env, session_write, cl) < 0) {
        free(cl);
        close(fd);
        return;
    }
    cl->srv = c;
    cl->fd = fd;
    pthread_mutex_lock(&c->lock);
    c->clients[c->nr_clients++] = cl;
    pthread_mutex_unlock(&c->lock);
    qmp_session_greet(&cl->s);
}

/* recv() that also takes descriptors passed with SCM_RIGHTS (getfd); they
 * go to the session before the bytes they came with. */
static ssize_t recv_with_fds(struct control_client *cl, char *buf, size_t len)
{
    union { struct cmsghdr h; char b[CMSG_SPACE(4 * sizeof(int))]; } ctl;
    struct iovec iov = { buf, len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
    ssize_t n = recvmsg(cl->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

    if (n < 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len < CMSG_LEN(sizeof(int)))
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            qmp_session_take_fd(&cl->s, fd);    /* the last one wins */
        }
    }
    /* MSG_CTRUNC: descriptors that did not fit were closed by the kernel. */
    return n;
}

static void read_client(struct control_client *cl)
{
    char buf[4096];

    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = recv_with_fds(cl, buf, sizeof(buf));

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            cl->dead = true;
            return;
        }
        if (n < 0)
            return;
        qmp_session_feed(&cl->s, buf, (size_t)n);
    }
}

static void *server_thread(void *arg)
{
    struct control_server *c = arg;
    struct pollfd pfd[2 + CONTROL_MAX_CLIENTS];
    struct control_client *polled[CONTROL_MAX_CLIENTS];

    while (!atomic_load(&c->stopping)) {
        unsigned n = 2, k = 0;

        pfd[0] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
        pfd[1] = (struct pollfd){ .fd = c->wake[0], .events = POLLIN };
        pthread_mutex_lock(&c->lock);
        for (unsigned i = 0; i < c->nr_clients; i++) {
            struct control_client *cl = c->clients[i];
            flush_locked(cl);
            polled[k++] = cl;
            pfd[n++] = (struct pollfd){ .fd = cl->fd,
                                        .events = (short)(POLLIN | (cl->out_len ? POLLOUT : 0)) };
        }
        pthread_mutex_unlock(&c->lock);

        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            vk_warn("control: poll: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents & POLLIN) {
            char drain[64];
            while (read(c->wake[0], drain, sizeof(drain)) > 0)
                ;
        }
        for (unsigned i = 0; i < k; i++) {
            if (pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
                read_client(polled[i]);
        }
        if (pfd[0].revents & POLLIN)
            accept_client(c);

        pthread_mutex_lock(&c->lock);
        for (unsigned i = 0; i < c->nr_clients;) {
            struct control_client *cl = c->clients[i];
            flush_locked(cl);
            if (cl->dead) {
                c->clients[i] = c->clients[--c->nr_clients];
                client_free(cl);
            } else {
                i++;
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
    return NULL;
}

static int listen_on(const char *path, struct vk_err *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return vk_err_set(err, -ENAMETOOLONG, "control socket path too long: %s", path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return vk_err_set(err, -EEXIST, "%s exists and is not a socket", path);
        unlink(path);
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vk_err_errno(err, -errno, "control socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = -errno;
        close(fd);
        return vk_err_errno(err, e, "control socket %s", path);
    }
    return fd;
}

int control_server_start(const char *path, const struct qmp_backend_ops *ops, void *opaque,
                         struct control_server **out, struct vk_err *err)
{
    struct control_server *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return vk_err_errno(err, -ENOMEM, "control socket");
    c->wake[0] = c->wake[1] = -1;
    c->listen_fd = listen_on(path, err);
    if (c->listen_fd < 0) {
        r = c->listen_fd;
        free(c);
        return r;
    }
    snprintf(c->path, sizeof(c->path), "%s", path);
    if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        r = vk_err_errno(err, -errno, "control socket");
        goto fail;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->env = (struct qmp_env){ .ops = ops, .opaque = opaque, .emit = emit_cb, .emit_opaque = c };
    r = pthread_create(&c->thread, NULL, server_thread, c);
    if (r) {
        pthread_mutex_destroy(&c->lock);
        r = vk_err_errno(err, -r, "control socket thread");
        goto fail;
    }
    c->thread_started = true;
    *out = c;
    return 0;
fail:
    if (c->wake[0] >= 0) {
        close(c->wake[0]);
        close(c->wake[1]);
    }
    close(c->listen_fd);
    unlink(c->path);
    free(c);
    return r;
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void control_server_stop(struct control_server *c, const char *event, struct json_object *data)
{
    int64_t deadline;

    if (!c) {
        json_object_put(data);
        return;
    }
    atomic_store(&c->stopping, true);
    wake(c);
    if (c->thread_started)
        pthread_join(c->thread, NULL);
    /* After the thread: the final event follows every reply it queued. */
    if (event)
        control_server_event(c, event, data);
    else
        json_object_put(data);
    /* Last replies and events (SHUTDOWN) go out before the sockets close. */
    deadline = ms_now() + 1000;
    for (;;) {
        struct pollfd pfd[CONTROL_MAX_CLIENTS];
        unsigned n = 0;

        for (unsigned i = 0; i < c->nr_clients; i++) {
            flush_locked(c->clients[i]);
            if (c->clients[i]->out_len && !c->clients[i]->dead)
                pfd[n++] = (struct pollfd){ .fd = c->clients[i]->fd, .events = POLLOUT };
        }
        int64_t left = deadline - ms_now();
        if (!n || left <= 0 || poll(pfd, n, (int)left) <= 0)
            break;
    }
    for (unsigned i = 0; i < c->nr_clients; i++)
        client_free(c->clients[i]);
    close(c->listen_fd);
    unlink(c->path);
    close(c->wake[0]);
    close(c->wake[1]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
