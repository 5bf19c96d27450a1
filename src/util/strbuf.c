/* A growable string for building config files and XML (see util.h). */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

void vk_strbuf_printf(struct vk_strbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = VK_MAX(b->cap * 2, b->len + (size_t)n + 512);
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void vk_strbuf_free(struct vk_strbuf *b)
{
    free(b->s);
    *b = (struct vk_strbuf){ 0 };
}
