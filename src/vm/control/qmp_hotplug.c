/* QMP commands for PCI hot-plug: getfd/closefd (descriptors passed over
 * the socket with SCM_RIGHTS), device_add, device_del, query-pci.
 *
 * Every argument is checked here, before the backend sees it: only known
 * members, the right JSON types, bounded lengths, ids as QEMU accepts them.
 * Values go into the device's option string with commas escaped (",,"),
 * so a value cannot add options of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qmp.h"

/* ---- passed descriptors ------------------------------------------------- */

void qmp_session_take_fd(struct qmp_session *s, int fd)
{
    if (s->passed_fd >= 0)
        close(s->passed_fd);
    s->passed_fd = fd;
}

void qmp_session_close_fds(struct qmp_session *s)
{
    if (s->passed_fd >= 0)
        close(s->passed_fd);
    s->passed_fd = -1;
    for (unsigned i = 0; i < QMP_MAX_FDS; i++) {
        if (s->fds[i].name[0] && s->fds[i].fd >= 0)
            close(s->fds[i].fd);
        s->fds[i].name[0] = 0;
        s->fds[i].fd = -1;
    }
}

static struct qmp_named_fd *find_fd(struct qmp_session *s, const char *name)
{
    for (unsigned i = 0; i < QMP_MAX_FDS; i++)
        if (s->fds[i].name[0] && !strcmp(s->fds[i].name, name))
            return &s->fds[i];
    return NULL;
}

/* ---- argument checking ------------------------------------------------------ */

/* Refuse members not in `known` (NULL-terminated). */
static int only_known(struct json_object *args, const char *const *known, struct vk_err *err)
{
    if (!args)
        return 0;
    json_object_object_foreach(args, key, val) {
        (void)val;
        bool ok = false;
        for (unsigned i = 0; known[i] && !ok; i++)
            ok = !strcmp(key, known[i]);
        if (!ok)
            return vk_err_set(err, -EINVAL, "Parameter '%.64s' is unexpected", key);
    }
    return 0;
}

/* A string member: NULL if absent; -EINVAL in *r if not a string or too long. */
static const char *str_arg(struct json_object *args, const char *name, size_t max, int *r,
                           struct vk_err *err)
{
    struct json_object *v;

    if (*r < 0 || !args || !json_object_object_get_ex(args, name, &v))
        return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        *r = vk_err_set(err, -EINVAL, "Invalid parameter type for '%s', expected: string", name);
        return NULL;
    }
    const char *s = json_object_get_string(v);
    if (strlen(s) > max || memchr(s, 0, (size_t)json_object_get_string_len(v))) {
        *r = vk_err_set(err, -EINVAL, "Parameter '%s' is too long or holds a NUL byte", name);
        return NULL;
    }
    return s;
}

/* QEMU's rule for ids and fd names: a letter, then letters, digits, '-',
 * '.', '_'. */
static bool valid_id(const char *s)
{
    if (!s[0] || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            return false;
    return true;
}

/* Append ",key=value" (commas in value doubled). false when it does not fit. */
static bool spec_add(char *buf, size_t cap, const char *key, const char *val)
{
    size_t n = strlen(buf);
    int w = snprintf(buf + n, cap - n, "%s%s=", n ? "," : "", key);

    if (w < 0 || (size_t)w >= cap - n)
        return false;
    n += (size_t)w;
    for (const char *p = val; *p; p++) {
        if (n + 3 > cap)
            return false;
        buf[n++] = *p;
        if (*p == ',')
            buf[n++] = ',';
    }
    buf[n] = 0;
    return true;
}

/* ---- commands ---------------------------------------------------------------- */

int qmp_cmd_getfd(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                  struct vk_err *err)
{
    static const char *const known[] = { "fdname", NULL };
    struct qmp_session *s = c->session;
    int r = only_known(args, known, err);
    const char *name = str_arg(args, "fdname", 63, &r, err);

    if (r < 0)
        return r;
    if (!name)
        return vk_err_set(err, -EINVAL, "Parameter 'fdname' is missing");
    if (!valid_id(name))
        return vk_err_set(err, -EINVAL,
                          "Parameter 'fdname' expects a name starting with a letter");
    if (s->passed_fd < 0)
        return vk_err_set(err, -EBADF, "No file descriptor supplied via SCM_RIGHTS");
    struct qmp_named_fd *e = find_fd(s, name);
    if (e) {
        close(e->fd);                   /* same name again: replaced, as QEMU does */
    } else {
        for (unsigned i = 0; i < QMP_MAX_FDS && !e; i++)
            if (!s->fds[i].name[0])
                e = &s->fds[i];
        if (!e) {
            close(s->passed_fd);
            s->passed_fd = -1;
            return vk_err_set(err, -EMFILE, "Too many named file descriptors (%d)", QMP_MAX_FDS);
        }
        snprintf(e->name, sizeof(e->name), "%s", name);
    }
    e->fd = s->passed_fd;
    s->passed_fd = -1;
    return 0;
}

int qmp_cmd_closefd(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                    struct vk_err *err)
{
    static const char *const known[] = { "fdname", NULL };
    int r = only_known(args, known, err);
    const char *name = str_arg(args, "fdname", 63, &r, err);

    if (r < 0)
        return r;
    if (!name)
        return vk_err_set(err, -EINVAL, "Parameter 'fdname' is missing");
    struct qmp_named_fd *e = find_fd(c->session, name);
    if (!e)
        return vk_err_set(err, -ENOENT, "File descriptor named '%.63s' not found", name);
    close(e->fd);
    e->fd = -1;
    e->name[0] = 0;
    return 0;
}

/* virtio-net-pci: exactly one of fd / netdev (a getfd name) or tap (an
 * interface name), optional mac. */
static int net_spec(struct qmp_call *c, struct json_object *args, char *spec, size_t cap,
                    struct qmp_named_fd **fd_out, struct vk_err *err)
{
    static const char *const known[] = { "driver", "id", "fd", "netdev", "tap", "mac", NULL };
    int r = only_known(args, known, err);
    const char *fd = str_arg(args, "fd", 63, &r, err);
    const char *netdev = str_arg(args, "netdev", 63, &r, err);
    const char *tap = str_arg(args, "tap", 15, &r, err);
    const char *mac = str_arg(args, "mac", 17, &r, err);

    if (r < 0)
        return r;
    if ((fd != NULL) + (netdev != NULL) + (tap != NULL) != 1)
        return vk_err_set(err, -EINVAL, "virtio-net-pci: give exactly one of 'fd', 'netdev' "
                                        "(a name passed with getfd) or 'tap'");
    if (fd || netdev) {
        const char *name = fd ? fd : netdev;
        struct qmp_named_fd *e = find_fd(c->session, name);
        char num[16];
        if (!e)
            return vk_err_set(err, -ENOENT, "File descriptor named '%s' not found", name);
        snprintf(num, sizeof(num), "%d", e->fd);
        spec_add(spec, cap, "fd", num);
        *fd_out = e;
    } else {
        if (!tap[0] || !valid_id(tap) || !strcmp(tap, ".") || !strcmp(tap, ".."))
            return vk_err_set(err, -EINVAL, "Parameter 'tap' is not an interface name");
        spec_add(spec, cap, "tap", tap);
    }
    if (mac && !spec_add(spec, cap, "mac", mac))
        return vk_err_set(err, -EINVAL, "Parameter 'mac' is too long");
    return 0;
}

/* virtio-blk-pci: drive or path (an image path), format, readonly, serial. */
static int blk_spec(struct json_object *args, char *spec, size_t cap, struct vk_err *err)
{
    static const char *const known[] = { "driver", "id", "drive", "path", "format", "readonly",
                                         "serial", NULL };
    int r = only_known(args, known, err);
    const char *drive = str_arg(args, "drive", 4095, &r, err);
    const char *path = str_arg(args, "path", 4095, &r, err);
    const char *format = str_arg(args, "format", 31, &r, err);
    const char *serial = str_arg(args, "serial", 20, &r, err);
    struct json_object *ro = NULL;

    if (r < 0)
        return r;
    if ((drive != NULL) == (path != NULL))
        return vk_err_set(err, -EINVAL, "virtio-blk-pci: give exactly one of 'drive' or 'path'");
    const char *p = drive ? drive : path;
    if (!p[0])
        return vk_err_set(err, -EINVAL, "virtio-blk-pci: the image path is empty");
    if (!spec_add(spec, cap, "path", p))
        return vk_err_set(err, -EINVAL, "virtio-blk-pci: the image path is too long");
    if (format && !spec_add(spec, cap, "format", format))
        return vk_err_set(err, -EINVAL, "Parameter 'format' is too long");
    if (json_object_object_get_ex(args, "readonly", &ro)) {
        bool on;
        if (json_object_is_type(ro, json_type_boolean))
            on = json_object_get_boolean(ro);
        else if (json_object_is_type(ro, json_type_string) &&
                 (!strcmp(json_object_get_string(ro), "on") ||
                  !strcmp(json_object_get_string(ro), "off")))
            on = !strcmp(json_object_get_string(ro), "on");
        else
            return vk_err_set(err, -EINVAL, "Parameter 'readonly' expects a boolean or on/off");
        spec_add(spec, cap, "readonly", on ? "on" : "off");
    }
    if (serial && !spec_add(spec, cap, "serial", serial))
        return vk_err_set(err, -EINVAL, "Parameter 'serial' is too long");
    return 0;
}

int qmp_cmd_device_add(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                       struct vk_err *err)
{
    const struct qmp_backend_ops *ops = c->env->ops;
    struct qmp_named_fd *passed = NULL;
    char spec[8400] = "";
    int r = 0;
    const char *driver = str_arg(args, "driver", 63, &r, err);
    const char *id = str_arg(args, "id", 63, &r, err);

    if (r < 0)
        return r;
    if (!driver)
        return vk_err_set(err, -EINVAL, "Parameter 'driver' is missing");
    if (id && !valid_id(id))
        return vk_err_set(err, -EINVAL, "Parameter 'id' expects an identifier (a letter, then "
                                        "letters, digits, '-', '.', '_')");
    if (!strcmp(driver, "virtio-net-pci"))
        r = net_spec(c, args, spec, sizeof(spec), &passed, err);
    else if (!strcmp(driver, "virtio-blk-pci"))
        r = blk_spec(args, spec, sizeof(spec), err);
    else
        return vk_err_set(err, -EINVAL, "'%.63s' is not a valid device model name", driver);
    if (r < 0)
        return r;
    if (!ops->device_add)
        return vk_err_set(err, -ENOTSUP, "this machine has no PCI hot-plug");
    r = ops->device_add(c->env->opaque, driver, spec, id ? id : "", err);
    if (r < 0)
        return r;
    if (passed) {                       /* the device owns the descriptor now */
        passed->name[0] = 0;
        passed->fd = -1;
    }
    return 0;
}

int qmp_cmd_device_del(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                       struct vk_err *err)
{
    static const char *const known[] = { "id", NULL };
    int r = only_known(args, known, err);
    const char *id = str_arg(args, "id", 63, &r, err);

    if (r < 0)
        return r;
    if (!id)
        return vk_err_set(err, -EINVAL, "Parameter 'id' is missing");
    if (!c->env->ops->device_del)
        return vk_err_set(err, -ENOTSUP, "this machine has no PCI hot-plug");
    return c->env->ops->device_del(c->env->opaque, id, err);
}

static struct json_object *device_json(const struct qmp_pci_device *d)
{
    struct json_object *o = json_object_new_object(), *ci = json_object_new_object(),
                       *idj = json_object_new_object(), *regions = json_object_new_array();

    json_object_object_add(o, "bus", json_object_new_int(0));
    json_object_object_add(o, "slot", json_object_new_int((int)d->slot));
    json_object_object_add(o, "function", json_object_new_int(0));
    json_object_object_add(ci, "class", json_object_new_int((int)(d->class_code >> 8)));
    json_object_object_add(o, "class_info", ci);
    json_object_object_add(idj, "device", json_object_new_int(d->device));
    json_object_object_add(idj, "vendor", json_object_new_int(d->vendor));
    json_object_object_add(idj, "subsystem", json_object_new_int(d->subsys));
    json_object_object_add(idj, "subsystem-vendor", json_object_new_int(d->subsys_vendor));
    json_object_object_add(o, "id", idj);
    if (d->irq)
        json_object_object_add(o, "irq", json_object_new_int(d->irq));
    json_object_object_add(o, "qdev_id", json_object_new_string(d->qdev_id));
    for (unsigned i = 0; i < d->nr_regions && i < 6; i++) {
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "bar", json_object_new_int((int)d->regions[i].bar));
        json_object_object_add(r, "type", json_object_new_string(d->regions[i].io ? "io"
                                                                                  : "memory"));
        json_object_object_add(r, "address", json_object_new_int64((int64_t)d->regions[i].addr));
        json_object_object_add(r, "size", json_object_new_int64((int64_t)d->regions[i].size));
        if (!d->regions[i].io) {
            json_object_object_add(r, "prefetch", json_object_new_boolean(d->regions[i].prefetch));
            json_object_object_add(r, "mem_type_64", json_object_new_boolean(d->regions[i].mem64));
        }
        json_object_array_add(regions, r);
    }
    json_object_object_add(o, "regions", regions);
    return o;
}

int qmp_cmd_query_pci(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                      struct vk_err *err)
{
    struct qmp_pci_device devs[32];
    unsigned n = c->env->ops->query_pci ? c->env->ops->query_pci(c->env->opaque, devs, 32) : 0;
    struct json_object *a = json_object_new_array(), *bus = json_object_new_object(),
                       *list = json_object_new_array();

    for (unsigned i = 0; i < n && i < 32; i++)
        json_object_array_add(list, device_json(&devs[i]));
    json_object_object_add(bus, "bus", json_object_new_int(0));
    json_object_object_add(bus, "devices", list);
    json_object_array_add(a, bus);
    *ret = a;
    return 0;
}
