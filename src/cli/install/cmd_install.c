/* virtkit install: virt-install for virtkit (docs/install.md).
 *
 * This file: the command, virt-install's options, and the plan (every
 * check that needs no daemon: names, sizes, paths, the ISO's layout, the
 * two definitions). install_run.c then creates the disks, takes the
 * installer kernel out of the ISO, defines the final domain, starts the
 * install phase (a transient override of the definition: domain.create
 * with the same name and UUID) and attaches to the serial console; a
 * failure undoes what the run made. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block.h"
#include "host.h"
#include "install/install.h"
#include "install/install_cmd.h"
#include "paths.h"
#include "virsh/virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "-n, --name NAME", "name of the new guest (required)" },
    { "--description TEXT", "free text stored in the definition" },
    { "--memory, --ram MiB", "guest RAM in MiB (default: the OS variant's recommendation)" },
    { "--vcpus N", "number of vCPUs" },
    { "--os-variant, --osinfo OS", "OS variant (`--osinfo list` lists them)" },
    { "--disk OPTS", "path=,size= (GiB),format=,bus=virtio,device=disk|cdrom,readonly=on,cache=; or none; repeatable" },
    { "-l, --location ISO|DIR", "install tree: the kernel and initrd are taken from it, the ISO attached as a CD-ROM" },
    { "-c, --cdrom ISO", "attach ISO as a CD-ROM and boot its installer kernel" },
    { "--import", "boot an existing disk (needs --boot kernel=...)" },
    { "--boot OPTS", "kernel=,initrd=,kernel_args= (direct kernel boot), hd, cdrom" },
    { "-x, --extra-args ARGS", "kernel command line for the installer (--location)" },
    { "--initrd-inject PATH", "add a file (preseed.cfg, a kickstart) to the root of the installer's initrd; repeatable" },
    { "-w, --network OPTS", "network=NAME|bridge=NAME (network:NAME),model=virtio,mac=; or none; repeatable" },
    { "--graphics none", "no display (the only choice)" },
    { "--console pty,target_type=serial", "the serial console (the default)" },
    { "--noautoconsole", "do not attach to the console" },
    { "--wait [MINUTES]", "wait for the install to finish (no value or negative: forever)" },
    { "--print-xml [STEP]", "print the domain XML (1 = install phase, 2 = final) and create nothing" },
    { "--dry-run", "check everything, create nothing" },
    { "--autostart", "start the guest when the daemon starts" },
    { "--transient", "define nothing: the guest is gone when it stops" },
    { "--virt-type kvm|qemu", "kvm, or qemu for the software CPU (default: kvm when /dev/kvm is usable)" },
    { "--accel kvm|tcg", "the same as --virt-type (tcg = qemu)" },
    { "--connect URI", "daemon URI (as virtkit -c)" },
    { "--json", "with --osinfo list: JSON output" },
    { NULL, NULL },
};

const struct cli_command cmd_install = {
    .name = "install",
    .group = "Domains",
    .summary = "create and install a new guest (virt-install)",
    .usage = "virtkit install --name NAME [--memory MiB] [--vcpus N] [--os-variant OS]\n"
             "                       --disk path=P,size=GiB|none (--location ISO [-x ARGS] | --cdrom ISO | --import)\n"
             "                       [--network network=NAME] [--noautoconsole] [--print-xml] ...\n"
             "       virtkit install --osinfo list [--json]",
    .description = "Creates the disk images, takes the installer kernel and initrd out of the install\n"
                   "ISO, defines the guest and boots the installer with the extra arguments, then\n"
                   "attaches to its serial console. A failure removes what it created.",
    .options = opts_help,
    .run = run,
};

/* ---- argument parsing ------------------------------------------------------ */

enum { K_FLAG, K_VAL, K_OPT_NUM, K_LIST };


struct iopt {
    const char *name;       /* long name without "--" */
    char short_name;
    int kind;
    size_t off;             /* into struct args */
    size_t flag_off;        /* K_OPT_NUM: the "given" bool */
};

#define A(f) offsetof(struct args, f)
static const struct iopt iopts[] = {
    { "name", 'n', K_VAL, A(name), 0 },
    { "description", 0, K_VAL, A(description), 0 },
    { "memory", 0, K_VAL, A(memory), 0 },
    { "ram", 'r', K_VAL, A(memory), 0 },
    { "vcpus", 0, K_VAL, A(vcpus), 0 },
    { "os-variant", 0, K_VAL, A(os), 0 },
    { "osinfo", 0, K_VAL, A(os), 0 },
    { "disk", 0, K_LIST, A(disks), A(n_disks) },
    { "location", 'l', K_VAL, A(location), 0 },
    { "cdrom", 'c', K_VAL, A(cdrom), 0 },
    { "import", 0, K_FLAG, A(import), 0 },
    { "boot", 0, K_VAL, A(boot), 0 },
    { "extra-args", 'x', K_VAL, A(extra), 0 },
    { "initrd-inject", 0, K_LIST, A(inject), A(n_inject) },
    { "network", 'w', K_LIST, A(nets), A(n_nets) },
    { "graphics", 0, K_VAL, A(graphics), 0 },
    { "console", 0, K_VAL, A(console), 0 },
    { "noautoconsole", 0, K_FLAG, A(noautoconsole), 0 },
    { "autoconsole", 0, K_VAL, A(autoconsole), 0 },
    { "wait", 0, K_OPT_NUM, A(wait), A(has_wait) },
    { "print-xml", 0, K_OPT_NUM, A(print_xml), A(has_print_xml) },
    { "dry-run", 0, K_FLAG, A(dry_run), 0 },
    { "autostart", 0, K_FLAG, A(autostart), 0 },
    { "noreboot", 0, K_FLAG, A(noreboot), 0 },
    { "transient", 0, K_FLAG, A(transient), 0 },
    { "virt-type", 0, K_VAL, A(virt_type), 0 },
    { "accel", 0, K_VAL, A(accel), 0 },
    { "connect", 0, K_VAL, A(connect), 0 },
    { "json", 0, K_FLAG, A(json), 0 },
    { NULL, 0, 0, 0, 0 },
};

static bool is_number(const char *s)
{
    if (*s == '-')
        s++;
    return *s && strspn(s, "0123456789") == strlen(s);
}

static int parse_args(int argc, char **argv, struct args *a)
{
    char *base = (char *)a;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const struct iopt *o = NULL;
        char name[64];
        if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
            const char *eq = strchr(arg + 2, '=');
            snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg - 2) : (int)strlen(arg + 2), arg + 2);
            for (const struct iopt *x = iopts; x->name && !o; x++)
                if (!strcmp(x->name, name))
                    o = x;
            if (eq)
                val = eq + 1;
        } else if (arg[0] == '-' && arg[1] && !arg[2]) {
            snprintf(name, sizeof(name), "%s", arg);
            for (const struct iopt *x = iopts; x->name && !o; x++)
                if (x->short_name == arg[1])
                    o = x;
        } else {
            return cli_usage_error(&cmd_install, "unexpected argument '%s'", arg);
        }
        if (!o)
            return cli_usage_error(&cmd_install, "unrecognized option '%s'", arg);
        switch (o->kind) {
        case K_FLAG:
            if (val)
                return cli_usage_error(&cmd_install, "option --%s takes no value", o->name);
            *(bool *)(base + o->off) = true;
            break;
        case K_OPT_NUM:
            /* --wait [MINUTES], --print-xml [STEP]: a number may follow */
            if (!val && i + 1 < argc && is_number(argv[i + 1]))
                val = argv[++i];
            *(bool *)(base + o->flag_off) = true;
            *(const char **)(base + o->off) = val;
            break;
        case K_VAL:
        case K_LIST:
            if (!val) {
                if (i + 1 >= argc)
                    return cli_usage_error(&cmd_install, "option --%s needs a value", o->name);
                val = argv[++i];
            }
            if (o->kind == K_VAL) {
                *(const char **)(base + o->off) = val;
            } else {
                int *n = (int *)(base + o->flag_off);
                int max = o->off == A(disks) ? INST_MAX_DISKS : o->off == A(nets) ? INST_MAX_NICS
                                                                                    : INST_MAX_INJECT;
                if (*n >= max)
                    return cli_usage_error(&cmd_install, "too many --%s options (at most %d)", o->name, max);
                ((const char **)(base + o->off))[(*n)++] = val;
            }
            break;
        }
    }
    return CLI_OK;
}

/* ---- helpers ------------------------------------------------------------------- */

static bool uri_is_system(void)
{
    const char *u = getenv("VIRTKIT_DEFAULT_URI");
    if (u && (!strncmp(u, "virtkit:///system", 17) || !strncmp(u, "qemu:///system", 14)))
        return true;
    if (u && (!strncmp(u, "virtkit:///session", 18) || !strncmp(u, "qemu:///session", 15)))
        return false;
    return geteuid() == 0;
}

const char *inst_uri_name(void)
{
    return uri_is_system() ? "virtkit:///system" : "virtkit:///session";
}


static int check_name(const char *n, struct vk_err *err)
{
    if (!*n || strlen(n) > 200 || strchr(n, '/') || n[0] == '.')
        return vk_err_set(err, -EINVAL, "invalid name '%s': not empty, at most 200 bytes, no '/', "
                          "not starting with '.'", n);
    for (const char *p = n; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return vk_err_set(err, -EINVAL, "invalid name: control characters are not allowed");
    return 0;
}

/* "1024" or "memory=1024[,...]" (virt-install's --memory); MiB. */
static int parse_count(const char *s, const char *key, uint64_t max, uint64_t *out)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    char *v = buf;
    size_t kl = strlen(key);
    if (!strncmp(v, key, kl) && v[kl] == '=')
        v += kl + 1;
    char *comma = strchr(v, ',');
    if (comma)
        *comma = '\0';
    uint64_t n;
    if (vk_parse_u64(v, &n) < 0 || n == 0 || n > max)
        return -EINVAL;
    *out = n;
    return 0;
}

static int osinfo_list(bool json)
{
    if (json) {
        struct json_object *arr = json_object_new_array();
        for (const struct osinfo *o = osinfo_table; o->name; o++) {
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "short_id", json_object_new_string(o->name));
            json_object_object_add(e, "name", json_object_new_string(o->full_name));
            json_object_object_add(e, "family", json_object_new_string(o->family));
            json_object_object_add(e, "id", json_object_new_string(o->id));
            json_object_object_add(e, "memory_mib", json_object_new_int(o->ram_mib));
            json_object_object_add(e, "vcpus", json_object_new_int(o->vcpus));
            json_object_object_add(e, "disk_gib", json_object_new_int(o->disk_gib));
            json_object_array_add(arr, e);
        }
        virsh_print_json(arr);
        json_object_put(arr);
        return CLI_OK;
    }
    int rows = 1;
    for (const struct osinfo *o = osinfo_table; o->name; o++)
        rows++;
    enum { COLS = 6 };
    char (*num)[3][16] = calloc((size_t)rows, sizeof(*num));
    const char **cells = calloc((size_t)rows * COLS, sizeof(*cells));
    if (!num || !cells) {
        free(num);
        free(cells);
        return cli_error("install", "out of memory");
    }
    const char *hdr[COLS] = { "Short ID", "Name", "Memory", "vCPUs", "Disk", "ID" };
    memcpy(cells, hdr, sizeof(hdr));
    int r = 1;
    for (const struct osinfo *o = osinfo_table; o->name; o++, r++) {
        snprintf(num[r][0], sizeof(num[r][0]), "%u MiB", o->ram_mib);
        snprintf(num[r][1], sizeof(num[r][1]), "%u", o->vcpus);
        snprintf(num[r][2], sizeof(num[r][2]), "%u GiB", o->disk_gib);
        const char *row[COLS] = { o->name, o->full_name, num[r][0], num[r][1], num[r][2], o->id };
        memcpy(cells + r * COLS, row, sizeof(row));
    }
    virsh_table(stdout, rows, COLS, cells);
    free(num);
    free(cells);
    return CLI_OK;
}

/* ---- building the request ------------------------------------------------------ */


static void plan_free(struct plan *p)
{
    for (int i = 0; i < p->in.n_disks; i++)
        free(p->in.disks[i].path);
    free(p->in.boot.kernel);
    free(p->in.boot.initrd);
    free(p->in.boot.cmdline);
}

static const struct osinfo *os_for_layout(const struct inst_layout *l)
{
    static const struct { const char *distro, *os; } map[] = {
        { "debian", "debian12" }, { "ubuntu", "ubuntu24.04" }, { "fedora", "fedora40" },
        { "alpine", "alpinelinux3.20" },
    };
    for (size_t i = 0; l && i < VK_ARRAY_SIZE(map); i++)
        if (!strcmp(l->distro, map[i].distro))
            return osinfo_find(map[i].os);
    return osinfo_find("linux2022");
}

static bool target_used(const struct inst *in, const char *t, int skip)
{
    for (int i = 0; i < in->n_disks; i++)
        if (i != skip && !strcmp(in->disks[i].target, t))
            return true;
    return false;
}

static void assign_targets(struct inst *in)
{
    for (int i = 0; i < in->n_disks; i++) {
        struct inst_disk *d = &in->disks[i];
        if (d->target[0])
            continue;
        for (char c = 'a'; c <= 'z'; c++) {
            char t[8];
            snprintf(t, sizeof(t), "vd%c", c);
            if (!target_used(in, t, i)) {
                snprintf(d->target, sizeof(d->target), "%s", t);
                break;
            }
        }
    }
}

/* Default image path in the instance's images folder: NAME.qcow2, then
 * NAME-1.qcow2, ... (as virt-install picks a free name in its pool). */
static int default_disk_path(struct plan *p, struct inst_disk *d, int idx)
{
    char path[PATH_MAX];
    const char *ext = d->format[0] ? d->format : "qcow2";
    for (int n = 0; n < 1000; n++) {
        if (n == 0 && idx == 0)
            snprintf(path, sizeof(path), "%s/images/%s.%s", p->paths.state, p->in.name, ext);
        else
            snprintf(path, sizeof(path), "%s/images/%s-%d.%s", p->paths.state, p->in.name, n + idx, ext);
        if (!path_exists(path))
            return (d->path = strdup(path)) ? 0 : -ENOMEM;
    }
    return -EEXIST;
}

/* Usage problems print a usage error (exit 2); the rest return CLI_FAIL. */
static int build_plan(struct args *a, struct plan *p)
{
    struct inst *in = &p->in;
    struct vk_err err = { 0 };
    if (!a->name)
        return cli_usage_error(&cmd_install, "--name is required");
    if (check_name(a->name, &err) < 0)
        return cli_usage_error(&cmd_install, "--name: %s", err.msg);
    in->name = a->name;
    in->description = a->description;

    /* OS variant (else suggested by the --location layout) */
    if (a->os) {
        in->os = osinfo_find(a->os);
        if (!in->os)
            return cli_usage_error(&cmd_install, "Unknown OS name '%s'. See `--osinfo list` for valid values.", a->os);
    }
    int methods = !!a->location + !!a->cdrom + a->import;
    if (methods > 1)
        return cli_usage_error(&cmd_install, "--location, --cdrom and --import exclude each other");
    if (!methods && !a->boot)
        return cli_usage_error(&cmd_install, "An install method must be specified "
                               "(--location ISO, --cdrom ISO, --import, --boot kernel=...)");
    if (a->extra && !a->location)
        return cli_usage_error(&cmd_install, "--extra-args only work if specified with --location");
    if (a->n_inject && !a->location && !a->cdrom)
        return cli_usage_error(&cmd_install, "--initrd-inject needs --location (or --cdrom)");
    if (a->boot && inst_parse_boot(a->boot, &in->boot, &err) < 0)
        return cli_usage_error(&cmd_install, "%s", err.msg);
    if ((a->import || (!a->location && !a->cdrom)) && !in->boot.kernel)
        return cli_usage_error(&cmd_install,
                               "--import needs --boot kernel=PATH[,initrd=PATH,kernel_args=ARGS]: virtkit boots "
                               "kernels directly (firmware boot from a disk is not supported yet)");
    if (a->graphics && inst_parse_graphics(a->graphics, &err) < 0)
        return cli_usage_error(&cmd_install, "%s", err.msg);
    if (a->console && inst_parse_console(a->console, &err) < 0)
        return cli_usage_error(&cmd_install, "%s", err.msg);
    if (a->autoconsole) {
        if (!strcmp(a->autoconsole, "none"))
            a->noautoconsole = true;
        else if (strcmp(a->autoconsole, "text"))
            return cli_usage_error(&cmd_install, "--autoconsole '%s': text or none (virtkit has no display)",
                                   a->autoconsole);
    }
    if (a->transient && a->autostart)
        return cli_usage_error(&cmd_install, "--autostart needs a persistent domain (not --transient)");
    if (a->has_print_xml && a->print_xml && strcmp(a->print_xml, "1") && strcmp(a->print_xml, "2"))
        return cli_usage_error(&cmd_install, "--print-xml '%s': the step is 1 (install) or 2 (final)",
                               a->print_xml);
    if (a->has_wait && a->wait && !is_number(a->wait))
        return cli_usage_error(&cmd_install, "--wait '%s' is not a number of minutes", a->wait);

    /* accelerator */
    const char *vt = a->virt_type ? a->virt_type : a->accel;
    if (a->virt_type && a->accel)
        return cli_usage_error(&cmd_install, "give --virt-type or --accel, not both");
    if (!vt)
        in->domain_type = vk_host_kvm_flavour(NULL) == VK_KVM_HW ? "kvm" : "qemu";
    else if (!strcmp(vt, "kvm"))
        in->domain_type = "kvm";
    else if (!strcmp(vt, "qemu") || !strcmp(vt, "tcg"))
        in->domain_type = "qemu";
    else
        return cli_usage_error(&cmd_install, "--%s '%s': kvm, or qemu/tcg for the software CPU",
                               a->virt_type ? "virt-type" : "accel", vt);


    if (a->memory) {
        uint64_t m;
        if (parse_count(a->memory, "memory", 1024 * 1024, &m) < 0)
            return cli_usage_error(&cmd_install, "--memory '%s': give the size in MiB (1-1048576)", a->memory);
        in->memory_mib = m;
    }
    if (a->vcpus) {
        uint64_t v;
        if (parse_count(a->vcpus, "vcpus", 255, &v) < 0)
            return cli_usage_error(&cmd_install, "--vcpus '%s': give a count (1-255)", a->vcpus);
        in->vcpus = (unsigned)v;
    }

    /* disks */
    if (!a->n_disks && !a->import && !a->boot)
        return cli_usage_error(&cmd_install, "--disk storage must be specified (override with --disk none)");
    bool disk_none = false;
    for (int i = 0; i < a->n_disks; i++) {
        if (!strcmp(a->disks[i], "none")) {
            disk_none = true;
            continue;
        }
        if (inst_parse_disk(a->disks[i], &in->disks[in->n_disks], &err) < 0)
            return cli_usage_error(&cmd_install, "%s", err.msg);
        in->n_disks++;
    }
    if (disk_none && in->n_disks)
        return cli_usage_error(&cmd_install, "--disk none excludes other --disk options");
    if (in->n_disks + (a->location || a->cdrom) > INST_MAX_DISKS)
        return cli_usage_error(&cmd_install, "too many disks");

    /* networks */
    bool net_none = false;
    for (int i = 0; i < a->n_nets; i++) {
        int r = inst_parse_network(a->nets[i], &in->nics[in->n_nics], &err);
        if (r < 0)
            return cli_usage_error(&cmd_install, "%s", err.msg);
        if (r == 1)
            net_none = true;
        else
            in->n_nics++;
    }
    if (net_none && in->n_nics)
        return cli_usage_error(&cmd_install, "--network none excludes other --network options");
    p->net_given = a->n_nets > 0;
    for (int i = 0; i < in->n_nics; i++)
        if (!in->nics[i].mac[0])
            inst_random_mac(in->nics[i].mac);

    /* From here on problems are about the host, not the command line. */
    if (vk_paths_init(&p->paths, uri_is_system(), NULL, &err) < 0)
        return cli_error("install", "%s", err.msg);
    for (int i = 0; i < a->n_inject; i++)
        if (inst_check_inject(a->inject[i], &err) < 0)
            return cli_error("install", "%s", err.msg);
    p->inject = a->inject;
    p->n_inject = a->n_inject;
    p->iso = a->location ? a->location : a->cdrom;
    if (p->iso) {
        if (location_probe(p->iso, &p->layout, &err) < 0)
            return cli_error("install", "%s", err.msg);
        struct stat st;
        p->iso_is_dir = stat(p->iso, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (!in->os)
        in->os = p->layout ? os_for_layout(p->layout) : osinfo_generic();
    if (!in->memory_mib)
        in->memory_mib = in->os->ram_mib;
    if (!in->vcpus)
        in->vcpus = in->os->vcpus;

    for (int i = 0; i < in->n_disks; i++) {
        struct inst_disk *d = &in->disks[i];
        if (!d->path) {
            if (d->cdrom)
                return cli_usage_error(&cmd_install, "--disk device=cdrom needs path=");
            if (!d->size)
                d->size = (uint64_t)in->os->disk_gib << 30;
            if (default_disk_path(p, d, i) < 0)
                return cli_error("install", "no free image name for '%s' in %s/images", in->name, p->paths.state);
        }
        if (d->path[0] != '/') {
            char abs[PATH_MAX], cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof(cwd)))
                return cli_error("install", "getcwd: %s", strerror(errno));
            snprintf(abs, sizeof(abs), "%s/%s", cwd, d->path);
            free(d->path);
            if (!(d->path = strdup(abs)))
                return cli_error("install", "out of memory");
        }
        d->exists = path_exists(d->path);
        if (!d->exists && (d->cdrom || d->readonly))
            return cli_error("install", "--disk %s: the file does not exist", d->path);
        if (!d->exists && !d->size)
            return cli_error("install", "--disk %s: the file does not exist; give size= (GiB) to create it",
                             d->path);
        if (d->exists && !d->format[0]) {
            struct blk *b = NULL;
            if (d->cdrom) {
                snprintf(d->format, sizeof(d->format), "raw");
            } else if (blk_open(d->path, NULL, BLK_O_NO_BACKING | BLK_O_UNSAFE, NULL, &b, &err) < 0) {
                return cli_error("install", "--disk %s: %s", d->path, err.msg);
            } else {
                snprintf(d->format, sizeof(d->format), "%s", blk_format_name(b));
                blk_close(b);
            }
        }
        if (!d->exists && !d->format[0])
            snprintf(d->format, sizeof(d->format), "qcow2");
    }
    if (p->iso) {
        if (p->iso_is_dir && a->cdrom)
            return cli_error("install", "--cdrom '%s' is a directory; use --location for an install tree", p->iso);
        if (!p->iso_is_dir) {
            struct inst_disk *d = &in->disks[in->n_disks++];
            memset(d, 0, sizeof(*d));
            char abs[PATH_MAX];
            if (!realpath(p->iso, abs))
                return cli_error("install", "'%s': %s", p->iso, strerror(errno));
            if (!(d->path = strdup(abs)))
                return cli_error("install", "out of memory");
            d->cdrom = d->readonly = d->exists = d->install_only = true;
            snprintf(d->format, sizeof(d->format), "raw");
        }
        snprintf(p->kernel_out, sizeof(p->kernel_out), "%s/boot/virtkit-%s-vmlinuz", p->paths.state, in->name);
        snprintf(p->initrd_out, sizeof(p->initrd_out), "%s/boot/virtkit-%s-initrd", p->paths.state, in->name);
        in->inst_kernel = p->kernel_out;
        in->inst_initrd = p->initrd_out;
        in->extra_args = a->extra;
    }
    for (int i = 0; i < in->n_disks; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(in->disks[i].path, in->disks[j].path))
                return cli_usage_error(&cmd_install, "--disk %s is given twice", in->disks[i].path);
    assign_targets(in);
    for (int i = 0; i < in->n_disks; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(in->disks[i].target, in->disks[j].target))
                return cli_usage_error(&cmd_install, "--disk: target %s is given twice", in->disks[i].target);
    inst_random_uuid(in->uuid);
    return CLI_OK;
}

/* ---- doing it ------------------------------------------------------------------- */

static int print_xml(const struct plan *p, const char *step)
{
    bool two = p->in.inst_kernel != NULL;
    for (int phase = 1; phase <= 2; phase++) {
        if (step && atoi(step) != phase)
            continue;
        if (phase == 1 && !two && !step)
            continue;           /* one definition only: print it once */
        char *xml = inst_domain_xml(&p->in, phase == 1);
        if (!xml)
            return cli_error("install", "out of memory");
        fputs(xml, stdout);
        free(xml);
    }
    return CLI_OK;
}

static int run(int argc, char **argv)
{
    if (cli_want_help(&cmd_install, argc, argv))
        return CLI_OK;
    struct args a = { 0 };
    int r = parse_args(argc, argv, &a);
    if (r != CLI_OK)
        return r;
    if (a.connect)
        setenv("VIRTKIT_DEFAULT_URI", a.connect, 1);
    if (a.os && !strcmp(a.os, "list"))
        return osinfo_list(a.json);
    struct plan p;
    memset(&p, 0, sizeof(p));
    r = build_plan(&a, &p);
    if (r == CLI_OK)
        r = a.has_print_xml ? print_xml(&p, a.print_xml) : inst_run(&a, &p);
    plan_free(&p);
    return r;
}
