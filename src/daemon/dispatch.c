/* RPC dispatch over the per-area method tables (dispatch.h). */
#include "dispatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

extern const struct rpc_area rpc_area_node, rpc_area_domain;
/* Areas that may not be linked yet are weak: their address is then NULL. */
extern const struct rpc_area rpc_area_network __attribute__((weak));

/* Order = init and autostart order: networks start before domains. */
const struct rpc_area *const rpc_areas[] = {
    &rpc_area_node,
    &rpc_area_network,
    &rpc_area_domain,
};
const size_t rpc_n_areas = VK_ARRAY_SIZE(rpc_areas);

const struct rpc_method *rpc_find_method(const char *name)
{
    for (size_t a = 0; a < rpc_n_areas; a++) {
        if (!rpc_areas[a])
            continue;
        for (const struct rpc_method *m = rpc_areas[a]->methods; m && m->name; m++)
            if (!strcmp(m->name, name))
                return m;
    }
    return NULL;
}

int rpc_fail(struct rpc_call *call, enum vk_rpc_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof(call->message), fmt, ap);
    va_end(ap);
    call->code = code;
    return -1;
}

int rpc_fail_err(struct rpc_call *call, enum vk_rpc_code code, const struct vk_err *err)
{
    call->code = code;
    call->err_no = err && err->code < 0 ? -err->code : 0;
    snprintf(call->message, sizeof(call->message), "%s",
             err && err->msg[0] ? err->msg : "unknown error");
    return -1;
}

int rpc_param_str(struct rpc_call *call, struct json_object *params,
                  const char *key, bool required, const char **out)
{
    struct json_object *v;
    if (!params || !json_object_object_get_ex(params, key, &v) || json_object_is_type(v, json_type_null)) {
        if (required)
            return rpc_fail(call, VK_RPC_E_INVALID, "missing parameter '%s'", key);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return rpc_fail(call, VK_RPC_E_INVALID, "parameter '%s' must be a string", key);
    *out = json_object_get_string(v);
    return 0;
}

int rpc_param_bool(struct rpc_call *call, struct json_object *params,
                   const char *key, bool *out)
{
    struct json_object *v;
    if (!params || !json_object_object_get_ex(params, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return rpc_fail(call, VK_RPC_E_INVALID, "parameter '%s' must be a boolean", key);
    *out = json_object_get_boolean(v);
    return 0;
}

int rpc_param_u64(struct rpc_call *call, struct json_object *params,
                  const char *key, bool required, uint64_t *out)
{
    struct json_object *v;
    if (!params || !json_object_object_get_ex(params, key, &v) || json_object_is_type(v, json_type_null)) {
        if (required)
            return rpc_fail(call, VK_RPC_E_INVALID, "missing parameter '%s'", key);
        return 0;
    }
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return rpc_fail(call, VK_RPC_E_INVALID, "parameter '%s' must be a non-negative integer", key);
    *out = (uint64_t)json_object_get_int64(v);
    return 0;
}

struct json_object *rpc_error_response(struct json_object *id, const struct rpc_call *call)
{
    struct json_object *resp = json_object_new_object();
    json_object_object_add(resp, "id", id ? json_object_get(id) : NULL);
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(vk_rpc_code_name(call->code)));
    json_object_object_add(e, "errno", json_object_new_int(call->err_no));
    json_object_object_add(e, "message", json_object_new_string(call->message));
    json_object_object_add(resp, "error", e);
    return resp;
}

struct json_object *rpc_dispatch(struct rpc_call *call, struct json_object *req)
{
    struct json_object *id = NULL, *jm = NULL, *params = NULL;
    if (!json_object_is_type(req, json_type_object)) {
        rpc_fail(call, VK_RPC_E_INVALID, "a request must be a JSON object");
        return rpc_error_response(NULL, call);
    }
    json_object_object_get_ex(req, "id", &id);
    if (!json_object_object_get_ex(req, "method", &jm) || !json_object_is_type(jm, json_type_string)) {
        rpc_fail(call, VK_RPC_E_INVALID, "request has no \"method\" string");
        return rpc_error_response(id, call);
    }
    if (json_object_object_get_ex(req, "params", &params) && params &&
        !json_object_is_type(params, json_type_object)) {
        rpc_fail(call, VK_RPC_E_INVALID, "\"params\" must be an object");
        return rpc_error_response(id, call);
    }
    const char *name = json_object_get_string(jm);
    const struct rpc_method *m = rpc_find_method(name);
    if (!m) {
        rpc_fail(call, VK_RPC_E_NO_METHOD, "unknown method '%.200s'", name);
        return rpc_error_response(id, call);
    }
    if (!m->readonly && !call->privileged) {
        rpc_fail(call, VK_RPC_E_DENIED,
                 "access denied: '%s' needs a read-write connection (root or group virtkit)",
                 name);
        return rpc_error_response(id, call);
    }
    struct json_object *result = NULL;
    call->code = VK_RPC_OK;
    call->id = id;
    call->deferred = false;
    int hr = m->handler(call, params, &result);
    if (hr == 0 && call->deferred) {
        json_object_put(result);
        return NULL;            /* answered later (rpc_reply_deferred) */
    }
    if (hr < 0) {
        if (call->code == VK_RPC_OK)
            rpc_fail(call, VK_RPC_E_INTERNAL, "%s failed", name);
        json_object_put(result);
        return rpc_error_response(id, call);
    }
    struct json_object *resp = json_object_new_object();
    json_object_object_add(resp, "id", id ? json_object_get(id) : NULL);
    json_object_object_add(resp, "result", result ? result : json_object_new_object());
    return resp;
}

struct rpc_deferred *rpc_defer(struct rpc_call *call)
{
    if (!call->conn)
        return NULL;
    struct rpc_deferred *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->conn_serial = call->conn->serial;
    t->id = call->id ? json_object_get(call->id) : NULL;
    call->deferred = true;
    return t;
}

void rpc_reply_deferred(struct vkd *d, struct rpc_deferred *t, struct json_object *result,
                        const struct rpc_call *failed)
{
    struct json_object *resp;
    if (failed) {
        json_object_put(result);
        resp = rpc_error_response(t->id, failed);
    } else {
        resp = json_object_new_object();
        json_object_object_add(resp, "id", t->id ? json_object_get(t->id) : NULL);
        json_object_object_add(resp, "result", result ? result : json_object_new_object());
    }
    vkd_conn_deferred_reply(d, t->conn_serial, resp);
    json_object_put(resp);
    json_object_put(t->id);
    free(t);
}

void rpc_defer_cancel(struct rpc_call *call, struct rpc_deferred *t)
{
    call->deferred = false;
    if (t) {
        json_object_put(t->id);
        free(t);
    }
}
