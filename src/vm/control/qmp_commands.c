/* The QMP commands virtkit-vm implements: one handler each, listed in
 * qmp_commands[]. Return shapes follow QEMU's QAPI schema so existing
 * clients parse them. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "qmp.h"

static void emit(struct qmp_call *c, const char *event, struct json_object *data)
{
    if (c->env->emit)
        c->env->emit(c->env->emit_opaque, event, data);
    else
        json_object_put(data);
}

static int cmd_qmp_capabilities(struct qmp_call *c, struct json_object *args,
                                struct json_object **ret, struct vk_err *err)
{
    struct json_object *enable = NULL;

    if (!args)
        return 0;
    json_object_object_foreach(args, key, val) {
        (void)val;
        if (strcmp(key, "enable"))
            return vk_err_set(err, -EINVAL, "Parameter '%.64s' is unexpected", key);
    }
    json_object_object_get_ex(args, "enable", &enable);
    if (!json_object_is_type(enable, json_type_array))
        return vk_err_set(err, -EINVAL, "Invalid parameter type for 'enable', expected: array");
    for (size_t i = 0; i < json_object_array_length(enable); i++) {
        struct json_object *cap = json_object_array_get_idx(enable, i);
        if (!json_object_is_type(cap, json_type_string))
            return vk_err_set(err, -EINVAL, "Invalid parameter type for 'enable', expected: string");
        return vk_err_set(err, -EINVAL, "Capability '%.64s' not available",
                          json_object_get_string(cap));
    }
    return 0;
}

static int cmd_query_status(struct qmp_call *c, struct json_object *args,
                            struct json_object **ret, struct vk_err *err)
{
    const char *st = c->env->ops->status(c->env->opaque);
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "status", json_object_new_string(st));
    json_object_object_add(o, "singlestep", json_object_new_boolean(0));
    json_object_object_add(o, "running", json_object_new_boolean(!strcmp(st, "running")));
    *ret = o;
    return 0;
}

static int cmd_query_cpus_fast(struct qmp_call *c, struct json_object *args,
                               struct json_object **ret, struct vk_err *err)
{
    struct qmp_cpu_info cpus[256];
    unsigned n = c->env->ops->cpus(c->env->opaque, cpus, VK_ARRAY_SIZE(cpus));
    struct json_object *a = json_object_new_array();

    for (unsigned i = 0; i < n; i++) {
        struct json_object *o = json_object_new_object(), *props = json_object_new_object();
        char path[64];

        json_object_object_add(o, "cpu-index", json_object_new_int((int)cpus[i].index));
        snprintf(path, sizeof(path), "/machine/unattached/device[%u]", cpus[i].index);
        json_object_object_add(o, "qom-path", json_object_new_string(path));
        if (cpus[i].thread_id >= 0)
            json_object_object_add(o, "thread-id", json_object_new_int64(cpus[i].thread_id));
        json_object_object_add(o, "target", json_object_new_string("x86_64"));
        json_object_object_add(props, "socket-id", json_object_new_int((int)cpus[i].index));
        json_object_object_add(props, "core-id", json_object_new_int(0));
        json_object_object_add(props, "thread-id", json_object_new_int(0));
        json_object_object_add(o, "props", props);
        json_object_array_add(a, o);
    }
    *ret = a;
    return 0;
}

static int cmd_stop(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                    struct vk_err *err)
{
    bool was_running = !strcmp(c->env->ops->status(c->env->opaque), "running");

    c->env->ops->stop(c->env->opaque);
    if (was_running && strcmp(c->env->ops->status(c->env->opaque), "running"))
        emit(c, "STOP", NULL);
    return 0;
}

static int cmd_cont(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                    struct vk_err *err)
{
    const char *st = c->env->ops->status(c->env->opaque);

    if (!strcmp(st, "running"))
        return 0;
    if (strcmp(st, "paused"))
        return vk_err_set(err, -EINVAL, "cannot continue: the VM is in state '%s'", st);
    c->env->ops->cont(c->env->opaque);
    emit(c, "RESUME", NULL);
    return 0;
}

static int cmd_system_powerdown(struct qmp_call *c, struct json_object *args,
                                struct json_object **ret, struct vk_err *err)
{
    c->env->ops->powerdown(c->env->opaque);
    emit(c, "POWERDOWN", NULL);
    return 0;
}

static int cmd_system_reset(struct qmp_call *c, struct json_object *args,
                            struct json_object **ret, struct vk_err *err)
{
    /* The RESET event comes from the machine when the reset happens. */
    c->env->ops->reset(c->env->opaque);
    return 0;
}

static int cmd_quit(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                    struct vk_err *err)
{
    c->env->ops->quit(c->env->opaque);
    return 0;
}

static int cmd_query_chardev(struct qmp_call *c, struct json_object *args,
                             struct json_object **ret, struct vk_err *err)
{
    struct qmp_chardev_info devs[16];
    unsigned n = c->env->ops->chardevs(c->env->opaque, devs, VK_ARRAY_SIZE(devs));
    struct json_object *a = json_object_new_array();

    for (unsigned i = 0; i < n; i++) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "label", json_object_new_string(devs[i].label));
        json_object_object_add(o, "filename", json_object_new_string(devs[i].filename));
        json_object_object_add(o, "frontend-open", json_object_new_boolean(devs[i].frontend_open));
        json_object_array_add(a, o);
    }
    *ret = a;
    return 0;
}

static int cmd_query_version(struct qmp_call *c, struct json_object *args,
                             struct json_object **ret, struct vk_err *err)
{
    struct json_object *o = json_object_new_object(), *q = json_object_new_object();
    int major, minor, micro;

    qmp_version(&major, &minor, &micro);
    json_object_object_add(q, "major", json_object_new_int(major));
    json_object_object_add(q, "minor", json_object_new_int(minor));
    json_object_object_add(q, "micro", json_object_new_int(micro));
    json_object_object_add(o, "qemu", q);
    json_object_object_add(o, "package", json_object_new_string("virtkit"));
    *ret = o;
    return 0;
}

static int cmd_query_commands(struct qmp_call *c, struct json_object *args,
                              struct json_object **ret, struct vk_err *err)
{
    struct json_object *a = json_object_new_array();

    for (unsigned i = 0; i < qmp_nr_commands; i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(qmp_commands[i].name));
        json_object_array_add(a, o);
    }
    *ret = a;
    return 0;
}

/* QEMU answers this class and text when no balloon driver is there. */
static int no_balloon(struct vk_err *err)
{
    return vk_err_set(err, -ENODEV, "No balloon device has been activated");
}

static int cmd_balloon(struct qmp_call *c, struct json_object *args, struct json_object **ret,
                       struct vk_err *err)
{
    struct json_object *v = NULL;
    if (args) {
        json_object_object_foreach(args, key, val) {
            (void)val;
            if (strcmp(key, "value"))
                return vk_err_set(err, -EINVAL, "Parameter '%.64s' is unexpected", key);
        }
    }
    if (!args || !json_object_object_get_ex(args, "value", &v) ||
        !json_object_is_type(v, json_type_int))
        return vk_err_set(err, -EINVAL, "Parameter 'value' is missing or not an integer");
    int64_t value = json_object_get_int64(v);
    if (value <= 0)
        return vk_err_set(err, -EINVAL, "Parameter 'value' expects a size in bytes > 0");
    if (!c->env->ops->balloon || c->env->ops->balloon(c->env->opaque, (uint64_t)value) < 0)
        return no_balloon(err);
    return 0;
}

static int cmd_query_balloon(struct qmp_call *c, struct json_object *args,
                             struct json_object **ret, struct vk_err *err)
{
    uint64_t actual = 0;
    if (!c->env->ops->query_balloon || c->env->ops->query_balloon(c->env->opaque, &actual) < 0)
        return no_balloon(err);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "actual", json_object_new_int64((int64_t)actual));
    *ret = o;
    return 0;
}

static int cmd_query_kvm(struct qmp_call *c, struct json_object *args,
                         struct json_object **ret, struct vk_err *err)
{
    const char *accel = c->env->ops->accel ? c->env->ops->accel(c->env->opaque) : NULL;
    bool enabled = accel && !strcmp(accel, "kvm");
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "enabled", json_object_new_boolean(enabled));
    json_object_object_add(o, "present",
                           json_object_new_boolean(enabled || access("/dev/kvm", R_OK | W_OK) == 0));
    *ret = o;
    return 0;
}

static int cmd_query_target(struct qmp_call *c, struct json_object *args,
                            struct json_object **ret, struct vk_err *err)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "arch", json_object_new_string("x86_64"));
    *ret = o;
    return 0;
}

static int cmd_query_name(struct qmp_call *c, struct json_object *args,
                          struct json_object **ret, struct vk_err *err)
{
    return 0;                           /* no -name: {} as QEMU answers */
}

const struct qmp_command qmp_commands[] = {
    { "qmp_capabilities", cmd_qmp_capabilities, true },
    { "query-status",     cmd_query_status,     false },
    { "query-cpus-fast",  cmd_query_cpus_fast,  false },
    { "query-chardev",    cmd_query_chardev,    false },
    { "query-version",    cmd_query_version,    false },
    { "query-commands",   cmd_query_commands,   false },
    { "query-kvm",        cmd_query_kvm,        false },
    { "query-target",     cmd_query_target,     false },
    { "query-name",       cmd_query_name,       false },
    { "stop",             cmd_stop,             false },
    { "cont",             cmd_cont,             false },
    { "system_powerdown", cmd_system_powerdown, false },
    { "system_reset",     cmd_system_reset,     false },
    { "quit",             cmd_quit,             false },
    { "balloon",          cmd_balloon,          true },
    { "query-balloon",    cmd_query_balloon,    false },
    /* PCI hot-plug (qmp_hotplug.c) */
    { "getfd",            qmp_cmd_getfd,        true },
    { "closefd",          qmp_cmd_closefd,      true },
    { "device_add",       qmp_cmd_device_add,   true },
    { "device_del",       qmp_cmd_device_del,   true },
    { "query-pci",        qmp_cmd_query_pci,    false },
};
const unsigned qmp_nr_commands = VK_ARRAY_SIZE(qmp_commands);

const struct qmp_command *qmp_command_find(const char *name)
{
    for (unsigned i = 0; i < qmp_nr_commands; i++)
        if (!strcmp(qmp_commands[i].name, name))
            return &qmp_commands[i];
    return NULL;
}
