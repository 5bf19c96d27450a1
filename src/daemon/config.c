/* Domain configuration and runtime state on disk (domain.h).
 *
 * config/domains/NAME.xml            persistent definition (canonical XML)
 * config/domains/autostart/NAME.xml  symlink to ../NAME.xml when autostart
 * run/domains/NAME.xml               live definition of a running domain
 * run/domains/NAME.status            JSON: pid, process start time, id,
 *                                    state, reason, persistent
 * Every write is atomic (temp file, fsync, rename, fsync dir), so a crash
 * at any point leaves the old or the new file, never a torn one. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "domain.h"

static void cfg_path(struct vkd *d, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/domains/%s.xml", d->paths.config, name);
}

static void autostart_path(struct vkd *d, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/domains/autostart/%s.xml", d->paths.config, name);
}

int dom_config_save(struct vkd *d, const struct dom_def *def, struct vk_err *err)
{
    char path[PATH_MAX + 256];
    cfg_path(d, def->name, path, sizeof(path));
    char *xml = dom_def_format(def, 0);
    if (!xml)
        return vk_err_set(err, -ENOMEM, "out of memory");
    int r = vk_write_file_atomic(path, xml, strlen(xml), 0600, err);
    free(xml);
    return r;
}

int dom_config_remove(struct vkd *d, const char *name, struct vk_err *err)
{
    char path[PATH_MAX + 256];
    autostart_path(d, name, path, sizeof(path));
    unlink(path);
    cfg_path(d, name, path, sizeof(path));
    if (unlink(path) < 0 && errno != ENOENT)
        return vk_err_errno(err, -errno, "removing %s", path);
    return 0;
}

int dom_config_set_autostart(struct vkd *d, const char *name, bool on, struct vk_err *err)
{
    char path[PATH_MAX + 256], target[PATH_MAX];
    autostart_path(d, name, path, sizeof(path));
    if (!on) {
        if (unlink(path) < 0 && errno != ENOENT)
            return vk_err_errno(err, -errno, "removing %s", path);
        return 0;
    }
    snprintf(target, sizeof(target), "../%s.xml", name);
    if (symlink(target, path) < 0 && errno != EEXIST)
        return vk_err_errno(err, -errno, "creating %s", path);
    return 0;
}

bool dom_config_autostart(struct vkd *d, const char *name)
{
    char path[PATH_MAX + 256];
    autostart_path(d, name, path, sizeof(path));
    return access(path, F_OK) == 0;
}

int dom_config_load_all(struct vkd *d, struct vk_err *err)
{
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/domains", d->paths.config);
    DIR *dp = opendir(dir);
    if (!dp)
        return errno == ENOENT ? 0 : vk_err_errno(err, -errno, "opening %s", dir);
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".xml.tmp.")) {
            unlink(path);   /* left by a crash during an atomic write */
            continue;
        }
        if (l < 5 || strcmp(e->d_name + l - 4, ".xml") || e->d_name[0] == '.')
            continue;
        char *xml = NULL;
        size_t len;
        struct vk_err e2 = { 0 };
        struct dom_def *def = NULL;
        if (vk_read_file(path, &xml, &len, &e2) < 0 || dom_def_parse(xml, len, &def, &e2) < 0) {
            vk_warn("skipping %s: %s", path, e2.msg);
            free(xml);
            continue;
        }
        free(xml);
        if (strncmp(e->d_name, def->name, l - 4) || strlen(def->name) != l - 4) {
            vk_warn("skipping %s: it defines domain '%s'", path, def->name);
            dom_def_free(def);
            continue;
        }
        if (dom_by_name(d, def->name) || dom_by_uuid(d, def->uuid)) {
            vk_warn("skipping %s: duplicate name or uuid", path);
            dom_def_free(def);
            continue;
        }
        struct domain *dom = dom_add(d, def, NULL);
        if (!dom) {
            dom_def_free(def);
            closedir(dp);
            return vk_err_set(err, -ENOMEM, "out of memory");
        }
        dom->reason = "unknown";
        dom->autostart = dom_config_autostart(d, def->name);
    }
    closedir(dp);
    return 0;
}

int dom_status_save(struct vkd *d, const struct domain *dom, struct vk_err *err)
{
    const struct dom_def *live = dom->live;
    if (!live)
        return 0;
    char path[PATH_MAX + 256];
    dom_run_path(d, live->name, ".xml", path, sizeof(path));
    char *xml = dom_def_format(live, dom->id);
    if (!xml)
        return vk_err_set(err, -ENOMEM, "out of memory");
    int r = vk_write_file_atomic(path, xml, strlen(xml), 0600, err);
    free(xml);
    if (r < 0)
        return r;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "pid", json_object_new_int(dom->pid));
    json_object_object_add(o, "proc_start", json_object_new_int64((int64_t)dom->proc_start));
    json_object_object_add(o, "id", json_object_new_int(dom->id));
    json_object_object_add(o, "state", json_object_new_string(dom_state_name(dom->state)));
    json_object_object_add(o, "reason", json_object_new_string(dom->reason));
    json_object_object_add(o, "persistent", json_object_new_boolean(dom->def != NULL));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    dom_run_path(d, live->name, ".status", path, sizeof(path));
    r = vk_write_file_atomic(path, s, strlen(s), 0600, err);
    json_object_put(o);
    return r;
}

void dom_status_remove(struct vkd *d, const char *name)
{
    char path[PATH_MAX + 256];
    dom_run_path(d, name, ".status", path, sizeof(path));
    unlink(path);
    dom_run_path(d, name, ".xml", path, sizeof(path));
    unlink(path);
}
