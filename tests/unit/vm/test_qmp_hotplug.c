/* QMP hot-plug commands against a fake backend: getfd/closefd bookkeeping
 * (descriptors really passed over a socketpair with SCM_RIGHTS through the
 * server), the option strings device_add builds (commas escaped), fd
 * ownership moving to the device only on success, query-pci's shape, and
 * hostile arguments answered with errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tap.h"
#include "control/control.h"
#include "control/qmp.h"

static const char *fb_status(void *o) { return "running"; }
static void fb_nop(void *o) {}
static unsigned fb_cpus(void *o, struct qmp_cpu_info *out, unsigned max) { return 0; }
static unsigned fb_chardevs(void *o, struct qmp_chardev_info *out, unsigned max) { return 0; }

static char last_driver[64], last_spec[9000], last_id[64], last_del[64];
static int add_result;              /* what device_add answers */
static int fd_seen = -1;            /* the fd=N the backend got, still open then? */

static int fb_device_add(void *o, const char *driver, const char *spec, const char *id,
                         struct vk_err *err)
{
    snprintf(last_driver, sizeof(last_driver), "%s", driver);
    snprintf(last_spec, sizeof(last_spec), "%s", spec);
    snprintf(last_id, sizeof(last_id), "%s", id);
    const char *f = strstr(spec, "fd=");
    fd_seen = f ? atoi(f + 3) : -1;
    if (fd_seen >= 0 && fcntl(fd_seen, F_GETFD) < 0)
        fd_seen = -2;               /* not an open descriptor: a bug */
    if (add_result < 0)
        return vk_err_set(err, add_result, "backend refused");
    if (fd_seen >= 0)
        close(fd_seen);             /* the "device" owns it now */
    return 3;
}

static int fb_device_del(void *o, const char *id, struct vk_err *err)
{
    snprintf(last_del, sizeof(last_del), "%s", id);
    return strcmp(id, "known") ? vk_err_set(err, -ENODEV, "Device '%s' not found", id) : 0;
}

static unsigned fb_query_pci(void *o, struct qmp_pci_device *out, unsigned max)
{
    memset(out, 0, 2 * sizeof(*out));
    out[0] = (struct qmp_pci_device){ .slot = 0, .vendor = 0x1b36, .device = 0x0008,
                                      .class_code = 0x060000 };
    out[1] = (struct qmp_pci_device){ .slot = 3, .vendor = 0x1af4, .device = 0x1041,
                                      .class_code = 0x020000, .irq = 19, .nr_regions = 1 };
    snprintf(out[1].qdev_id, sizeof(out[1].qdev_id), "net0");
    out[1].regions[0].bar = 4;
    out[1].regions[0].mem64 = true;
    out[1].regions[0].addr = 0xc0004000;
    out[1].regions[0].size = 0x4000;
    return 2;
}

static const struct qmp_backend_ops fb_ops = {
    .status = fb_status, .stop = fb_nop, .cont = fb_nop, .powerdown = fb_nop, .reset = fb_nop,
    .quit = fb_nop, .cpus = fb_cpus, .chardevs = fb_chardevs, .device_add = fb_device_add,
    .device_del = fb_device_del, .query_pci = fb_query_pci,
};

static char *out[8];
static unsigned nout;

static void cap_write(void *o, const char *text, size_t len)
{
    if (nout < 8)
        out[nout++] = strndup(text, len);
}

static struct qmp_env env = { .ops = &fb_ops };
static struct qmp_session S;

static struct json_object *one(const char *in)
{
    for (unsigned i = 0; i < nout; i++)
        free(out[i]);
    nout = 0;
    qmp_session_feed(&S, in, strlen(in));
    return nout == 1 ? json_tokener_parse(out[0]) : NULL;
}

/* The error text of the reply to `in`, or "" if it succeeded. */
static char errbuf[512];
static const char *err_of(const char *in)
{
    struct json_object *r = one(in), *e, *d;
    errbuf[0] = 0;
    if (!r)
        snprintf(errbuf, sizeof(errbuf), "(no single reply)");
    else if (json_object_object_get_ex(r, "error", &e) && json_object_object_get_ex(e, "desc", &d))
        snprintf(errbuf, sizeof(errbuf), "%s", json_object_get_string(d));
    json_object_put(r);
    return errbuf;
}

static bool ok(const char *in) { return !err_of(in)[0]; }

static int open_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

static void test_getfd(void)
{
    int fds0 = open_count();

    tap_ok(!!strstr(err_of("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"t\"}}"),
                  "No file descriptor supplied"), "getfd without a descriptor: error");
    qmp_session_take_fd(&S, open("/dev/null", O_RDONLY | O_CLOEXEC));
    tap_ok(!!strstr(err_of("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"9x\"}}"),
                  "starting with a letter"), "fdname starting with a digit refused");
    tap_ok(!!strstr(err_of("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":1}}"),
                  "expected: string"), "fdname must be a string");
    tap_ok(!!strstr(err_of("{\"execute\":\"getfd\",\"arguments\":{}}"), "missing"),
           "fdname required");
    tap_ok(!!strstr(err_of("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"t\",\"x\":1}}"),
                  "'x' is unexpected"), "unknown member refused");
    tap_ok(ok("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"t\"}}"), "getfd names it");
    tap_is_int(S.passed_fd, -1, "the passed fd is taken");
    qmp_session_take_fd(&S, open("/dev/null", O_RDONLY | O_CLOEXEC));
    tap_ok(ok("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"t\"}}"),
           "same name again replaces it");
    tap_is_int(open_count(), fds0 + 1, "the replaced descriptor was closed");
    tap_ok(ok("{\"execute\":\"closefd\",\"arguments\":{\"fdname\":\"t\"}}"), "closefd");
    tap_is_int(open_count(), fds0, "closefd closed it");
    tap_ok(!!strstr(err_of("{\"execute\":\"closefd\",\"arguments\":{\"fdname\":\"t\"}}"),
                  "not found"), "closefd of an unknown name");
    /* two descriptors without getfd: the first is closed */
    qmp_session_take_fd(&S, open("/dev/null", O_RDONLY | O_CLOEXEC));
    qmp_session_take_fd(&S, open("/dev/null", O_RDONLY | O_CLOEXEC));
    tap_is_int(open_count(), fds0 + 1, "an unclaimed descriptor is closed by the next one");
    /* table full */
    char cmd[128];
    int okc = 0;
    for (int i = 0; i < QMP_MAX_FDS + 1; i++) {
        if (i)
            qmp_session_take_fd(&S, open("/dev/null", O_RDONLY | O_CLOEXEC));
        snprintf(cmd, sizeof(cmd), "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"f%d\"}}", i);
        okc += ok(cmd);
    }
    tap_is_int(okc, QMP_MAX_FDS, "at most %d named descriptors", QMP_MAX_FDS);
    tap_is_int(open_count(), fds0 + QMP_MAX_FDS, "the refused one was closed");
    qmp_session_close_fds(&S);
    tap_is_int(open_count(), fds0, "session end closes them all");
}

static void test_device_add(void)
{
    int fds0 = open_count();

    tap_ok(ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\","
              "\"drive\":\"/img/a,format=qcow2\",\"format\":\"raw\",\"readonly\":true,"
              "\"serial\":\"S1\",\"id\":\"d0\"}}"), "virtio-blk-pci added");
    tap_is_str(last_driver, "virtio-blk-pci", "driver passed");
    tap_is_str(last_spec, "path=/img/a,,format=qcow2,format=raw,readonly=on,serial=S1",
               "spec with the comma escaped");
    tap_is_str(last_id, "d0", "id passed");
    tap_ok(ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\","
              "\"path\":\"x\",\"readonly\":\"off\"}}"), "path= and readonly off");
    tap_is_str(last_spec, "path=x,readonly=off", "spec");
    tap_is_str(last_id, "", "no id: empty");

    tap_ok(ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\","
              "\"tap\":\"vnet7\",\"mac\":\"52:54:00:00:00:01\"}}"), "virtio-net-pci on tap=");
    tap_is_str(last_spec, "tap=vnet7,mac=52:54:00:00:00:01", "net spec");

    /* fd passing: a failed add keeps the descriptor, a good one hands it over */
    qmp_session_take_fd(&S, open("/dev/null", O_RDONLY | O_CLOEXEC));
    tap_ok(ok("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"tap0\"}}"), "getfd tap0");
    add_result = -EIO;
    tap_ok(!!strstr(err_of("{\"execute\":\"device_add\",\"arguments\":{\"driver\":"
                         "\"virtio-net-pci\",\"netdev\":\"tap0\"}}"), "backend refused"),
           "backend error passed through");
    tap_ok(fd_seen >= 0, "the backend got an open fd=N");
    tap_is_int(open_count(), fds0 + 1, "failed add: the session still owns the fd");
    add_result = 0;
    tap_ok(ok("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\","
              "\"fd\":\"tap0\",\"id\":\"net0\"}}"), "device_add fd=tap0");
    tap_is_int(open_count(), fds0, "the device took the fd (and closed it here)");
    tap_ok(!!strstr(err_of("{\"execute\":\"closefd\",\"arguments\":{\"fdname\":\"tap0\"}}"),
                  "not found"), "the name is gone");

    static const struct { const char *args, *want; } bad[] = {
        { "{}", "'driver' is missing" },
        { "{\"driver\":null}", "expected: string" },
        { "{\"driver\":\"e1000\"}", "not a valid device model name" },
        { "{\"driver\":\"virtio-blk-pci\"}", "exactly one of 'drive' or 'path'" },
        { "{\"driver\":\"virtio-blk-pci\",\"drive\":\"\"}", "empty" },
        { "{\"driver\":\"virtio-blk-pci\",\"drive\":\"a\",\"readonly\":2}", "readonly" },
        { "{\"driver\":\"virtio-blk-pci\",\"drive\":\"a\",\"serial\":\"123456789012345678901\"}",
          "too long" },
        { "{\"driver\":\"virtio-blk-pci\",\"drive\":\"a\",\"tap\":\"x\"}", "unexpected" },
        { "{\"driver\":\"virtio-blk-pci\",\"drive\":\"a\",\"id\":\"a b\"}", "identifier" },
        { "{\"driver\":\"virtio-blk-pci\",\"drive\":\"a\",\"id\":\"\"}", "identifier" },
        { "{\"driver\":\"virtio-net-pci\",\"tap\":\"a,b\"}", "interface name" },
        { "{\"driver\":\"virtio-net-pci\",\"tap\":\"..\"}", "interface name" },
        { "{\"driver\":\"virtio-net-pci\",\"fd\":\"tap0\"}", "not found" },
        { "{\"driver\":\"virtio-net-pci\",\"tap\":\"a\",\"netdev\":\"b\"}", "exactly one" },
        { "{\"driver\":\"virtio-net-pci\",\"tap\":\"a\",\"mac\":\"123456789012345678\"}",
          "too long" },
    };
    char cmd[512];
    for (size_t i = 0; i < VK_ARRAY_SIZE(bad); i++) {
        snprintf(cmd, sizeof(cmd), "{\"execute\":\"device_add\",\"arguments\":%s}", bad[i].args);
        const char *e = err_of(cmd);
        tap_ok(strstr(e, bad[i].want) != NULL, "device_add %s: %s", bad[i].args, e);
    }
    /* a NUL inside a JSON string must not cut the path short */
    const char nul[] = "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\","
                       "\"drive\":\"/a\\u0000b\"}}";
    tap_ok(strstr(err_of(nul), "NUL") != NULL, "a NUL in a string is refused");
}

static void test_del_and_query(void)
{
    tap_ok(ok("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"known\"}}"), "device_del");
    tap_is_str(last_del, "known", "id passed");
    tap_ok(!!strstr(err_of("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"x\"}}"),
                  "not found"), "unknown id");
    tap_ok(!!strstr(err_of("{\"execute\":\"device_del\",\"arguments\":{}}"), "missing"),
           "id required");
    tap_ok(!!strstr(err_of("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"x\",\"f\":1}}"),
                  "unexpected"), "unknown member");

    struct json_object *r = one("{\"execute\":\"query-pci\"}"), *ret, *bus, *devs, *d, *v;
    tap_ok(r && json_object_object_get_ex(r, "return", &ret) &&
           json_object_array_length(ret) == 1, "query-pci: one bus");
    bus = r ? json_object_array_get_idx(ret, 0) : NULL;
    tap_ok(bus && json_object_object_get_ex(bus, "devices", &devs) &&
           json_object_array_length(devs) == 2, "two devices");
    d = bus ? json_object_array_get_idx(devs, 1) : NULL;
    tap_ok(d && json_object_object_get_ex(d, "slot", &v) && json_object_get_int(v) == 3, "slot");
    tap_ok(d && json_object_object_get_ex(d, "qdev_id", &v) &&
           !strcmp(json_object_get_string(v), "net0"), "qdev_id");
    tap_ok(d && json_object_object_get_ex(d, "class_info", &v) &&
           json_object_object_get_ex(v, "class", &v) && json_object_get_int(v) == 0x0200,
           "class_info.class");
    tap_ok(d && json_object_object_get_ex(d, "id", &v) &&
           json_object_object_get_ex(v, "device", &v) && json_object_get_int(v) == 0x1041,
           "id.device");
    tap_ok(d && json_object_object_get_ex(d, "regions", &v) && json_object_array_length(v) == 1 &&
           json_object_object_get_ex(json_object_array_get_idx(v, 0), "address", &v) &&
           json_object_get_int64(v) == 0xc0004000, "regions[0].address");
    json_object_put(r);
    tap_ok(!!strstr(err_of("{\"execute\":\"query-pci\",\"arguments\":{\"a\":1}}"), "unexpected"),
           "query-pci takes no arguments");
}

/* The real server: a descriptor sent with the getfd command over the socket. */
static void test_server_fd_passing(void)
{
    char dir[] = "/tmp/vk-qmphp-XXXXXX", path[300], buf[4096];
    struct control_server *srv = NULL;
    struct vk_err err = { 0 };

    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/s", dir);
    tap_is_int(control_server_start(path, &fb_ops, NULL, &srv, &err), 0, "server started");
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    tap_is_int(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0, "connected");
    const char *neg = "{\"execute\":\"qmp_capabilities\"}\n";
    tap_ok(write(c, neg, strlen(neg)) == (ssize_t)strlen(neg), "negotiate");

    int pfd[2];
    tap_is_int(pipe(pfd), 0, "a pipe to pass");
    const char *cmd = "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"p\"}}\n";
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
    struct iovec iov = { (void *)cmd, strlen(cmd) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                          .msg_controllen = sizeof(ctl.b) };
    struct cmsghdr *ch = CMSG_FIRSTHDR(&msg);
    ch->cmsg_level = SOL_SOCKET;
    ch->cmsg_type = SCM_RIGHTS;
    ch->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(ch), &pfd[1], sizeof(int));
    tap_ok(sendmsg(c, &msg, 0) == (ssize_t)strlen(cmd), "getfd sent with SCM_RIGHTS");
    close(pfd[1]);
    const char *add = "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\","
                      "\"fd\":\"p\"}}\n";
    tap_ok(write(c, add, strlen(add)) == (ssize_t)strlen(add), "device_add sent");
    /* read until three replies (greeting + 3 commands = 4 lines) */
    size_t got = 0;
    int lines = 0;
    while (lines < 4 && got < sizeof(buf) - 1) {
        ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[got + (size_t)i] == '\n';
        got += (size_t)n;
    }
    buf[got] = 0;
    tap_ok(lines == 4 && !strstr(buf, "error"), "getfd and device_add answered without error");
    tap_ok(fd_seen >= 0, "the backend got the passed descriptor");
    /* the device closed its copy; the pipe's read end now sees EOF */
    char x;
    tap_is_int(read(pfd[0], &x, 1), 0, "no copy of the write end is left open");
    close(pfd[0]);
    close(c);
    control_server_stop(srv, NULL, NULL);
    rmdir(dir);
}

int main(void)
{
    qmp_session_init(&S, &env, cap_write, NULL);
    if (!ok("{\"execute\":\"qmp_capabilities\"}"))
        tap_ok(0, "negotiated");
    test_getfd();
    test_device_add();
    test_del_and_query();
    qmp_session_free(&S);
    test_server_fd_passing();
    for (unsigned i = 0; i < nout; i++)
        free(out[i]);
    return tap_done();
}
