/* Domain registry and state changes (domain.h). */
#include "domain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "rpc.h"

struct domain *dom_first(struct vkd *d) { return d->domains; }

bool dom_is_active(const struct domain *dom) { return dom->state != DOM_SHUTOFF; }

const struct dom_def *dom_current_def(const struct domain *dom)
{
    return dom->live ? dom->live : dom->def;
}

const char *dom_state_name(enum dom_state s)
{
    switch (s) {
    case DOM_RUNNING: return "running";
    case DOM_PAUSED: return "paused";
    default: return "shut off";
    }
}

int dom_count(struct vkd *d)
{
    int n = 0;
    for (struct domain *x = d->domains; x; x = x->next)
        n++;
    return n;
}

struct domain *dom_by_name(struct vkd *d, const char *name)
{
    for (struct domain *x = d->domains; x; x = x->next)
        if (!strcmp(dom_current_def(x)->name, name))
            return x;
    return NULL;
}

struct domain *dom_by_uuid(struct vkd *d, const unsigned char uuid[16])
{
    for (struct domain *x = d->domains; x; x = x->next)
        if (!memcmp(dom_current_def(x)->uuid, uuid, 16))
            return x;
    return NULL;
}

struct domain *dom_lookup(struct vkd *d, const char *key)
{
    int id;
    if (vk_parse_int(key, 1, 1 << 30, &id) == 0) {
        for (struct domain *x = d->domains; x; x = x->next)
            if (x->id == id)
                return x;
    }
    unsigned char uuid[16];
    if (dom_uuid_parse(key, uuid) == 0) {
        struct domain *x = dom_by_uuid(d, uuid);
        if (x)
            return x;
    }
    return dom_by_name(d, key);
}

struct domain *dom_add(struct vkd *d, struct dom_def *def, struct dom_def *live)
{
    struct domain *dom = calloc(1, sizeof(*dom));
    if (!dom)
        return NULL;
    dom->def = def;
    dom->live = live;
    dom->state = DOM_SHUTOFF;
    dom->reason = "unknown";
    dom->id = -1;
    dom->pidfd = -1;
    dom->qmp_fd = -1;
    dom->serial_fd = -1;
    /* keep insertion order: append */
    struct domain **pp = &d->domains;
    while (*pp)
        pp = &(*pp)->next;
    *pp = dom;
    return dom;
}

void dom_remove(struct vkd *d, struct domain *dom)
{
    for (struct domain **pp = &d->domains; *pp; pp = &(*pp)->next) {
        if (*pp == dom) {
            *pp = dom->next;
            break;
        }
    }
    dom_def_free(dom->def);
    dom_def_free(dom->live);
    free(dom->qmp_in);
    free(dom);
}

int dom_next_id(struct vkd *d)
{
    if (d->next_domain_id < 1)
        d->next_domain_id = 1;
    for (;;) {
        int id = d->next_domain_id++;
        bool used = false;
        for (struct domain *x = d->domains; x; x = x->next)
            if (x->id == id)
                used = true;
        if (!used)
            return id;
    }
}

void dom_event(struct vkd *d, struct domain *dom, const char *event, const char *detail)
{
    const struct dom_def *def = dom_current_def(dom);
    char uuid[37];
    dom_uuid_format(def->uuid, uuid);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(def->name));
    json_object_object_add(o, "uuid", json_object_new_string(uuid));
    json_object_object_add(o, "id", json_object_new_int(dom->id));
    json_object_object_add(o, "event", json_object_new_string(event));
    json_object_object_add(o, "detail", json_object_new_string(detail));
    json_object_object_add(o, "state", json_object_new_string(dom_state_name(dom->state)));
    json_object_object_add(o, "reason", json_object_new_string(dom->reason));
    vkd_emit(d, VK_EVENT_DOMAIN_LIFECYCLE, o);
}

void dom_set_state(struct vkd *d, struct domain *dom, enum dom_state s, const char *reason)
{
    dom->state = s;
    dom->reason = reason;
    if (s != DOM_SHUTOFF) {
        struct vk_err err = { 0 };
        if (dom_status_save(d, dom, &err) < 0)
            vk_warn("domain %s: saving runtime state: %s", dom_current_def(dom)->name, err.msg);
    }
}

void dom_run_path(struct vkd *d, const char *name, const char *suffix, char *out, size_t len)
{
    snprintf(out, len, "%s/domains/%s%s", d->paths.run, name, suffix);
}
