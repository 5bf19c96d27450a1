/* RPC area "network": libvirt-style virtual networks (docs/network.md).
 *
 * Files (paths.h roots):
 *   CONFIG/networks/NAME.xml         persistent definitions
 *   CONFIG/networks/autostart/NAME   symlink = autostart
 *   RUN/networks/NAME.xml            live definition of an active network
 *                                    (transient ones exist only here)
 *   STATE/networks/NAME.*            dnsmasq config/leases/pid, status
 * On daemon start, every live definition is adopted (net_network_adopt):
 * nothing is recreated twice, a dead dnsmasq is restarted, leases kept.
 * Definitions are validated completely and written atomically before the
 * in-memory state changes. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "dispatch.h"
#include "rpc_network.h"

#define NET_AREA_SLOT 3              /* our index in vkd.area_state */
#define DNSMASQ_MAX_RESTARTS 5

struct netobj {
    struct netobj *next;
    struct net_def *def;             /* persistent definition, NULL if transient */
    struct net_def *live;            /* running definition, NULL if inactive */
    bool autostart;
    struct net_status st;
    int restarts;
};

struct netstate {
    struct netobj *list;
    char cfgdir[PATH_MAX], autodir[PATH_MAX], rundir[PATH_MAX], statedir[PATH_MAX];
    struct net_run_opts opts;
};

static struct netstate *S(struct vkd *d)
{
    return d->area_state[NET_AREA_SLOT];
}

static const struct net_def *cur(const struct netobj *n)
{
    return n->live ? n->live : n->def;
}

static struct netobj *lookup(struct vkd *d, const char *key)
{
    uint8_t u[16];
    bool is_uuid = net_uuid_parse(key, u) == 0;
    for (struct netobj *n = S(d)->list; n; n = n->next) {
        if (!strcmp(cur(n)->name, key))
            return n;
        if (is_uuid && !memcmp(cur(n)->uuid, u, 16))
            return n;
    }
    return NULL;
}

static struct netobj *find(struct rpc_call *call, struct json_object *params)
{
    const char *key = NULL;
    if (rpc_param_str(call, params, "network", true, &key) < 0)
        return NULL;
    struct netobj *n = lookup(call->d, key);
    if (!n)
        rpc_fail(call, VK_RPC_E_NO_NETWORK,
                 "Network not found: no network with matching name '%s'", key);
    return n;
}

static void path_of(const char *dir, const char *name, const char *ext, char *out, size_t len)
{
    snprintf(out, len, "%s/%s%s", dir, name, ext);
}

static void emit(struct vkd *d, const struct net_def *def, const char *event)
{
    char u[37];
    net_uuid_format(def->uuid, u);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(def->name));
    json_object_object_add(o, "uuid", json_object_new_string(u));
    json_object_object_add(o, "event", json_object_new_string(event));
    vkd_emit(d, VK_EVENT_NETWORK_LIFECYCLE, o);
}

static struct json_object *info_json(const struct netobj *n)
{
    const struct net_def *def = cur(n);
    char u[37];
    net_uuid_format(def->uuid, u);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(def->name));
    json_object_object_add(o, "uuid", json_object_new_string(u));
    json_object_object_add(o, "active", json_object_new_boolean(n->live != NULL));
    json_object_object_add(o, "persistent", json_object_new_boolean(n->def != NULL));
    json_object_object_add(o, "autostart", json_object_new_boolean(n->autostart));
    json_object_object_add(o, "bridge", json_object_new_string(def->bridge));
    json_object_object_add(o, "forward", json_object_new_string(net_forward_names[def->forward]));
    return o;
}

static int save_xml(const char *path, const struct net_def *def, struct vk_err *err)
{
    char *x = net_def_format(def);
    if (!x)
        return vk_err_set(err, -ENOMEM, "out of memory");
    int r = vk_write_file_atomic(path, x, strlen(x), 0600, err);
    free(x);
    return r;
}

static struct net_def *load_xml(const char *path, struct vk_err *err)
{
    char *data = NULL;
    size_t len;
    struct net_def *def = NULL;
    if (vk_read_file(path, &data, &len, err) < 0)
        return NULL;
    if (net_def_parse(data, len, &def, err) < 0)
        def = NULL;
    free(data);
    return def;
}

static void obj_free(struct netobj *n)
{
    net_def_free(n->def);
    net_def_free(n->live);
    free(n);
}

static void obj_unlink(struct vkd *d, struct netobj *n)
{
    for (struct netobj **p = &S(d)->list; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            return;
        }
}

/* ---- dnsmasq supervision ----------------------------------------------- */

static void dnsmasq_exited(struct vkd *d, pid_t pid, int wstatus, void *opaque);

static void watch_dnsmasq(struct vkd *d, struct netobj *n)
{
    if (n->st.dnsmasq_pid > 0 && vkd_watch_pid(d, n->st.dnsmasq_pid, dnsmasq_exited, n) < 0)
        vk_warn("network %s: cannot watch dnsmasq pid %d", n->live->name, (int)n->st.dnsmasq_pid);
}

static void dnsmasq_exited(struct vkd *d, pid_t pid, int wstatus, void *opaque)
{
    struct netobj *n = opaque;
    bool known = false;
    for (struct netobj *m = S(d)->list; m; m = m->next)
        known |= m == n;
    if (!known || !n->live || n->st.dnsmasq_pid != pid)
        return;
    n->st.dnsmasq_pid = 0;
    if (n->restarts >= DNSMASQ_MAX_RESTARTS) {
        vk_error("network %s: dnsmasq exited %d times, not restarting it", n->live->name, n->restarts);
        return;
    }
    n->restarts++;
    struct vk_err err = { 0 };
    pid_t np = net_dnsmasq_start(n->live, &S(d)->opts, &err);
    if (np < 0) {
        vk_error("network %s: restarting dnsmasq: %s", n->live->name, err.msg);
        return;
    }
    vk_warn("network %s: dnsmasq (pid %d) exited; restarted as pid %d", n->live->name, (int)pid, (int)np);
    n->st.dnsmasq_pid = np;
    if (net_status_save(S(d)->statedir, n->live->name, &n->st, &err) < 0)
        vk_warn("network %s: %s", n->live->name, err.msg);
    watch_dnsmasq(d, n);
}

/* ---- start / stop ------------------------------------------------------ */

static int net_start(struct vkd *d, struct netobj *n, struct net_def *def, struct vk_err *err)
{
    struct netstate *s = S(d);
    char live_path[PATH_MAX + 64];
    path_of(s->rundir, def->name, ".xml", live_path, sizeof(live_path));
    /* subnets of other active networks are on their bridges, so the
     * host-address overlap check in net_network_check covers them */
    struct net_def *live = net_def_dup(def);
    if (!live)
        return vk_err_set(err, -ENOMEM, "out of memory");
    int r = save_xml(live_path, live, err);
    if (r == 0)
        r = net_network_start(live, &s->opts, &n->st, err);
    if (r < 0) {
        unlink(live_path);
        net_def_free(live);
        return r;
    }
    n->live = live;
    n->restarts = 0;
    watch_dnsmasq(d, n);
    emit(d, live, "started");
    return 0;
}

static int net_stop(struct vkd *d, struct netobj *n, struct vk_err *err)
{
    struct netstate *s = S(d);
    if (n->st.dnsmasq_pid > 0)
        vkd_unwatch_pid(d, n->st.dnsmasq_pid);
    int r = net_network_stop(n->live, &s->opts, &n->st, err);
    char live_path[PATH_MAX + 64];
    path_of(s->rundir, n->live->name, ".xml", live_path, sizeof(live_path));
    unlink(live_path);
    emit(d, n->live, "stopped");
    net_def_free(n->live);
    n->live = NULL;
    return r;
}

/* ---- definitions ------------------------------------------------------- */

static bool bridge_taken(struct vkd *d, const char *br, const struct netobj *self)
{
    for (struct netobj *n = S(d)->list; n; n = n->next) {
        if (n == self)
            continue;
        if ((n->def && !strcmp(n->def->bridge, br)) || (n->live && !strcmp(n->live->bridge, br)))
            return true;
    }
    return false;
}

/* Parse params.xml, fill defaults (uuid/mac kept from an existing
 * definition of the same name, bridge virbrN picked), check clashes. */
static struct net_def *parse_def(struct rpc_call *call, struct json_object *params,
                                 struct netobj **existing)
{
    const char *xml = NULL;
    if (rpc_param_str(call, params, "xml", true, &xml) < 0)
        return NULL;
    struct net_def *def = NULL;
    struct vk_err err = { 0 };
    if (net_def_parse(xml, strlen(xml), &def, &err) < 0) {
        rpc_fail_err(call, VK_RPC_E_XML, &err);
        return NULL;
    }
    static const uint8_t zero[16];
    struct netobj *same = lookup(call->d, def->name);
    *existing = same;
    if (same && !memcmp(def->uuid, zero, 16))
        memcpy(def->uuid, cur(same)->uuid, 16);
    if (same && memcmp(def->uuid, cur(same)->uuid, 16)) {
        char u[37];
        net_uuid_format(cur(same)->uuid, u);
        rpc_fail(call, VK_RPC_E_EXISTS, "network '%s' already exists with uuid %s", def->name, u);
        net_def_free(def);
        return NULL;
    }
    for (struct netobj *n = S(call->d)->list; n; n = n->next)
        if (n != same && !memcmp(cur(n)->uuid, def->uuid, 16) && memcmp(def->uuid, zero, 16)) {
            rpc_fail(call, VK_RPC_E_EXISTS, "network '%s' is already defined with the same uuid",
                     cur(n)->name);
            net_def_free(def);
            return NULL;
        }
    if (same && !def->has_mac && cur(same)->has_mac) {
        memcpy(def->mac, cur(same)->mac, 6);
        def->has_mac = true;
    }
    net_def_fill_defaults(def);
    if (!def->bridge[0]) {
        if (same && cur(same)->bridge[0]) {
            snprintf(def->bridge, sizeof(def->bridge), "%s", cur(same)->bridge);
        } else {
            for (int i = 0; i < 256; i++) {
                char br[NET_IFNAMSIZ];
                struct net_link l;
                snprintf(br, sizeof(br), "virbr%d", i);
                if (!bridge_taken(call->d, br, same) && net_link_get(br, &l, NULL) == -ENODEV) {
                    snprintf(def->bridge, sizeof(def->bridge), "%s", br);
                    break;
                }
            }
        }
    } else if (def->forward != NET_FWD_BRIDGE && bridge_taken(call->d, def->bridge, same)) {
        rpc_fail(call, VK_RPC_E_EXISTS, "bridge name '%s' is already used by another network",
                 def->bridge);
        net_def_free(def);
        return NULL;
    }
    if (!def->bridge[0]) {
        rpc_fail(call, VK_RPC_E_FAILED, "no free virbrN bridge name");
        net_def_free(def);
        return NULL;
    }
    return def;
}

/* ---- handlers ---------------------------------------------------------- */

static int h_list(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct json_object *arr = json_object_new_array();
    for (struct netobj *n = S(call->d)->list; n; n = n->next)
        json_object_array_add(arr, info_json(n));
    *result = json_object_new_object();
    json_object_object_add(*result, "networks", arr);
    return 0;
}

static int h_info(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct netobj *n = find(call, params);
    if (!n)
        return -1;
    *result = info_json(n);
    return 0;
}

static int h_xml(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    bool inactive = false;
    struct netobj *n = find(call, params);
    if (!n || rpc_param_bool(call, params, "inactive", &inactive) < 0)
        return -1;
    const struct net_def *def = inactive && n->def ? n->def : cur(n);
    char *x = net_def_format(def);
    if (!x)
        return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
    *result = json_object_new_object();
    json_object_object_add(*result, "xml", json_object_new_string(x));
    free(x);
    return 0;
}

static int h_define(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct netobj *same = NULL;
    struct net_def *def = parse_def(call, params, &same);
    if (!def)
        return -1;
    struct netstate *s = S(call->d);
    char path[PATH_MAX + 64];
    struct vk_err err = { 0 };
    path_of(s->cfgdir, def->name, ".xml", path, sizeof(path));
    if (save_xml(path, def, &err) < 0) {
        net_def_free(def);
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    }
    if (!same) {
        same = calloc(1, sizeof(*same));
        if (!same) {
            net_def_free(def);
            return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
        }
        same->next = s->list;
        s->list = same;
    }
    net_def_free(same->def);
    same->def = def;
    emit(call->d, def, "defined");
    *result = info_json(same);
    return 0;
}

static int h_undefine(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct netobj *n = find(call, params);
    if (!n)
        return -1;
    if (!n->def)
        return rpc_fail(call, VK_RPC_E_STATE, "network '%s' is not persistent", cur(n)->name);
    struct netstate *s = S(call->d);
    char path[PATH_MAX + 64];
    path_of(s->cfgdir, n->def->name, ".xml", path, sizeof(path));
    if (unlink(path) < 0 && errno != ENOENT)
        return rpc_fail(call, VK_RPC_E_FAILED, "removing %s: %s", path, strerror(errno));
    path_of(s->autodir, n->def->name, "", path, sizeof(path));
    unlink(path);
    n->autostart = false;
    emit(call->d, n->def, "undefined");
    net_def_free(n->def);
    n->def = NULL;
    if (!n->live) {
        obj_unlink(call->d, n);
        obj_free(n);
    }
    return 0;
}

static int h_create(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct netobj *same = NULL;
    struct net_def *def = parse_def(call, params, &same);
    if (!def)
        return -1;
    if (same) {
        net_def_free(def);
        return rpc_fail(call, VK_RPC_E_EXISTS, "network '%s' already exists", cur(same)->name);
    }
    struct netobj *n = calloc(1, sizeof(*n));
    struct vk_err err = { 0 };
    if (!n) {
        net_def_free(def);
        return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
    }
    int r = net_start(call->d, n, def, &err);
    net_def_free(def);
    if (r < 0) {
        free(n);
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    }
    n->next = S(call->d)->list;
    S(call->d)->list = n;
    *result = info_json(n);
    return 0;
}

static int h_start(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct netobj *n = find(call, params);
    if (!n)
        return -1;
    if (n->live)
        return rpc_fail(call, VK_RPC_E_STATE, "network is already active");
    struct vk_err err = { 0 };
    if (net_start(call->d, n, n->def, &err) < 0)
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    *result = info_json(n);
    return 0;
}

static int h_destroy(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    struct netobj *n = find(call, params);
    if (!n)
        return -1;
    if (!n->live)
        return rpc_fail(call, VK_RPC_E_STATE, "network is not active");
    struct vk_err err = { 0 };
    int r = net_stop(call->d, n, &err);
    if (!n->def) {
        obj_unlink(call->d, n);
        obj_free(n);
    }
    if (r < 0)
        return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
    return 0;
}

static int h_autostart(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    bool enable = true;
    struct netobj *n = find(call, params);
    if (!n || rpc_param_bool(call, params, "enable", &enable) < 0)
        return -1;
    if (!n->def)
        return rpc_fail(call, VK_RPC_E_STATE, "cannot set autostart for transient network");
    struct netstate *s = S(call->d);
    char link[PATH_MAX + 64], target[PATH_MAX + 64];
    path_of(s->autodir, n->def->name, "", link, sizeof(link));
    path_of(s->cfgdir, n->def->name, ".xml", target, sizeof(target));
    unlink(link);
    if (enable && symlink(target, link) < 0)
        return rpc_fail(call, VK_RPC_E_FAILED, "creating %s: %s", link, strerror(errno));
    n->autostart = enable;
    return 0;
}

static int h_leases(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    const char *mac = NULL;
    struct netobj *n = find(call, params);
    if (!n || rpc_param_str(call, params, "mac", false, &mac) < 0)
        return -1;
    uint8_t want[6];
    if (mac && net_mac_parse(mac, want) < 0)
        return rpc_fail(call, VK_RPC_E_INVALID, "invalid MAC address '%s'", mac);
    struct json_object *arr = json_object_new_array();
    if (n->live) {
        struct net_lease *v;
        size_t cnt;
        struct vk_err err = { 0 };
        if (net_leases_read(n->live, S(call->d)->statedir, &v, &cnt, &err) < 0) {
            json_object_put(arr);
            return rpc_fail_err(call, VK_RPC_E_FAILED, &err);
        }
        for (size_t i = 0; i < cnt; i++) {
            if (mac && (!v[i].has_mac || memcmp(v[i].mac, want, 6)))
                continue;
            struct json_object *o = json_object_new_object();
            char a[64], m[18] = "";
            net_addr_format(&v[i].ip, a, sizeof(a));
            if (v[i].has_mac)
                net_mac_format(v[i].mac, m);
            json_object_object_add(o, "expiry", json_object_new_int64(v[i].expiry));
            json_object_object_add(o, "mac", json_object_new_string(m));
            json_object_object_add(o, "type", json_object_new_string(
                v[i].ip.family == AF_INET ? "ipv4" : "ipv6"));
            json_object_object_add(o, "ip", json_object_new_string(a));
            json_object_object_add(o, "prefix", json_object_new_int(v[i].prefix));
            json_object_object_add(o, "hostname", json_object_new_string(v[i].hostname));
            json_object_object_add(o, "clientid", json_object_new_string(v[i].clientid));
            json_object_array_add(arr, o);
        }
        free(v);
    }
    *result = json_object_new_object();
    json_object_object_add(*result, "leases", arr);
    return 0;
}

/* net-update: only DHCP host entries (section "ip-dhcp-host"). */
static int h_update(struct rpc_call *call, struct json_object *params, struct json_object **result)
{
    const char *command = NULL, *section = NULL, *xml = NULL;
    bool live = false, config = false;
    struct netobj *n = find(call, params);
    if (!n || rpc_param_str(call, params, "command", true, &command) < 0 ||
        rpc_param_str(call, params, "section", true, &section) < 0 ||
        rpc_param_str(call, params, "xml", true, &xml) < 0 ||
        rpc_param_bool(call, params, "live", &live) < 0 ||
        rpc_param_bool(call, params, "config", &config) < 0)
        return -1;
    enum net_update_op op;
    if (!strcmp(command, "add") || !strcmp(command, "add-last") || !strcmp(command, "add-first"))
        op = NET_UPDATE_ADD;
    else if (!strcmp(command, "delete"))
        op = NET_UPDATE_DELETE;
    else if (!strcmp(command, "modify"))
        op = NET_UPDATE_MODIFY;
    else
        return rpc_fail(call, VK_RPC_E_INVALID, "unknown net-update command '%s'", command);
    if (strcmp(section, "ip-dhcp-host"))
        return rpc_fail(call, VK_RPC_E_UNSUPPORTED,
                        "net-update section '%s' is not supported (only ip-dhcp-host)", section);
    if (!live && !config) {            /* --current */
        live = n->live != NULL;
        config = !live;
    }
    if (live && !n->live)
        return rpc_fail(call, VK_RPC_E_STATE, "network is not running");
    if (config && !n->def)
        return rpc_fail(call, VK_RPC_E_STATE, "cannot change persistent config of a transient network");
    struct vk_err err = { 0 };
    /* edit copies first; commit only when every requested target accepts */
    struct net_def *nc = config ? net_def_dup(n->def) : NULL;
    struct net_def *nl = live ? net_def_dup(n->live) : NULL;
    if ((config && !nc) || (live && !nl)) {
        net_def_free(nc);
        net_def_free(nl);
        return rpc_fail(call, VK_RPC_E_INTERNAL, "out of memory");
    }
    int r = 0;
    if (nc)
        r = net_def_update_dhcp_host(nc, op, xml, &err);
    if (r == 0 && nl)
        r = net_def_update_dhcp_host(nl, op, xml, &err);
    struct netstate *s = S(call->d);
    char path[PATH_MAX + 64];
    if (r == 0 && nc) {
        path_of(s->cfgdir, nc->name, ".xml", path, sizeof(path));
        r = save_xml(path, nc, &err);
    }
    if (r == 0 && nl) {
        path_of(s->rundir, nl->name, ".xml", path, sizeof(path));
        r = save_xml(path, nl, &err);
        if (r == 0)
            r = net_dnsmasq_reload(nl, s->statedir, n->st.dnsmasq_pid, &err);
    }
    if (r < 0) {
        net_def_free(nc);
        net_def_free(nl);
        return rpc_fail_err(call, r == -EINVAL ? VK_RPC_E_XML :
                            r == -ENOENT || r == -EEXIST ? VK_RPC_E_INVALID : VK_RPC_E_FAILED, &err);
    }
    if (nc) {
        net_def_free(n->def);
        n->def = nc;
    }
    if (nl) {
        net_def_free(n->live);
        n->live = nl;
    }
    *result = json_object_new_object();
    json_object_object_add(*result, "live", json_object_new_boolean(live));
    json_object_object_add(*result, "config", json_object_new_boolean(config));
    return 0;
}

/* ---- area lifecycle ---------------------------------------------------- */

static void load_dir(struct vkd *d, const char *dir, bool live)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return;
    struct dirent *de;
    while ((de = readdir(dh))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".xml"))
            continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct vk_err err = { 0 };
        struct net_def *def = load_xml(path, &err);
        if (!def) {
            vk_warn("ignoring network definition %s: %s", path, err.msg);
            continue;
        }
        struct netobj *n = lookup(d, def->name);
        if (!n) {
            n = calloc(1, sizeof(*n));
            if (!n) {
                net_def_free(def);
                continue;
            }
            n->next = S(d)->list;
            S(d)->list = n;
        }
        if (live)
            n->live = def;
        else
            n->def = def;
    }
    closedir(dh);
}

static int network_init(struct vkd *d, struct vk_err *err)
{
    struct netstate *s = calloc(1, sizeof(*s));
    if (!s)
        return vk_err_set(err, -ENOMEM, "out of memory");
    d->area_state[NET_AREA_SLOT] = s;
    snprintf(s->cfgdir, sizeof(s->cfgdir), "%s/networks", d->paths.config);
    snprintf(s->autodir, sizeof(s->autodir), "%s/networks/autostart", d->paths.config);
    snprintf(s->rundir, sizeof(s->rundir), "%s/networks", d->paths.run);
    snprintf(s->statedir, sizeof(s->statedir), "%s/networks", d->paths.state);
    s->opts.state_dir = s->statedir;
    int r;
    if ((r = vk_mkdir_p(s->autodir, 0755)) < 0 || (r = vk_mkdir_p(s->rundir, 0755)) < 0 ||
        (r = vk_mkdir_p(s->statedir, 0755)) < 0)
        return vk_err_errno(err, r, "creating network directories");
    load_dir(d, s->cfgdir, false);
    load_dir(d, s->rundir, true);
    for (struct netobj *n = s->list, *next; n; n = next) {
        next = n->next;
        if (n->def) {
            char link[PATH_MAX + 64];
            struct stat st;
            path_of(s->autodir, n->def->name, "", link, sizeof(link));
            n->autostart = lstat(link, &st) == 0;
        }
        if (!n->live)
            continue;
        struct vk_err e = { 0 };
        int a = net_network_adopt(n->live, &s->opts, &n->st, &e);
        if (a == 1) {
            vk_info("network %s: adopted (bridge %s, dnsmasq pid %d)", n->live->name,
                    n->st.bridge, (int)n->st.dnsmasq_pid);
            watch_dnsmasq(d, n);
            continue;
        }
        if (a < 0)
            vk_warn("network %s: adopting: %s", n->live->name, e.msg);
        char live_path[PATH_MAX + 64];
        path_of(s->rundir, n->live->name, ".xml", live_path, sizeof(live_path));
        unlink(live_path);
        net_def_free(n->live);
        n->live = NULL;
        if (!n->def) {
            obj_unlink(d, n);
            obj_free(n);
        }
    }
    return 0;
}

static void network_autostart(struct vkd *d)
{
    for (struct netobj *n = S(d)->list; n; n = n->next) {
        if (!n->autostart || n->live || !n->def)
            continue;
        struct vk_err err = { 0 };
        if (net_start(d, n, n->def, &err) < 0)
            vk_error("network %s: autostart failed: %s", n->def->name, err.msg);
        else
            vk_info("network %s: autostarted", n->def->name);
    }
}

static void network_fini(struct vkd *d)
{
    struct netstate *s = S(d);
    if (!s)
        return;
    while (s->list) {
        struct netobj *n = s->list;
        s->list = n->next;
        obj_free(n);       /* running networks keep running; adopted next time */
    }
    free(s);
    d->area_state[NET_AREA_SLOT] = NULL;
}

const struct net_def *rpc_network_live(struct vkd *d, const char *name, const char **state_dir)
{
    if (!S(d))
        return NULL;
    struct netobj *n = lookup(d, name);
    if (state_dir)
        *state_dir = S(d)->statedir;
    return n ? n->live : NULL;
}

static const struct rpc_method network_methods[] = {
    { "network.list", true, h_list },
    { "network.info", true, h_info },
    { "network.xml", true, h_xml },
    { "network.leases", true, h_leases },
    { "network.define", false, h_define },
    { "network.undefine", false, h_undefine },
    { "network.create", false, h_create },
    { "network.start", false, h_start },
    { "network.destroy", false, h_destroy },
    { "network.autostart", false, h_autostart },
    { "network.update", false, h_update },
    { NULL, false, NULL },
};

const struct rpc_area rpc_area_network = {
    .name = "network",
    .methods = network_methods,
    .init = network_init,
    .autostart = network_autostart,
    .fini = network_fini,
};
