/* virsh event: print domain lifecycle events as they happen. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--domain DOM", "only this domain" },
    { "--event lifecycle", "event type (lifecycle)" },
    { "--all", "all event types" },
    { "--loop", "keep waiting for events (default: exit after one)" },
    { "--timeout SECONDS", "give up after this long" },
    { "--timestamp", "prefix each event with the time" },
    { "--list", "list the event types" },
    { NULL, NULL },
};

const struct cli_command cmd_event = {
    .name = "event",
    .group = "Domains",
    .summary = "domain events",
    .usage = "virtkit event [--domain DOM] [--event lifecycle|--all] [--loop] [--timeout S] [--timestamp]",
    .options = opts_help,
    .run = run,
};

/* "booted" -> "Booted" (virsh prints capitalised words) */
static void cap(const char *in, char *out, size_t len)
{
    snprintf(out, len, "%s", in);
    if (out[0])
        out[0] = (char)toupper((unsigned char)out[0]);
}

static int run(int argc, char **argv)
{
    const char *dom = NULL, *event = NULL, *timeout = NULL;
    bool all = false, loop = false, stamp = false, list = false;
    const struct vopt o[] = { { "domain", 'p', &dom }, { "event", 's', &event }, { "all", 'b', &all },
                              { "loop", 'b', &loop }, { "timeout", 's', &timeout },
                              { "timestamp", 'b', &stamp }, { "list", 'b', &list }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_event, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    if (list) {
        printf("lifecycle\n");
        virsh_done();
        return CLI_OK;
    }
    if (!all && !event)
        return cli_usage_error(&cmd_event, "either --list or --event <type> or --all is required");
    if (event && strcmp(event, "lifecycle"))
        return cli_error("event", "unsupported event type '%s' (lifecycle)", event);
    int secs = 0;
    if (timeout && vk_parse_int(timeout, 1, 86400 * 365, &secs) < 0)
        return cli_usage_error(&cmd_event, "invalid timeout '%s'", timeout);
    struct vk_client *cl = virsh_connect("event");
    if (!cl)
        return CLI_FAIL;
    char want_uuid[64] = "";
    if (dom) {
        struct json_object *info = NULL;
        if (virsh_call("event", cl, "domain.info", virsh_dom_params(dom), &info)) {
            vk_client_close(cl);
            return CLI_FAIL;
        }
        snprintf(want_uuid, sizeof(want_uuid), "%s", vj_str(info, "uuid", ""));
        json_object_put(info);
    }
    struct vk_err err = { 0 };
    if (vk_client_subscribe(cl, &err) < 0) {
        vk_client_close(cl);
        return cli_error("event", "%s", err.msg);
    }
    int64_t deadline = secs ? vk_now_ns() + (int64_t)secs * 1000000000 : 0;
    int count = 0;
    for (;;) {
        int wait_ms = -1;
        if (deadline) {
            int64_t left = (deadline - vk_now_ns()) / 1000000;
            wait_ms = left > 0 ? (int)left : 0;
        }
        struct json_object *ev = NULL;
        int n = vk_client_next_event(cl, wait_ms, &ev, &err);
        if (n == 0) {
            printf("event loop timed out\n");
            break;
        }
        if (n < 0) {
            vk_client_close(cl);
            return cli_error("event", "%s", err.msg);
        }
        struct json_object *data = json_object_object_get(ev, "data");
        if (strcmp(vj_str(ev, "event", ""), "domain.lifecycle") ||
            (*want_uuid && strcmp(vj_str(data, "uuid", ""), want_uuid))) {
            json_object_put(ev);
            continue;
        }
        char e[32], detail[32];
        cap(vj_str(data, "event", ""), e, sizeof(e));
        cap(vj_str(data, "detail", ""), detail, sizeof(detail));
        if (stamp) {
            char ts[64];
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            struct tm tm;
            localtime_r(&now.tv_sec, &tm);
            strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
            printf("%s.%03ld%+03ld%02ld: ", ts, now.tv_nsec / 1000000,
                   tm.tm_gmtoff / 3600, labs(tm.tm_gmtoff / 60 % 60));
        }
        printf("event 'lifecycle' for domain '%s': %s %s\n", vj_str(data, "name", ""), e, detail);
        fflush(stdout);
        json_object_put(ev);
        count++;
        if (!loop)
            break;
    }
    printf("events received: %d\n", count);
    virsh_done();
    vk_client_close(cl);
    return CLI_OK;
}
