/* QMP-compatible control protocol (docs/control.md).
 *
 * Three layers, each testable alone:
 *  - a session (qmp.c) turns bytes from one client into JSON objects with
 *    json-c's incremental tokener, checks the envelope, runs commands from
 *    the table and writes replies through a callback;
 *  - the command table (qmp_commands.c): one handler per command, acting on
 *    the VM only through struct qmp_backend_ops;
 *  - the server (control.c): a UNIX socket, a thread, many clients, and
 *    events broadcast to every negotiated client.
 * control_machine.c implements the backend over struct machine and is the
 * board device.
 */
#ifndef VK_VM_QMP_H
#define VK_VM_QMP_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "util.h"

#define QMP_MAX_MESSAGE   (256 * 1024)   /* bytes of one JSON value */
#define QMP_MAX_DEPTH     32             /* nesting of one JSON value */

struct qmp_cpu_info {
    unsigned index;
    long thread_id;                     /* host thread id, or -1 if unknown */
};

struct qmp_chardev_info {
    char label[32];
    char filename[320];
    bool frontend_open;
};

/* One PCI function for query-pci (qmp_hotplug.c). */
struct qmp_pci_device {
    unsigned slot;
    uint16_t vendor, device, subsys_vendor, subsys;
    uint32_t class_code;                /* base class, subclass, prog-if */
    uint8_t irq;
    char qdev_id[64];
    struct { unsigned bar; bool io, mem64, prefetch; uint64_t addr, size; } regions[6];
    unsigned nr_regions;
};

/* What the commands can do to the VM. Called on the server thread. */
struct qmp_backend_ops {
    /* QAPI RunState name: "running", "paused", "shutdown", "internal-error",
     * "guest-panicked", ... */
    const char *(*status)(void *opaque);
    void (*stop)(void *opaque);
    void (*cont)(void *opaque);
    /* Press the ACPI power button. */
    void (*powerdown)(void *opaque);
    void (*reset)(void *opaque);
    /* End the VM; the process exits 0 once the reply was flushed. */
    void (*quit)(void *opaque);
    unsigned (*cpus)(void *opaque, struct qmp_cpu_info *out, unsigned max);
    unsigned (*chardevs)(void *opaque, struct qmp_chardev_info *out, unsigned max);
    /* Optional: virtio-balloon target / current size in bytes; -ENODEV
     * without a balloon device. */
    int (*balloon)(void *opaque, uint64_t target);
    int (*query_balloon)(void *opaque, uint64_t *actual);
    /* Optional: the accelerator's name ("kvm", "tcg"), for query-kvm. */
    const char *(*accel)(void *opaque);
    /* Optional: PCI hot-plug (docs/pci.md). `driver` is "virtio-net-pci"
     * or "virtio-blk-pci", `spec` the device's option string (as --net /
     * --disk take it), `id` may be "". Returns the slot or -errno. On
     * success a fd=N in `spec` belongs to the device. */
    int (*device_add)(void *opaque, const char *driver, const char *spec, const char *id,
                      struct vk_err *err);
    /* Ask the guest to release device `id`; the backend raises
     * DEVICE_DELETED once it is gone. */
    int (*device_del)(void *opaque, const char *id, struct vk_err *err);
    unsigned (*query_pci)(void *opaque, struct qmp_pci_device *out, unsigned max);
};

/* Where a session's output goes, and how it raises events. */
struct qmp_env {
    const struct qmp_backend_ops *ops;
    void *opaque;
    /* Broadcast an event (takes ownership of data, which may be NULL). */
    void (*emit)(void *emit_opaque, const char *event, struct json_object *data);
    void *emit_opaque;
};

/* File descriptors a client passed (SCM_RIGHTS) and named with getfd. */
#define QMP_MAX_FDS 16
struct qmp_named_fd {
    char name[64];                      /* "" = free entry */
    int fd;
};

struct qmp_session {
    const struct qmp_env *env;
    struct json_tokener *tok;
    bool negotiated;
    bool skip_line;                     /* after an error: drop up to '\n' */
    size_t pending;                     /* bytes of the value being parsed */
    /* One reply or event, a complete JSON text without newline. */
    void (*write)(void *opaque, const char *text, size_t len);
    void *write_opaque;
    int passed_fd;                      /* received, not yet named; -1 */
    struct qmp_named_fd fds[QMP_MAX_FDS];
};

int qmp_session_init(struct qmp_session *s, const struct qmp_env *env,
                     void (*write)(void *, const char *, size_t), void *write_opaque);
void qmp_session_free(struct qmp_session *s);
void qmp_session_greet(struct qmp_session *s);
/* Feed client bytes; replies go to s->write. Never fails: bad input gets
 * an error reply. */
void qmp_session_feed(struct qmp_session *s, const char *buf, size_t len);
/* A descriptor arrived with the client's bytes (feed those after this);
 * the session owns it. A previous unnamed one is closed. (qmp_hotplug.c) */
void qmp_session_take_fd(struct qmp_session *s, int fd);
/* Close every passed descriptor (session end). */
void qmp_session_close_fds(struct qmp_session *s);

/* An event as QMP sends it: {"event": .., "data": .., "timestamp": ..}.
 * Returns a new object (takes ownership of data). */
struct json_object *qmp_event_new(const char *event, struct json_object *data);

/* ---- the command table ----------------------------------------------- */

struct qmp_call {
    const struct qmp_env *env;
    struct qmp_session *session;
};

/* A handler returns 0 and sets *ret (NULL means {}), or -errno with
 * err->msg as the GenericError description. */
typedef int (*qmp_handler)(struct qmp_call *c, struct json_object *args,
                           struct json_object **ret, struct vk_err *err);

struct qmp_command {
    const char *name;
    qmp_handler handler;
    bool takes_args;                    /* false: any argument is an error */
};

/* Hot-plug commands (qmp_hotplug.c). */
int qmp_cmd_getfd(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                  struct vk_err *err);
int qmp_cmd_closefd(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                    struct vk_err *err);
int qmp_cmd_device_add(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                       struct vk_err *err);
int qmp_cmd_device_del(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                       struct vk_err *err);
int qmp_cmd_query_pci(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                      struct vk_err *err);

extern const struct qmp_command qmp_commands[];
extern const unsigned qmp_nr_commands;
const struct qmp_command *qmp_command_find(const char *name);

/* Version reported in the greeting and query-version. */
void qmp_version(int *major, int *minor, int *micro);

#endif
