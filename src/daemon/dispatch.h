/* RPC dispatch: per-area method tables.
 *
 * Each area (domains, networks, ...) lives in rpc_<area>.c and exports ONE
 * `const struct rpc_area rpc_area_<name>`; dispatch.c lists the areas in a
 * plain array (order = init and autostart order: networks before domains).
 * A method is {name, read-only?, handler}; dispatch.c checks the caller's
 * access before calling the handler, so handlers never check permissions.
 */
#ifndef VK_DAEMON_DISPATCH_H
#define VK_DAEMON_DISPATCH_H

#include <stdbool.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "rpc.h"
#include "util.h"

struct vkd;
struct vkd_conn;

/* One request being served. */
struct rpc_call {
    struct vkd *d;
    struct vkd_conn *conn;
    uid_t uid;                 /* peer credentials (SO_PEERCRED) */
    gid_t gid;
    pid_t pid;
    bool privileged;           /* may call every method */
    struct json_object *id;    /* the request's id (borrowed), for rpc_defer */
    bool deferred;             /* the handler called rpc_defer() */
    /* set by rpc_fail() */
    enum vk_rpc_code code;
    int err_no;
    char message[1024];
};

/* Handler contract: validate params (rpc_param_*), act, and either set
 * *result (a new json object, or leave NULL for {}) and return 0, or
 * return rpc_fail(...) (< 0), or return rpc_defer(...) when the answer
 * comes later from the loop (rpc_reply_deferred). Never blocks for long:
 * the daemon has one event-loop thread. */
typedef int (*rpc_handler_fn)(struct rpc_call *call, struct json_object *params,
                              struct json_object **result);

struct rpc_method {
    const char *name;          /* "domain.start" (rpc.h names) */
    bool readonly;             /* true: allowed for unprivileged/read-only peers */
    rpc_handler_fn handler;
};

struct rpc_area {
    const char *name;                    /* "domain", "network" */
    const struct rpc_method *methods;    /* terminated by {NULL} */
    /* Daemon start-up, in area order: load definitions, adopt running
     * objects left by a previous daemon. May be NULL. */
    int (*init)(struct vkd *d, struct vk_err *err);
    /* After every init succeeded, in area order: start autostart objects. */
    void (*autostart)(struct vkd *d);
    /* Daemon exit: free memory; running VMs/networks keep running. */
    void (*fini)(struct vkd *d);
};

/* The areas, in order (dispatch.c). NULL entries (areas not linked) skipped. */
extern const struct rpc_area *const rpc_areas[];
extern const size_t rpc_n_areas;

/* Find a method over all areas; NULL if unknown. */
const struct rpc_method *rpc_find_method(const char *name);
/* Run one request (already parsed): checks access, calls the handler,
 * returns the response object {"id", "result"|"error"}. */
struct json_object *rpc_dispatch(struct rpc_call *call, struct json_object *request);

/* {"id": id, "error": {...}} from call->code/message. */
struct json_object *rpc_error_response(struct json_object *id, const struct rpc_call *call);

/* Record an error for the response; returns -1. */
int rpc_fail(struct rpc_call *call, enum vk_rpc_code code, const char *fmt, ...)
    VK_PRINTF(3, 4);
/* Same with the message (and errno) from a struct vk_err. */
int rpc_fail_err(struct rpc_call *call, enum vk_rpc_code code, const struct vk_err *err);

/* A reply owed to a client: the connection (by serial, so a client that
 * went away meanwhile is simply not answered) and the request id. */
struct rpc_deferred {
    uint64_t conn_serial;
    struct json_object *id;    /* owned */
};
/* Answer later: returns a new token (NULL if out of memory: then fail
 * the call normally) and marks the call deferred. The connection reads no
 * further request until the reply is sent, so replies keep their order.
 * Return 0 from the handler after a successful rpc_defer. */
struct rpc_deferred *rpc_defer(struct rpc_call *call);
/* The handler fails after all (before returning): drop the token. */
void rpc_defer_cancel(struct rpc_call *call, struct rpc_deferred *t);
/* Send the owed reply: result (taken; NULL = {}) when failed is NULL,
 * else the error recorded in *failed (an rpc_call used with rpc_fail*).
 * Frees the token. */
void rpc_reply_deferred(struct vkd *d, struct rpc_deferred *t, struct json_object *result,
                        const struct rpc_call *failed);

/* Parameter helpers: return 0, or rpc_fail(INVALID, "...") naming the
 * parameter. Absent optional parameters leave *out untouched. */
int rpc_param_str(struct rpc_call *call, struct json_object *params,
                  const char *key, bool required, const char **out);
int rpc_param_bool(struct rpc_call *call, struct json_object *params,
                   const char *key, bool *out);
int rpc_param_u64(struct rpc_call *call, struct json_object *params,
                  const char *key, bool required, uint64_t *out);

#endif
