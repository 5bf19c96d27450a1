/* Error values with human-readable detail (see util.h conventions). */
#include "util.h"

#include <stdio.h>
#include <string.h>

static int vset(struct vk_err *err, int code, bool with_errno, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (with_errno && n >= 0 && (size_t)n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(-code));
    return code;
}

int vk_err_set(struct vk_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, false, fmt, ap);
    va_end(ap);
    return code;
}

int vk_err_errno(struct vk_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, true, fmt, ap);
    va_end(ap);
    return code;
}

void vk_err_prefix(struct vk_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256], old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}
