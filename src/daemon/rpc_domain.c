/* RPC area "domain": lifecycle and queries (rpc.h, docs/rpc.md).
 *
 * Every change is validated completely before anything is touched; config
 * files are written (atomically) before the in-memory state changes, so a
 * refused or failed request changes nothing on disk or in memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "dispatch.h"
#include "domain.h"
#include "netif.h"

/* ---- helpers ---------------------------------------------------------------- */

static struct json_object *info_json(struct vkd *d, struct domain *dom)
{
    const struct dom_def *def = dom_current_def(dom);
    char uuid[37];
    dom_uuid_format(def->uuid, uuid);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_int(dom->id));
    json_object_object_add(o, "name", json_object_new_string(def->name));
    json_object_object_add(o, "uuid", json_object_new_string(uuid));
    if (def->title)
        json_object_object_add(o, "title", json_object_new_string(def->title));
    json_object_object_add(o, "os_type", json_object_new_string("hvm"));
    json_object_object_add(o, "state", json_object_new_string(dom_state_name(dom->state)));
    json_object_object_add(o, "reason", json_object_new_string(dom->reason));
    json_object_object_add(o, "active", json_object_new_boolean(dom_is_active(dom)));
    json_object_object_add(o, "persistent", json_object_new_boolean(dom->def != NULL));
    json_object_object_add(o, "autostart", json_object_new_boolean(dom->autostart));
    json_object_object_add(o, "vcpus", json_object_new_int((int)def->vcpus));
    json_object_object_add(o, "max_memory_kib", json_object_new_int64((int64_t)def->memory_kib));
    json_object_object_add(o, "memory_kib", json_object_new_int64((int64_t)def->current_kib));
    json_object_object_add(o, "cpu_time", json_object_new_double(dom_cpu_time(dom)));
    json_object_object_add(o, "managed_save", json_object_new_boolean(false));
    json_object_object_add(o, "security_model", json_object_new_string("none"));
    if (dom_is_active(dom))
        json_object_object_add(o, "pid", json_object_new_int(dom->pid));
    return o;
}

static struct domain *find(struct rpc_call *call, struct json_object *params)
{
    const char *key = NULL;
    if (rpc_param_str(call, params, "domain", true, &key) < 0)
        return NULL;
    struct domain *dom = dom_lookup(call->d, key);
    if (!dom)
        rpc_fail(call, VK_RPC_E_NO_DOMAIN, "failed to get domain '%s'", key);
    return dom;
}

static struct dom_def *parse_param_xml(struct rpc_call *call, struct json_object *params)
{
    const char *xml = NULL;
    if (rpc_param_str(call, params, "xml", true, &xml) < 0)
        return NULL;
    struct dom_def *def = NULL;
    struct vk_err err = { 0 };
    if (dom_def_parse(xml, strlen(xml), &def, &err) < 0) {
        rpc_fail(call, VK_RPC_E_XML, "XML error: %s", err.msg);
        return NULL;
    }
    return def;
}

/* Name/UUID conflicts of `def` against the registry. *same = the domain
 * with both the same name and uuid (an update), else NULL. */
static int check_conflicts(struct rpc_call *call, const struct dom_def *def, struct domain **same)
{
    char uuid[37];
    *same = NULL;
    struct domain *by_name = dom_by_name(call->d, def->name);
    struct domain *by_uuid = dom_by_uuid(call->d, def->uuid);
    if (by_name && by_name != by_uuid) {
        dom_uuid_format(dom_current_def(by_name)->uuid, uuid);
        return rpc_fail(call, VK_RPC_E_EXISTS,
                        "operation failed: domain '%s' is already defined with uuid %s",
                        def->name, uuid);
    }
    if (by_uuid && by_uuid != by_name) {
        dom_uuid_format(def->uuid, uuid);
        return rpc_fail(call, VK_RPC_E_EXISTS,
                        "operation failed: domain '%s' already exists with uuid %s",
                        dom_current_def(by_uuid)->name, uuid);
    }
    *same = by_name;
    return 0;
}

static int fail_vk(struct rpc_call *call, int r, const struct vk_err *err)
{
    enum vk_rpc_code code = VK_RPC_E_FAILED;
    if (r == -EBUSY || r == -EINVAL)
        code = VK_RPC_E_STATE;
    else if (r == -ENOTSUP)
        code = VK_RPC_E_UNSUPPORTED;
    return rpc_fail_err(call, code, err);
}

static int need_active(struct rpc_call *call, struct domain *dom)
{
    if (!dom_is_active(dom))
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: domain is not running");
    return 0;
}

/* ---- queries --------------------------------------------------------------------- */

static int m_list(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct json_object *arr = json_object_new_array();
    for (struct domain *x = dom_first(call->d); x; x = x->next)
        json_object_array_add(arr, info_json(call->d, x));
    *result = json_object_new_object();
    json_object_object_add(*result, "domains", arr);
    return 0;
}

static int balloon_actual_kib(struct vkd *d, struct domain *dom, uint64_t *kib, struct vk_err *err);

static int m_info(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom = find(call, params);
    if (!dom)
        return -1;
    *result = info_json(call->d, dom);
    /* a running VM with a balloon: the memory it reports now (the
     * definition's currentMemory otherwise) */
    uint64_t actual;
    struct vk_err err = { 0 };
    if (balloon_actual_kib(call->d, dom, &actual, &err) == 0)
        json_object_object_add(*result, "memory_kib", json_object_new_int64((int64_t)actual));
    return 0;
}

/* The domain named in `params` and the definition a listing shows: the
 * persistent one with "inactive", else the running one. NULL (the error
 * already answered) when the domain or the flag is bad. */
static const struct dom_def *listed_def(struct rpc_call *call, struct json_object *params,
                                        struct domain **domp)
{
    bool inactive = false;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_bool(call, params, "inactive", &inactive) < 0)
        return NULL;
    *domp = dom;
    return inactive && dom->def ? dom->def : dom_current_def(dom);
}

static int m_xml(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom;
    const struct dom_def *def = listed_def(call, params, &dom);
    if (!def)
        return -1;
    char *xml = dom_def_format(def, def == dom->live ? dom->id : 0);
    if (!xml)
        return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
    *result = json_object_new_object();
    json_object_object_add(*result, "xml", json_object_new_string(xml));
    free(xml);
    return 0;
}

static int m_interfaces(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom;
    const struct dom_def *def = listed_def(call, params, &dom);
    if (!def)
        return -1;
    struct json_object *arr = json_object_new_array();
    for (int i = 0; i < def->n_ifaces; i++) {
        const struct dom_iface *f = &def->ifaces[i];
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "interface", json_object_new_string(
            f->target && def == dom->live ? f->target : "-"));
        json_object_object_add(o, "type", json_object_new_string(f->type));
        json_object_object_add(o, "source", json_object_new_string(f->source));
        json_object_object_add(o, "model", json_object_new_string(f->model ? f->model : "virtio"));
        json_object_object_add(o, "mac", json_object_new_string(f->mac));
        json_object_array_add(arr, o);
    }
    *result = json_object_new_object();
    json_object_object_add(*result, "interfaces", arr);
    return 0;
}

static int m_ifaddr(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom = find(call, params);
    if (!dom || need_active(call, dom) < 0)
        return -1;
    const struct dom_def *def = dom->live;
    struct json_object *arr = json_object_new_array();
    for (int i = 0; i < def->n_ifaces; i++) {
        const struct dom_iface *f = &def->ifaces[i];
        struct json_object *addrs = NULL;
        struct vk_err err = { 0 };
        if (vk_netif()->addresses(call->d, f->type, f->source, f->mac, &addrs, &err) < 0) {
            json_object_put(arr);
            return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
        }
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(f->target ? f->target : "-"));
        json_object_object_add(o, "mac", json_object_new_string(f->mac));
        json_object_object_add(o, "addrs", addrs ? addrs : json_object_new_array());
        json_object_array_add(arr, o);
    }
    *result = json_object_new_object();
    json_object_object_add(*result, "interfaces", arr);
    return 0;
}

static int m_disks(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom;
    const struct dom_def *def = listed_def(call, params, &dom);
    if (!def)
        return -1;
    struct json_object *arr = json_object_new_array();
    for (int i = 0; i < def->n_disks; i++) {
        const struct dom_disk *k = &def->disks[i];
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "target", json_object_new_string(k->target));
        json_object_object_add(o, "source", json_object_new_string(k->source ? k->source : "-"));
        json_object_object_add(o, "type", json_object_new_string(k->type));
        json_object_object_add(o, "device", json_object_new_string(k->device));
        json_object_object_add(o, "format", json_object_new_string(k->driver_type ? k->driver_type : "raw"));
        json_object_object_add(o, "readonly", json_object_new_boolean(k->readonly));
        json_object_array_add(arr, o);
    }
    *result = json_object_new_object();
    json_object_object_add(*result, "disks", arr);
    return 0;
}

/* Virtual size of an image: qcow2/qcow header or the file size. */
static int image_capacity(int fd, uint64_t size, uint64_t *cap)
{
    unsigned char h[32];
    *cap = size;
    if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
        return 0;
    if (h[0] == 'Q' && h[1] == 'F' && h[2] == 'I' && h[3] == 0xfb) {
        uint64_t v = 0;
        for (int i = 24; i < 32; i++)
            v = v << 8 | h[i];
        *cap = v;
    }
    return 0;
}

static int m_blkinfo(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    const char *dev = NULL;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_str(call, params, "device", true, &dev) < 0)
        return -1;
    const struct dom_def *def = dom_current_def(dom);
    const struct dom_disk *k = NULL;
    for (int i = 0; i < def->n_disks; i++)
        if (!strcmp(def->disks[i].target, dev) ||
            (def->disks[i].source && !strcmp(def->disks[i].source, dev)))
            k = &def->disks[i];
    if (!k)
        return rpc_fail(call, VK_RPC_E_INVALID, "invalid argument: no disk with target or source '%s'", dev);
    uint64_t cap = 0, alloc = 0, phys = 0;
    if (k->source) {
        int fd = open(k->source, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return rpc_fail(call, VK_RPC_E_FAILED, "cannot access storage file '%s': %s",
                            k->source, strerror(e));
        }
        if (S_ISBLK(st.st_mode)) {
            off_t end = lseek(fd, 0, SEEK_END);
            phys = alloc = cap = end > 0 ? (uint64_t)end : 0;
        } else {
            phys = (uint64_t)st.st_size;
            alloc = (uint64_t)st.st_blocks * 512;
            image_capacity(fd, phys, &cap);
        }
        close(fd);
    }
    *result = json_object_new_object();
    json_object_object_add(*result, "capacity", json_object_new_int64((int64_t)cap));
    json_object_object_add(*result, "allocation", json_object_new_int64((int64_t)alloc));
    json_object_object_add(*result, "physical", json_object_new_int64((int64_t)phys));
    return 0;
}

/* ---- define / undefine ---------------------------------------------------------- */

static int m_define(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct dom_def *def = parse_param_xml(call, params);
    if (!def)
        return -1;
    struct domain *same;
    if (check_conflicts(call, def, &same) < 0) {
        dom_def_free(def);
        return -1;
    }
    struct vk_err err = { 0 };
    if (dom_config_save(call->d, def, &err) < 0) {
        dom_def_free(def);
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    }
    struct domain *dom = same;
    bool updated = same != NULL;
    if (dom) {
        dom_def_free(dom->def);
        dom->def = def;
    } else {
        dom = dom_add(call->d, def, NULL);
        if (!dom) {
            dom_def_free(def);
            return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
        }
    }
    dom_event(call->d, dom, "defined", updated ? "updated" : "added");
    *result = info_json(call->d, dom);
    json_object_object_add(*result, "updated", json_object_new_boolean(updated));
    return 0;
}

static int remove_storage(struct rpc_call *call, const struct dom_def *def)
{
    for (int i = 0; i < def->n_disks; i++) {
        const struct dom_disk *k = &def->disks[i];
        if (!k->source || strcmp(k->type, "file") || strcmp(k->device, "disk") || k->readonly)
            continue;
        if (unlink(k->source) < 0 && errno != ENOENT)
            return rpc_fail(call, VK_RPC_E_FAILED, "removing storage '%s': %s", k->source, strerror(errno));
    }
    return 0;
}

static int m_undefine(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    bool storage = false, managed = false;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_bool(call, params, "remove_all_storage", &storage) < 0 ||
        rpc_param_bool(call, params, "managed_save", &managed) < 0)
        return -1;
    if (!dom->def)
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: cannot undefine transient domain");
    if (dom->starting)
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: domain is being started");
    if (storage && dom_is_active(dom))
        return rpc_fail(call, VK_RPC_E_STATE,
                        "Requested operation is not valid: cannot remove the storage of a running domain");
    struct vk_err err = { 0 };
    if (dom_config_remove(call->d, dom->def->name, &err) < 0)
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    if (storage && remove_storage(call, dom->def) < 0)
        return -1;
    dom_event(call->d, dom, "undefined", "removed");
    dom->autostart = false;
    if (dom_is_active(dom)) {
        dom_def_free(dom->def);     /* keeps running as a transient domain */
        dom->def = NULL;
        dom_status_save(call->d, dom, &err);
    } else {
        dom_remove(call->d, dom);
    }
    return 0;
}

/* ---- lifecycle --------------------------------------------------------------------- */

/* The reply to start/create, sent when the VM's control socket answers or
 * the start failed (docs/rpc.md: the daemon serves others meanwhile). */
static void start_replied(struct vkd *d, struct domain *dom, int r, const struct vk_err *err,
                          void *opaque)
{
    struct rpc_deferred *t = opaque;
    if (r < 0) {
        struct rpc_call failed = { .d = d };
        fail_vk(&failed, r, err);
        if (!dom->def && !dom_is_active(dom))
            dom_remove(d, dom);     /* a transient domain that never ran */
        rpc_reply_deferred(d, t, NULL, &failed);
        return;
    }
    rpc_reply_deferred(d, t, info_json(d, dom), NULL);
}

/* Start dom (from src, NULL = its definition) and answer when it runs. On
 * a synchronous failure *err is set and the call is not deferred. */
static int start_deferred(struct rpc_call *call, struct domain *dom, const struct dom_def *src,
                          bool paused, struct vk_err *err)
{
    struct rpc_deferred *t = rpc_defer(call);
    if (!t)
        return vk_err_set(err, -ENOMEM, "out of memory");
    int r = dom_start_async(call->d, dom, src, paused, start_replied, t, err);
    if (r < 0)
        rpc_defer_cancel(call, t);
    return r;
}

static int m_create(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    bool paused = false;
    if (rpc_param_bool(call, params, "paused", &paused) < 0)
        return -1;
    struct dom_def *def = parse_param_xml(call, params);
    if (!def)
        return -1;
    struct domain *same;
    if (check_conflicts(call, def, &same) < 0) {
        dom_def_free(def);
        return -1;
    }
    struct vk_err err = { 0 };
    int r;
    struct domain *dom = same;
    if (dom) {
        if (dom_is_active(dom)) {
            dom_def_free(def);
            return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: domain '%s' is already running",
                            dom->def ? dom->def->name : "?");
        }
        r = start_deferred(call, dom, def, paused, &err);
        dom_def_free(def);
        if (r < 0)
            return fail_vk(call, r, &err);
    } else {
        dom = dom_add(call->d, NULL, def);
        if (!dom) {
            dom_def_free(def);
            return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
        }
        r = start_deferred(call, dom, def, paused, &err);
        if (r < 0) {
            dom_remove(call->d, dom);
            return fail_vk(call, r, &err);
        }
    }
    return 0;                   /* answered by start_replied */
}

static int m_start(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    bool paused = false;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_bool(call, params, "paused", &paused) < 0)
        return -1;
    if (dom_is_active(dom))
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: domain is already running");
    struct vk_err err = { 0 };
    int r = start_deferred(call, dom, NULL, paused, &err);
    if (r < 0)
        return fail_vk(call, r, &err);
    return 0;                   /* answered by start_replied */
}

static int check_mode(struct rpc_call *call, struct json_object *params)
{
    const char *mode = NULL;
    if (rpc_param_str(call, params, "mode", false, &mode) < 0)
        return -1;
    if (mode && strcmp(mode, "acpi"))
        return rpc_fail(call, VK_RPC_E_UNSUPPORTED,
                        "unsupported shutdown mode '%s' (virtkit supports 'acpi')", mode);
    return 0;
}

static int qmp_or_fail(struct rpc_call *call, struct domain *dom, const char *cmd)
{
    struct vk_err err = { 0 };
    if (qmp_execute(call->d, dom, cmd, &err) < 0)
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    return 0;
}

static int m_shutdown(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom = find(call, params);
    if (!dom || check_mode(call, params) < 0 || need_active(call, dom) < 0)
        return -1;
    return qmp_or_fail(call, dom, "system_powerdown");
}

static int m_reboot(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom = find(call, params);
    if (!dom || check_mode(call, params) < 0 || need_active(call, dom) < 0)
        return -1;
    if (qmp_or_fail(call, dom, "system_powerdown") < 0)
        return -1;
    dom->restart_pending = true;
    return 0;
}

static int m_reset(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom = find(call, params);
    if (!dom || need_active(call, dom) < 0)
        return -1;
    return qmp_or_fail(call, dom, "system_reset");
}

static int m_destroy(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    bool graceful = false;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_bool(call, params, "graceful", &graceful) < 0)
        return -1;
    if (dom->starting) {        /* the starter is told; a transient domain goes */
        bool persistent = dom->def != NULL;
        dom_start_abort(call->d, dom, "operation failed: domain was destroyed while starting");
        if (persistent)
            dom->reason = "destroyed";
        return 0;
    }
    if (need_active(call, dom) < 0)
        return -1;
    struct vk_err err = { 0 };
    int r = dom_destroy(call->d, dom, graceful, &err);
    return r < 0 ? fail_vk(call, r, &err) : 0;
}

static int m_suspend(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom = find(call, params);
    if (!dom || need_active(call, dom) < 0)
        return -1;
    if (dom->state == DOM_PAUSED)
        return 0;       /* as libvirt: suspending a paused domain succeeds */
    if (qmp_or_fail(call, dom, "stop") < 0)
        return -1;
    dom_set_state(call->d, dom, DOM_PAUSED, "user");
    dom_event(call->d, dom, "suspended", "paused");
    return 0;
}

static int m_resume(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom = find(call, params);
    if (!dom || need_active(call, dom) < 0)
        return -1;
    if (dom->state != DOM_PAUSED)
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: domain is not paused");
    if (qmp_or_fail(call, dom, "cont") < 0)
        return -1;
    dom_set_state(call->d, dom, DOM_RUNNING, "unpaused");
    dom_event(call->d, dom, "resumed", "unpaused");
    return 0;
}

static int m_autostart(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    bool enable = true;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_bool(call, params, "enable", &enable) < 0)
        return -1;
    if (!dom->def)
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: cannot set autostart for transient domain");
    struct vk_err err = { 0 };
    if (dom_config_set_autostart(call->d, dom->def->name, enable, &err) < 0)
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    dom->autostart = enable;
    return 0;
}

static int m_console(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    bool force = false;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_bool(call, params, "force", &force) < 0)
        return -1;
    struct vk_err err = { 0 };
    int r = console_attach(call->d, dom, call->conn, force, &err);
    return r < 0 ? fail_vk(call, r, &err) : 0;
}

/* ---- config changes (--config; --live needs hot-plug) --------------------------------- */

/* Resolve --config/--live/--current into "change the config": returns 0
 * and *config, or fails for live changes (not supported yet). */
/* A change that only the persistent config can take: --live (and
 * --current on a running domain) fails, saying `why`. */
static int config_only(struct rpc_call *call, struct json_object *params, struct domain *dom,
                       const char *what, const char *why)
{
    bool config = false, live = false;
    if (rpc_param_bool(call, params, "config", &config) < 0 ||
        rpc_param_bool(call, params, "live", &live) < 0)
        return -1;
    if (!config && !live)       /* --current */
        live = dom_is_active(dom), config = !live;
    if (live && !dom_is_active(dom))
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: domain is not running");
    if (live)
        return rpc_fail(call, VK_RPC_E_UNSUPPORTED,
                        "%s on a running domain (--live) is not supported yet: %s; use --config "
                        "(it applies at the next start)", what, why);
    if (!dom->def)
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: transient domains have no persistent config");
    return 0;
}

/* Validate and save a modified copy, then swap it in. Takes `next`. */
static int commit_def(struct rpc_call *call, struct domain *dom, struct dom_def *next)
{
    struct vk_err err = { 0 };
    if (dom_def_validate(next, &err) < 0) {
        dom_def_free(next);
        return rpc_fail(call, VK_RPC_E_INVALID, "%s", err.msg);
    }
    if (dom_config_save(call->d, next, &err) < 0) {
        dom_def_free(next);
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    }
    dom_def_free(dom->def);
    dom->def = next;
    dom_event(call->d, dom, "defined", "updated");
    return 0;
}

/* ---- interfaces on a running VM: PCI hot-plug through QMP (docs/pci.md) ---- */

/* --config/--live/--current for interfaces: which definitions change. */
static int iface_targets(struct rpc_call *call, struct json_object *params, struct domain *dom,
                         bool *config, bool *live)
{
    *config = *live = false;
    if (rpc_param_bool(call, params, "config", config) < 0 ||
        rpc_param_bool(call, params, "live", live) < 0)
        return -1;
    if (!*config && !*live)     /* --current */
        *live = dom_is_active(dom), *config = !*live;
    if (*live && (!dom_is_active(dom) || !dom->live))
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: domain is not running");
    if (*config && !dom->def)
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: transient domains have no persistent config");
    return 0;
}

/* The QMP id of an interface: "net" + its MAC without colons (supervise.c
 * gives start-time interfaces the same id with --net ...,id=). */
static void iface_qmp_id(const char *mac, char out[16])
{
    size_t n = 0;
    memcpy(out, "net", 3);
    n = 3;
    for (const char *p = mac; *p && n < 15; p++)
        if (*p != ':')
            out[n++] = *p;
    out[n] = 0;
}

/* Plug a virtio-net into the running VM: a TAP from the network side,
 * passed with getfd, then device_add; the interface joins the live
 * definition (its TAP is released when the domain stops). */
static int attach_live(struct rpc_call *call, struct domain *dom, const char *type,
                       const char *source, const char *mac, const char *target)
{
    struct vk_err err = { 0 };
    char id[16], ifname[16] = "";
    if (dom->live->n_ifaces >= DOM_MAX_IFACES)
        return rpc_fail(call, VK_RPC_E_INVALID, "too many interfaces");
    for (int i = 0; i < dom->live->n_ifaces; i++)
        if (!strcmp(dom->live->ifaces[i].mac, mac))
            return rpc_fail(call, VK_RPC_E_INVALID, "the running domain already has an interface with MAC %s", mac);
    iface_qmp_id(mac, id);
    struct vk_netif_request req = { .domain = dom->live->name, .type = type, .source = source,
                                    .mac = mac, .model = "virtio", .target = target };
    int fd = vk_netif()->acquire(call->d, &req, ifname, &err);
    if (fd < 0)
        return fail_vk(call, fd, &err);
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "fdname", json_object_new_string(id));
    int r = qmp_call_fd(call->d, dom, "getfd", a, fd, &err);
    json_object_put(a);
    close(fd);
    if (r == 0) {
        a = json_object_new_object();
        json_object_object_add(a, "driver", json_object_new_string("virtio-net-pci"));
        json_object_object_add(a, "fd", json_object_new_string(id));
        json_object_object_add(a, "mac", json_object_new_string(mac));
        json_object_object_add(a, "id", json_object_new_string(id));
        r = qmp_call(call->d, dom, "device_add", a, NULL, &err);
        json_object_put(a);
        if (r < 0) {
            struct vk_err ignored = { 0 };
            a = json_object_new_object();
            json_object_object_add(a, "fdname", json_object_new_string(id));
            qmp_call(call->d, dom, "closefd", a, NULL, &ignored);
            json_object_put(a);
        }
    }
    if (r < 0) {
        vk_netif()->release(call->d, type, source, ifname);
        return fail_vk(call, r, &err);
    }
    struct dom_iface *f = dom_def_add_iface(dom->live);
    if (!f)
        return rpc_fail(call, VK_RPC_E_INTERNAL, "too many interfaces");
    f->type = strdup(type);
    f->source = strdup(source);
    f->model = strdup("virtio");
    f->target = strdup(ifname);
    memcpy(f->mac, mac, sizeof(f->mac));
    if (dom_status_save(call->d, dom, &err) < 0)
        vk_warn("domain %s: saving runtime state: %s", dom->live->name, err.msg);
    return 0;
}

/* device_del, then wait for the guest to eject it (DEVICE_DELETED). */
#define IFACE_UNPLUG_TIMEOUT_MS 10000
static int detach_live(struct rpc_call *call, struct domain *dom, const char *type, const char *mac)
{
    struct vk_err err = { 0 };
    int found = -1, matches = 0;
    for (int i = 0; i < dom->live->n_ifaces; i++) {
        const struct dom_iface *f = &dom->live->ifaces[i];
        if (strcmp(f->type, type) || (mac && strcmp(f->mac, mac)))
            continue;
        found = i;
        matches++;
    }
    if (!matches)
        return rpc_fail(call, VK_RPC_E_INVALID, "operation failed: no interface found (type %s%s%s)",
                        type, mac ? ", mac " : "", mac ? mac : "");
    if (matches > 1)
        return rpc_fail(call, VK_RPC_E_INVALID,
                        "operation failed: domain has %d interfaces of type %s; give --mac", matches, type);
    char id[16];
    iface_qmp_id(dom->live->ifaces[found].mac, id);
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "id", json_object_new_string(id));
    int r = qmp_call(call->d, dom, "device_del", a, NULL, &err);
    json_object_put(a);
    if (r == 0)
        r = qmp_wait_event(call->d, dom, "DEVICE_DELETED", "device", id, IFACE_UNPLUG_TIMEOUT_MS, &err);
    if (r == -ETIMEDOUT)
        return rpc_fail(call, VK_RPC_E_FAILED, "operation failed: the guest did not release the "
                        "interface within %d s (it goes when the guest ejects it)",
                        IFACE_UNPLUG_TIMEOUT_MS / 1000);
    if (r < 0)
        return fail_vk(call, r, &err);
    struct dom_iface gone = dom->live->ifaces[found];
    memmove(&dom->live->ifaces[found], &dom->live->ifaces[found + 1],
            (size_t)(dom->live->n_ifaces - found - 1) * sizeof(gone));
    dom->live->n_ifaces--;
    if (gone.target)
        vk_netif()->release(call->d, gone.type, gone.source, gone.target);
    free(gone.type); free(gone.source); free(gone.model); free(gone.target);
    if (dom_status_save(call->d, dom, &err) < 0)
        vk_warn("domain %s: saving runtime state: %s", dom->live->name, err.msg);
    return 0;
}

static int m_attach_if(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    const char *type = NULL, *source = NULL, *model = NULL, *mac = NULL, *target = NULL;
    bool config, live;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_str(call, params, "type", true, &type) < 0 ||
        rpc_param_str(call, params, "source", true, &source) < 0 ||
        rpc_param_str(call, params, "model", false, &model) < 0 ||
        rpc_param_str(call, params, "mac", false, &mac) < 0 ||
        rpc_param_str(call, params, "target", false, &target) < 0 ||
        iface_targets(call, params, dom, &config, &live) < 0)
        return -1;
    if (strcmp(type, "network") && strcmp(type, "bridge"))
        return rpc_fail(call, VK_RPC_E_UNSUPPORTED, "interface type '%s' is not supported (network, bridge)", type);
    if (model && strcmp(model, "virtio"))
        return rpc_fail(call, VK_RPC_E_UNSUPPORTED, "interface model '%s' is not supported (virtio)", model);
    if (config && dom->def->n_ifaces >= DOM_MAX_IFACES)
        return rpc_fail(call, VK_RPC_E_INVALID, "too many interfaces");
    char macbuf[18];
    if (mac && dom_mac_parse(mac, macbuf) < 0)
        return rpc_fail(call, VK_RPC_E_INVALID, "'%s' is not a unicast MAC address", mac);
    if (!mac)
        dom_mac_generate(macbuf);
    if (live && attach_live(call, dom, type, source, macbuf, target) < 0)
        return -1;
    if (!config) {
        *result = json_object_new_object();
        json_object_object_add(*result, "mac", json_object_new_string(macbuf));
        return 0;
    }
    struct dom_def *next = dom_def_copy(dom->def);
    if (!next)
        return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
    struct dom_iface *f = dom_def_add_iface(next);
    if (!f) {
        dom_def_free(next);
        return rpc_fail(call, VK_RPC_E_INVALID, "too many interfaces");
    }
    f->type = strdup(type);
    f->source = strdup(source);
    f->model = strdup("virtio");
    f->target = target ? strdup(target) : NULL;
    memcpy(f->mac, macbuf, sizeof(macbuf));
    if (commit_def(call, dom, next) < 0)
        return -1;
    *result = json_object_new_object();
    json_object_object_add(*result, "mac", json_object_new_string(macbuf));
    return 0;
}

static int m_detach_if(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    const char *type = NULL, *mac = NULL;
    bool config, live;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_str(call, params, "type", true, &type) < 0 ||
        rpc_param_str(call, params, "mac", false, &mac) < 0 ||
        iface_targets(call, params, dom, &config, &live) < 0)
        return -1;
    char macbuf[18] = "";
    if (mac && dom_mac_parse(mac, macbuf) < 0)
        return rpc_fail(call, VK_RPC_E_INVALID, "'%s' is not a unicast MAC address", mac);
    if (live && detach_live(call, dom, type, mac ? macbuf : NULL) < 0)
        return -1;
    if (!config)
        return 0;
    int found = -1, matches = 0;
    for (int i = 0; i < dom->def->n_ifaces; i++) {
        const struct dom_iface *f = &dom->def->ifaces[i];
        if (strcmp(f->type, type) || (mac && strcmp(f->mac, macbuf)))
            continue;
        found = i;
        matches++;
    }
    if (!matches)
        return rpc_fail(call, VK_RPC_E_INVALID, "operation failed: no interface found (type %s%s%s)",
                        type, mac ? ", mac " : "", mac ? mac : "");
    if (matches > 1)
        return rpc_fail(call, VK_RPC_E_INVALID,
                        "operation failed: domain has %d interfaces of type %s; give --mac", matches, type);
    struct dom_def *next = dom_def_copy(dom->def);
    if (!next)
        return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
    struct dom_iface gone = next->ifaces[found];
    memmove(&next->ifaces[found], &next->ifaces[found + 1],
            (size_t)(next->n_ifaces - found - 1) * sizeof(gone));
    next->n_ifaces--;
    free(gone.type); free(gone.source); free(gone.model); free(gone.target);
    return commit_def(call, dom, next);
}

/* ---- memory: the balloon of a running VM ---------------------------------------------- */

/* libvirt's words when a running domain cannot balloon */
static const char no_balloon_msg[] =
    "Requested operation is not valid: Unable to change memory of active domain "
    "without the balloon device and guest OS balloon driver";

static bool vm_lacks_balloon(const struct vk_err *err)
{
    return strstr(err->msg, "No balloon device has been activated") != NULL;
}

/* The guest memory the VM's balloon reports (query-balloon "actual"), KiB.
 * -ENODEV: the domain is not running or has no balloon device. */
static int balloon_actual_kib(struct vkd *d, struct domain *dom, uint64_t *kib, struct vk_err *err)
{
    if (!dom_is_active(dom) || !dom->live || !dom->live->memballoon)
        return vk_err_set(err, -ENODEV, "no balloon device");
    struct json_object *ret = NULL, *v;
    int r = qmp_call(d, dom, "query-balloon", NULL, &ret, err);
    if (r == -EIO && vm_lacks_balloon(err))
        r = vk_err_set(err, -ENODEV, "no balloon device");
    else if (r == 0 && ret && json_object_object_get_ex(ret, "actual", &v) &&
             json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0)
        *kib = (uint64_t)json_object_get_int64(v) / 1024;
    else if (r == 0)
        r = vk_err_set(err, -EPROTO, "query-balloon: the VM's reply has no 'actual' size");
    json_object_put(ret);
    return r;
}

/* Ask the running VM's balloon for `kib` of guest memory. The guest's
 * driver (if any) inflates or deflates towards it in its own time. */
static int balloon_set(struct rpc_call *call, struct domain *dom, uint64_t kib)
{
    if (!dom->live->memballoon)
        return rpc_fail(call, VK_RPC_E_STATE, "%s", no_balloon_msg);
    if (kib == 0)
        return rpc_fail(call, VK_RPC_E_INVALID, "invalid argument: memory size must be greater than 0");
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "value", json_object_new_int64((int64_t)(kib * 1024)));
    struct vk_err err = { 0 };
    int r = qmp_call(call->d, dom, "balloon", args, NULL, &err);
    json_object_put(args);
    if (r == -EIO && vm_lacks_balloon(&err))
        return rpc_fail(call, VK_RPC_E_STATE, "%s", no_balloon_msg);
    if (r < 0)
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    dom->live->current_kib = kib;
    if (dom_status_save(call->d, dom, &err) < 0)
        vk_warn("domain %s: saving runtime state: %s", dom->live->name, err.msg);
    return 0;
}

/* setmem / setmaxmem with libvirt's flag rules: --live balloons the
 * running VM, --config changes the definition, --current (neither) is
 * live when running; the size may not pass <memory> of either. */
static int m_setmem(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    uint64_t kib = 0;
    bool max = false, config = false, live = false;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_u64(call, params, "kib", true, &kib) < 0 ||
        rpc_param_bool(call, params, "max", &max) < 0 ||
        rpc_param_bool(call, params, "config", &config) < 0 ||
        rpc_param_bool(call, params, "live", &live) < 0)
        return -1;
    if (!config && !live)       /* --current */
        live = dom_is_active(dom), config = !live;
    if (live && !dom_is_active(dom))
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: domain is not running");
    if (config && !dom->def)
        return rpc_fail(call, VK_RPC_E_STATE, "Requested operation is not valid: transient domains have no persistent config");
    if (max && live)
        return rpc_fail(call, VK_RPC_E_STATE,
                        "Requested operation is not valid: cannot resize the maximum memory on an active domain");
    if (!max) {
        uint64_t limit = UINT64_MAX;
        if (live)
            limit = dom->live->memory_kib;
        if (config && dom->def->memory_kib < limit)
            limit = dom->def->memory_kib;
        if (kib > limit)
            return rpc_fail(call, VK_RPC_E_INVALID, "invalid argument: cannot set memory higher than max memory");
    }
    if (live && balloon_set(call, dom, kib) < 0)
        return -1;
    if (!config)
        return 0;
    struct dom_def *next = dom_def_copy(dom->def);
    if (!next)
        return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
    if (max) {
        next->memory_kib = kib;
        if (next->current_kib > kib)
            next->current_kib = kib;
    } else {
        next->current_kib = kib;
    }
    return commit_def(call, dom, next);
}

/* Resident set of the VM process, KiB (/proc/PID/statm). */
static int vm_rss_kib(pid_t pid, uint64_t *kib)
{
    char path[64], buf[128];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    unsigned long long size, resident;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return -EIO;
    long page = sysconf(_SC_PAGESIZE);
    *kib = resident * (uint64_t)(page > 0 ? page : 4096) / 1024;
    return 0;
}

/* dommemstat: "actual" from the balloon (absent without one), "rss" of
 * the VM process. */
static int m_memstats(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct domain *dom = find(call, params);
    if (!dom || need_active(call, dom) < 0)
        return -1;
    uint64_t actual = 0, rss = 0;
    struct vk_err err = { 0 };
    int r = balloon_actual_kib(call->d, dom, &actual, &err);
    if (r < 0 && r != -ENODEV)
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    *result = json_object_new_object();
    if (r == 0)
        json_object_object_add(*result, "actual", json_object_new_int64((int64_t)actual));
    if (vm_rss_kib(dom->pid, &rss) == 0)
        json_object_object_add(*result, "rss", json_object_new_int64((int64_t)rss));
    return 0;
}

static int m_setvcpus(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    uint64_t count = 0;
    struct domain *dom = find(call, params);
    if (!dom || rpc_param_u64(call, params, "count", true, &count) < 0 ||
        config_only(call, params, dom, "changing vCPUs",
                    "virtkit-vm has no vCPU hot-plug (no ACPI CPU hot-plug registers or "
                    "methods, and its MADT lists only the vCPUs it starts with)") < 0)
        return -1;
    if (count < 1 || count > DOM_MAX_VCPUS)
        return rpc_fail(call, VK_RPC_E_INVALID, "invalid argument: vCPU count %llu out of range (1-%d)",
                        (unsigned long long)count, DOM_MAX_VCPUS);
    struct dom_def *next = dom_def_copy(dom->def);
    if (!next)
        return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
    next->vcpus = (unsigned)count;
    if (next->sockets) {        /* keep the topology consistent: flatten it */
        next->sockets = 1;
        next->dies = 1;
        next->cores = (unsigned)count;
        next->threads = 1;
    }
    return commit_def(call, dom, next);
}

/* ---- area -------------------------------------------------------------------------- */

static int domain_init(struct vkd *d, struct vk_err *err)
{
    int r = dom_config_load_all(d, err);
    if (r < 0)
        return r;
    dom_adopt_all(d);
    return 0;
}

static void domain_autostart(struct vkd *d)
{
    for (struct domain *x = dom_first(d); x; x = x->next) {
        if (!x->def || !x->autostart || dom_is_active(x) || x->starting)
            continue;
        struct vk_err err = { 0 };
        if (dom_start_async(d, x, NULL, false, dom_start_log_done, NULL, &err) < 0)
            vk_warn("autostart of domain %s failed: %s", x->def->name, err.msg);
    }
}

static void domain_fini(struct vkd *d)
{
    /* starts that did not complete: their VMs have no runtime state to be
     * adopted from, so they end with the daemon (the callback may remove
     * a transient domain: look again from the start each time) */
    for (;;) {
        struct domain *x = dom_first(d);
        while (x && !x->starting)
            x = x->next;
        if (!x)
            break;
        dom_start_abort(d, x, "the daemon is shutting down");
    }
    while (dom_first(d)) {
        struct domain *x = dom_first(d);
        if (x->qmp_fd >= 0)
            close(x->qmp_fd);
        if (x->serial_fd >= 0)
            close(x->serial_fd);
        dom_remove(d, x);
    }
}

static const struct rpc_method domain_methods[] = {
    { VK_RPC_DOM_LIST,      true,  m_list },
    { VK_RPC_DOM_INFO,      true,  m_info },
    { VK_RPC_DOM_XML,       true,  m_xml },
    { VK_RPC_DOM_IFLIST,    true,  m_interfaces },
    { VK_RPC_DOM_IFADDR,    true,  m_ifaddr },
    { VK_RPC_DOM_BLKLIST,   true,  m_disks },
    { VK_RPC_DOM_BLKINFO,   true,  m_blkinfo },
    { VK_RPC_DOM_DEFINE,    false, m_define },
    { VK_RPC_DOM_UNDEFINE,  false, m_undefine },
    { VK_RPC_DOM_CREATE,    false, m_create },
    { VK_RPC_DOM_START,     false, m_start },
    { VK_RPC_DOM_SHUTDOWN,  false, m_shutdown },
    { VK_RPC_DOM_REBOOT,    false, m_reboot },
    { VK_RPC_DOM_RESET,     false, m_reset },
    { VK_RPC_DOM_DESTROY,   false, m_destroy },
    { VK_RPC_DOM_SUSPEND,   false, m_suspend },
    { VK_RPC_DOM_RESUME,    false, m_resume },
    { VK_RPC_DOM_AUTOSTART, false, m_autostart },
    { VK_RPC_DOM_CONSOLE,   false, m_console },
    { VK_RPC_DOM_ATTACH_IF, false, m_attach_if },
    { VK_RPC_DOM_DETACH_IF, false, m_detach_if },
    { VK_RPC_DOM_SETMEM,    false, m_setmem },
    { VK_RPC_DOM_MEMSTATS,  true,  m_memstats },
    { VK_RPC_DOM_SETVCPUS,  false, m_setvcpus },
    { NULL, false, NULL },
};

const struct rpc_area rpc_area_domain = {
    .name = "domain",
    .methods = domain_methods,
    .init = domain_init,
    .autostart = domain_autostart,
    .fini = domain_fini,
};
