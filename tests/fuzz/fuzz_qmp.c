/* libFuzzer: bytes from a control-socket client into a QMP session (both
 * before and after capabilities negotiation), against a fake VM. */
#include <stdint.h>
#include <stdlib.h>

#include "control/qmp.h"

static const char *st = "running";
static const char *f_status(void *o) { return st; }
static void f_stop(void *o) { st = "paused"; }
static void f_cont(void *o) { st = "running"; }
static void f_nop(void *o) { }
static unsigned f_cpus(void *o, struct qmp_cpu_info *out, unsigned max)
{
    out[0] = (struct qmp_cpu_info){ .index = 0, .thread_id = 1 };
    return 1;
}
static unsigned f_chardevs(void *o, struct qmp_chardev_info *out, unsigned max) { return 0; }
static const struct qmp_backend_ops ops = {
    .status = f_status, .stop = f_stop, .cont = f_cont, .powerdown = f_nop, .reset = f_nop,
    .quit = f_nop, .cpus = f_cpus, .chardevs = f_chardevs,
};
static void sink(void *o, const char *text, size_t len) { }
static void emit(void *o, const char *event, struct json_object *data) { json_object_put(data); }
static const struct qmp_env env = { .ops = &ops, .emit = emit };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char caps[] = "{\"execute\": \"qmp_capabilities\"}\n";
    struct qmp_session s;

    if (qmp_session_init(&s, &env, sink, NULL) < 0)
        return 0;
    qmp_session_greet(&s);
    if (size && (data[0] & 1))
        qmp_session_feed(&s, caps, sizeof(caps) - 1);
    /* Feed in two pieces to exercise resumption inside a value. */
    size_t cut = size ? data[size / 2] % (size + 1) : 0;
    qmp_session_feed(&s, (const char *)data, cut);
    qmp_session_feed(&s, (const char *)data + cut, size - cut);
    qmp_session_free(&s);
    return 0;
}
