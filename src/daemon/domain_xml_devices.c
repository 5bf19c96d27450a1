/* libvirt domain XML: <disk> and <interface> (domain_xml.h). */
#include "domain_xml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

int dom_parse_disk(struct dom_def *def, xmlNode *n, struct vk_err *err);
int dom_parse_interface(struct dom_def *def, xmlNode *n, struct vk_err *err);

static bool is_elem(xmlNode *n) { return n->type == XML_ELEMENT_NODE; }

static char *attr(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = strdup((const char *)v);
    xmlFree(v);
    return s;
}

static char *text(xmlNode *n)
{
    xmlChar *v = xmlNodeGetContent(n);
    char *s = strdup(v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

static bool in(const char *v, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(v, list[i]))
            return true;
    return false;
}

static int boot_order(xmlNode *c, const char *elem, int *out, struct vk_err *err)
{
    char *o = attr(c, "order");
    int r = 0, v = 0;
    if (!o || vk_parse_int(o, 1, 255, &v) < 0)
        r = vk_err_set(err, -EINVAL, "<%s><boot order='%s'>: not a number between 1 and 255",
                       elem, o ? o : "");
    *out = v;
    free(o);
    return r;
}

static bool target_ok(const char *t)
{
    /* vda, sdb, hdc, vdaa ... */
    if (strlen(t) < 3 || strlen(t) > 8 || !strchr("vhsx", t[0]) || t[1] != 'd')
        return false;
    for (const char *p = t + 2; *p; p++)
        if (!islower((unsigned char)*p))
            return false;
    return true;
}

int dom_parse_disk(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const types[] = { "file", "block", NULL };
    static const char *const devices[] = { "disk", "cdrom", NULL };
    static const char *const formats[] = { "raw", "qcow2", "qcow", "vmdk", "vdi", "vhdx", "vpc", "qed", NULL };
    static const char *const caches[] = { "default", "none", "writeback", "writethrough", "directsync", "unsafe", NULL };
    static const char *const buses[] = { "virtio", NULL };
    struct dom_disk *d = dom_def_add_disk(def);
    if (!d)
        return vk_err_set(err, -EINVAL, "<devices>: more than %d disks", DOM_MAX_DISKS);
    int r = 0;
    d->type = attr(n, "type");
    d->device = attr(n, "device");
    if (!d->type)
        d->type = strdup("file");
    if (!d->device)
        d->device = strdup("disk");
    if (!in(d->type, types))
        return vk_err_set(err, -ENOTSUP, "<disk type='%s'>: unsupported (supported: 'file', 'block')", d->type);
    if (!in(d->device, devices))
        return vk_err_set(err, -ENOTSUP, "<disk device='%s'>: unsupported (supported: 'disk', 'cdrom')", d->device);
    for (xmlNode *c = n->children; c && r == 0; c = c->next) {
        if (!is_elem(c))
            continue;
        const char *name = (const char *)c->name;
        if (!strcmp(name, "driver")) {
            char *dn = attr(c, "name");
            if (dn && strcmp(dn, "qemu"))
                r = vk_err_set(err, -ENOTSUP, "<disk><driver name='%s'>: only 'qemu' is accepted", dn);
            free(dn);
            free(d->driver_type);
            d->driver_type = attr(c, "type");
            if (r == 0 && d->driver_type && !in(d->driver_type, formats))
                r = vk_err_set(err, -ENOTSUP, "<disk><driver type='%s'>: unknown image format", d->driver_type);
            free(d->cache);
            d->cache = attr(c, "cache");
            if (r == 0 && d->cache && !in(d->cache, caches))
                r = vk_err_set(err, -ENOTSUP, "<disk><driver cache='%s'>: unsupported cache mode", d->cache);
            if (r == 0 && d->cache && !strcmp(d->cache, "default")) {
                free(d->cache);
                d->cache = NULL;
            }
        } else if (!strcmp(name, "source")) {
            free(d->source);
            d->source = attr(c, !strcmp(d->type, "block") ? "dev" : "file");
            if (d->source && d->source[0] != '/')
                r = vk_err_set(err, -EINVAL, "<disk><source>: '%s' is not an absolute path", d->source);
            for (xmlNode *s = c->children; s && r == 0; s = s->next)
                if (is_elem(s) && strcmp((const char *)s->name, "seclabel"))
                    r = vk_err_set(err, -ENOTSUP, "<disk><source>: unsupported element <%s>", s->name);
        } else if (!strcmp(name, "target")) {
            free(d->target);
            free(d->bus);
            d->target = attr(c, "dev");
            d->bus = attr(c, "bus");
            if (!d->target)
                r = vk_err_set(err, -EINVAL, "<disk><target>: missing attribute 'dev'");
            else if (!target_ok(d->target))
                r = vk_err_set(err, -EINVAL, "<disk><target dev='%s'>: not a disk name like 'vda'", d->target);
        } else if (!strcmp(name, "readonly")) {
            d->readonly = true;
        } else if (!strcmp(name, "shareable")) {
            d->shareable = true;
        } else if (!strcmp(name, "serial")) {
            free(d->serial);
            d->serial = text(c);
            if (strlen(d->serial) > 20 || strpbrk(d->serial, ",\"'<>&"))
                r = vk_err_set(err, -EINVAL, "<disk><serial>: '%s' is longer than 20 characters or has , \" ' < > &",
                               d->serial);
        } else if (!strcmp(name, "boot")) {
            r = boot_order(c, "disk", &d->boot_order, err);
        } else if (!strcmp(name, "address") || !strcmp(name, "alias")) {
            /* bus placement bookkeeping: virtkit-vm places devices itself */
        } else if (!strcmp(name, "backingStore")) {
            /* libvirt's view of the backing chain; the image header is the truth */
        } else {
            r = vk_err_set(err, -ENOTSUP, "<disk>: unsupported element <%s>", name);
        }
    }
    if (r < 0)
        return r;
    if (!d->target)
        return vk_err_set(err, -EINVAL, "<disk>: missing <target dev=...>");
    if (!d->bus) {
        d->bus = strdup(d->target[0] == 'v' ? "virtio" : d->target[0] == 'h' ? "ide" : "sata");
    }
    if (!in(d->bus, buses))
        return vk_err_set(err, -ENOTSUP,
                          "<disk><target dev='%s' bus='%s'>: bus '%s' is not supported (virtkit disks are virtio)",
                          d->target, d->bus, d->bus);
    if (!d->source && strcmp(d->device, "cdrom"))
        return vk_err_set(err, -EINVAL, "<disk> '%s': missing <source %s=...>", d->target,
                          !strcmp(d->type, "block") ? "dev" : "file");
    if (!strcmp(d->device, "cdrom"))
        d->readonly = true;
    return 0;
}

int dom_mac_parse(const char *s, char out[18])
{
    unsigned b[6];
    char tail;
    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6 ||
        strlen(s) != 17)
        return -EINVAL;
    if (b[0] & 1)
        return -EINVAL;     /* multicast */
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
    return 0;
}

int dom_parse_interface(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    struct dom_iface *f = dom_def_add_iface(def);
    if (!f)
        return vk_err_set(err, -EINVAL, "<devices>: more than %d interfaces", DOM_MAX_IFACES);
    int r = 0;
    f->type = attr(n, "type");
    if (!f->type)
        return vk_err_set(err, -EINVAL, "<interface>: missing attribute 'type'");
    if (strcmp(f->type, "network") && strcmp(f->type, "bridge"))
        return vk_err_set(err, -ENOTSUP, "<interface type='%s'>: unsupported (supported: 'network', 'bridge')",
                          f->type);
    for (xmlNode *c = n->children; c && r == 0; c = c->next) {
        if (!is_elem(c))
            continue;
        const char *name = (const char *)c->name;
        if (!strcmp(name, "source")) {
            free(f->source);
            f->source = attr(c, f->type);   /* network='x' or bridge='y' */
            if (!f->source || !*f->source)
                r = vk_err_set(err, -EINVAL, "<interface type='%s'><source>: missing attribute '%s'",
                               f->type, f->type);
        } else if (!strcmp(name, "mac")) {
            char *m = attr(c, "address");
            if (dom_mac_parse(m, f->mac) < 0)
                r = vk_err_set(err, -EINVAL, "<interface><mac address='%s'>: not a unicast MAC address",
                               m ? m : "");
            free(m);
        } else if (!strcmp(name, "model")) {
            free(f->model);
            f->model = attr(c, "type");
            if (!f->model || strcmp(f->model, "virtio"))
                r = vk_err_set(err, -ENOTSUP, "<interface><model type='%s'>: only 'virtio' is supported",
                               f->model ? f->model : "");
        } else if (!strcmp(name, "target")) {
            free(f->target);
            f->target = attr(c, "dev");
            if (f->target && (strlen(f->target) >= 16 || strchr(f->target, '/')))
                r = vk_err_set(err, -EINVAL, "<interface><target dev='%s'>: not a valid interface name",
                               f->target);
        } else if (!strcmp(name, "boot")) {
            r = boot_order(c, "interface", &f->boot_order, err);
        } else if (!strcmp(name, "driver")) {
            /* queues='N': virtio-net queue pairs on a multi-queue TAP; the
             * other attributes (name, txmode, ...) are tuning we ignore */
            char *q = attr(c, "queues");
            int v = 0;
            if (q && vk_parse_int(q, 1, 8, &v) < 0)
                r = vk_err_set(err, -EINVAL, "<interface><driver queues='%s'>: not a number "
                               "between 1 and 8", q);
            f->queues = (unsigned)v;
            free(q);
        } else if (!strcmp(name, "address") || !strcmp(name, "alias") ||
                   !strcmp(name, "link") || !strcmp(name, "mtu")) {
            /* placement and tuning bookkeeping */
        } else {
            r = vk_err_set(err, -ENOTSUP, "<interface>: unsupported element <%s>", name);
        }
    }
    if (r < 0)
        return r;
    if (!f->source)
        return vk_err_set(err, -EINVAL, "<interface type='%s'>: missing <source %s=...>", f->type, f->type);
    if (!f->model)
        f->model = strdup("virtio");
    return 0;
}
