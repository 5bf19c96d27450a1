/* virtkit install helpers: sub-option parsing (--disk, --network, --boot),
 * the OS table, and the two domain definitions, which the daemon's own
 * strict parser must accept. */
#include <stdlib.h>
#include <string.h>

#include "domain_xml.h"
#include "install/install.h"
#include "tap.h"

static void test_subopts(void)
{
    struct subopts o;
    struct vk_err err = { 0 };
    tap_is_int(subopts_parse("/a/b.qcow2,size=10,readonly", "path", &o, &err), 0, "subopts parse");
    tap_is_str(subopts_get(&o, "path"), "/a/b.qcow2", "bare first word = implied key");
    tap_is_str(subopts_get(&o, "size"), "10", "key=value");
    tap_is_str(subopts_get(&o, "readonly"), "", "bare flag");
    tap_ok(subopts_get(&o, "nope") == NULL, "absent key");
    subopts_free(&o);
    tap_is_int(subopts_parse("kernel_args=\"console=ttyS0,115200 quiet\",kernel=/k", NULL, &o, &err), 0,
               "quoted value");
    tap_is_str(subopts_get(&o, "kernel_args"), "console=ttyS0,115200 quiet", "commas kept inside quotes");
    tap_is_str(subopts_get(&o, "kernel"), "/k", "after the quoted value");
    subopts_free(&o);
    tap_ok(subopts_parse("a='x", NULL, &o, &err) < 0 && strstr(err.msg, "unbalanced quote"),
           "unbalanced quote refused: %s", err.msg);
}

static void test_disk(void)
{
    struct inst_disk d;
    struct vk_err err = { 0 };
    tap_is_int(inst_parse_disk("path=/v/deb12.qcow2,bus=virtio,size=10", &d, &err), 0, "journey --disk");
    tap_is_str(d.path, "/v/deb12.qcow2", "path");
    tap_ok(d.size == 10ull << 30, "size=10 is 10 GiB");
    free(d.path);
    tap_is_int(inst_parse_disk("size=0.5,format=raw", &d, &err), 0, "decimal size");
    tap_ok(d.size == 512ull << 20 && !strcmp(d.format, "raw") && !d.path, "0.5 GiB raw, no path");
    tap_is_int(inst_parse_disk("/x.iso,device=cdrom", &d, &err), 0, "cdrom");
    tap_ok(d.cdrom && d.readonly, "a cdrom is read-only");
    free(d.path);
    const char *bad[][2] = {
        { "path=/x,size=ten", "size='ten'" }, { "path=/x,size=0", "size='0'" },
        { "path=/x,size=-2", "size='-2'" }, { "path=/x,size=1e9", "size='1e9'" },
        { "path=/x,bus=ide", "bus='ide'" }, { "path=/x,device=floppy", "device='floppy'" },
        { "path=/x,colour=red", "unknown option 'colour'" }, { "path=/x,format=../q", "format='../q'" },
        { "path=/x,readonly=maybe", "readonly='maybe'" }, { "path=/x,target=sda", "target='sda'" },
    };
    for (size_t i = 0; i < VK_ARRAY_SIZE(bad); i++) {
        memset(&err, 0, sizeof(err));
        int r = inst_parse_disk(bad[i][0], &d, &err);
        tap_ok(r < 0 && strstr(err.msg, bad[i][1]), "--disk %s: %s", bad[i][0], err.msg);
    }
}

static void test_network_boot(void)
{
    struct inst_nic n;
    struct vk_err err = { 0 };
    tap_is_int(inst_parse_network("network:mynet", &n, &err), 0, "network:NAME");
    tap_ok(!strcmp(n.type, "network") && !strcmp(n.source, "mynet"), "type network, source mynet");
    tap_is_int(inst_parse_network("bridge=br0,model=virtio,mac=52:54:00:11:22:33", &n, &err), 0, "bridge=");
    tap_ok(!strcmp(n.type, "bridge") && !strcmp(n.mac, "52:54:00:11:22:33"), "bridge with a MAC");
    tap_is_int(inst_parse_network("none", &n, &err), 1, "none");
    tap_ok(inst_parse_network("network=n,model=e1000", &n, &err) < 0 && strstr(err.msg, "e1000"),
           "model e1000 refused");
    tap_ok(inst_parse_network("network=n,mac=01:00:00:00:00:01", &n, &err) < 0, "multicast MAC refused");
    tap_ok(inst_parse_network("user", &n, &err) < 0, "user networking refused");

    struct inst_boot b = { 0 };
    tap_is_int(inst_parse_boot("kernel=/k,initrd=/i,kernel_args='a=1,b=2'", &b, &err), 0, "--boot kernel");
    tap_ok(!strcmp(b.kernel, "/k") && !strcmp(b.initrd, "/i") && !strcmp(b.cmdline, "a=1,b=2"), "kernel, initrd, args");
    free(b.kernel);
    free(b.initrd);
    free(b.cmdline);
    memset(&b, 0, sizeof(b));
    tap_ok(inst_parse_boot("initrd=/i", &b, &err) < 0 && strstr(err.msg, "need kernel="), "initrd needs kernel");
    free(b.initrd);
    memset(&b, 0, sizeof(b));
    tap_ok(inst_parse_boot("uefi", &b, &err) < 0, "uefi refused");
    tap_ok(inst_parse_boot("kernel=rel/k", &b, &err) < 0, "relative kernel path refused");
    tap_is_int(inst_parse_graphics("none", &err), 0, "--graphics none");
    tap_ok(inst_parse_graphics("spice", &err) < 0, "--graphics spice refused");
    tap_is_int(inst_parse_console("pty,target_type=serial", &err), 0, "--console pty,target_type=serial");
    tap_ok(inst_parse_console("pty,target_type=virtio", &err) < 0, "virtio console refused");
}

static void test_osinfo(void)
{
    const struct osinfo *o = osinfo_find("debian12");
    tap_ok(o && !strcmp(o->id, "http://debian.org/debian/12"), "debian12");
    tap_ok(osinfo_find("http://debian.org/debian/12") == o, "by libosinfo id");
    tap_ok(osinfo_find("name=debian12") == o && osinfo_find("debian") == o, "name= and alias");
    tap_ok(osinfo_find("win11") == NULL, "unknown");
    int n = 0;
    for (const struct osinfo *x = osinfo_table; x->name; x++, n++)
        tap_ok(x->ram_mib >= 256 && x->vcpus >= 1 && x->disk_gib >= 1 && osinfo_find(x->name) == x,
               "%s: defaults and lookup", x->name);
    tap_ok(n >= 10, "%d variants", n);
}

static struct dom_def *parse(const char *xml)
{
    struct dom_def *def = NULL;
    struct vk_err err = { 0 };
    int r = dom_def_parse(xml, strlen(xml), &def, &err);
    tap_ok(r == 0, "the daemon accepts the XML%s%s", r ? ": " : "", r ? err.msg : "");
    return def;
}

static void test_xml(void)
{
    struct inst in;
    memset(&in, 0, sizeof(in));
    in.name = "deb<12>&'\"";
    in.description = "Test VM & more";
    in.memory_mib = 1024;
    in.vcpus = 2;
    in.os = osinfo_find("debian12");
    in.domain_type = "qemu";
    snprintf(in.uuid, sizeof(in.uuid), "6f1f2a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
    in.n_disks = 2;
    in.disks[0].path = "/var/lib/virtkit/images/deb12.qcow2";
    snprintf(in.disks[0].format, sizeof(in.disks[0].format), "qcow2");
    snprintf(in.disks[0].target, sizeof(in.disks[0].target), "vda");
    in.disks[1].path = "/isos/debian-12.iso";
    snprintf(in.disks[1].format, sizeof(in.disks[1].format), "raw");
    snprintf(in.disks[1].target, sizeof(in.disks[1].target), "vdb");
    in.disks[1].cdrom = in.disks[1].readonly = in.disks[1].install_only = true;
    in.n_nics = 1;
    snprintf(in.nics[0].type, sizeof(in.nics[0].type), "network");
    snprintf(in.nics[0].source, sizeof(in.nics[0].source), "mynet");
    snprintf(in.nics[0].mac, sizeof(in.nics[0].mac), "52:54:00:12:34:56");
    in.inst_kernel = "/var/lib/virtkit/boot/k";
    in.inst_initrd = "/var/lib/virtkit/boot/i";
    in.extra_args = "console=ttyS0,115200n8 serial <&>";

    char *x1 = inst_domain_xml(&in, true), *x2 = inst_domain_xml(&in, false);
    tap_ok(x1 && x2, "both phases written");
    struct dom_def *d1 = parse(x1), *d2 = parse(x2);
    if (d1 && d2) {
        tap_is_str(d1->name, "deb<12>&'\"", "name escaped and read back");
        tap_is_str(d1->kernel, "/var/lib/virtkit/boot/k", "install phase: installer kernel");
        tap_is_str(d1->cmdline, "console=ttyS0,115200n8 serial <&>", "install phase: the extra args");
        tap_is_int(d1->n_disks, 2, "install phase: disk and cdrom");
        tap_ok(d1->disks[1].readonly, "the cdrom is read-only");
        tap_ok(d2->kernel == NULL && d2->cmdline == NULL, "final: no installer kernel");
        tap_is_int(d2->n_disks, 1, "final: the disk only");
        tap_is_int(d2->n_ifaces, 1, "final: the interface");
        tap_is_str(d2->ifaces[0].mac, "52:54:00:12:34:56", "the MAC kept");
        tap_ok(!memcmp(d1->uuid, d2->uuid, sizeof(d1->uuid)), "one UUID for both phases");
    }
    dom_def_free(d1);
    dom_def_free(d2);
    free(x1);
    free(x2);

    char mac[18], uuid[37];
    inst_random_mac(mac);
    tap_ok(!strncmp(mac, "52:54:00:", 9) && strlen(mac) == 17, "random MAC %s", mac);
    inst_random_uuid(uuid);
    tap_ok(strlen(uuid) == 36 && uuid[14] == '4', "random v4 UUID %s", uuid);
}

int main(void)
{
    test_subopts();
    test_disk();
    test_network_boot();
    test_osinfo();
    test_xml();
    return tap_done();
}
