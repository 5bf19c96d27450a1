/* Character-device backends for serial ports (and later virtio-console):
 * stdio, pty, unix socket (server), file, null.
 *
 * A frontend writes guest output with chardev_write (never blocks the vCPU
 * for long: output to a full or absent peer is dropped) and receives input
 * on the backend's own thread through `receive`, which may deliver only as
 * many bytes as `can_receive` said; when the frontend's buffer was full, it
 * calls chardev_accept_input once the guest made room again.
 */
#ifndef VK_VM_CHARDEV_H
#define VK_VM_CHARDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <termios.h>

#include "util.h"

struct chardev_frontend {
    size_t (*can_receive)(void *opaque);
    void (*receive)(void *opaque, const unsigned char *buf, size_t len);
};

struct chardev {
    char label[16];             /* "serial0" */
    char filename[300];         /* QMP query-chardev style: "stdio", "pty:/dev/pts/3" */
    int in_fd, out_fd;          /* -1 when absent */
    int listen_fd;              /* unix server socket, else -1 */
    int wake_pipe[2];           /* wakes the input thread (accept input / stop) */
    bool is_tty, restore_tty, is_pty;
    struct termios saved_tio;
    const struct chardev_frontend *fe;
    void *fe_opaque;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;       /* guards out_fd for unix reconnects */
};

/* Open a backend from a --serial spec: stdio | pty | unix:PATH | file:PATH |
 * null. For pty, prints "char device redirected to /dev/pts/N (label L)" on
 * stderr as QEMU does. */
int chardev_open(const char *spec, const char *label, struct chardev **out,
                 struct vk_err *err) VK_MUST_CHECK;
/* Start delivering input to the frontend (starts the input thread). */
int chardev_attach(struct chardev *c, const struct chardev_frontend *fe, void *opaque,
                   struct vk_err *err) VK_MUST_CHECK;
void chardev_write(struct chardev *c, const void *buf, size_t len);
/* The frontend has room again: poll the backend. Any thread. */
void chardev_accept_input(struct chardev *c);
void chardev_close(struct chardev *c);

#endif
