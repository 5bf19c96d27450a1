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


/* XML-escaped copy (for text and attribute values) */
static void sb_esc(struct vk_strbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': vk_strbuf_printf(b, "&lt;"); break;
        case '>': vk_strbuf_printf(b, "&gt;"); break;
        case '&': vk_strbuf_printf(b, "&amp;"); break;
        case '\'': vk_strbuf_printf(b, "&apos;"); break;
        case '"': vk_strbuf_printf(b, "&quot;"); break;
        default: vk_strbuf_printf(b, "%c", *s);
        }
    }
}

static void sb_elem(struct vk_strbuf *b, const char *indent, const char *name, const char *val)
{
    if (!val)
        return;
    vk_strbuf_printf(b, "%s<%s>", indent, name);
    sb_esc(b, val);
    vk_strbuf_printf(b, "</%s>\n", name);
}

/* ---- format ---------------------------------------------------------------- */

static void format_disk(struct vk_strbuf *b, const struct dom_disk *d)
{
    vk_strbuf_printf(b, "    <disk type='%s' device='%s'>\n", d->type, d->device);
    vk_strbuf_printf(b, "      <driver name='qemu' type='%s'", d->driver_type ? d->driver_type : "raw");
    if (d->cache)
        vk_strbuf_printf(b, " cache='%s'", d->cache);
    vk_strbuf_printf(b, "/>\n");
    if (d->source) {
        vk_strbuf_printf(b, "      <source %s='", !strcmp(d->type, "block") ? "dev" : "file");
        sb_esc(b, d->source);
        vk_strbuf_printf(b, "'/>\n");
    }
    vk_strbuf_printf(b, "      <target dev='%s' bus='%s'/>\n", d->target, d->bus);
    if (d->boot_order)
        vk_strbuf_printf(b, "      <boot order='%d'/>\n", d->boot_order);
    if (d->readonly)
        vk_strbuf_printf(b, "      <readonly/>\n");
    if (d->shareable)
        vk_strbuf_printf(b, "      <shareable/>\n");
    sb_elem(b, "      ", "serial", d->serial);
    vk_strbuf_printf(b, "    </disk>\n");
}

static void format_iface(struct vk_strbuf *b, const struct dom_iface *f)
{
    vk_strbuf_printf(b, "    <interface type='%s'>\n", f->type);
    vk_strbuf_printf(b, "      <mac address='%s'/>\n", f->mac);
    vk_strbuf_printf(b, "      <source %s='", f->type);
    sb_esc(b, f->source);
    vk_strbuf_printf(b, "'/>\n");
    if (f->target) {
        vk_strbuf_printf(b, "      <target dev='");
        sb_esc(b, f->target);
        vk_strbuf_printf(b, "'/>\n");
    }
    vk_strbuf_printf(b, "      <model type='%s'/>\n", f->model ? f->model : "virtio");
    if (f->queues)
        vk_strbuf_printf(b, "      <driver queues='%u'/>\n", f->queues);
    if (f->boot_order)
        vk_strbuf_printf(b, "      <boot order='%d'/>\n", f->boot_order);
    vk_strbuf_printf(b, "    </interface>\n");
}

/* <serial type=...> / <console type=...> and its <source>; the console is
 * serial port 0, so it carries that port's host side (as libvirt writes). */
static void format_chr_open(struct vk_strbuf *b, const struct dom_serial *sp, const char *elem)
{
    static const char *const names[] = { "pty", "file", "unix" };
    vk_strbuf_printf(b, "    <%s type='%s'>\n", elem, names[sp->type]);
    if (sp->type == DOM_CHR_PTY || !sp->path)
        return;
    vk_strbuf_printf(b, "      <source %spath='", sp->type == DOM_CHR_UNIX ? "mode='bind' " : "");
    sb_esc(b, sp->path);
    vk_strbuf_printf(b, "'/>\n");
}

char *dom_def_format(const struct dom_def *def, int id)
{
    struct vk_strbuf b = { 0 };
    char uuid[37];
    dom_uuid_format(def->uuid, uuid);
    vk_strbuf_printf(&b, "<domain type='%s'", def->type ? def->type : "kvm");
    if (id > 0)
        vk_strbuf_printf(&b, " id='%d'", id);
    vk_strbuf_printf(&b, ">\n");
    sb_elem(&b, "  ", "name", def->name);
    vk_strbuf_printf(&b, "  <uuid>%s</uuid>\n", uuid);
    sb_elem(&b, "  ", "title", def->title);
    sb_elem(&b, "  ", "description", def->description);
    if (def->metadata && *def->metadata)
        vk_strbuf_printf(&b, "  <metadata>\n    %s  </metadata>\n", def->metadata);
    vk_strbuf_printf(&b, "  <memory unit='KiB'>%" PRIu64 "</memory>\n", def->memory_kib);
    vk_strbuf_printf(&b, "  <currentMemory unit='KiB'>%" PRIu64 "</currentMemory>\n", def->current_kib);
    vk_strbuf_printf(&b, "  <vcpu placement='static'>%u</vcpu>\n", def->vcpus);
    vk_strbuf_printf(&b, "  <os>\n    <type arch='%s'", def->arch ? def->arch : "x86_64");
    if (def->machine) {
        vk_strbuf_printf(&b, " machine='");
        sb_esc(&b, def->machine);
        vk_strbuf_printf(&b, "'");
    }
    vk_strbuf_printf(&b, ">hvm</type>\n");
    sb_elem(&b, "    ", "kernel", def->kernel);
    sb_elem(&b, "    ", "initrd", def->initrd);
    sb_elem(&b, "    ", "cmdline", def->cmdline);
    for (int i = 0; i < def->n_boot; i++)
        vk_strbuf_printf(&b, "    <boot dev='%s'/>\n", def->boot[i]);
    if (def->bootmenu)
        vk_strbuf_printf(&b, "    <bootmenu enable='yes'/>\n");
    vk_strbuf_printf(&b, "  </os>\n");
    if (def->acpi || def->apic || def->pae) {
        vk_strbuf_printf(&b, "  <features>\n");
        if (def->acpi)
            vk_strbuf_printf(&b, "    <acpi/>\n");
        if (def->apic)
            vk_strbuf_printf(&b, "    <apic/>\n");
        if (def->pae)
            vk_strbuf_printf(&b, "    <pae/>\n");
        vk_strbuf_printf(&b, "  </features>\n");
    }
    if (def->cpu_mode || def->cpu_model || def->sockets) {
        vk_strbuf_printf(&b, "  <cpu");
        if (def->cpu_mode)
            vk_strbuf_printf(&b, " mode='%s'", def->cpu_mode);
        if (def->cpu_model || def->sockets) {
            vk_strbuf_printf(&b, ">\n");
            sb_elem(&b, "    ", "model", def->cpu_model);
            if (def->sockets)
                vk_strbuf_printf(&b, "    <topology sockets='%u' dies='%u' cores='%u' threads='%u'/>\n",
                       def->sockets, def->dies, def->cores, def->threads);
            vk_strbuf_printf(&b, "  </cpu>\n");
        } else {
            vk_strbuf_printf(&b, "/>\n");
        }
    }
    vk_strbuf_printf(&b, "  <clock offset='%s'", def->clock_offset ? def->clock_offset : "utc");
    if (def->n_timers) {
        vk_strbuf_printf(&b, ">\n");
        for (int i = 0; i < def->n_timers; i++) {
            const struct dom_timer *t = &def->timers[i];
            vk_strbuf_printf(&b, "    <timer name='%s'", t->name);
            if (t->tickpolicy) {
                vk_strbuf_printf(&b, " tickpolicy='");
                sb_esc(&b, t->tickpolicy);
                vk_strbuf_printf(&b, "'");
            }
            if (t->present)
                vk_strbuf_printf(&b, " present='%s'", t->present);
            vk_strbuf_printf(&b, "/>\n");
        }
        vk_strbuf_printf(&b, "  </clock>\n");
    } else {
        vk_strbuf_printf(&b, "/>\n");
    }
    vk_strbuf_printf(&b, "  <on_poweroff>%s</on_poweroff>\n", def->on_poweroff ? def->on_poweroff : "destroy");
    vk_strbuf_printf(&b, "  <on_reboot>%s</on_reboot>\n", def->on_reboot ? def->on_reboot : "restart");
    vk_strbuf_printf(&b, "  <on_crash>%s</on_crash>\n", def->on_crash ? def->on_crash : "destroy");
    if (def->pm_mem >= 0 || def->pm_disk >= 0) {
        vk_strbuf_printf(&b, "  <pm>\n");
        if (def->pm_mem >= 0)
            vk_strbuf_printf(&b, "    <suspend-to-mem enabled='%s'/>\n", def->pm_mem ? "yes" : "no");
        if (def->pm_disk >= 0)
            vk_strbuf_printf(&b, "    <suspend-to-disk enabled='%s'/>\n", def->pm_disk ? "yes" : "no");
        vk_strbuf_printf(&b, "  </pm>\n");
    }
    vk_strbuf_printf(&b, "  <devices>\n");
    sb_elem(&b, "    ", "emulator", def->emulator);
    for (int i = 0; i < def->n_disks; i++)
        format_disk(&b, &def->disks[i]);
    for (int i = 0; i < def->n_ifaces; i++)
        format_iface(&b, &def->ifaces[i]);
    for (int i = 0; i < def->n_serials && i < DOM_MAX_SERIALS; i++) {
        format_chr_open(&b, &def->serials[i], "serial");
        vk_strbuf_printf(&b, "      <target port='%d'/>\n    </serial>\n", i);
    }
    if (def->console) {
        format_chr_open(&b, &def->serials[0], "console");
        vk_strbuf_printf(&b, "      <target type='serial' port='0'/>\n    </console>\n");
    }
    if (def->memballoon)
        vk_strbuf_printf(&b, "    <memballoon model='virtio'/>\n");
    else if (def->memballoon_none)
        vk_strbuf_printf(&b, "    <memballoon model='none'/>\n");
    if (def->rng && def->rng_builtin) {
        vk_strbuf_printf(&b, "    <rng model='virtio'>\n      <backend model='builtin'/>\n    </rng>\n");
    } else if (def->rng) {
        vk_strbuf_printf(&b, "    <rng model='virtio'>\n      <backend model='random'>");
        sb_esc(&b, def->rng_backend ? def->rng_backend : "/dev/urandom");
        vk_strbuf_printf(&b, "</backend>\n    </rng>\n");
    }
    vk_strbuf_printf(&b, "  </devices>\n</domain>\n");
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
    for (int i = 0; i < DOM_MAX_SERIALS; i++)
        free(def->serials[i].path);
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
    for (int i = 0; i < DOM_MAX_SERIALS; i++)
        dst->serials[i].path = NULL;
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
    for (int i = 0; i < DOM_MAX_SERIALS; i++)
        DUP(serials[i].path);
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
