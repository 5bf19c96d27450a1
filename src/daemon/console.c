/* Console relay: the daemon holds the VM's serial socket and relays it to
 * at most one client connection that asked for "domain.console". Output
 * while nobody is attached is dropped (as a pty nobody reads). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "domain.h"

static void serial_readable(struct vkd *d, int fd, uint32_t events, void *opaque)
{
    struct domain *dom = opaque;
    char buf[16384];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        console_close(d, dom);
        return;
    }
    if (dom->console)
        vkd_conn_send(d, dom->console, buf, (size_t)n);
}

int console_connect(struct vkd *d, struct domain *dom, const char *path)
{
    if (dom->serial_fd >= 0)
        return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    int r = vkd_watch(d, fd, EPOLLIN, serial_readable, dom);
    if (r < 0) {
        close(fd);
        return r;
    }
    dom->serial_fd = fd;
    return 0;
}

void console_close(struct vkd *d, struct domain *dom)
{
    if (dom->console) {
        vkd_conn_close(d, dom->console);
        dom->console = NULL;
    }
    if (dom->serial_fd >= 0) {
        vkd_unwatch(d, dom->serial_fd);
        close(dom->serial_fd);
        dom->serial_fd = -1;
    }
}

static void relay_input(struct vkd *d, struct vkd_conn *c, const char *buf, size_t n, void *opaque)
{
    struct domain *dom = opaque;
    if (dom->serial_fd < 0)
        return;
    /* The socket buffer absorbs typing and pastes; a guest that does not
     * read its UART must not stall the daemon: what does not fit is
     * dropped, as a real UART overruns. */
    while (n) {
        ssize_t w = send(dom->serial_fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            vk_warn_ratelimited("domain console: the guest does not read its serial port; "
                                "%zu bytes dropped", n);
            return;
        }
        if (w <= 0)
            return;
        buf += w;
        n -= (size_t)w;
    }
}

static void relay_closed(struct vkd *d, struct vkd_conn *c, void *opaque)
{
    struct domain *dom = opaque;
    if (dom->console == c)
        dom->console = NULL;
}

int console_attach(struct vkd *d, struct domain *dom, struct vkd_conn *conn, bool force,
                   struct vk_err *err)
{
    if (!dom_is_active(dom))
        return vk_err_set(err, -EINVAL, "Requested operation is not valid: domain is not running");
    const struct dom_serial *sp = dom->live ? &dom->live->serials[0] : NULL;
    if (sp && sp->type != DOM_CHR_PTY)
        return vk_err_set(err, -ENOTSUP, "internal error: character device serial0 is not using "
                          "a PTY (its <serial type='%s'> goes to %s)",
                          sp->type == DOM_CHR_FILE ? "file" : "unix", sp->path ? sp->path : "?");
    if (dom->serial_fd < 0)
        return vk_err_set(err, -ENODEV, "the domain's serial console is not available");
    if (dom->console && !force)
        return vk_err_set(err, -EBUSY,
                          "operation failed: Active console session exists for this domain");
    if (dom->console) {
        vkd_conn_close(d, dom->console);
        dom->console = NULL;
    }
    dom->console = conn;
    vkd_conn_relay(d, conn, relay_input, relay_closed, dom);
    return 0;
}
