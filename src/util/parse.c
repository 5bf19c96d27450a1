/* Parsing of sizes, integers, booleans and key=value option strings. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vk_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end)
        return -EINVAL;
    *out = v;
    return 0;
}

int vk_parse_int(const char *s, int min, int max, int *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (*end)
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = (int)v;
    return 0;
}

int vk_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    double whole = strtod(s, &end);   /* accept "1.5G" as qemu-img does */
    if (errno == ERANGE || end == s)
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case 'b': case 'B': end++; break;   /* "512B" is bytes */
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    case 'p': case 'P': shift = 50; end++; break;
    case 'e': case 'E': shift = 60; end++; break;
    default: break;
    }
    if (shift && (end[0] == 'i' && (end[1] == 'B' || end[1] == 'b')))
        end += 2;
    else if (shift && (*end == 'B' || *end == 'b'))
        end++;
    if (*end)
        return -EINVAL;
    double v = whole * (double)(1ULL << shift);
    if (v >= 18446744073709551616.0)
        return -ERANGE;
    if (!shift && v != (double)(uint64_t)v)
        return -EINVAL;   /* fractional bytes */
    *out = (uint64_t)v;
    return 0;
}

void vk_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    unsigned u = 0;
    double v = (double)bytes;
    while (v >= 1024 && u + 1 < VK_ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else if (v == (double)(uint64_t)v)
        snprintf(buf, len, "%llu %s", (unsigned long long)v, units[u]);
    else
        snprintf(buf, len, "%.3g %s", v, units[u]);
}

int vk_parse_bool(const char *s)
{
    static const char *const yes[] = { "on", "yes", "true", "1" };
    static const char *const no[] = { "off", "no", "false", "0" };
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < VK_ARRAY_SIZE(yes); i++) {
        if (!strcmp(s, yes[i]))
            return 1;
        if (!strcmp(s, no[i]))
            return 0;
    }
    return -EINVAL;
}

void vk_kv_free(struct vk_kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].val);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

const char *vk_kv_get(const struct vk_kvlist *l, const char *key)
{
    for (size_t i = l->n; i-- > 0;)   /* last one wins */
        if (!strcmp(l->items[i].key, key))
            return l->items[i].val;
    return NULL;
}

int vk_kv_parse(const char *s, const char *implied_key, struct vk_kvlist *out,
                struct vk_err *err)
{
    out->items = NULL;
    out->n = 0;
    size_t len = strlen(s);
    char *item = malloc(len + 1);
    if (!item)
        return vk_err_set(err, -ENOMEM, "out of memory");
    const char *p = s;
    while (*p) {
        size_t n = 0;
        for (; *p; p++) {
            if (*p == ',') {
                if (p[1] == ',') { item[n++] = ','; p++; continue; }
                break;
            }
            item[n++] = *p;
        }
        item[n] = '\0';
        if (*p == ',')
            p++;
        if (!n)
            continue;
        char *eq = strchr(item, '=');
        const char *key = item, *val = "on";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        } else if (out->n == 0 && implied_key) {
            key = implied_key;
            val = item;
        }
        if (!*key) {
            free(item);
            vk_kv_free(out);
            return vk_err_set(err, -EINVAL, "empty option name in '%s'", s);
        }
        struct vk_kv *ni = realloc(out->items, (out->n + 1) * sizeof(*ni));
        if (!ni) {
            free(item);
            vk_kv_free(out);
            return vk_err_set(err, -ENOMEM, "out of memory");
        }
        out->items = ni;
        ni[out->n].key = strdup(key);
        ni[out->n].val = strdup(val);
        out->n++;
    }
    free(item);
    return 0;
}
