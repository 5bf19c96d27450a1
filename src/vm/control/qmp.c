/* One QMP client session: framing, envelope checks, dispatch.
 *
 * Input is a stream of JSON values (QMP does not need newlines between
 * them). json-c's tokener is fed incrementally; a value larger than
 * QMP_MAX_MESSAGE or nested deeper than QMP_MAX_DEPTH, or bytes that are not
 * JSON, get a GenericError reply, and the rest of that line is dropped so
 * the client can resynchronise by sending a newline.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/time.h>

#include "config.h"
#include "qmp.h"

static void send_obj(struct qmp_session *s, struct json_object *o)
{
    size_t len;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);

    if (text)
        s->write(s->write_opaque, text, len);
}

static void send_error(struct qmp_session *s, const char *cls, const char *desc,
                       struct json_object *id)
{
    struct json_object *o = json_object_new_object(), *e = json_object_new_object();

    json_object_object_add(e, "class", json_object_new_string(cls));
    json_object_object_add(e, "desc", json_object_new_string(desc));
    json_object_object_add(o, "error", e);
    if (id)
        json_object_object_add(o, "id", json_object_get(id));
    send_obj(s, o);
    json_object_put(o);
}

void qmp_version(int *major, int *minor, int *micro)
{
    /* VK_VERSION is "MAJOR.MINOR.MICRO". */
    *major = *minor = *micro = 0;
    if (sscanf(VK_VERSION, "%d.%d.%d", major, minor, micro) < 1)
        *major = 0;
}

struct json_object *qmp_event_new(const char *event, struct json_object *data)
{
    struct json_object *o = json_object_new_object(), *ts = json_object_new_object();
    struct timeval tv;

    gettimeofday(&tv, NULL);
    json_object_object_add(o, "event", json_object_new_string(event));
    if (data)
        json_object_object_add(o, "data", data);
    json_object_object_add(ts, "seconds", json_object_new_int64(tv.tv_sec));
    json_object_object_add(ts, "microseconds", json_object_new_int64(tv.tv_usec));
    json_object_object_add(o, "timestamp", ts);
    return o;
}

int qmp_session_init(struct qmp_session *s, const struct qmp_env *env,
                     void (*write)(void *, const char *, size_t), void *write_opaque)
{
    memset(s, 0, sizeof(*s));
    s->env = env;
    s->write = write;
    s->write_opaque = write_opaque;
    s->passed_fd = -1;
    for (unsigned i = 0; i < QMP_MAX_FDS; i++)
        s->fds[i].fd = -1;
    s->tok = json_tokener_new_ex(QMP_MAX_DEPTH);
    return s->tok ? 0 : -ENOMEM;
}

void qmp_session_free(struct qmp_session *s)
{
    if (s->tok)
        json_tokener_free(s->tok);
    s->tok = NULL;
    qmp_session_close_fds(s);
}

void qmp_session_greet(struct qmp_session *s)
{
    struct json_object *o = json_object_new_object(), *qmp = json_object_new_object(),
                       *ver = json_object_new_object(), *q = json_object_new_object();
    int major, minor, micro;

    qmp_version(&major, &minor, &micro);
    json_object_object_add(q, "major", json_object_new_int(major));
    json_object_object_add(q, "minor", json_object_new_int(minor));
    json_object_object_add(q, "micro", json_object_new_int(micro));
    json_object_object_add(ver, "qemu", q);
    json_object_object_add(ver, "package", json_object_new_string("virtkit-" VK_VERSION));
    json_object_object_add(qmp, "version", ver);
    json_object_object_add(qmp, "capabilities", json_object_new_array());
    json_object_object_add(o, "QMP", qmp);
    send_obj(s, o);
    json_object_put(o);
}

static void dispatch(struct qmp_session *s, struct json_object *req)
{
    struct json_object *exec = NULL, *args = NULL, *id = NULL, *ret = NULL;
    const struct qmp_command *cmd;
    struct vk_err err = {0};
    char desc[320];
    int r;

    if (!req || !json_object_is_type(req, json_type_object)) {
        send_error(s, "GenericError", "QMP input must be a JSON object", NULL);
        return;
    }
    id = json_object_object_get(req, "id");
    json_object_object_foreach(req, key, val) {
        (void)val;
        if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
            snprintf(desc, sizeof(desc), "QMP input member '%.64s' is unexpected", key);
            send_error(s, "GenericError", desc, id);
            return;
        }
    }
    if (!json_object_object_get_ex(req, "execute", &exec)) {
        send_error(s, "GenericError", "QMP input lacks member 'execute'", id);
        return;
    }
    if (!json_object_is_type(exec, json_type_string)) {
        send_error(s, "GenericError", "QMP input member 'execute' must be a string", id);
        return;
    }
    if (json_object_object_get_ex(req, "arguments", &args) &&
        !json_object_is_type(args, json_type_object)) {
        send_error(s, "GenericError", "QMP input member 'arguments' must be an object", id);
        return;
    }
    const char *name = json_object_get_string(exec);
    bool is_caps = !strcmp(name, "qmp_capabilities");

    if (!s->negotiated && !is_caps) {
        send_error(s, "CommandNotFound",
                   "Expecting capabilities negotiation with 'qmp_capabilities'", id);
        return;
    }
    if (s->negotiated && is_caps) {
        send_error(s, "CommandNotFound",
                   "Capabilities negotiation is already complete, command ignored", id);
        return;
    }
    cmd = qmp_command_find(name);
    if (!cmd) {
        snprintf(desc, sizeof(desc), "The command %.128s has not been found", name);
        send_error(s, "CommandNotFound", desc, id);
        return;
    }
    if (args && !cmd->takes_args) {
        json_object_object_foreach(args, akey, aval) {
            (void)aval;
            snprintf(desc, sizeof(desc), "Parameter '%.64s' is unexpected", akey);
            send_error(s, "GenericError", desc, id);
            return;
        }
    }

    struct qmp_call call = { .env = s->env, .session = s };
    r = cmd->handler(&call, args, &ret, &err);
    if (r < 0) {
        send_error(s, "GenericError", err.msg[0] ? err.msg : strerror(-r), id);
        json_object_put(ret);
        return;
    }
    if (is_caps)
        s->negotiated = true;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "return", ret ? ret : json_object_new_object());
    if (id)
        json_object_object_add(o, "id", json_object_get(id));
    send_obj(s, o);
    json_object_put(o);
}

static void parse_error(struct qmp_session *s, const char *why)
{
    char desc[200];

    snprintf(desc, sizeof(desc), "JSON parse error, %s", why);
    send_error(s, "GenericError", desc, NULL);
    json_tokener_reset(s->tok);
    s->pending = 0;
    s->skip_line = true;
}

void qmp_session_feed(struct qmp_session *s, const char *buf, size_t len)
{
    while (len) {
        if (s->skip_line) {
            const char *nl = memchr(buf, '\n', len);

            if (!nl)
                return;
            len -= (size_t)(nl + 1 - buf);
            buf = nl + 1;
            s->skip_line = false;
            continue;
        }
        /* json-c takes an int length; feed in bounded chunks. */
        int chunk = (int)VK_MIN(len, (size_t)65536);
        struct json_object *obj = json_tokener_parse_ex(s->tok, buf, chunk);
        enum json_tokener_error e = json_tokener_get_error(s->tok);
        size_t used = json_tokener_get_parse_end(s->tok);

        if (used > (size_t)chunk)
            used = (size_t)chunk;
        if (e == json_tokener_continue) {
            s->pending += used;
            buf += used;
            len -= used;
            if (s->pending > QMP_MAX_MESSAGE)
                parse_error(s, "message too large");
            continue;
        }
        if (e != json_tokener_success) {
            /* Drop the rest of the line the error is on. */
            buf += used;
            len -= used;
            parse_error(s, e == json_tokener_error_depth ? "too deeply nested"
                                                         : json_tokener_error_desc(e));
            continue;
        }
        buf += used;
        len -= used;
        s->pending = 0;
        json_tokener_reset(s->tok);
        dispatch(s, obj);
        json_object_put(obj);
    }
}
