/* The daemon's event loop plumbing: fd watches (epoll), one-shot timers
 * (timerfd), child and adopted processes (pidfds). One thread. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "daemon.h"

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
void vkd_reap_children(void)
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

/* ---- dispatch and teardown --------------------------------------------- */

void vkd_loop_dispatch(struct vkd *d, const struct epoll_event *ev)
{
    int fd = ev->data.fd;
    if (fd < 0 || (size_t)fd >= n_watches || !watches[fd].cb)
        return;
    watches[fd].cb(d, fd, ev->events, watches[fd].opaque);
}

void vkd_loop_fini(void)
{
    for (size_t fd = 0; fd < n_watches; fd++) {
        if (watches[fd].cb == timer_fired) {       /* timers that never fired */
            free(watches[fd].opaque);
            close((int)fd);
        }
    }
    free(watches);
    watches = NULL;
    n_watches = 0;
}
