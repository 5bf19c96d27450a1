/* Logging to stderr with a program prefix and a level filter. */
#include "util.h"

#include <stdio.h>
#include <time.h>

static enum vk_log_level log_level = VK_LOG_INFO;
static const char *log_prefix = "virtkit";

void vk_log_set_level(enum vk_log_level level) { log_level = level; }
void vk_log_set_prefix(const char *prefix) { log_prefix = prefix; }

void vk_log(enum vk_log_level level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    if (level > log_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf per line keeps lines whole when threads log at once. */
    fprintf(stderr, "%s: %s: %s\n", log_prefix, names[level], line);
}

int64_t vk_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool vk_ratelimit_ok(struct vk_ratelimit *rl)
{
    /* Not thread-exact on purpose: a lost update only lets one extra line through. */
    int64_t window = vk_now_ns() / 1000000000;
    if (rl->window != window) {
        rl->window = window;
        rl->count = 0;
    }
    return rl->count++ < 5;
}
