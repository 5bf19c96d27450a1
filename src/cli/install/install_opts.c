/* virt-install's comma-separated sub-options: --disk, --network, --boot,
 * --graphics, --console. Values may be quoted ('...' or "...") to hold
 * commas and spaces: --boot kernel_args="console=ttyS0,115200n8 quiet". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "install/install.h"

int subopts_parse(const char *s, const char *implied_key, struct subopts *out, struct vk_err *err)
{
    memset(out, 0, sizeof(*out));
    out->buf = malloc(strlen(s) + 1);
    if (!out->buf)
        return vk_err_set(err, -ENOMEM, "out of memory");
    char *w = out->buf;
    const char *p = s;
    while (*p) {
        char *item = w;
        char quote = 0;
        for (; *p && (quote || *p != ','); p++) {
            if (!quote && (*p == '"' || *p == '\''))
                quote = *p;
            else if (quote && *p == quote)
                quote = 0;
            else
                *w++ = *p;
        }
        if (quote) {
            subopts_free(out);
            return vk_err_set(err, -EINVAL, "unbalanced quote in '%s'", s);
        }
        *w++ = '\0';
        if (*p == ',')
            p++;
        if (!*item)
            continue;
        if (out->n >= (int)VK_ARRAY_SIZE(out->items)) {
            subopts_free(out);
            return vk_err_set(err, -EINVAL, "too many options in '%s'", s);
        }
        struct subopt *o = &out->items[out->n];
        char *eq = strchr(item, '=');
        if (eq) {
            *eq = '\0';
            o->val = eq + 1;
        } else if (out->n == 0 && implied_key) {
            o->val = item;
            item = (char *)implied_key;
        } else {
            o->val = NULL;          /* a bare word */
        }
        if (!*item || strlen(item) >= sizeof(o->key)) {
            subopts_free(out);
            return vk_err_set(err, -EINVAL, "bad option name in '%s'", s);
        }
        snprintf(o->key, sizeof(o->key), "%s", item);
        out->n++;
    }
    return 0;
}

void subopts_free(struct subopts *o)
{
    free(o->buf);
    o->buf = NULL;
    o->n = 0;
}

const char *subopts_get(const struct subopts *o, const char *key)
{
    for (int i = o->n - 1; i >= 0; i--)
        if (!strcmp(o->items[i].key, key))
            return o->items[i].val ? o->items[i].val : "";
    return NULL;
}

int subopts_check(const struct subopts *o, const char *opt, const char *const *known,
                  struct vk_err *err)
{
    for (int i = 0; i < o->n; i++) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = !strcmp(o->items[i].key, *k);
        if (!ok)
            return vk_err_set(err, -EINVAL, "%s: unknown option '%s'", opt, o->items[i].key);
    }
    return 0;
}

static int on_off(const char *opt, const char *key, const char *v, bool *out, struct vk_err *err)
{
    int b = vk_parse_bool(*v ? v : "on");
    if (b < 0)
        return vk_err_set(err, -EINVAL, "%s: %s='%s' is not on/off", opt, key, v);
    *out = b;
    return 0;
}

/* size= in GiB as virt-install reads it: a positive decimal ("10", "0.5"). */
static int disk_size(const char *v, uint64_t *out, struct vk_err *err)
{
    char *end;
    errno = 0;
    double g = strtod(v, &end);
    if (errno || end == v || *end || !(g > 0) || g > 1024.0 * 1024)
        return vk_err_set(err, -EINVAL,
                          "--disk: size='%s' is not a size in GiB (a positive number, e.g. size=10 or size=0.5)",
                          v);
    uint64_t b = (uint64_t)(g * (double)(1ull << 30));
    *out = VK_ALIGN_UP(b, (uint64_t)512);
    return 0;
}

int inst_parse_disk(const char *arg, struct inst_disk *d, struct vk_err *err)
{
    static const char *const known[] = {
        "path", "size", "format", "bus", "device", "readonly", "shareable", "cache",
        "sparse", "target", "target.bus", "driver.type", "driver.cache", "io", "discard", NULL,
    };
    struct subopts o;
    int r = subopts_parse(arg, "path", &o, err);
    if (r < 0)
        return r;
    memset(d, 0, sizeof(*d));
    if ((r = subopts_check(&o, "--disk", known, err)) < 0)
        goto out;
    const char *v;
    if ((v = subopts_get(&o, "path")) && *v) {
        if (!(d->path = strdup(v))) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    }
    if ((v = subopts_get(&o, "size")) && (r = disk_size(v, &d->size, err)) < 0)
        goto out;
    if ((v = subopts_get(&o, "format")) || (v = subopts_get(&o, "driver.type"))) {
        if (!*v || strlen(v) >= sizeof(d->format) || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(v)) {
            r = vk_err_set(err, -EINVAL, "--disk: format='%s' is not a format name", v);
            goto out;
        }
        snprintf(d->format, sizeof(d->format), "%s", v);
    }
    if (((v = subopts_get(&o, "bus")) || (v = subopts_get(&o, "target.bus"))) && strcmp(v, "virtio")) {
        r = vk_err_set(err, -EINVAL, "--disk: bus='%s' is not supported (virtkit disks are virtio)", v);
        goto out;
    }
    if ((v = subopts_get(&o, "device"))) {
        if (!strcmp(v, "cdrom"))
            d->cdrom = d->readonly = true;
        else if (strcmp(v, "disk")) {
            r = vk_err_set(err, -EINVAL, "--disk: device='%s' is not supported (disk or cdrom)", v);
            goto out;
        }
    }
    if ((v = subopts_get(&o, "readonly")) && (r = on_off("--disk", "readonly", v, &d->readonly, err)) < 0)
        goto out;
    if ((v = subopts_get(&o, "shareable")) && (r = on_off("--disk", "shareable", v, &d->shareable, err)) < 0)
        goto out;
    if ((v = subopts_get(&o, "cache")) || (v = subopts_get(&o, "driver.cache"))) {
        static const char *const caches[] = { "none", "writeback", "writethrough", "directsync", "unsafe", "default" };
        bool ok = false;
        for (size_t i = 0; i < VK_ARRAY_SIZE(caches) && !ok; i++)
            ok = !strcmp(v, caches[i]);
        if (!ok) {
            r = vk_err_set(err, -EINVAL, "--disk: cache='%s' is not a cache mode", v);
            goto out;
        }
        snprintf(d->cache, sizeof(d->cache), "%s", v);
    }
    if ((v = subopts_get(&o, "target"))) {
        if (strncmp(v, "vd", 2) || strlen(v) < 3 || strlen(v) >= sizeof(d->target)) {
            r = vk_err_set(err, -EINVAL, "--disk: target='%s' is not a virtio disk name (vda, vdb, ...)", v);
            goto out;
        }
        snprintf(d->target, sizeof(d->target), "%s", v);
    }
    if (d->cdrom && d->size) {
        r = vk_err_set(err, -EINVAL, "--disk: a cdrom has no size=");
        goto out;
    }
    r = 0;
out:
    if (r < 0) {
        free(d->path);
        d->path = NULL;
    }
    subopts_free(&o);
    return r;
}

static bool valid_mac(const char *m)
{
    unsigned b[6];
    char tail;
    if (strlen(m) != 17 || sscanf(m, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
                                  &b[4], &b[5], &tail) != 6)
        return false;
    return !(b[0] & 1);         /* unicast */
}

int inst_parse_network(const char *arg, struct inst_nic *n, struct vk_err *err)
{
    static const char *const known[] = { "network", "bridge", "model", "model.type", "mac",
                                         "mac.address", "type", "source", "none", NULL };
    if (!strcmp(arg, "none"))
        return 1;
    /* the older spelling network:NAME / bridge:NAME */
    char conv[256];
    snprintf(conv, sizeof(conv), "%s", arg);
    if (!strncmp(conv, "network:", 8) || !strncmp(conv, "bridge:", 7))
        *strchr(conv, ':') = '=';
    struct subopts o;
    int r = subopts_parse(conv, NULL, &o, err);
    if (r < 0)
        return r;
    memset(n, 0, sizeof(*n));
    if ((r = subopts_check(&o, "--network", known, err)) < 0)
        goto out;
    const char *v, *src = NULL;
    if ((v = subopts_get(&o, "network"))) {
        snprintf(n->type, sizeof(n->type), "network");
        src = v;
    } else if ((v = subopts_get(&o, "bridge"))) {
        snprintf(n->type, sizeof(n->type), "bridge");
        src = v;
    } else if ((v = subopts_get(&o, "type"))) {
        if (strcmp(v, "network") && strcmp(v, "bridge")) {
            r = vk_err_set(err, -EINVAL, "--network: type '%s' is not supported (network or bridge)", v);
            goto out;
        }
        snprintf(n->type, sizeof(n->type), "%s", v);
        src = subopts_get(&o, "source");
    } else {
        r = vk_err_set(err, -EINVAL,
                       "--network '%s': give network=NAME, bridge=NAME or none (network:NAME also works)", arg);
        goto out;
    }
    if (!src || !*src || strlen(src) >= sizeof(n->source)) {
        r = vk_err_set(err, -EINVAL, "--network '%s': the %s name is missing or too long", arg, n->type);
        goto out;
    }
    snprintf(n->source, sizeof(n->source), "%s", src);
    if (((v = subopts_get(&o, "model")) || (v = subopts_get(&o, "model.type"))) && strcmp(v, "virtio")) {
        r = vk_err_set(err, -EINVAL, "--network: model '%s' is not supported (virtio)", v);
        goto out;
    }
    if ((v = subopts_get(&o, "mac")) || (v = subopts_get(&o, "mac.address"))) {
        if (!valid_mac(v)) {
            r = vk_err_set(err, -EINVAL, "--network: mac '%s' is not a unicast MAC address", v);
            goto out;
        }
        snprintf(n->mac, sizeof(n->mac), "%s", v);
    }
    r = 0;
out:
    subopts_free(&o);
    return r;
}

static int dup_into(char **dst, const char *v, struct vk_err *err)
{
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : vk_err_set(err, -ENOMEM, "out of memory");
}

int inst_parse_boot(const char *arg, struct inst_boot *b, struct vk_err *err)
{
    static const char *const known[] = { "kernel", "initrd", "kernel_args", "cmdline", "extra_args",
                                         "hd", "cdrom", "network", "fd", "menu", "bootmenu.enable",
                                         "uefi", "firmware", NULL };
    struct subopts o;
    int r = subopts_parse(arg, NULL, &o, err);
    if (r < 0)
        return r;
    if ((r = subopts_check(&o, "--boot", known, err)) < 0)
        goto out;
    for (int i = 0; i < o.n; i++) {
        const struct subopt *s = &o.items[i];
        if (!strcmp(s->key, "uefi") || !strcmp(s->key, "firmware")) {
            r = vk_err_set(err, -ENOTSUP, "--boot %s: firmware (UEFI) boot is not supported; "
                           "virtkit boots kernels directly (--boot kernel=,initrd=,kernel_args=)", s->key);
            goto out;
        }
        bool dev = !strcmp(s->key, "hd") || !strcmp(s->key, "cdrom") || !strcmp(s->key, "network") ||
                   !strcmp(s->key, "fd");
        if (dev) {
            if (s->val) {
                r = vk_err_set(err, -EINVAL, "--boot: '%s' takes no value", s->key);
                goto out;
            }
            if (b->n_devs < (int)VK_ARRAY_SIZE(b->devs))
                b->devs[b->n_devs++] = !strcmp(s->key, "hd") ? "hd" : !strcmp(s->key, "cdrom") ? "cdrom" :
                                       !strcmp(s->key, "network") ? "network" : "fd";
            continue;
        }
        const char *v = s->val ? s->val : "";
        if (!strcmp(s->key, "kernel") || !strcmp(s->key, "initrd")) {
            if (*v != '/') {
                r = vk_err_set(err, -EINVAL, "--boot %s='%s': give an absolute path", s->key, v);
                goto out;
            }
            r = dup_into(!strcmp(s->key, "kernel") ? &b->kernel : &b->initrd, v, err);
        } else if (!strcmp(s->key, "menu") || !strcmp(s->key, "bootmenu.enable")) {
            r = vk_parse_bool(v) < 0 ? vk_err_set(err, -EINVAL, "--boot menu='%s' is not on/off", v) : 0;
        } else {
            r = dup_into(&b->cmdline, v, err);
        }
        if (r < 0)
            goto out;
    }
    if ((b->initrd || b->cmdline) && !b->kernel)
        r = vk_err_set(err, -EINVAL, "--boot: initrd= and kernel_args= need kernel=");
out:
    subopts_free(&o);
    return r;
}

int inst_parse_graphics(const char *arg, struct vk_err *err)
{
    if (!strcmp(arg, "none"))
        return 0;
    return vk_err_set(err, -ENOTSUP, "--graphics '%s' is not supported: virtkit has no display "
                      "(use --graphics none and the serial console)", arg);
}

int inst_parse_console(const char *arg, struct vk_err *err)
{
    static const char *const known[] = { "pty", "target_type", "target.type", NULL };
    struct subopts o;
    int r = subopts_parse(arg, NULL, &o, err);
    if (r < 0)
        return r;
    if ((r = subopts_check(&o, "--console", known, err)) < 0)
        goto out;
    if (!subopts_get(&o, "pty")) {
        r = vk_err_set(err, -ENOTSUP, "--console '%s': only a pty console is supported (pty,target_type=serial)", arg);
        goto out;
    }
    const char *t = subopts_get(&o, "target_type");
    if (!t)
        t = subopts_get(&o, "target.type");
    if (t && strcmp(t, "serial"))
        r = vk_err_set(err, -ENOTSUP, "--console: target_type='%s' is not supported (serial)", t);
out:
    subopts_free(&o);
    return r;
}

void inst_random_mac(char mac[18])
{
    unsigned char b[3] = { 0 };
    if (getrandom(b, sizeof(b), 0) != sizeof(b))
        b[0] = b[1] = b[2] = 0x42;
    snprintf(mac, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}

void inst_random_uuid(char uuid[37])
{
    unsigned char u[16] = { 0 };
    if (getrandom(u, sizeof(u), 0) != sizeof(u))
        memset(u, 0x5a, sizeof(u));
    u[6] = (u[6] & 0x0f) | 0x40;    /* version 4 */
    u[8] = (u[8] & 0x3f) | 0x80;    /* RFC 4122 variant */
    snprintf(uuid, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
             u[13], u[14], u[15]);
}
