/* libvirt domain XML parsing and validation (domain_xml.h).
 *
 * Every element is looked up in a table: parsed (a handler), accepted and
 * ignored (libvirt writes it; it means nothing to virtkit), or refused with
 * a reason. Unknown elements are refused. Unknown attributes of supported
 * elements are ignored (libvirt adds many that are bookkeeping, e.g.
 * <address>, <alias>). */
#include "domain_xml.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

typedef int (*elem_fn)(struct dom_def *def, xmlNode *n, struct vk_err *err);

struct elem_rule {
    const char *name;
    elem_fn parse;         /* NULL with reason NULL = accepted and ignored */
    const char *refuse;    /* non-NULL = refused, with this reason */
    bool once;             /* may appear at most once */
};

/* ---- small helpers ------------------------------------------------------ */

static bool is_elem(xmlNode *n) { return n->type == XML_ELEMENT_NODE; }
static const char *ename(xmlNode *n) { return (const char *)n->name; }

/* attribute value (malloc'd via libxml; copied into our own string) */
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
    if (!v)
        return strdup("");
    /* trim */
    char *s = (char *)v, *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    char *r = strndup(s, (size_t)(e - s));
    xmlFree(v);
    return r;
}

static bool has_children(xmlNode *n)
{
    for (xmlNode *c = n->children; c; c = c->next)
        if (is_elem(c))
            return true;
    return false;
}

static int one_of(const char *v, const char *const *allowed)
{
    for (int i = 0; allowed[i]; i++)
        if (!strcmp(v, allowed[i]))
            return i;
    return -1;
}

static void join(char *out, size_t len, const char *const *allowed)
{
    out[0] = 0;
    for (int i = 0; allowed[i]; i++) {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s'%s'", i ? ", " : "", allowed[i]);
    }
}

/* Attribute that must be one of `allowed` if present. */
static int attr_enum(xmlNode *n, const char *elem, const char *name,
                     const char *const *allowed, bool required, char **out,
                     struct vk_err *err)
{
    char *v = attr(n, name);
    if (!v) {
        if (required)
            return vk_err_set(err, -EINVAL, "<%s>: missing attribute '%s'", elem, name);
        return 0;
    }
    if (one_of(v, allowed) < 0) {
        char list[256];
        join(list, sizeof(list), allowed);
        int r = vk_err_set(err, -EINVAL, "<%s %s='%s'>: unsupported value (supported: %s)",
                           elem, name, v, list);
        free(v);
        return r;
    }
    free(*out);
    *out = v;
    return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

static int check_rules(xmlNode *parent, const struct elem_rule *rules,
                       struct dom_def *def, struct vk_err *err)
{
    char pname[64];
    snprintf(pname, sizeof(pname), "%s", ename(parent));
    for (xmlNode *c = parent->children; c; c = c->next) {
        if (!is_elem(c))
            continue;
        const struct elem_rule *r = NULL;
        for (const struct elem_rule *x = rules; x->name; x++)
            if (!strcmp(x->name, ename(c)))
                r = x;
        if (!r)
            return vk_err_set(err, -EINVAL, "<%s>: unsupported element <%s>", pname, ename(c));
        if (r->refuse)
            return vk_err_set(err, -ENOTSUP, "<%s>: element <%s> is not supported by virtkit: %s",
                              pname, ename(c), r->refuse);
        if (r->once) {
            for (xmlNode *p = c->prev; p; p = p->prev)
                if (is_elem(p) && !strcmp(ename(p), ename(c)))
                    return vk_err_set(err, -EINVAL, "<%s>: element <%s> appears more than once",
                                      pname, ename(c));
        }
        if (r->parse) {
            int rc = r->parse(def, c, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- helpers exported --------------------------------------------------- */

int dom_parse_memory(const char *value, const char *unit, uint64_t *kib)
{
    uint64_t v;
    if (parse_uint(value, UINT64_MAX, &v) < 0)
        return -EINVAL;
    static const struct { const char *u; uint64_t mul; } units[] = {
        { "b", 1 }, { "bytes", 1 },
        { "KB", 1000 }, { "k", 1024 }, { "K", 1024 }, { "KiB", 1024 },
        { "MB", 1000000 }, { "M", 1 << 20 }, { "m", 1 << 20 }, { "MiB", 1 << 20 },
        { "GB", 1000000000ull }, { "G", 1ull << 30 }, { "g", 1ull << 30 }, { "GiB", 1ull << 30 },
        { "TB", 1000000000000ull }, { "T", 1ull << 40 }, { "t", 1ull << 40 }, { "TiB", 1ull << 40 },
    };
    uint64_t mul = 1024;
    if (unit) {
        mul = 0;
        for (size_t i = 0; i < VK_ARRAY_SIZE(units); i++)
            if (!strcmp(units[i].u, unit))
                mul = units[i].mul;
        if (!mul)
            return -EINVAL;
    }
    uint64_t bytes;
    if (vk_mul_overflow_u64(v, mul, &bytes))
        return -ERANGE;
    *kib = bytes / 1024 + (bytes % 1024 ? 1 : 0);
    return 0;
}

int dom_name_check(const char *name, struct vk_err *err)
{
    if (!name || !*name)
        return vk_err_set(err, -EINVAL, "<name>: must not be empty");
    if (strlen(name) > 200)
        return vk_err_set(err, -EINVAL, "<name>: longer than 200 characters");
    if (name[0] == '.')
        return vk_err_set(err, -EINVAL, "<name>: must not start with '.'");
    for (const char *p = name; *p; p++) {
        if (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return vk_err_set(err, -EINVAL, "<name>: '%s' contains '/' or a control character", name);
    }
    return 0;
}

/* ---- top-level elements --------------------------------------------------- */

static int p_name(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    if (has_children(n))
        return vk_err_set(err, -EINVAL, "<name>: must contain text only");
    def->name = text(n);
    return dom_name_check(def->name, err);
}

static int p_uuid(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    char *t = text(n);
    int r = dom_uuid_parse(t, def->uuid);
    if (r < 0)
        r = vk_err_set(err, -EINVAL, "<uuid>: '%s' is not a valid UUID", t);
    free(t);
    return r;
}

static int p_title(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    def->title = text(n);
    if (strchr(def->title, '\n'))
        return vk_err_set(err, -EINVAL, "<title>: must not contain a newline");
    return 0;
}

static int p_description(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    def->description = text(n);
    return 0;
}

static int p_metadata(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    xmlBuffer *buf = xmlBufferCreate();
    if (!buf)
        return vk_err_set(err, -ENOMEM, "out of memory");
    for (xmlNode *c = n->children; c; c = c->next) {
        if (!is_elem(c))
            continue;
        xmlNodeDump(buf, n->doc, c, 2, 1);
        xmlBufferAdd(buf, (const xmlChar *)"\n", 1);
    }
    def->metadata = strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return 0;
}

static int memory_elem(xmlNode *n, uint64_t *kib, struct vk_err *err)
{
    char *unit = attr(n, "unit"), *t = text(n);
    int r = dom_parse_memory(t, unit, kib);
    if (r < 0)
        r = vk_err_set(err, -EINVAL, "<%s>: invalid size '%s'%s%s%s", ename(n), t,
                       unit ? " with unit '" : "", unit ? unit : "", unit ? "'" : "");
    free(unit);
    free(t);
    return r;
}

static int p_memory(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    return memory_elem(n, &def->memory_kib, err);
}

static int p_current_memory(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    return memory_elem(n, &def->current_kib, err);
}

static int p_vcpu(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const placements[] = { "static", "auto", NULL };
    char *pl = NULL, *cur = NULL, *t = text(n);
    int r = attr_enum(n, "vcpu", "placement", placements, false, &pl, err);
    uint64_t v = 0;
    if (r == 0 && parse_uint(t, UINT32_MAX, &v) < 0)
        r = vk_err_set(err, -EINVAL, "<vcpu>: '%s' is not a number of vCPUs (1-%d)", t,
                       DOM_MAX_VCPUS);
    if (r == 0 && (v < 1 || v > DOM_MAX_VCPUS))
        r = vk_err_set(err, -EINVAL, "<vcpu>: %llu is out of range (1-%d)",
                       (unsigned long long)v, DOM_MAX_VCPUS);
    if (r == 0 && (cur = attr(n, "current"))) {
        uint64_t c;
        if (parse_uint(cur, DOM_MAX_VCPUS, &c) < 0 || c != v)
            r = vk_err_set(err, -ENOTSUP,
                           "<vcpu current='%s'>: vCPU hot-plug is not supported (current must equal the count)",
                           cur);
    }
    def->vcpus = (unsigned)v;
    free(pl);
    free(cur);
    free(t);
    return r;
}

/* os */
static int p_os_type(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const arches[] = { "x86_64", NULL };
    char *t = text(n);
    int r = 0;
    if (strcmp(t, "hvm"))
        r = vk_err_set(err, -ENOTSUP, "<os><type>: '%s' is not supported (only 'hvm')", t);
    free(t);
    if (r == 0)
        r = attr_enum(n, "type", "arch", arches, false, &def->arch, err);
    if (r == 0) {
        free(def->machine);
        def->machine = attr(n, "machine");
    }
    return r;
}

static int p_os_path(char **dst, xmlNode *n, struct vk_err *err)
{
    free(*dst);
    *dst = text(n);
    if (**dst != '/')
        return vk_err_set(err, -EINVAL, "<os><%s>: '%s' is not an absolute path", ename(n), *dst);
    return 0;
}

static int p_os_kernel(struct dom_def *def, xmlNode *n, struct vk_err *err)
{ return p_os_path(&def->kernel, n, err); }
static int p_os_initrd(struct dom_def *def, xmlNode *n, struct vk_err *err)
{ return p_os_path(&def->initrd, n, err); }

static int p_os_cmdline(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    free(def->cmdline);
    def->cmdline = text(n);
    return 0;
}

static int p_os_boot(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const devs[] = { "hd", "cdrom", "network", "fd", NULL };
    char *dev = NULL;
    int r = attr_enum(n, "boot", "dev", devs, true, &dev, err);
    if (r < 0)
        return r;
    if (def->n_boot >= DOM_MAX_BOOT) {
        free(dev);
        return vk_err_set(err, -EINVAL, "<os>: more than %d <boot> elements", DOM_MAX_BOOT);
    }
    def->boot[def->n_boot++] = dev;
    return 0;
}

static int p_os_bootmenu(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    char *e = attr(n, "enable");
    def->bootmenu = e && !strcmp(e, "yes");
    free(e);
    return 0;
}

static const struct elem_rule os_rules[] = {
    { "type", p_os_type, NULL, true },
    { "kernel", p_os_kernel, NULL, true },
    { "initrd", p_os_initrd, NULL, true },
    { "cmdline", p_os_cmdline, NULL, true },
    { "boot", p_os_boot, NULL, false },
    { "bootmenu", p_os_bootmenu, NULL, true },
    { "smbios", NULL, NULL, true },
    { "bios", NULL, NULL, true },
    { "loader", NULL, "firmware loaders (UEFI) are not supported; use direct kernel boot", true },
    { "nvram", NULL, "UEFI variable stores are not supported", true },
    { "dtb", NULL, "device trees are not used on x86", true },
    { "init", NULL, "container init is not a VM setting", true },
    { "acpi", NULL, "custom ACPI tables are not supported", true },
    { "firmware", NULL, "firmware selection is not supported", true },
    { NULL, NULL, NULL, false },
};

static int p_os(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    char *fw = attr(n, "firmware");
    if (fw) {
        int r = vk_err_set(err, -ENOTSUP, "<os firmware='%s'>: firmware selection is not supported", fw);
        free(fw);
        return r;
    }
    bool typed = false;
    for (xmlNode *c = n->children; c; c = c->next)
        if (is_elem(c) && !strcmp(ename(c), "type"))
            typed = true;
    if (!typed)
        return vk_err_set(err, -EINVAL, "<os>: missing <type>hvm</type>");
    return check_rules(n, os_rules, def, err);
}

/* features */
static int p_feat_acpi(struct dom_def *def, xmlNode *n, struct vk_err *err) { def->acpi = true; return 0; }
static int p_feat_apic(struct dom_def *def, xmlNode *n, struct vk_err *err) { def->apic = true; return 0; }
static int p_feat_pae(struct dom_def *def, xmlNode *n, struct vk_err *err) { def->pae = true; return 0; }

static int p_feat_vmport(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    char *s = attr(n, "state");
    int r = 0;
    if (s && strcmp(s, "off"))
        r = vk_err_set(err, -ENOTSUP, "<features><vmport state='%s'>: VMware port emulation is not supported", s);
    free(s);
    return r;
}

static const struct elem_rule feature_rules[] = {
    { "acpi", p_feat_acpi, NULL, true },
    { "apic", p_feat_apic, NULL, true },
    { "pae", p_feat_pae, NULL, true },
    { "vmport", p_feat_vmport, NULL, true },
    { "smm", NULL, NULL, true },
    { "vmcoreinfo", NULL, NULL, true },
    { "hyperv", NULL, "Hyper-V enlightenments are not implemented", true },
    { "kvm", NULL, "KVM feature tuning is not supported", true },
    { "hap", NULL, NULL, true },
    { "ioapic", NULL, "ioapic driver selection is not supported", true },
    { "gic", NULL, "ARM GIC is not supported on x86", true },
    { "pvspinlock", NULL, "paravirtual spinlock control is not supported", true },
    { NULL, NULL, NULL, false },
};

static int p_features(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    return check_rules(n, feature_rules, def, err);
}

/* cpu */
static int p_cpu_model(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    free(def->cpu_model);
    def->cpu_model = text(n);
    return 0;
}

static int p_cpu_topology(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const names[] = { "sockets", "dies", "cores", "threads" };
    unsigned *dst[] = { &def->sockets, &def->dies, &def->cores, &def->threads };
    for (int i = 0; i < 4; i++) {
        char *v = attr(n, names[i]);
        uint64_t x = 0;
        if (!v) {
            *dst[i] = 1;
            continue;
        }
        int r = parse_uint(v, DOM_MAX_VCPUS, &x);
        if (r < 0 || x == 0) {
            r = vk_err_set(err, -EINVAL, "<cpu><topology %s='%s'>: not a count between 1 and %d",
                           names[i], v, DOM_MAX_VCPUS);
            free(v);
            return r;
        }
        free(v);
        *dst[i] = (unsigned)x;
    }
    return 0;
}

static const struct elem_rule cpu_rules[] = {
    { "model", p_cpu_model, NULL, true },
    { "vendor", NULL, NULL, true },
    { "topology", p_cpu_topology, NULL, true },
    { "feature", NULL, NULL, false },
    { "cache", NULL, NULL, true },
    { "maxphysaddr", NULL, NULL, true },
    { "numa", NULL, "guest NUMA topology is not supported", true },
    { NULL, NULL, NULL, false },
};

static int p_cpu(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const modes[] = { "host-passthrough", "host-model", "maximum", "custom", NULL };
    int r = attr_enum(n, "cpu", "mode", modes, false, &def->cpu_mode, err);
    if (r < 0)
        return r;
    return check_rules(n, cpu_rules, def, err);
}

/* clock */
static int p_clock_timer(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const names[] = { "rtc", "pit", "hpet", "kvmclock", "tsc", "hypervclock", "platform", NULL };
    static const char *const yesno[] = { "yes", "no", NULL };
    if (def->n_timers >= DOM_MAX_TIMERS)
        return vk_err_set(err, -EINVAL, "<clock>: too many <timer> elements");
    struct dom_timer *t = &def->timers[def->n_timers];
    int r = attr_enum(n, "timer", "name", names, true, &t->name, err);
    if (r == 0)
        r = attr_enum(n, "timer", "present", yesno, false, &t->present, err);
    if (r == 0)
        t->tickpolicy = attr(n, "tickpolicy");
    def->n_timers++;
    return r;
}

static const struct elem_rule clock_rules[] = {
    { "timer", p_clock_timer, NULL, false },
    { NULL, NULL, NULL, false },
};

static int p_clock(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const offsets[] = { "utc", "localtime", NULL };
    int r = attr_enum(n, "clock", "offset", offsets, false, &def->clock_offset, err);
    if (r < 0)
        return r;
    return check_rules(n, clock_rules, def, err);
}

/* lifecycle actions */
static int action(xmlNode *n, const char *const *allowed, char **dst, struct vk_err *err)
{
    char *t = text(n);
    if (one_of(t, allowed) < 0) {
        char list[256];
        join(list, sizeof(list), allowed);
        int r = vk_err_set(err, -EINVAL, "<%s>: unsupported action '%s' (supported: %s)",
                           ename(n), t, list);
        free(t);
        return r;
    }
    free(*dst);
    *dst = t;
    return 0;
}

static int p_on_poweroff(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const a[] = { "destroy", "restart", "preserve", "rename-restart", NULL };
    return action(n, a, &def->on_poweroff, err);
}

static int p_on_reboot(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const a[] = { "restart", "destroy", "preserve", "rename-restart", NULL };
    return action(n, a, &def->on_reboot, err);
}

static int p_on_crash(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const a[] = { "destroy", "restart", "preserve", "rename-restart",
                                     "coredump-destroy", "coredump-restart", NULL };
    return action(n, a, &def->on_crash, err);
}

/* pm */
static int pm_state(xmlNode *n, int *dst, struct vk_err *err)
{
    static const char *const yesno[] = { "yes", "no", NULL };
    char *v = NULL;
    int r = attr_enum(n, ename(n), "enabled", yesno, true, &v, err);
    if (r == 0)
        *dst = !strcmp(v, "yes");
    free(v);
    return r;
}
static int p_pm_mem(struct dom_def *def, xmlNode *n, struct vk_err *err) { return pm_state(n, &def->pm_mem, err); }
static int p_pm_disk(struct dom_def *def, xmlNode *n, struct vk_err *err) { return pm_state(n, &def->pm_disk, err); }

static const struct elem_rule pm_rules[] = {
    { "suspend-to-mem", p_pm_mem, NULL, true },
    { "suspend-to-disk", p_pm_disk, NULL, true },
    { NULL, NULL, NULL, false },
};

static int p_pm(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    return check_rules(n, pm_rules, def, err);
}

/* ---- devices ---------------------------------------------------------- */

int dom_parse_disk(struct dom_def *def, xmlNode *n, struct vk_err *err);
int dom_parse_interface(struct dom_def *def, xmlNode *n, struct vk_err *err);

static int p_emulator(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    free(def->emulator);
    def->emulator = text(n);
    if (def->emulator[0] != '/')
        return vk_err_set(err, -EINVAL, "<emulator>: '%s' is not an absolute path", def->emulator);
    return 0;
}

/* <serial>/<console>: serial ports 0-3 (COM1-COM4), in order. The host
 * side is type 'pty' (port 0 only: the daemon relays it as the domain
 * console), 'file' (<source path='ABS'/>, output only, the file truncated
 * at start as libvirt's default append='off' does) or 'unix' (<source
 * mode='bind' path='ABS'/>: virtkit-vm listens, one client at a time).
 * A <console> with target type serial is port 0 again: it only supplies
 * the host side when no <serial> port 0 does. */
static const char *const chr_types[] = { "pty", "file", "unix", NULL };

/* Parse the host side and the <target> of <serial>/<console> n into *out
 * (path malloc'd) and *port (-1 when the target gives none). */
static int chardev(xmlNode *n, struct dom_serial *out, int *port, struct vk_err *err)
{
    const char *el = ename(n);
    char *type = attr(n, "type");
    int t = type ? one_of(type, chr_types) : -1;
    int r = 0;
    char *path = NULL;
    *port = -1;
    if (t < 0) {
        r = vk_err_set(err, -ENOTSUP, "<%s type='%s'>: only types 'pty', 'file' and 'unix' are "
                       "supported", el, type ? type : "");
        goto out;
    }
    for (xmlNode *c = n->children; c && r == 0; c = c->next) {
        if (!is_elem(c))
            continue;
        if (!strcmp(ename(c), "log")) {
            r = vk_err_set(err, -ENOTSUP, "<%s><log>: not supported (use <%s type='file'> for "
                           "a log of the port's output)", el, el);
        } else if (!strcmp(ename(c), "target")) {
            char *tt = attr(c, "type"), *tp = attr(c, "port");
            bool console = !strcmp(el, "console");
            if (tt && strcmp(tt, console ? "serial" : "isa-serial"))
                r = vk_err_set(err, -ENOTSUP, "<%s><target type='%s'>: only '%s' is supported",
                               el, tt, console ? "serial" : "isa-serial");
            else if (tp && (vk_parse_int(tp, 0, DOM_MAX_SERIALS - 1, port) < 0 ||
                            (console && *port != 0)))
                r = vk_err_set(err, -EINVAL, "<%s><target port='%s'>: want %s", el, tp,
                               console ? "0 (the console is serial port 0)" : "0-3 (COM1-COM4)");
            free(tt);
            free(tp);
        } else if (!strcmp(ename(c), "source") && t != DOM_CHR_PTY) {
            free(path);
            path = attr(c, "path");
            char *mode = attr(c, "mode"), *append = attr(c, "append");
            if (t == DOM_CHR_UNIX && (!mode || strcmp(mode, "bind")))
                r = vk_err_set(err, -ENOTSUP, "<%s type='unix'><source mode='%s'>: only mode "
                               "'bind' (virtkit-vm listens) is supported", el, mode ? mode : "");
            else if (t == DOM_CHR_FILE && append && strcmp(append, "off"))
                r = vk_err_set(err, -ENOTSUP, "<%s type='file'><source append='%s'>: only 'off' "
                               "is supported (the file is truncated when the domain starts)",
                               el, append);
            free(mode);
            free(append);
        }
    }
    if (r == 0 && t != DOM_CHR_PTY) {
        if (!path || path[0] != '/')
            r = vk_err_set(err, -EINVAL, "<%s type='%s'><source path='%s'>: want an absolute path",
                           el, type, path ? path : "");
        else if (t == DOM_CHR_UNIX && (strlen(path) >= 108 || strchr(path, ',')))
            r = vk_err_set(err, -EINVAL, "<%s type='unix'><source path='%s'>: longer than 107 "
                           "bytes or has a ','", el, path);
        else if (strpbrk(path, "\n\r\t"))
            r = vk_err_set(err, -EINVAL, "<%s><source path>: control characters in the path", el);
    }
    if (r == 0) {
        out->type = (enum dom_chr_type)t;
        out->path = path;
        path = NULL;
    }
out:
    free(path);
    free(type);
    return r;
}

static void set_port(struct dom_def *def, int port, struct dom_serial *sp)
{
    free(def->serials[port].path);
    def->serials[port] = *sp;
}

static int p_serial(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    struct dom_serial sp = { 0 };
    int port;
    int r = chardev(n, &sp, &port, err);
    if (r < 0)
        return r;
    if (port < 0)
        port = def->n_serials;      /* libvirt numbers ports in order */
    if (def->n_serials >= DOM_MAX_SERIALS)
        r = vk_err_set(err, -ENOTSUP, "<serial>: at most %d serial ports (COM1-COM4)",
                       DOM_MAX_SERIALS);
    else if (port != def->n_serials)
        r = vk_err_set(err, -EINVAL, "<serial><target port='%d'>: ports must be numbered in "
                       "order from 0 (next is %d)", port, def->n_serials);
    else if (port > 0 && sp.type == DOM_CHR_PTY)
        r = vk_err_set(err, -ENOTSUP, "<serial type='pty'> on port %d: only port 0 can be a "
                       "pty (the daemon relays it as the console); use type 'file' or 'unix'",
                       port);
    for (int i = 0; i < def->n_serials && r == 0 && sp.path; i++)
        if (def->serials[i].path && !strcmp(def->serials[i].path, sp.path))
            r = vk_err_set(err, -EINVAL, "<serial><source path='%s'>: already used by port %d",
                           sp.path, i);
    if (r < 0) {
        free(sp.path);
        return r;
    }
    set_port(def, port, &sp);
    def->n_serials++;
    return 0;
}

static int p_console(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    struct dom_serial sp = { 0 };
    int port;
    int r = chardev(n, &sp, &port, err);
    if (r < 0)
        return r;
    if (def->n_serials == 0)
        set_port(def, 0, &sp);      /* a later <serial> port 0 replaces it */
    else
        free(sp.path);
    def->console = true;
    return 0;
}

/* <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>.
 * virtkit-vm's virtio-rng draws from getrandom(2), which is what both
 * /dev/urandom and /dev/random (and libvirt's 'builtin') give; any other
 * source (a hardware RNG node, egd) would be silently replaced, so it is
 * refused. */
static int p_rng_backend(struct dom_def *def, xmlNode *c, struct vk_err *err)
{
    char *bm = attr(c, "model");
    int r = 0;
    if (!bm || (strcmp(bm, "random") && strcmp(bm, "builtin"))) {
        r = vk_err_set(err, -ENOTSUP, "<rng><backend model='%s'>: only 'random' and 'builtin' are supported",
                       bm ? bm : "");
    } else if (!strcmp(bm, "builtin")) {
        free(def->rng_backend);
        def->rng_backend = NULL;
        def->rng_builtin = true;
    } else {
        char *src = text(c);
        if (!src) {
            r = vk_err_set(err, -ENOMEM, "out of memory");
        } else if (*src && strcmp(src, "/dev/urandom") && strcmp(src, "/dev/random")) {
            r = vk_err_set(err, -ENOTSUP,
                           "<rng><backend model='random'>: source '%s' is not supported "
                           "(virtkit-vm draws from getrandom(2): use /dev/urandom or /dev/random)", src);
            free(src);
        } else {
            free(def->rng_backend);
            def->rng_backend = *src ? src : strdup("/dev/urandom");
            if (*src == 0)
                free(src);
            def->rng_builtin = false;
        }
    }
    free(bm);
    return r;
}

static int p_rng(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const models[] = { "virtio", "virtio-transitional", "virtio-non-transitional", NULL };
    char *model = NULL;
    int r = attr_enum(n, "rng", "model", models, true, &model, err);
    free(model);
    if (r < 0)
        return r;
    if (def->rng)
        return vk_err_set(err, -ENOTSUP, "<rng>: only one rng device is supported");
    def->rng = true;
    bool backend = false;
    for (xmlNode *c = n->children; c; c = c->next) {
        if (!is_elem(c))
            continue;
        if (!strcmp(ename(c), "backend")) {
            if (backend)
                return vk_err_set(err, -EINVAL, "<rng>: more than one <backend>");
            backend = true;
            if ((r = p_rng_backend(def, c, err)) < 0)
                return r;
        } else if (strcmp(ename(c), "rate") && strcmp(ename(c), "address") &&
                   strcmp(ename(c), "alias") && strcmp(ename(c), "driver")) {
            return vk_err_set(err, -EINVAL, "<rng>: unsupported element <%s>", ename(c));
        }
    }
    if (!backend)
        return vk_err_set(err, -EINVAL, "<rng>: missing <backend> (e.g. <backend model='random'>/dev/urandom</backend>)");
    return 0;
}

static int p_memballoon(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    static const char *const models[] = { "virtio", "virtio-transitional", "virtio-non-transitional", "none", NULL };
    char *model = NULL;
    int r = attr_enum(n, "memballoon", "model", models, true, &model, err);
    if (r == 0) {
        def->memballoon = strcmp(model, "none") != 0;
        def->memballoon_none = !def->memballoon;
    }
    free(model);
    return r;
}

static int p_video(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    for (xmlNode *c = n->children; c; c = c->next) {
        if (!is_elem(c) || strcmp(ename(c), "model"))
            continue;
        char *t = attr(c, "type");
        int r = 0;
        if (!t || strcmp(t, "none"))
            r = vk_err_set(err, -ENOTSUP,
                           "<video><model type='%s'>: virtkit has no display devices (only type 'none')",
                           t ? t : "");
        free(t);
        return r;
    }
    return 0;
}

static int p_audio(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    char *t = attr(n, "type");
    int r = 0;
    if (!t || strcmp(t, "none"))
        r = vk_err_set(err, -ENOTSUP, "<audio type='%s'>: virtkit has no audio (only type 'none')",
                       t ? t : "");
    free(t);
    return r;
}

static const struct elem_rule device_rules[] = {
    { "emulator", p_emulator, NULL, true },
    { "disk", dom_parse_disk, NULL, false },
    { "interface", dom_parse_interface, NULL, false },
    { "serial", p_serial, NULL, false },
    { "console", p_console, NULL, false },
    { "rng", p_rng, NULL, false },
    { "memballoon", p_memballoon, NULL, true },
    { "video", p_video, NULL, false },
    { "audio", p_audio, NULL, false },
    /* accepted and ignored: buses and inputs virtkit-vm provides implicitly,
     * and the guest-agent channel (no agent support; harmless) */
    { "controller", NULL, NULL, false },
    { "input", NULL, NULL, false },
    { "channel", NULL, NULL, false },
    { "panic", NULL, NULL, false },
    /* refused: */
    { "graphics", NULL, "virtkit has no display (remove <graphics>; use the serial console)", false },
    { "sound", NULL, "virtkit has no sound devices", false },
    { "hostdev", NULL, "device assignment is not supported", false },
    { "filesystem", NULL, "shared filesystems are not supported", false },
    { "redirdev", NULL, "USB redirection is not supported", false },
    { "smartcard", NULL, "smartcards are not supported", false },
    { "hub", NULL, "USB hubs are not supported", false },
    { "watchdog", NULL, "watchdog devices are not supported", false },
    { "tpm", NULL, "TPM devices are not supported", false },
    { "shmem", NULL, "shared memory devices are not supported", false },
    { "lease", NULL, "lock leases are not supported", false },
    { "parallel", NULL, "parallel ports are not supported", false },
    { "vsock", NULL, "vsock is not supported", false },
    { "iommu", NULL, "a virtual IOMMU is not supported", false },
    { "memory", NULL, "memory hot-plug is not supported", false },
    { "crypto", NULL, "virtio-crypto is not supported", false },
    { "nvram", NULL, "nvram devices are not supported", false },
    { NULL, NULL, NULL, false },
};

static int p_devices(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    return check_rules(n, device_rules, def, err);
}

static int p_seclabel(struct dom_def *def, xmlNode *n, struct vk_err *err)
{
    char *t = attr(n, "type");
    int r = 0;
    if (t && strcmp(t, "none") && strcmp(t, "dynamic"))
        r = vk_err_set(err, -ENOTSUP, "<seclabel type='%s'>: only 'none' and 'dynamic' are accepted", t);
    free(t);
    return r;
}

static const struct elem_rule domain_rules[] = {
    { "name", p_name, NULL, true },
    { "uuid", p_uuid, NULL, true },
    { "genid", NULL, NULL, true },
    { "title", p_title, NULL, true },
    { "description", p_description, NULL, true },
    { "metadata", p_metadata, NULL, true },
    { "memory", p_memory, NULL, true },
    { "currentMemory", p_current_memory, NULL, true },
    { "vcpu", p_vcpu, NULL, true },
    { "os", p_os, NULL, true },
    { "features", p_features, NULL, true },
    { "cpu", p_cpu, NULL, true },
    { "clock", p_clock, NULL, true },
    { "on_poweroff", p_on_poweroff, NULL, true },
    { "on_reboot", p_on_reboot, NULL, true },
    { "on_crash", p_on_crash, NULL, true },
    { "pm", p_pm, NULL, true },
    { "devices", p_devices, NULL, true },
    { "seclabel", p_seclabel, NULL, false },
    { "resource", NULL, NULL, true },
    /* refused */
    { "maxMemory", NULL, "memory hot-plug is not supported", true },
    { "vcpus", NULL, "per-vCPU hot-plug settings are not supported", true },
    { "iothreads", NULL, "I/O thread pinning is not supported", true },
    { "iothreadids", NULL, "I/O thread pinning is not supported", true },
    { "cputune", NULL, "CPU tuning is not supported", true },
    { "memtune", NULL, "memory tuning is not supported", true },
    { "blkiotune", NULL, "block I/O tuning is not supported", true },
    { "numatune", NULL, "NUMA tuning is not supported", true },
    { "memoryBacking", NULL, "memory backing options are not supported", true },
    { "sysinfo", NULL, "SMBIOS sysinfo is not supported", false },
    { "idmap", NULL, "ID maps are for containers", true },
    { "keywrap", NULL, "key wrapping is an s390 feature", true },
    { "launchSecurity", NULL, "confidential computing is not supported", true },
    { "perf", NULL, "perf events are not supported", true },
    { "on_lockfailure", NULL, "lock managers are not supported", true },
    { "bootloader", NULL, "host boot loaders are for Xen", true },
    { NULL, NULL, NULL, false },
};

/* ---- entry ---------------------------------------------------------------- */

static void quiet_errors(void *ctx, const char *msg, ...) { }

int dom_def_parse(const char *xml, size_t len, struct dom_def **out, struct vk_err *err)
{
    *out = NULL;
    if (len > DOM_XML_MAX)
        return vk_err_set(err, -E2BIG, "XML is larger than %u bytes", DOM_XML_MAX);
    xmlSetGenericErrorFunc(NULL, quiet_errors);
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        char msg[256] = "";
        if (e && e->message)
            snprintf(msg, sizeof(msg), "%s", e->message);
        size_t l = strlen(msg);
        while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = 0;
        return vk_err_set(err, -EINVAL, "XML does not parse%s%s (line %d)",
                          *msg ? ": " : "", msg, e ? e->line : 0);
    }
    if (doc->intSubset || doc->extSubset) {
        /* entities are a denial-of-service vector and libvirt XML has none */
        xmlFreeDoc(doc);
        return vk_err_set(err, -EINVAL, "XML with a DTD (<!DOCTYPE>) is not accepted");
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    int r = 0;
    struct dom_def *def = calloc(1, sizeof(*def));
    if (!def) {
        xmlFreeDoc(doc);
        return vk_err_set(err, -ENOMEM, "out of memory");
    }
    def->pm_mem = def->pm_disk = -1;
    if (!root || strcmp(ename(root), "domain")) {
        r = vk_err_set(err, -EINVAL, "expected a <domain> root element, found <%s>",
                       root ? ename(root) : "");
        goto out;
    }
    static const char *const types[] = { "kvm", "qemu", NULL };
    r = attr_enum(root, "domain", "type", types, true, &def->type, err);
    if (r < 0)
        goto out;
    bool uuid_seen = false;
    for (xmlNode *c = root->children; c; c = c->next)
        if (is_elem(c) && !strcmp(ename(c), "uuid"))
            uuid_seen = true;
    r = check_rules(root, domain_rules, def, err);
    if (r < 0)
        goto out;
    if (!def->name) {
        r = vk_err_set(err, -EINVAL, "<domain>: missing <name>");
        goto out;
    }
    if (!def->memory_kib) {
        r = vk_err_set(err, -EINVAL, "<domain>: missing <memory>");
        goto out;
    }
    if (!uuid_seen)
        dom_uuid_generate(def->uuid);
    if (!def->vcpus)
        def->vcpus = 1;
    if (!def->current_kib || def->current_kib > def->memory_kib)
        def->current_kib = def->memory_kib;    /* as libvirt does */
    for (int i = 0; i < def->n_ifaces; i++)
        if (!def->ifaces[i].mac[0])
            dom_mac_generate(def->ifaces[i].mac);
    r = dom_def_validate(def, err);
out:
    xmlFreeDoc(doc);
    if (err && r < 0) {
        size_t l = strlen(err->msg);
        while (l && (err->msg[l - 1] == '\n' || err->msg[l - 1] == ' '))
            err->msg[--l] = 0;
    }
    if (r < 0) {
        dom_def_free(def);
        return r;
    }
    *out = def;
    return 0;
}

int dom_def_validate(const struct dom_def *def, struct vk_err *err)
{
    int r = dom_name_check(def->name, err);
    if (r < 0)
        return r;
    if (def->memory_kib < 1024)
        return vk_err_set(err, -EINVAL, "<memory>: %" PRIu64 " KiB is too small (at least 1 MiB)",
                          def->memory_kib);
    if (def->memory_kib > (1ull << 40))
        return vk_err_set(err, -EINVAL, "<memory>: %" PRIu64 " KiB is too large (at most 1 TiB)",
                          def->memory_kib);
    if (def->vcpus < 1 || def->vcpus > DOM_MAX_VCPUS)
        return vk_err_set(err, -EINVAL, "<vcpu>: %u is out of range (1-%d)", def->vcpus, DOM_MAX_VCPUS);
    if (def->sockets) {
        uint64_t t = (uint64_t)def->sockets * def->dies * def->cores * def->threads;
        if (t != def->vcpus)
            return vk_err_set(err, -EINVAL,
                              "<cpu><topology>: sockets*dies*cores*threads = %" PRIu64
                              " does not match <vcpu> %u", t, def->vcpus);
    }
    if ((def->initrd || def->cmdline) && !def->kernel)
        return vk_err_set(err, -EINVAL, "<os>: <initrd>/<cmdline> need a <kernel>");
    for (int i = 0; i < def->n_disks; i++) {
        for (int j = 0; j < i; j++)
            if (!strcmp(def->disks[i].target, def->disks[j].target))
                return vk_err_set(err, -EINVAL, "<disk>: target dev '%s' is used twice",
                                  def->disks[i].target);
    }
    for (int i = 0; i < def->n_ifaces; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(def->ifaces[i].mac, def->ifaces[j].mac))
                return vk_err_set(err, -EINVAL, "<interface>: MAC address %s is used twice",
                                  def->ifaces[i].mac);
    return 0;
}
