/* QMP: the session protocol (envelope, negotiation, errors, hostile input)
 * against a fake backend, then the socket server with real clients. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tap.h"
#include "control/control.h"
#include "control/qmp.h"

/* ---- fake backend -------------------------------------------------------- */
static const char *fb_state = "running";
static int fb_powerdowns, fb_resets, fb_quits;
static const char *fb_status(void *o) { return fb_state; }
static void fb_stop(void *o) { fb_state = "paused"; }
static void fb_cont(void *o) { fb_state = "running"; }
static void fb_powerdown(void *o) { fb_powerdowns++; }
static void fb_reset(void *o) { fb_resets++; }
static void fb_quit(void *o) { fb_quits++; }
static unsigned fb_cpus(void *o, struct qmp_cpu_info *out, unsigned max)
{
    for (unsigned i = 0; i < 3 && i < max; i++)
        out[i] = (struct qmp_cpu_info){ .index = i, .thread_id = 100 + i };
    return 3;
}
static unsigned fb_chardevs(void *o, struct qmp_chardev_info *out, unsigned max)
{
    snprintf(out[0].label, sizeof(out[0].label), "serial0");
    snprintf(out[0].filename, sizeof(out[0].filename), "pty:/dev/pts/9");
    out[0].frontend_open = true;
    return 1;
}
static const struct qmp_backend_ops fb_ops = {
    .status = fb_status, .stop = fb_stop, .cont = fb_cont, .powerdown = fb_powerdown,
    .reset = fb_reset, .quit = fb_quit, .cpus = fb_cpus, .chardevs = fb_chardevs,
};

/* ---- session capture ----------------------------------------------------- */
static char *out[64];
static unsigned nout;
static char *events[16];
static unsigned nevents;

static void cap_write(void *o, const char *text, size_t len)
{
    if (nout < 64)
        out[nout++] = strndup(text, len);
}
static void cap_emit(void *o, const char *event, struct json_object *data)
{
    if (nevents < 16)
        events[nevents++] = strdup(event);
    json_object_put(data);
}
static void reset_capture(void)
{
    for (unsigned i = 0; i < nout; i++)
        free(out[i]);
    for (unsigned i = 0; i < nevents; i++)
        free(events[i]);
    nout = nevents = 0;
}

static struct qmp_env env = { .ops = &fb_ops, .emit = cap_emit };
static struct qmp_session S;

/* Feed `in`, expect exactly one reply; return it parsed (caller puts). */
static struct json_object *one(const char *in)
{
    reset_capture();
    qmp_session_feed(&S, in, strlen(in));
    if (nout != 1) {
        printf("# %u replies to %.60s\n", nout, in);
        return NULL;
    }
    return json_tokener_parse(out[0]);
}

static const char *path_str(struct json_object *o, const char *a, const char *b)
{
    struct json_object *x = NULL, *y = NULL;
    if (!o || !json_object_object_get_ex(o, a, &x))
        return NULL;
    if (!b)
        return json_object_get_string(x);
    if (!json_object_object_get_ex(x, b, &y))
        return NULL;
    return json_object_get_string(y);
}

static void expect_error(const char *in, const char *cls, const char *desc_part, const char *what)
{
    struct json_object *r = one(in);
    const char *c = path_str(r, "error", "class"), *d = path_str(r, "error", "desc");
    tap_ok(c && !strcmp(c, cls) && d && strstr(d, desc_part), "%s", what);
    if (!(c && d))
        printf("#   reply: %s\n", nout ? out[0] : "(none)");
    json_object_put(r);
}

static void test_session(void)
{
    struct json_object *r;

    tap_is_int(qmp_session_init(&S, &env, cap_write, NULL), 0, "session init");
    qmp_session_greet(&S);
    r = json_tokener_parse(out[0]);
    tap_ok(path_str(r, "QMP", "capabilities") != NULL, "greeting has capabilities");
    struct json_object *v = NULL, *q = NULL;
    tap_ok(json_object_object_get_ex(json_object_object_get(r, "QMP"), "version", &v) &&
           json_object_object_get_ex(v, "qemu", &q) && json_object_object_get(q, "major"),
           "greeting has version.qemu.major");
    json_object_put(r);

    expect_error("{\"execute\": \"query-status\"}", "CommandNotFound", "qmp_capabilities",
                 "commands before negotiation are refused");
    r = one("{\"execute\": \"qmp_capabilities\", \"id\": \"neg\"}");
    tap_ok(r && json_object_object_get(r, "return") && !strcmp(path_str(r, "id", NULL), "neg"),
           "qmp_capabilities returns {} and echoes id");
    json_object_put(r);
    expect_error("{\"execute\": \"qmp_capabilities\"}", "CommandNotFound", "already complete",
                 "second negotiation refused");

    r = one("{\"execute\": \"query-status\"}");
    tap_ok(r && !strcmp(path_str(r, "return", "status"), "running"), "query-status: running");
    json_object_put(r);
    r = one("{\"execute\": \"stop\"}");
    tap_ok(r && nevents == 1 && !strcmp(events[0], "STOP"), "stop emits STOP");
    json_object_put(r);
    r = one("{\"execute\": \"stop\"}");
    tap_ok(r && nevents == 0, "stop while paused: no event");
    json_object_put(r);
    r = one("{\"execute\": \"query-status\"}");
    tap_ok(r && !strcmp(path_str(r, "return", "status"), "paused"), "query-status: paused");
    json_object_put(r);
    r = one("{\"execute\": \"cont\"}");
    tap_ok(r && nevents == 1 && !strcmp(events[0], "RESUME"), "cont emits RESUME");
    json_object_put(r);
    r = one("{\"execute\": \"system_powerdown\"}");
    tap_ok(r && fb_powerdowns == 1 && nevents == 1 && !strcmp(events[0], "POWERDOWN"),
           "system_powerdown presses the button, POWERDOWN");
    json_object_put(r);
    r = one("{\"execute\": \"system_reset\"}");
    tap_ok(r && fb_resets == 1, "system_reset");
    json_object_put(r);

    r = one("{\"execute\": \"query-cpus-fast\"}");
    struct json_object *ret = r ? json_object_object_get(r, "return") : NULL;
    tap_ok(ret && json_object_array_length(ret) == 3 &&
           json_object_get_int(json_object_object_get(json_object_array_get_idx(ret, 2), "cpu-index")) == 2 &&
           json_object_get_int(json_object_object_get(json_object_array_get_idx(ret, 2), "thread-id")) == 102,
           "query-cpus-fast");
    json_object_put(r);
    r = one("{\"execute\": \"query-chardev\"}");
    ret = r ? json_object_object_get(r, "return") : NULL;
    tap_ok(ret && !strcmp(json_object_get_string(json_object_object_get(json_object_array_get_idx(ret, 0), "filename")),
                          "pty:/dev/pts/9"), "query-chardev");
    json_object_put(r);
    r = one("{\"execute\": \"query-commands\"}");
    ret = r ? json_object_object_get(r, "return") : NULL;
    tap_is_int(ret ? (long long)json_object_array_length(ret) : -1, qmp_nr_commands, "query-commands lists the table");
    json_object_put(r);
    r = one("{\"execute\": \"query-version\", \"id\": {\"n\": [1, 2]}}");
    tap_ok(r && json_object_object_get(json_object_object_get(r, "return"), "qemu") &&
           json_object_is_type(json_object_object_get(r, "id"), json_type_object),
           "query-version; structured id echoed");
    json_object_put(r);

    r = one("{\"execute\": \"query-kvm\"}");
    tap_ok(r && !json_object_get_boolean(json_object_object_get(json_object_object_get(r, "return"), "enabled")),
           "query-kvm without an accel op: not enabled");
    json_object_put(r);
    r = one("{\"execute\": \"query-target\"}");
    tap_ok(r && !strcmp(path_str(r, "return", "arch"), "x86_64"), "query-target");
    json_object_put(r);
    r = one("{\"execute\": \"query-name\"}");
    tap_ok(r && json_object_is_type(json_object_object_get(r, "return"), json_type_object), "query-name");
    json_object_put(r);

    expect_error("{\"execute\": \"frobnicate\", \"id\": 7}", "CommandNotFound", "frobnicate",
                 "unknown command");
    expect_error("[1, 2]", "GenericError", "must be a JSON object", "array input");
    expect_error("{\"id\": 1}", "GenericError", "lacks member 'execute'", "no execute");
    expect_error("{\"execute\": 5}", "GenericError", "must be a string", "execute not a string");
    expect_error("{\"execute\": \"stop\", \"arguments\": []}", "GenericError",
                 "'arguments' must be an object", "arguments not an object");
    expect_error("{\"execute\": \"stop\", \"frob\": 1}", "GenericError", "'frob' is unexpected",
                 "unknown envelope member");
    expect_error("{\"execute\": \"stop\", \"arguments\": {\"x\": 1}}", "GenericError",
                 "'x' is unexpected", "argument to a command without arguments");
    expect_error("this is not json\n", "GenericError", "JSON parse error", "garbage");
    r = one("{\"execute\": \"query-status\"}");
    tap_ok(r != NULL, "recovers after garbage");
    json_object_put(r);

    /* Deep nesting. */
    size_t n = 100000;
    char *deep = malloc(n + 2);
    memset(deep, '[', n);
    deep[n] = '\n';
    deep[n + 1] = 0;
    reset_capture();
    qmp_session_feed(&S, deep, n + 1);
    tap_ok(nout == 1 && strstr(out[0], "nested"), "deep nesting: one error");
    free(deep);
    r = one("{\"execute\": \"query-status\"}");
    tap_ok(r != NULL, "recovers after deep nesting");
    json_object_put(r);

    /* A huge value, fed in pieces. */
    reset_capture();
    qmp_session_feed(&S, "{\"execute\": \"", 13);
    char chunk[4096];
    memset(chunk, 'a', sizeof(chunk));
    for (int i = 0; i < 200; i++)
        qmp_session_feed(&S, chunk, sizeof(chunk));
    tap_ok(nout == 1 && strstr(out[0], "too large"), "oversized message: one error");
    qmp_session_feed(&S, "\"}\n", 3);
    r = one("{\"execute\": \"query-status\"}");
    tap_ok(r != NULL, "recovers after an oversized message");
    json_object_put(r);

    /* Framing: two in one chunk, one split byte by byte. */
    reset_capture();
    const char *two = "{\"execute\":\"query-status\",\"id\":1}{\"execute\":\"query-status\",\"id\":2}";
    qmp_session_feed(&S, two, strlen(two));
    tap_is_int(nout, 2, "two commands in one read");
    reset_capture();
    const char *split = "  {\"execute\": \"query-status\", \"id\": \"split\"}\r\n";
    for (size_t i = 0; i < strlen(split); i++)
        qmp_session_feed(&S, split + i, 1);
    tap_ok(nout == 1 && strstr(out[0], "split"), "one command fed byte by byte");

    expect_error("{\"execute\": \"qmp_capabilities\"}", "CommandNotFound", "already", "caps after");
    struct qmp_session s2;
    qmp_session_init(&s2, &env, cap_write, NULL);
    reset_capture();
    const char *oob = "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}";
    qmp_session_feed(&s2, oob, strlen(oob));
    tap_ok(nout == 1 && strstr(out[0], "GenericError") && !s2.negotiated, "unknown capability refused");
    qmp_session_free(&s2);

    /* Random bytes. */
    srand(3);
    reset_capture();
    for (int i = 0; i < 2000; i++) {
        char buf[64];
        for (size_t k = 0; k < sizeof(buf); k++)
            buf[k] = (char)(rand() % 4 == 0 ? "{}[]\":,\n"[rand() % 8] : rand());
        qmp_session_feed(&S, buf, sizeof(buf));
        if (nout > 32)
            reset_capture();
    }
    qmp_session_feed(&S, "\n\"x\"\n", 5);
    r = one("{\"execute\": \"query-status\", \"id\": \"after-fuzz\"}");
    tap_ok(r != NULL, "random bytes survived; the session still answers");
    json_object_put(r);
    r = one("{\"execute\": \"quit\"}");
    tap_ok(r && fb_quits == 1, "quit");
    json_object_put(r);
    reset_capture();
    qmp_session_free(&S);
}

/* ---- the socket server ---------------------------------------------------- */
static int connect_to(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read until a line containing `want` (or EOF / 5 s without data). */
static int read_until(int fd, const char *want, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0)
            return 0;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = 0;
        if (strstr(buf, want))
            return 1;
        if (len == cap - 1)
            len = 0;
    }
}

static void send_str(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) < 0) {}
}

static void test_server(void)
{
    char path[] = "/tmp/vk-qmp-XXXXXX", sock[64], buf[8192];
    struct control_server *srv;
    struct vk_err err = {0};

    if (!mkdtemp(path)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    snprintf(sock, sizeof(sock), "%s/qmp.sock", path);
    fb_state = "running";
    tap_is_int(control_server_start(sock, &fb_ops, NULL, &srv, &err), 0, "server listening");
    int a = connect_to(sock);
    tap_ok(a >= 0 && read_until(a, "\"QMP\"", buf, sizeof(buf)), "greeting on connect");
    send_str(a, "{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"query-status\", \"id\": 3}\n");
    tap_ok(read_until(a, "\"running\"", buf, sizeof(buf)), "negotiate + query-status over the socket");
    int b = connect_to(sock);
    tap_ok(read_until(b, "\"QMP\"", buf, sizeof(buf)), "second client greeted");

    /* Events go to negotiated clients only. */
    control_server_event(srv, "RESET", NULL);
    tap_ok(read_until(a, "\"RESET\"", buf, sizeof(buf)) && strstr(buf, "timestamp"),
           "event with timestamp reaches a negotiated client");

    int many[CONTROL_MAX_CLIENTS + 2];
    unsigned refused = 0;
    for (unsigned i = 0; i < VK_ARRAY_SIZE(many); i++) {
        many[i] = connect_to(sock);
        if (many[i] >= 0 && read_until(many[i], "\r\n", buf, sizeof(buf)) && strstr(buf, "too many clients"))
            refused++;
    }
    tap_ok(refused >= 2, "clients beyond the limit are turned away (%u)", refused);
    for (unsigned i = 0; i < VK_ARRAY_SIZE(many); i++)
        if (many[i] >= 0)
            close(many[i]);

    /* A hostile client: garbage and a never-ending value. */
    int h = connect_to(sock);
    read_until(h, "\"QMP\"", buf, sizeof(buf));
    char junk[65536];
    memset(junk, '[', sizeof(junk));
    send_str(h, "\x01\x02garbage\n");
    for (int i = 0; i < 8; i++)
        if (send(h, junk, sizeof(junk), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            break;
    close(h);
    send_str(a, "{\"execute\": \"query-status\", \"id\": \"still\"}\n");
    tap_ok(read_until(a, "still", buf, sizeof(buf)), "server still answers after a hostile client");

    send_str(b, "{\"execute\": \"qmp_capabilities\"}\n");
    read_until(b, "return", buf, sizeof(buf));
    struct json_object *data = json_object_new_object();
    json_object_object_add(data, "guest", json_object_new_boolean(1));
    control_server_stop(srv, "SHUTDOWN", data);
    tap_ok(read_until(b, "SHUTDOWN", buf, sizeof(buf)), "SHUTDOWN delivered on stop");
    tap_ok(read(b, buf, sizeof(buf)) == 0 || !strstr(buf, "QMP"), "socket closed after stop");
    tap_ok(access(sock, F_OK) != 0, "socket file removed");
    close(a);
    close(b);
    rmdir(path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_session();
    test_server();
    return tap_done();
}
