/* libvirt domain XML: canonical output, copy, free, UUID/MAC helpers. */
#include "domain_xml.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- growable string ---------------------------------------------------- */

struct sbuf { char *s; size_t len, cap; bool oom; };

static void sb_add(struct sbuf *b, const char *fmt, ...) VK_PRINTF(2, 3);
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = VK_MAX(b->cap * 2, b->len + (size_t)(n < 0 ? 0 : n) + 256);
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* XML-escaped copy (for text and attribute values) */
static void sb_esc(struct sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': sb_add(b, "&lt;"); break;
        case '>': sb_add(b, "&gt;"); break;
        case '&': sb_add(b, "&amp;"); break;
        case '\'': sb_add(b, "&apos;"); break;
        case '"': sb_add(b, "&quot;"); break;
        default: sb_add(b, "%c", *s);
        }
    }
}

static void sb_elem(struct sbuf *b, const char *indent, const char *name, const char *val)
{
    if (!val)
        return;
    sb_add(b, "%s<%s>", indent, name);
    sb_esc(b, val);
    sb_add(b, "</%s>\n", name);
}

/* ---- format ---------------------------------------------------------------- */

static void format_disk(struct sbuf *b, const struct dom_disk *d)
{
    sb_add(b, "    <disk type='%s' device='%s'>\n", d->type, d->device);
    sb_add(b, "      <driver name='qemu' type='%s'", d->driver_type ? d->driver_type : "raw");
    if (d->cache)
        sb_add(b, " cache='%s'", d->cache);
    sb_add(b, "/>\n");
    if (d->source) {
        sb_add(b, "      <source %s='", !strcmp(d->type, "block") ? "dev" : "file");
        sb_esc(b, d->source);
        sb_add(b, "'/>\n");
    }
    sb_add(b, "      <target dev='%s' bus='%s'/>\n", d->target, d->bus);
    if (d->boot_order)
        sb_add(b, "      <boot order='%d'/>\n", d->boot_order);
    if (d->readonly)
        sb_add(b, "      <readonly/>\n");
    if (d->shareable)
        sb_add(b, "      <shareable/>\n");
    sb_elem(b, "      ", "serial", d->serial);
    sb_add(b, "    </disk>\n");
}

static void format_iface(struct sbuf *b, const struct dom_iface *f)
{
    sb_add(b, "    <interface type='%s'>\n", f->type);
    sb_add(b, "      <mac address='%s'/>\n", f->mac);
    sb_add(b, "      <source %s='", f->type);
    sb_esc(b, f->source);
    sb_add(b, "'/>\n");
    if (f->target) {
        sb_add(b, "      <target dev='");
        sb_esc(b, f->target);
        sb_add(b, "'/>\n");
    }
    sb_add(b, "      <model type='%s'/>\n", f->model ? f->model : "virtio");
    if (f->boot_order)
        sb_add(b, "      <boot order='%d'/>\n", f->boot_order);
    sb_add(b, "    </interface>\n");
}

char *dom_def_format(const struct dom_def *def, int id)
{
    struct sbuf b = { 0 };
    char uuid[37];
    dom_uuid_format(def->uuid, uuid);
    sb_add(&b, "<domain type='%s'", def->type ? def->type : "kvm");
    if (id > 0)
        sb_add(&b, " id='%d'", id);
    sb_add(&b, ">\n");
    sb_elem(&b, "  ", "name", def->name);
    sb_add(&b, "  <uuid>%s</uuid>\n", uuid);
    sb_elem(&b, "  ", "title", def->title);
    sb_elem(&b, "  ", "description", def->description);
    if (def->metadata && *def->metadata)
        sb_add(&b, "  <metadata>\n    %s  </metadata>\n", def->metadata);
    sb_add(&b, "  <memory unit='KiB'>%" PRIu64 "</memory>\n", def->memory_kib);
    sb_add(&b, "  <currentMemory unit='KiB'>%" PRIu64 "</currentMemory>\n", def->current_kib);
    sb_add(&b, "  <vcpu placement='static'>%u</vcpu>\n", def->vcpus);
    sb_add(&b, "  <os>\n    <type arch='%s'", def->arch ? def->arch : "x86_64");
    if (def->machine) {
        sb_add(&b, " machine='");
        sb_esc(&b, def->machine);
        sb_add(&b, "'");
    }
    sb_add(&b, ">hvm</type>\n");
    sb_elem(&b, "    ", "kernel", def->kernel);
    sb_elem(&b, "    ", "initrd", def->initrd);
    sb_elem(&b, "    ", "cmdline", def->cmdline);
    for (int i = 0; i < def->n_boot; i++)
        sb_add(&b, "    <boot dev='%s'/>\n", def->boot[i]);
    if (def->bootmenu)
        sb_add(&b, "    <bootmenu enable='yes'/>\n");
    sb_add(&b, "  </os>\n");
    if (def->acpi || def->apic || def->pae) {
        sb_add(&b, "  <features>\n");
        if (def->acpi)
            sb_add(&b, "    <acpi/>\n");
        if (def->apic)
            sb_add(&b, "    <apic/>\n");
        if (def->pae)
            sb_add(&b, "    <pae/>\n");
        sb_add(&b, "  </features>\n");
    }
    if (def->cpu_mode || def->cpu_model || def->sockets) {
        sb_add(&b, "  <cpu");
        if (def->cpu_mode)
            sb_add(&b, " mode='%s'", def->cpu_mode);
        if (def->cpu_model || def->sockets) {
            sb_add(&b, ">\n");
            sb_elem(&b, "    ", "model", def->cpu_model);
            if (def->sockets)
                sb_add(&b, "    <topology sockets='%u' dies='%u' cores='%u' threads='%u'/>\n",
                       def->sockets, def->dies, def->cores, def->threads);
            sb_add(&b, "  </cpu>\n");
        } else {
            sb_add(&b, "/>\n");
        }
    }
    sb_add(&b, "  <clock offset='%s'", def->clock_offset ? def->clock_offset : "utc");
    if (def->n_timers) {
        sb_add(&b, ">\n");
        for (int i = 0; i < def->n_timers; i++) {
            const struct dom_timer *t = &def->timers[i];
            sb_add(&b, "    <timer name='%s'", t->name);
            if (t->tickpolicy) {
                sb_add(&b, " tickpolicy='");
                sb_esc(&b, t->tickpolicy);
                sb_add(&b, "'");
            }
            if (t->present)
                sb_add(&b, " present='%s'", t->present);
            sb_add(&b, "/>\n");
        }
        sb_add(&b, "  </clock>\n");
    } else {
        sb_add(&b, "/>\n");
    }
    sb_add(&b, "  <on_poweroff>%s</on_poweroff>\n", def->on_poweroff ? def->on_poweroff : "destroy");
    sb_add(&b, "  <on_reboot>%s</on_reboot>\n", def->on_reboot ? def->on_reboot : "restart");
    sb_add(&b, "  <on_crash>%s</on_crash>\n", def->on_crash ? def->on_crash : "destroy");
    if (def->pm_mem >= 0 || def->pm_disk >= 0) {
        sb_add(&b, "  <pm>\n");
        if (def->pm_mem >= 0)
            sb_add(&b, "    <suspend-to-mem enabled='%s'/>\n", def->pm_mem ? "yes" : "no");
        if (def->pm_disk >= 0)
            sb_add(&b, "    <suspend-to-disk enabled='%s'/>\n", def->pm_disk ? "yes" : "no");
        sb_add(&b, "  </pm>\n");
    }
    sb_add(&b, "  <devices>\n");
    sb_elem(&b, "    ", "emulator", def->emulator);
    for (int i = 0; i < def->n_disks; i++)
        format_disk(&b, &def->disks[i]);
    for (int i = 0; i < def->n_ifaces; i++)
        format_iface(&b, &def->ifaces[i]);
    if (def->n_serials)
        sb_add(&b, "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n");
    if (def->console)
        sb_add(&b, "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n");
    if (def->memballoon)
        sb_add(&b, "    <memballoon model='virtio'/>\n");
    else if (def->memballoon_none)
        sb_add(&b, "    <memballoon model='none'/>\n");
    if (def->rng && def->rng_builtin) {
        sb_add(&b, "    <rng model='virtio'>\n      <backend model='builtin'/>\n    </rng>\n");
    } else if (def->rng) {
        sb_add(&b, "    <rng model='virtio'>\n      <backend model='random'>");
        sb_esc(&b, def->rng_backend ? def->rng_backend : "/dev/urandom");
        sb_add(&b, "</backend>\n    </rng>\n");
    }
    sb_add(&b, "  </devices>\n</domain>\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- free / copy ------------------------------------------------------------ */

static void disk_free(struct dom_disk *d)
{
    free(d->type); free(d->device); free(d->driver_type); free(d->cache);
    free(d->source); free(d->target); free(d->bus); free(d->serial);
}

static void iface_free(struct dom_iface *f)
{
    free(f->type); free(f->source); free(f->model); free(f->target);
}

void dom_def_free(struct dom_def *def)
{
    if (!def)
        return;
    free(def->type); free(def->name); free(def->title); free(def->description);
    free(def->metadata); free(def->arch); free(def->machine);
    free(def->kernel); free(def->initrd); free(def->cmdline);
    for (int i = 0; i < def->n_boot; i++)
        free(def->boot[i]);
    free(def->cpu_mode); free(def->cpu_model); free(def->clock_offset);
    for (int i = 0; i < def->n_timers; i++) {
        free(def->timers[i].name); free(def->timers[i].tickpolicy); free(def->timers[i].present);
    }
    free(def->on_poweroff); free(def->on_reboot); free(def->on_crash);
    free(def->emulator); free(def->rng_backend);
    for (int i = 0; i < def->n_disks; i++)
        disk_free(&def->disks[i]);
    for (int i = 0; i < def->n_ifaces; i++)
        iface_free(&def->ifaces[i]);
    free(def->disks);
    free(def->ifaces);
    free(def);
}

#define DUP(field) do { if (src->field && !(dst->field = strdup(src->field))) goto oom; } while (0)

struct dom_def *dom_def_copy(const struct dom_def *s)
{
    struct dom_def *d = malloc(sizeof(*d));
    if (!d)
        return NULL;
    *d = *s;
    /* clear pointers, then duplicate */
    const struct dom_def *src = s;
    struct dom_def *dst = d;
    dst->type = dst->name = dst->title = dst->description = dst->metadata = NULL;
    dst->arch = dst->machine = dst->kernel = dst->initrd = dst->cmdline = NULL;
    dst->cpu_mode = dst->cpu_model = dst->clock_offset = NULL;
    dst->on_poweroff = dst->on_reboot = dst->on_crash = dst->emulator = dst->rng_backend = NULL;
    for (int i = 0; i < s->n_boot; i++)
        dst->boot[i] = NULL;
    for (int i = 0; i < s->n_timers; i++)
        memset(&dst->timers[i], 0, sizeof(dst->timers[i]));
    dst->disks = NULL;
    dst->ifaces = NULL;
    dst->n_disks = dst->n_ifaces = 0;
    if (s->n_disks) {
        dst->disks = malloc((size_t)s->n_disks * sizeof(*dst->disks));
        if (!dst->disks)
            goto oom;
        memcpy(dst->disks, s->disks, (size_t)s->n_disks * sizeof(*dst->disks));
        for (int i = 0; i < s->n_disks; i++) {
            struct dom_disk *x = &dst->disks[i];
            x->type = x->device = x->driver_type = x->cache = x->source = x->target = x->bus = x->serial = NULL;
        }
        dst->n_disks = s->n_disks;
    }
    if (s->n_ifaces) {
        dst->ifaces = malloc((size_t)s->n_ifaces * sizeof(*dst->ifaces));
        if (!dst->ifaces)
            goto oom;
        memcpy(dst->ifaces, s->ifaces, (size_t)s->n_ifaces * sizeof(*dst->ifaces));
        for (int i = 0; i < s->n_ifaces; i++) {
            struct dom_iface *x = &dst->ifaces[i];
            x->type = x->source = x->model = x->target = NULL;
        }
        dst->n_ifaces = s->n_ifaces;
    }
    DUP(type); DUP(name); DUP(title); DUP(description); DUP(metadata);
    DUP(arch); DUP(machine); DUP(kernel); DUP(initrd); DUP(cmdline);
    DUP(cpu_mode); DUP(cpu_model); DUP(clock_offset);
    DUP(on_poweroff); DUP(on_reboot); DUP(on_crash); DUP(emulator); DUP(rng_backend);
    for (int i = 0; i < s->n_boot; i++)
        DUP(boot[i]);
    for (int i = 0; i < s->n_timers; i++) {
        DUP(timers[i].name); DUP(timers[i].tickpolicy); DUP(timers[i].present);
    }
    for (int i = 0; i < s->n_disks; i++) {
        DUP(disks[i].type); DUP(disks[i].device); DUP(disks[i].driver_type); DUP(disks[i].cache);
        DUP(disks[i].source); DUP(disks[i].target); DUP(disks[i].bus); DUP(disks[i].serial);
    }
    for (int i = 0; i < s->n_ifaces; i++) {
        DUP(ifaces[i].type); DUP(ifaces[i].source); DUP(ifaces[i].model); DUP(ifaces[i].target);
    }
    return d;
oom:
    dom_def_free(d);
    return NULL;
}

struct dom_disk *dom_def_add_disk(struct dom_def *def)
{
    if (def->n_disks >= DOM_MAX_DISKS)
        return NULL;
    struct dom_disk *v = realloc(def->disks, (size_t)(def->n_disks + 1) * sizeof(*v));
    if (!v)
        return NULL;
    def->disks = v;
    memset(&v[def->n_disks], 0, sizeof(*v));
    return &v[def->n_disks++];
}

struct dom_iface *dom_def_add_iface(struct dom_def *def)
{
    if (def->n_ifaces >= DOM_MAX_IFACES)
        return NULL;
    struct dom_iface *v = realloc(def->ifaces, (size_t)(def->n_ifaces + 1) * sizeof(*v));
    if (!v)
        return NULL;
    def->ifaces = v;
    memset(&v[def->n_ifaces], 0, sizeof(*v));
    return &v[def->n_ifaces++];
}

/* ---- UUID / MAC ------------------------------------------------------------- */

void dom_uuid_format(const unsigned char u[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
             u[12], u[13], u[14], u[15]);
}

/* 32 hex digits, dashes allowed anywhere between pairs (as libvirt) */
int dom_uuid_parse(const char *s, unsigned char u[16])
{
    if (!s)
        return -EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    int n = 0;
    while (*s && n < 16) {
        if (*s == '-') {
            s++;
            continue;
        }
        if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
            return -EINVAL;
        char hex[3] = { s[0], s[1], 0 };
        u[n++] = (unsigned char)strtoul(hex, NULL, 16);
        s += 2;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (n != 16 || *s)
        return -EINVAL;
    return 0;
}

static void random_bytes(void *buf, size_t len)
{
    if (getrandom(buf, len, 0) != (ssize_t)len) {
        unsigned char *p = buf;
        for (size_t i = 0; i < len; i++)
            p[i] = (unsigned char)rand();
    }
}

void dom_uuid_generate(unsigned char u[16])
{
    random_bytes(u, 16);
    u[6] = (u[6] & 0x0f) | 0x40;    /* version 4 */
    u[8] = (u[8] & 0x3f) | 0x80;    /* RFC 4122 variant */
}

void dom_mac_generate(char out[18])
{
    unsigned char t[3];
    random_bytes(t, 3);
    snprintf(out, 18, "52:54:00:%02x:%02x:%02x", t[0], t[1], t[2]);
}
