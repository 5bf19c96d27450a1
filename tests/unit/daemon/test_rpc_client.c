/* The client library against a scripted in-process server: responses,
 * RPC errors, interleaved events, a daemon that closes, URI parsing. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "paths.h"
#include "tap.h"

static char root[64];

static void *server(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    char buf[4096];
    /* 1: a result, with an event before it */
    if (read(fd, buf, sizeof(buf)) <= 0)
        return NULL;
    const char *r1 = "{\"event\":\"domain.lifecycle\",\"data\":{\"name\":\"a\"}}\n"
                     "{\"id\":1,\"result\":{\"hostname\":\"h\"}}\n";
    if (write(fd, r1, strlen(r1)) < 0)
        return NULL;
    /* 2: an error, split across writes */
    if (read(fd, buf, sizeof(buf)) <= 0)
        return NULL;
    const char *r2a = "{\"id\":2,\"error\":{\"code\":\"no-domain\",";
    const char *r2b = "\"errno\":2,\"message\":\"failed to get domain 'x'\"}}\n";
    if (write(fd, r2a, strlen(r2a)) < 0 || write(fd, r2b, strlen(r2b)) < 0)
        return NULL;
    /* 3: garbage, then close */
    if (read(fd, buf, sizeof(buf)) <= 0)
        return NULL;
    if (write(fd, "not json\n", 9) < 0)
        return NULL;
    close(fd);
    return NULL;
}

int main(void)
{
    snprintf(root, sizeof(root), "/tmp/vk-client-test-%d", (int)getpid());
    setenv("VIRTKIT_ROOT", root, 1);
    struct vk_paths p;
    struct vk_err err = { 0 };
    tap_is_int(vk_paths_init(&p, true, NULL, &err), 0, "paths under VIRTKIT_ROOT");
    char want[256];
    snprintf(want, sizeof(want), "%s/run/virtkit/virtkit-sock", root);
    tap_is_str(p.sock_rw, want, "system rw socket path");
    snprintf(want, sizeof(want), "%s/etc/virtkit", root);
    tap_is_str(p.config, want, "system config path");
    tap_ok(vk_paths_init(&p, true, "relative/dir", &err) == -EINVAL, "relative root refused");
    struct vk_paths ps;
    tap_is_int(vk_paths_init(&ps, false, NULL, &err), 0, "session paths");
    snprintf(want, sizeof(want), "%s/session/run/virtkit-sock", root);
    tap_is_str(ps.sock_rw, want, "session socket path");

    struct vk_client *c = NULL;
    tap_ok(vk_client_open("http://example/", false, &c, &err) == -EINVAL && !c,
           "foreign URI refused (%s)", err.msg);
    tap_ok(vk_client_open("virtkit:///system?socket=/nonexistent/sock", false, &c, &err) < 0,
           "missing socket: error (%s)", err.msg);

    if (vk_paths_init(&p, true, NULL, &err) < 0 || vk_paths_mkdirs(&p, true, &err) < 0) {
        tap_ok(0, "mkdirs: %s", err.msg);
        return 1;
    }
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p.sock_rw);
    unlink(sa.sun_path);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
        tap_ok(0, "listen");
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, server, &lfd);
    tap_is_int(vk_client_open("virtkit:///system", false, &c, &err), 0, "connect (%s)", err.msg);
    tap_is_str(c ? vk_client_uri(c) : NULL, "virtkit:///system", "canonical uri");
    struct json_object *res = NULL;
    tap_is_int(vk_client_call(c, "node.hostname", NULL, &res, &err), 0, "call ok");
    tap_is_str(json_object_get_string(json_object_object_get(res, "hostname")), "h", "result");
    json_object_put(res);
    struct json_object *ev = NULL;
    tap_is_int(vk_client_next_event(c, 0, &ev, &err), 1, "event kept while waiting");
    tap_is_str(json_object_get_string(json_object_object_get(ev, "event")), "domain.lifecycle", "event name");
    json_object_put(ev);
    int r = vk_client_call(c, "domain.info", NULL, &res, &err);
    tap_ok(r == -ENOENT && vk_client_last_code(c) == VK_RPC_E_NO_DOMAIN, "rpc error -> code no-domain");
    tap_is_str(err.msg, "failed to get domain 'x'", "error message");
    r = vk_client_call(c, "x", NULL, &res, &err);
    tap_ok(r < 0, "garbage or a closed daemon is an error (%s)", err.msg);
    vk_client_close(c);
    pthread_join(th, NULL);
    close(lfd);
    unlink(sa.sun_path);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0)
        tap_ok(0, "cleanup");
    tap_is_str(vk_rpc_code_name(VK_RPC_E_EXISTS), "exists", "code names");
    tap_is_int(vk_rpc_code_from_name("operation-invalid"), VK_RPC_E_STATE, "code from name");
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
