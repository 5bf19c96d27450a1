/* Minimal TAP producer for unit tests (run by `meson test`, protocol tap). */
#ifndef VK_TAP_H
#define VK_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

static inline void tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        tap_failed++;
}

#define tap_is_int(got, want, ...) do {                                   \
        long long g_ = (long long)(got), w_ = (long long)(want);          \
        tap_ok(g_ == w_, __VA_ARGS__);                                    \
        if (g_ != w_) printf("#   got %lld, want %lld\n", g_, w_);        \
    } while (0)
#define tap_is_str(got, want, ...) do {                                   \
        const char *g_ = (got), *w_ = (want);                             \
        int eq_ = g_ && w_ && !strcmp(g_, w_);                            \
        tap_ok(eq_, __VA_ARGS__);                                         \
        if (!eq_) printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)

static inline void tap_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    exit(0);
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
