/* virtkit host-validate: can this host run VMs, and how fast?
 * What kvm-ok and virt-host-validate tell, plus the PVM caveat. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <json-c/json.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli.h"
#include "host.h"

static int run(int argc, char **argv);

static const struct cli_option_help options[] = {
    { "--json", "print the results as JSON" },
    { "--root DIR", "check a fake host: prefix /proc, /sys, /dev and /etc paths with DIR" },
    { "--user NAME", "check group membership for NAME (default: the caller)" },
    { "--vm-user NAME", "user that VMs run as, for the images folder check (default: the caller)" },
    { "--images DIR", "images folder to check (default: /var/lib/virtkit/images)" },
    { NULL, NULL },
};

const struct cli_command cmd_host_validate = {
    .name = "host-validate",
    .group = "Host",
    .summary = "check that this host can run virtual machines (kvm-ok)",
    .usage = "virtkit host-validate [--json] [--root DIR] [--user NAME] [--vm-user NAME] [--images DIR]",
    .description =
        "Checks CPU virtualization extensions, /dev/kvm, the KVM flavour (PVM-based\n"
        "KVM runs only PVM-enabled guest kernels accelerated), nested virtualization,\n"
        "TUN, bridge, netfilter and vhost-net support, group membership, access to the\n"
        "images folder, cgroups v2 and hugepages. Each check prints PASS, WARN or FAIL\n"
        "with a one-line explanation and a hint.\n\n"
        "Exit status: 0 when VMs can run on this host (with KVM or on the software\n"
        "CPU), 1 when they cannot, 2 on a usage error.",
    .options = options,
    .run = run,
};

enum result { PASS, WARN, FAIL };
static const char *const result_names[] = { "PASS", "WARN", "FAIL" };

struct ctx {
    const char *root;
    const char *user, *vm_user, *images;
    bool json;
    json_object *checks;
    bool fatal;           /* a FAIL that prevents running any VM */
    enum vk_kvm_flavour kvm;
    bool kvm_usable;
};

static void report(struct ctx *c, const char *id, const char *title, enum result r,
                   bool fatal, const char *detail, const char *hint)
{
    if (r == FAIL && fatal)
        c->fatal = true;
    if (c->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "check", json_object_new_string(title));
        json_object_object_add(o, "result", json_object_new_string(result_names[r]));
        json_object_object_add(o, "detail", json_object_new_string(detail));
        json_object_object_add(o, "hint", hint ? json_object_new_string(hint) : NULL);
        json_object_array_add(c->checks, o);
        return;
    }
    printf("%-54s : %s\n", title, result_names[r]);
    printf("    %s\n", detail);
    if (hint && r != PASS)
        printf("    hint: %s\n", hint);
}

static const char *path(struct ctx *c, const char *p, char *buf)
{
    return vk_host_path(c->root, p, buf, 4096);
}

static bool exists(struct ctx *c, const char *p)
{
    char buf[4096];
    struct stat st;
    return stat(path(c, p, buf), &st) == 0;
}

static void check_cpu(struct ctx *c)
{
    char buf[4096];
    path(c, "/proc/cpuinfo", buf);
    if (vk_host_file_has_word(buf, "vmx"))
        report(c, "cpu-virt", "Checking for hardware virtualization (vmx/svm)", PASS, false,
               "the CPU has Intel VT-x (vmx)", NULL);
    else if (vk_host_file_has_word(buf, "svm"))
        report(c, "cpu-virt", "Checking for hardware virtualization (vmx/svm)", PASS, false,
               "the CPU has AMD-V (svm)", NULL);
    else
        report(c, "cpu-virt", "Checking for hardware virtualization (vmx/svm)", WARN, false,
               vk_host_file_has_word(buf, "hypervisor")
                   ? "no vmx/svm flag: this host is itself a VM without nested virtualization exposed"
                   : "no vmx/svm flag in /proc/cpuinfo",
               "enable VT-x/AMD-V in the firmware (or nested virtualization on the outer host); "
               "without it VMs run on the software CPU");
}

/* Fake roots cannot ioctl a regular file: such a /dev/kvm holds the API
 * version the fake host would answer ("12"), so tests can cover both cases. */
static int kvm_api_version(struct ctx *c, int fd, bool fake)
{
    if (!fake)
        return ioctl(fd, KVM_GET_API_VERSION, 0);
    char v[16] = "";
    ssize_t n = read(fd, v, sizeof(v) - 1);
    return n > 0 ? atoi(v) : -1;
}

static void check_kvm(struct ctx *c)
{
    char buf[4096];
    const char *dev = path(c, "/dev/kvm", buf);
    struct stat st;
    const char *title_dev = "Checking if device /dev/kvm exists";
    if (stat(dev, &st) != 0) {
        report(c, "kvm-device", title_dev, WARN, false,
               "/dev/kvm is missing: VMs will run on the software CPU (slower)",
               "load the module: modprobe kvm_intel (or kvm_amd)");
        return;
    }
    report(c, "kvm-device", title_dev, PASS, false, "/dev/kvm exists", NULL);

    bool fake = !S_ISCHR(st.st_mode);
    int fd = open(dev, (fake ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    const char *title_acc = "Checking if device /dev/kvm is accessible";
    if (fd < 0) {
        char hint[256];
        snprintf(hint, sizeof(hint), "add yourself to group kvm: usermod -aG kvm %s (then log in again)",
                 c->user);
        report(c, "kvm-access", title_acc, WARN, false,
               errno == EACCES ? "permission denied opening /dev/kvm: VMs will use the software CPU"
                               : "cannot open /dev/kvm: VMs will use the software CPU",
               hint);
        return;
    }
    report(c, "kvm-access", title_acc, PASS, false, "/dev/kvm can be opened read-write", NULL);

    int api = kvm_api_version(c, fd, fake);
    const char *title_api = "Checking KVM API version (12) and VM creation";
    if (api != KVM_API_VERSION) {
        char d[128];
        snprintf(d, sizeof(d), "KVM reports API version %d, virtkit needs %d", api, KVM_API_VERSION);
        report(c, "kvm-api", title_api, WARN, false, d, "update the host kernel");
        close(fd);
        return;
    }
    int vm = fake ? 0 : ioctl(fd, KVM_CREATE_VM, 0);
    if (vm < 0) {
        char d[160];
        snprintf(d, sizeof(d), "API version 12, but creating a VM failed: %s", strerror(errno));
        report(c, "kvm-api", title_api, WARN, false, d,
               "check dmesg; another hypervisor may own VT-x/AMD-V");
        close(fd);
        return;
    }
    if (!fake)
        close(vm);
    close(fd);
    report(c, "kvm-api", title_api, PASS, false, "API version 12, a test VM was created", NULL);
    c->kvm_usable = true;

    const char *mod = vk_host_kvm_module(c->root);
    const char *title_fl = "Checking the KVM flavour";
    if (c->kvm == VK_KVM_PVM)
        report(c, "kvm-flavour", title_fl, WARN, false,
               "PVM-based KVM (module kvm_pvm): only PVM-enabled guest kernels run accelerated; "
               "stock guests will use the software CPU (--accel auto picks it)",
               "for stock guests at full speed use a host with VT-x/AMD-V and kvm_intel/kvm_amd");
    else {
        char d[160];
        snprintf(d, sizeof(d), "hardware-assisted KVM (%s): stock guests run accelerated",
                 mod ? mod : "kvm built into the kernel");
        report(c, "kvm-flavour", title_fl, PASS, false, d, NULL);
    }
}

static void check_nested(struct ctx *c)
{
    static const char *const files[] = { "/sys/module/kvm_intel/parameters/nested",
                                         "/sys/module/kvm_amd/parameters/nested" };
    const char *title = "Checking for nested virtualization";
    for (unsigned i = 0; i < 2; i++) {
        char buf[4096], v[8] = "";
        FILE *f = fopen(path(c, files[i], buf), "re");
        if (!f)
            continue;
        if (!fgets(v, sizeof(v), f))
            v[0] = '\0';
        fclose(f);
        if (v[0] == 'Y' || v[0] == '1')
            report(c, "nested", title, PASS, false, "nested virtualization is enabled", NULL);
        else
            report(c, "nested", title, WARN, false, "nested virtualization is disabled",
                   i == 0 ? "echo 'options kvm_intel nested=1' > /etc/modprobe.d/kvm.conf and reload kvm_intel"
                          : "echo 'options kvm_amd nested=1' > /etc/modprobe.d/kvm.conf and reload kvm_amd");
        return;
    }
    report(c, "nested", title, WARN, false,
           "no kvm_intel/kvm_amd module: guests cannot run their own hypervisors accelerated",
           "needs a VT-x/AMD-V host with kvm_intel or kvm_amd");
}

static void check_simple(struct ctx *c, const char *id, const char *title, bool ok,
                         const char *pass, const char *warn, const char *hint)
{
    report(c, id, title, ok ? PASS : WARN, false, ok ? pass : warn, hint);
}

static bool in_group(struct ctx *c, const char *group)
{
    char buf[4096];
    FILE *f = fopen(path(c, "/etc/group", buf), "re");
    if (!f)
        return false;
    char line[4096];
    bool member = false;
    size_t gl = strlen(group);
    while (!member && fgets(line, sizeof(line), f)) {
        if (strncmp(line, group, gl) || line[gl] != ':')
            continue;
        char *members = strrchr(line, ':');
        if (!members)
            break;
        members++;
        members[strcspn(members, "\n")] = '\0';
        for (char *save, *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
            if (!strcmp(m, c->user))
                member = true;
    }
    fclose(f);
    return member;
}

static void check_group(struct ctx *c, const char *group, const char *why)
{
    char title[128], detail[256], hint[128];
    snprintf(title, sizeof(title), "Checking if %s is in group %s", c->user, group);
    snprintf(hint, sizeof(hint), "usermod -aG %s %s (then log in again)", group, c->user);
    if (!strcmp(c->user, "root")) {
        snprintf(detail, sizeof(detail), "root needs no group for %s", why);
        report(c, group, title, PASS, false, detail, NULL);
    } else if (in_group(c, group)) {
        snprintf(detail, sizeof(detail), "%s is in group %s (%s)", c->user, group, why);
        report(c, group, title, PASS, false, detail, NULL);
    } else {
        snprintf(detail, sizeof(detail), "%s is not in group %s, needed for %s", c->user, group, why);
        report(c, group, title, WARN, false, detail, hint);
    }
}

/* Permission bits `want` (4=r, 1=x) for uid/gid on a file, honouring a POSIX
 * ACL (system.posix_acl_access xattr, version 2) when one is set. */
static bool may_access(const char *file, uid_t uid, gid_t gid, unsigned want)
{
    struct stat st;
    if (stat(file, &st) != 0)
        return false;
    if (uid == 0)
        return true;
    unsigned char acl[1024];
    ssize_t n = getxattr(file, "system.posix_acl_access", acl, sizeof(acl));
    if (n >= 4 && acl[0] == 2) {
        unsigned mask = 7, user_perm = 8, group_perm = 0, other = 0;
        bool group_match = false;
        for (ssize_t i = 4; i + 8 <= n; i += 8) {
            unsigned tag = acl[i] | acl[i + 1] << 8, perm = acl[i + 2] | acl[i + 3] << 8;
            uint32_t id = acl[i + 4] | acl[i + 5] << 8 | acl[i + 6] << 16 | (uint32_t)acl[i + 7] << 24;
            switch (tag) {
            case 0x01: if (st.st_uid == uid) user_perm = perm; break;               /* USER_OBJ */
            case 0x02: if (id == uid && user_perm == 8) user_perm = perm | 0x100; break; /* USER */
            case 0x04: if (st.st_gid == gid) { group_perm |= perm; group_match = true; } break;
            case 0x08: if (id == gid) { group_perm |= perm; group_match = true; } break;
            case 0x10: mask = perm; break;
            case 0x20: other = perm; break;
            }
        }
        if (st.st_uid == uid)
            return (user_perm & want) == want;
        if (user_perm != 8)
            return (user_perm & mask & want) == want;
        if (group_match)
            return (group_perm & mask & want) == want;
        return (other & want) == want;
    }
    unsigned mode = st.st_mode;
    unsigned perm = st.st_uid == uid ? (mode >> 6) & 7 : st.st_gid == gid ? (mode >> 3) & 7 : mode & 7;
    return (perm & want) == want;
}

static void check_images(struct ctx *c)
{
    char title[160], detail[512], hint[512], buf[4096];
    snprintf(title, sizeof(title), "Checking if %s can read the images folder", c->vm_user);
    const char *dir = path(c, c->images, buf);
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(detail, sizeof(detail), "%s does not exist yet (created on first use)", c->images);
        report(c, "images", title, PASS, false, detail, NULL);
        return;
    }
    struct passwd *pw = getpwnam(c->vm_user);
    uid_t uid = pw ? pw->pw_uid : getuid();
    gid_t gid = pw ? pw->pw_gid : getgid();
    /* every ancestor needs x, the folder itself r and x */
    char walk[4096];
    snprintf(walk, sizeof(walk), "%s", dir);
    char *blocked = NULL;
    for (char *p = walk + strlen(walk); p > walk; p--) {
        if (*p != '/' && p != walk + strlen(walk))
            continue;
        char save = *p;
        *p = '\0';
        if (*walk && !may_access(walk, uid, gid, 1)) {
            free(blocked);     /* keep the outermost: fix that one first */
            blocked = strdup(walk);
        }
        *p = save;
    }
    bool ok = !blocked && may_access(dir, uid, gid, 5);
    if (ok) {
        snprintf(detail, sizeof(detail), "%s can traverse and read %s", c->vm_user, c->images);
        report(c, "images", title, PASS, false, detail, NULL);
    } else {
        const char *bad = blocked ? blocked : dir;
        snprintf(detail, sizeof(detail), "%s cannot %s %s", c->vm_user,
                 blocked ? "traverse" : "read", bad);
        snprintf(hint, sizeof(hint), "setfacl -m u:%s:rx %s", c->vm_user, bad);
        report(c, "images", title, WARN, false, detail, hint);
    }
    free(blocked);
}

static void check_hugepages(struct ctx *c)
{
    char buf[4096], line[256];
    long total = 0;
    FILE *f = fopen(path(c, "/proc/meminfo", buf), "re");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "HugePages_Total: %ld", &total) == 1)
            break;
    if (f)
        fclose(f);
    char d[128];
    snprintf(d, sizeof(d), "%ld hugepages reserved", total);
    report(c, "hugepages", "Checking for hugepages", total > 0 ? PASS : WARN, false,
           total > 0 ? d : "no hugepages reserved: --hugepages is unavailable (optional)",
           "sysctl vm.nr_hugepages=N to reserve N 2 MiB pages");
}

/* The emulator is $VIRTKIT_VM if set, else virtkit-vm beside this binary
 * (installed layout) or in ../vm/ (build tree layout). */
static void check_emulator(struct ctx *c)
{
    char self[4096], vm[4200] = "";
    const char *env = getenv("VIRTKIT_VM");
    bool ok;
    if (env && *env) {
        snprintf(vm, sizeof(vm), "%s", env);
        ok = access(vm, X_OK) == 0;
    } else {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        self[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(vm, sizeof(vm), "%s/virtkit-vm", self);
        ok = access(vm, X_OK) == 0;
        if (!ok) {
            snprintf(vm, sizeof(vm), "%s/../vm/virtkit-vm", self);
            ok = access(vm, X_OK) == 0;
        }
    }
    char detail[4300];
    snprintf(detail, sizeof(detail), ok ? "found %s" : "virtkit-vm not found (looked for %s)", vm);
    report(c, "emulator", "Checking for the machine emulator virtkit-vm", ok ? PASS : FAIL, true,
           detail, "build it (make) or set VIRTKIT_VM to its path");
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { "root", required_argument, NULL, 'r' },
        { "user", required_argument, NULL, 'u' },
        { "vm-user", required_argument, NULL, 'v' },
        { "images", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    struct ctx c = { .images = "/var/lib/virtkit/images" };
    struct passwd *pw = getpwuid(getuid());
    c.user = pw ? pw->pw_name : "root";
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+hj", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j': c.json = true; break;
        case 'r': c.root = optarg; break;
        case 'u': c.user = optarg; break;
        case 'v': c.vm_user = optarg; break;
        case 'i': c.images = optarg; break;
        case 'h': cli_print_help(&cmd_host_validate, stdout); return CLI_OK;
        default: return cli_usage_error(&cmd_host_validate, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cmd_host_validate, "unexpected argument '%s'", argv[optind]);
    if (!c.vm_user)
        c.vm_user = c.user;
    c.checks = json_object_new_array();
    c.kvm = vk_host_kvm_flavour(c.root);

    check_emulator(&c);
    check_cpu(&c);
    check_kvm(&c);
    check_nested(&c);
    check_simple(&c, "tun", "Checking if device /dev/net/tun exists", exists(&c, "/dev/net/tun"),
                 "TAP networking is available", "/dev/net/tun is missing: VMs cannot use TAP networks",
                 "modprobe tun");
    check_simple(&c, "bridge", "Checking for bridge support", exists(&c, "/sys/module/bridge") ||
                     exists(&c, "/sys/class/net/bridge") || exists(&c, "/proc/sys/net/bridge"),
                 "the bridge module is loaded", "bridge support is not loaded", "modprobe bridge");
    check_simple(&c, "netfilter", "Checking for netfilter (nf_tables) support",
                 exists(&c, "/sys/module/nf_tables") || exists(&c, "/proc/net/nf_conntrack") ||
                     exists(&c, "/proc/sys/net/netfilter"),
                 "nf_tables is available for NAT networks",
                 "nf_tables is not loaded: NAT networks need it", "modprobe nf_tables");
    check_simple(&c, "vhost-net", "Checking if device /dev/vhost-net exists",
                 exists(&c, "/dev/vhost-net"), "vhost-net can accelerate virtio-net",
                 "/dev/vhost-net is missing: virtio-net is served in user space (slower)",
                 "modprobe vhost_net");
    check_group(&c, "kvm", "/dev/kvm");
    check_group(&c, "virtkit", "the system daemon's read-write socket");
    check_images(&c);
    check_simple(&c, "cgroups", "Checking for cgroups v2", exists(&c, "/sys/fs/cgroup/cgroup.controllers"),
                 "the unified cgroup v2 hierarchy is mounted",
                 "cgroups v2 is not mounted: per-VM resource limits are unavailable",
                 "boot with systemd.unified_cgroup_hierarchy=1 or mount -t cgroup2 none /sys/fs/cgroup");
    check_hugepages(&c);

    bool accelerated = c.kvm_usable && c.kvm == VK_KVM_HW;
    const char *accel = accelerated ? "kvm" : "tcg";
    const char *summary = c.fatal ? "VMs cannot run on this host"
                        : accelerated ? "VMs will run with KVM acceleration"
                        : c.kvm == VK_KVM_PVM && c.kvm_usable
                            ? "VMs will run on the software CPU (slower): this KVM is PVM-based and runs only PVM-enabled guest kernels"
                            : "VMs will run on the software CPU (slower): KVM is not usable here";
    if (c.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "checks", c.checks);
        json_object_object_add(o, "can_run", json_object_new_boolean(!c.fatal));
        json_object_object_add(o, "accelerator", json_object_new_string(accel));
        json_object_object_add(o, "kvm_flavour", json_object_new_string(
            c.kvm == VK_KVM_PVM ? "pvm" : c.kvm == VK_KVM_HW ? "hardware" : "none"));
        json_object_object_add(o, "summary", json_object_new_string(summary));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else {
        json_object_put(c.checks);
        printf("\n%s\n", summary);
    }
    return c.fatal ? CLI_FAIL : CLI_OK;
}
