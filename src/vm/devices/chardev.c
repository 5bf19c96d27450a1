/* Character-device backends: stdio, pty, unix (server), file, null. */
#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_stdio(struct chardev *c, struct vk_err *err)
{
    c->in_fd = 0;
    c->out_fd = 1;
    snprintf(c->filename, sizeof(c->filename), "stdio");
    /* Raw mode only on a terminal: keystrokes go to the guest unchanged. */
    if (isatty(0) && tcgetattr(0, &c->saved_tio) == 0) {
        struct termios t = c->saved_tio;
        cfmakeraw(&t);
        t.c_oflag |= OPOST | ONLCR;  /* keep the host terminal readable */
        t.c_lflag |= ISIG;           /* Ctrl-C still stops the VMM */
        if (tcsetattr(0, TCSANOW, &t) == 0)
            c->restore_tty = true;
        c->is_tty = true;
    }
    return 0;
}

static int open_pty(struct chardev *c, struct vk_err *err)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return vk_err_errno(err, -errno, "posix_openpt");
    const char *name = NULL;
    if (grantpt(fd) < 0 || unlockpt(fd) < 0 || !(name = ptsname(fd))) {
        int e = -errno;
        close(fd);
        return vk_err_errno(err, e, "pty setup");
    }
    /* Raw line discipline on the slave side, so the guest sees bytes. */
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    set_nonblock(fd);
    c->in_fd = c->out_fd = fd;
    c->is_pty = true;
    snprintf(c->filename, sizeof(c->filename), "pty:%s", name);
    fprintf(stderr, "char device redirected to %s (label %s)\n", name, c->label);
    return 0;
}

static int open_unix(struct chardev *c, const char *path, struct vk_err *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!*path || strlen(path) >= sizeof(sa.sun_path))
        return vk_err_set(err, -EINVAL, "unix socket path '%s' is empty or too long", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return vk_err_errno(err, -errno, "socket");
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);  /* a stale socket from an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        int e = -errno;
        close(fd);
        return vk_err_errno(err, e, "listening on %s", path);
    }
    c->listen_fd = fd;
    snprintf(c->filename, sizeof(c->filename), "unix:%s,server=on", path);
    return 0;
}

static int open_file(struct chardev *c, const char *path, struct vk_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return vk_err_errno(err, -errno, "opening %s", path);
    c->out_fd = fd;
    snprintf(c->filename, sizeof(c->filename), "file:%s", path);
    return 0;
}

int chardev_open(const char *spec, const char *label, struct chardev **out,
                 struct vk_err *err)
{
    struct chardev *c = calloc(1, sizeof(*c));
    if (!c)
        return vk_err_set(err, -ENOMEM, "out of memory");
    c->in_fd = c->out_fd = c->listen_fd = -1;
    c->wake_pipe[0] = c->wake_pipe[1] = -1;
    snprintf(c->label, sizeof(c->label), "%s", label);
    pthread_mutex_init(&c->lock, NULL);
    int rc;
    /* QEMU spellings: "mon:stdio" (no monitor here: plain stdio) and
     * "unix:PATH,server,nowait" / ",server=on,wait=off" (we are always a
     * non-waiting server). */
    char *copy = NULL;
    if (!strcmp(spec, "mon:stdio"))
        spec = "stdio";
    if (!strncmp(spec, "unix:", 5) && strchr(spec, ',')) {
        copy = strndup(spec, strcspn(spec, ","));
        if (!copy) {
            chardev_close(c);
            return vk_err_set(err, -ENOMEM, "out of memory");
        }
        spec = copy;
    }
    if (!strcmp(spec, "stdio"))
        rc = open_stdio(c, err);
    else if (!strcmp(spec, "pty"))
        rc = open_pty(c, err);
    else if (!strncmp(spec, "unix:", 5))
        rc = open_unix(c, spec + 5, err);
    else if (!strncmp(spec, "file:", 5))
        rc = open_file(c, spec + 5, err);
    else if (!strcmp(spec, "null") || !strcmp(spec, "none")) {
        snprintf(c->filename, sizeof(c->filename), "null");
        rc = 0;
    } else
        rc = vk_err_set(err, -EINVAL,
                        "unknown serial backend '%s' (want stdio, pty, unix:PATH, file:PATH or null)",
                        spec);
    if (rc == 0 && pipe2(c->wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        rc = vk_err_errno(err, -errno, "pipe");
    free(copy);
    if (rc < 0) {
        chardev_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void chardev_write(struct chardev *c, const void *buf, size_t len)
{
    pthread_mutex_lock(&c->lock);
    int fd = c->out_fd;
    if (fd >= 0) {
        const char *p = buf;
        while (len > 0) {
            ssize_t n = write(fd, p, len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;  /* EAGAIN (slow reader), EPIPE, EIO: drop, like a UART without flow control */
            p += n;
            len -= (size_t)n;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void chardev_accept_input(struct chardev *c)
{
    if (c->wake_pipe[1] >= 0) {
        char b = 'w';
        ssize_t r = write(c->wake_pipe[1], &b, 1);
        (void)r;  /* a full pipe already means "wake up" */
    }
}

static void drop_client(struct chardev *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->in_fd >= 0)
        close(c->in_fd);
    c->in_fd = c->out_fd = -1;
    pthread_mutex_unlock(&c->lock);
}

static void *input_thread(void *arg)
{
    struct chardev *c = arg;
    for (;;) {
        struct pollfd p[2] = { { c->wake_pipe[0], POLLIN, 0 }, { -1, POLLIN, 0 } };
        size_t room = c->fe->can_receive(c->fe_opaque);
        if (c->listen_fd >= 0 && c->in_fd < 0)
            p[1].fd = c->listen_fd;
        else if (room > 0)
            p[1].fd = c->in_fd;
        int n = poll(p, 2, c->is_pty ? 200 : -1);
        if (n < 0 && errno != EINTR)
            break;
        if (p[0].revents) {
            char b[64];
            ssize_t r = read(c->wake_pipe[0], b, sizeof(b));
            for (ssize_t i = 0; i < r; i++)
                if (b[i] == 'q')
                    return NULL;
        }
        if (p[1].fd < 0 || !p[1].revents)
            continue;
        if (p[1].fd == c->listen_fd) {
            int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) {
                pthread_mutex_lock(&c->lock);
                c->in_fd = c->out_fd = fd;
                pthread_mutex_unlock(&c->lock);
            }
            continue;
        }
        unsigned char buf[64];
        ssize_t r = read(c->in_fd, buf, VK_MIN(room, sizeof(buf)));
        if (r > 0) {
            c->fe->receive(c->fe_opaque, buf, (size_t)r);
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            if (c->listen_fd >= 0)
                drop_client(c);          /* wait for the next client */
            else if (c->is_pty)
                usleep(100000);          /* no one has the slave open yet */
            else {
                pthread_mutex_lock(&c->lock);
                c->in_fd = -1;           /* EOF on stdin: no more input */
                pthread_mutex_unlock(&c->lock);
                if (c->out_fd < 0 && c->listen_fd < 0)
                    return NULL;
            }
        }
    }
    return NULL;
}

int chardev_attach(struct chardev *c, const struct chardev_frontend *fe, void *opaque,
                   struct vk_err *err)
{
    c->fe = fe;
    c->fe_opaque = opaque;
    if (c->in_fd < 0 && c->listen_fd < 0)
        return 0;
    int rc = pthread_create(&c->thread, NULL, input_thread, c);
    if (rc)
        return vk_err_errno(err, -rc, "starting serial input thread");
    c->thread_started = true;
    return 0;
}

void chardev_close(struct chardev *c)
{
    if (!c)
        return;
    if (c->thread_started) {
        char q = 'q';
        if (write(c->wake_pipe[1], &q, 1) < 0)
            pthread_cancel(c->thread);
        pthread_join(c->thread, NULL);
    }
    if (c->restore_tty)
        tcsetattr(0, TCSANOW, &c->saved_tio);
    if (c->in_fd > 2)
        close(c->in_fd);
    if (c->out_fd > 2 && c->out_fd != c->in_fd)
        close(c->out_fd);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    for (int i = 0; i < 2; i++)
        if (c->wake_pipe[i] >= 0)
            close(c->wake_pipe[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
