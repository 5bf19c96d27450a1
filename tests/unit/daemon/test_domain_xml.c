/* Domain XML: parse, validate, canonical format, hostile input. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain_xml.h"
#include "tap.h"

static const char *base =
    "<domain type='kvm'><name>t</name><uuid>12345678-9abc-4def-8123-456789abcdef</uuid>"
    "<memory unit='GiB'>1</memory><currentMemory unit='MiB'>512</currentMemory>"
    "<vcpu placement='static'>2</vcpu>"
    "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><kernel>/boot/vmlinuz</kernel>"
    "<initrd>/boot/initrd</initrd><cmdline>console=ttyS0 a=&quot;b&quot; &amp; c</cmdline>"
    "<boot dev='hd'/></os>"
    "<features><acpi/><apic/></features><cpu mode='host-passthrough' check='none'/>"
    "<clock offset='utc'><timer name='rtc' tickpolicy='catchup'/><timer name='hpet' present='no'/></clock>"
    "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>restart</on_crash>"
    "<pm><suspend-to-mem enabled='no'/></pm>"
    "<devices><emulator>/usr/bin/virtkit-vm</emulator>"
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>"
    "<source file='/var/lib/a,b.qcow2'/><target dev='vda' bus='virtio'/><serial>S1</serial></disk>"
    "<disk type='file' device='disk'><source file='/iso/seed.img'/><target dev='vdb'/><readonly/></disk>"
    "<interface type='network'><mac address='52:54:00:AA:bb:cc'/><source network='default'/>"
    "<model type='virtio'/></interface>"
    "<interface type='bridge'><source bridge='br0'/></interface>"
    "<serial type='pty'/><console type='pty'><target type='serial' port='0'/></console>"
    "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
    "<memballoon model='virtio'/><controller type='usb' model='qemu-xhci'/><input type='tablet' bus='usb'/>"
    "</devices></domain>";

static void test_parse_base(void)
{
    struct dom_def *d = NULL;
    struct vk_err err = { 0 };
    int r = dom_def_parse(base, strlen(base), &d, &err);
    tap_is_int(r, 0, "base definition parses (%s)", err.msg);
    if (r)
        return;
    tap_is_str(d->name, "t", "name");
    tap_is_int(d->memory_kib, 1048576, "memory 1 GiB in KiB");
    tap_is_int(d->current_kib, 524288, "currentMemory 512 MiB in KiB");
    tap_is_int(d->vcpus, 2, "vcpus");
    tap_is_str(d->cmdline, "console=ttyS0 a=\"b\" & c", "cmdline entities decoded");
    tap_is_int(d->n_disks, 2, "two disks");
    tap_is_str(d->disks[0].driver_type, "qcow2", "disk format");
    tap_is_str(d->disks[1].bus, "virtio", "vd* defaults to bus virtio");
    tap_ok(d->disks[1].readonly, "readonly");
    tap_is_str(d->ifaces[0].mac, "52:54:00:aa:bb:cc", "MAC normalised to lower case");
    tap_ok(!strncmp(d->ifaces[1].mac, "52:54:00:", 9), "MAC generated with 52:54:00");
    tap_ok(d->acpi && d->apic && d->rng && d->memballoon && d->console && d->n_serials == 1,
           "features and devices");
    char *x1 = dom_def_format(d, 0);
    struct dom_def *d2 = NULL;
    r = dom_def_parse(x1, strlen(x1), &d2, &err);
    tap_is_int(r, 0, "canonical XML parses again (%s)", err.msg);
    char *x2 = d2 ? dom_def_format(d2, 0) : NULL;
    tap_is_str(x2, x1, "format(parse(format(x))) == format(x)");
    tap_ok(strstr(x1, "<cmdline>console=ttyS0 a=&quot;b&quot; &amp; c</cmdline>") != NULL,
           "text escaped on output");
    struct dom_def *c = dom_def_copy(d);
    char *x3 = c ? dom_def_format(c, 7) : NULL;
    tap_ok(x3 && strstr(x3, "<domain type='kvm' id='7'>") && strstr(x3, "<name>t</name>"),
           "copy formats the same, with id");
    free(x1);
    free(x2);
    free(x3);
    dom_def_free(c);
    dom_def_free(d2);
    dom_def_free(d);
}

struct bad { const char *xml; const char *msg; };

static void test_bad(void)
{
    static const struct bad cases[] = {
        { "", "XML does not parse" },
        { "<domain", "XML does not parse" },
        { "<!DOCTYPE d [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'>]><domain type='kvm'><name>&b;</name></domain>",
          "DTD" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>xen</type></os></domain>",
          "<os><type>: 'xen' is not supported" },
        { "<domain type='kvm'><name>x</name><name>y</name><memory>65536</memory><os><type>hvm</type></os></domain>",
          "<name> appears more than once" },
        { "<domain type='kvm'><name>x</name><memory>18446744073709551615</memory><os><type>hvm</type></os></domain>",
          "<memory>: invalid size" },
        { "<domain type='kvm'><name>x</name><memory>512</memory><os><type>hvm</type></os></domain>",
          "too small" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><vcpu>3</vcpu><cpu><topology sockets='1' cores='2' threads='1'/></cpu><os><type>hvm</type></os></domain>",
          "does not match <vcpu> 3" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type><cmdline>x</cmdline></os></domain>",
          "need a <kernel>" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><devices>"
          "<disk type='file'><source file='/a'/><target dev='vda'/></disk><disk type='file'><source file='/b'/><target dev='vda'/></disk>"
          "</devices></domain>", "target dev 'vda' is used twice" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><devices>"
          "<disk type='network'><target dev='vda'/></disk></devices></domain>", "<disk type='network'>" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><devices>"
          "<interface type='network'><mac address='01:00:5e:00:00:01'/><source network='n'/></interface></devices></domain>",
          "not a unicast MAC address" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><devices>"
          "<interface type='user'/></devices></domain>", "<interface type='user'>" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type><loader>/x</loader></os></domain>",
          "element <loader> is not supported" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><devices><serial type='tcp'/></devices></domain>",
          "<serial type='tcp'>: only types 'pty', 'file' and 'unix'" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><cputune/></domain>",
          "<cputune> is not supported by virtkit" },
        { "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type><kernel>vmlinuz</kernel></os></domain>",
          "not an absolute path" },
#define DEVS(x) "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><devices>" x "</devices></domain>"
        { DEVS("<rng model='virtio'><backend model='random'>/dev/hwrng</backend></rng>"),
          "<rng><backend model='random'>: source '/dev/hwrng' is not supported" },
        { DEVS("<rng model='virtio'><backend model='egd' type='tcp'/></rng>"),
          "<rng><backend model='egd'>: only 'random' and 'builtin'" },
        { DEVS("<rng model='virtio'/>"), "<rng>: missing <backend>" },
        { DEVS("<rng model='e1000'><backend model='builtin'/></rng>"), "<rng model='e1000'>: unsupported value" },
        { DEVS("<memballoon model='xen'/>"), "<memballoon model='xen'>: unsupported value" },
        { DEVS("<memballoon/>"), "<memballoon>: missing attribute 'model'" },
        { DEVS("<serial type='file'><target port='0'/></serial>"),
          "<serial type='file'><source path=''>: want an absolute path" },
        { DEVS("<serial type='file'><source path='log'/></serial>"),
          "<serial type='file'><source path='log'>: want an absolute path" },
        { DEVS("<serial type='file'><source path='/l' append='on'/></serial>"),
          "<serial type='file'><source append='on'>: only 'off'" },
        { DEVS("<serial type='unix'><source mode='connect' path='/s'/></serial>"),
          "<serial type='unix'><source mode='connect'>: only mode 'bind'" },
        { DEVS("<serial type='unix'><source path='/s'/></serial>"),
          "<serial type='unix'><source mode=''>: only mode 'bind'" },
        { DEVS("<serial type='unix'><source mode='bind' path='/a,b'/></serial>"),
          "has a ','" },
        { DEVS("<console type='tcp'><target type='serial'/></console>"),
          "<console type='tcp'>: only types" },
        { DEVS("<serial type='file'><source path='/a'/><target port='1'/></serial>"),
          "<serial><target port='1'>: ports must be numbered in order from 0 (next is 0)" },
        { DEVS("<serial type='file'><source path='/a'/><target port='7'/></serial>"),
          "<serial><target port='7'>: want 0-3" },
        { DEVS("<serial type='pty'/><serial type='pty'/>"),
          "<serial type='pty'> on port 1: only port 0 can be a pty" },
        { DEVS("<serial type='file'><source path='/a'/></serial><serial type='unix'><source mode='bind' path='/a'/></serial>"),
          "<serial><source path='/a'>: already used by port 0" },
        { DEVS("<serial type='pty'/><serial type='file'><source path='/1'/></serial>"
               "<serial type='file'><source path='/2'/></serial><serial type='file'><source path='/3'/></serial>"
               "<serial type='file'><source path='/4'/></serial>"),
          "at most 4 serial ports" },
        { DEVS("<serial type='pty'><log file='/var/log/s.log'/></serial>"), "<serial><log>: not supported" },
        { DEVS("<serial type='pty'><target type='usb-serial'/></serial>"),
          "<serial><target type='usb-serial'>: only 'isa-serial'" },
        { DEVS("<console type='pty'><target type='virtio'/></console>"),
          "<console><target type='virtio'>: only 'serial'" },
#undef DEVS
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dom_def *d = NULL;
        struct vk_err err = { 0 };
        int r = dom_def_parse(cases[i].xml, strlen(cases[i].xml), &d, &err);
        tap_ok(r < 0 && !d && strstr(err.msg, cases[i].msg), "refused: %s", cases[i].msg);
        if (r == 0 || !strstr(err.msg, cases[i].msg))
            printf("#   got: %s\n", r == 0 ? "(accepted)" : err.msg);
        dom_def_free(d);
    }
}

static void test_hostile(void)
{
    /* deep nesting and a big document: errors, no crash */
    size_t depth = 100000;
    char *deep = malloc(depth * 3 + 64);
    strcpy(deep, "<domain type='kvm'>");
    size_t n = strlen(deep);
    for (size_t i = 0; i < depth; i++)
        memcpy(deep + n + i * 3, "<a>", 3);
    deep[n + depth * 3] = 0;
    struct dom_def *d = NULL;
    struct vk_err err = { 0 };
    tap_ok(dom_def_parse(deep, strlen(deep), &d, &err) < 0 && !d, "deep nesting refused (%s)", err.msg);
    free(deep);
    char *big = malloc(DOM_XML_MAX + 2);
    memset(big, ' ', DOM_XML_MAX + 1);
    big[DOM_XML_MAX + 1] = 0;
    tap_ok(dom_def_parse(big, DOM_XML_MAX + 1, &d, &err) == -E2BIG, "oversized XML refused");
    free(big);
    /* many disks: bounded */
    char *many = malloc(1 << 20), *p = many;
    p += sprintf(p, "<domain type='kvm'><name>x</name><memory>65536</memory><os><type>hvm</type></os><devices>");
    for (int i = 0; i < DOM_MAX_DISKS + 1; i++)
        p += sprintf(p, "<disk type='file'><source file='/d%d'/><target dev='vd%c%c'/></disk>", i,
                     'a' + i / 26, 'a' + i % 26);
    sprintf(p, "</devices></domain>");
    tap_ok(dom_def_parse(many, strlen(many), &d, &err) < 0 && strstr(err.msg, "more than"),
           "too many disks refused (%s)", err.msg);
    free(many);
}

static void test_helpers(void)
{
    uint64_t k;
    tap_ok(dom_parse_memory("1", "GiB", &k) == 0 && k == 1048576, "1 GiB");
    tap_ok(dom_parse_memory("1000", "KB", &k) == 0 && k == 977, "1000 KB rounds up to 977 KiB");
    tap_ok(dom_parse_memory("5", "bytes", &k) == 0 && k == 1, "5 bytes -> 1 KiB");
    tap_ok(dom_parse_memory("1", "furlongs", &k) < 0, "unknown unit");
    tap_ok(dom_parse_memory("-1", NULL, &k) < 0, "negative");
    unsigned char u[16];
    char s[37];
    tap_ok(dom_uuid_parse("123456789abcdef0123456789abcdef0", u) == 0, "uuid without dashes");
    dom_uuid_format(u, s);
    tap_is_str(s, "12345678-9abc-def0-1234-56789abcdef0", "uuid formatted");
    tap_ok(dom_uuid_parse("12345678-9abc-def0-1234-56789abcdef", u) < 0, "short uuid");
    dom_uuid_generate(u);
    tap_ok((u[6] >> 4) == 4 && (u[8] & 0xc0) == 0x80, "generated uuid is v4");
    char mac[18];
    tap_ok(dom_mac_parse("52:54:00:12:34:5", mac) < 0, "short MAC");
    tap_ok(dom_name_check("ok-name_1.2", NULL) == 0 && dom_name_check("", NULL) < 0 &&
           dom_name_check(".hidden", NULL) < 0, "names");
}

/* rng and memballoon: the model each XML form maps to, and dumpxml's
 * output defines the same thing again. */
static void test_rng_balloon(void)
{
    static const struct {
        const char *devs, *want;
        bool rng, balloon, none;
    } cases[] = {
        { "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>",
          "<backend model='random'>/dev/urandom</backend>", true, false, false },
        { "<rng model='virtio'><backend model='random'>/dev/random</backend><rate bytes='1024'/></rng>",
          "<backend model='random'>/dev/random</backend>", true, false, false },
        { "<rng model='virtio'><backend model='random'/></rng>",
          "<backend model='random'>/dev/urandom</backend>", true, false, false },
        { "<rng model='virtio'><backend model='builtin'/></rng>", "<backend model='builtin'/>", true, false, false },
        { "<memballoon model='virtio'><stats period='10'/></memballoon>", "<memballoon model='virtio'/>", false, true, false },
        { "<memballoon model='none'/>", "<memballoon model='none'/>", false, false, true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char xml[1024];
        snprintf(xml, sizeof(xml), "<domain type='kvm'><name>x</name><memory>65536</memory>"
                 "<os><type>hvm</type></os><devices>%s</devices></domain>", cases[i].devs);
        struct dom_def *d = NULL, *d2 = NULL;
        struct vk_err err = { 0 };
        int r = dom_def_parse(xml, strlen(xml), &d, &err);
        tap_is_int(r, 0, "case %zu parses (%s)", i, err.msg);
        if (r)
            continue;
        tap_ok(d->rng == cases[i].rng && d->memballoon == cases[i].balloon &&
               d->memballoon_none == cases[i].none, "case %zu: device flags", i);
        char *out = dom_def_format(d, 0);
        tap_ok(out && strstr(out, cases[i].want), "case %zu: dumpxml has %s", i, cases[i].want);
        r = out ? dom_def_parse(out, strlen(out), &d2, &err) : -1;
        char *out2 = r == 0 ? dom_def_format(d2, 0) : NULL;
        tap_ok(out2 && !strcmp(out, out2), "case %zu: dumpxml round-trips", i);
        free(out);
        free(out2);
        dom_def_free(d);
        dom_def_free(d2);
    }
}

/* <serial>/<console> host sides: what parses, what dumpxml writes, and
 * that the output parses back to the same text. */
static void test_serial_backends(void)
{
    static const struct {
        const char *devs;
        enum dom_chr_type type;
        const char *path, *want;
    } cases[] = {
        { "<serial type='pty'><target port='0'/></serial>", DOM_CHR_PTY, NULL,
          "<serial type='pty'>\n      <target port='0'/>" },
        { "<serial type='file'><source path='/var/log/x&apos;s.log'/><target port='0'/></serial>"
          "<console type='file'><source path='/var/log/x&apos;s.log'/><target type='serial' port='0'/></console>",
          DOM_CHR_FILE, "/var/log/x's.log",
          "<serial type='file'>\n      <source path='/var/log/x&apos;s.log'/>\n      <target port='0'/>\n"
          "    </serial>\n    <console type='file'>\n      <source path='/var/log/x&apos;s.log'/>\n"
          "      <target type='serial' port='0'/>" },
        { "<serial type='file'><source path='/l' append='off'/></serial>", DOM_CHR_FILE, "/l",
          "<source path='/l'/>" },
        { "<serial type='unix'><source mode='bind' path='/run/vm/com1.sock'/><target port='0'/></serial>",
          DOM_CHR_UNIX, "/run/vm/com1.sock",
          "<serial type='unix'>\n      <source mode='bind' path='/run/vm/com1.sock'/>" },
        /* a console alone gives the port its host side; with a <serial>
         * (either order) the serial's wins, and dumpxml mirrors it */
        { "<console type='unix'><source mode='bind' path='/c.sock'/><target type='serial'/></console>",
          DOM_CHR_UNIX, "/c.sock", "<console type='unix'>\n      <source mode='bind' path='/c.sock'/>" },
        { "<console type='pty'/><serial type='file'><source path='/f'/></serial>", DOM_CHR_FILE, "/f",
          "<console type='file'>\n      <source path='/f'/>" },
        /* COM1-COM4: ports in order, explicit or implied */
        { "<serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/></target>"
          "<alias name='serial0'/></serial>"
          "<serial type='unix'><source mode='bind' path='/s1'/><target port='1'/></serial>"
          "<serial type='file'><source path='/s2'/></serial>"
          "<serial type='file'><source path='/s3'/><target port='3'/></serial>"
          "<console type='pty'><target type='serial' port='0'/></console>", DOM_CHR_PTY, NULL,
          "<serial type='pty'>\n      <target port='0'/>\n    </serial>\n"
          "    <serial type='unix'>\n      <source mode='bind' path='/s1'/>\n      <target port='1'/>\n"
          "    </serial>\n    <serial type='file'>\n      <source path='/s2'/>\n      <target port='2'/>\n"
          "    </serial>\n    <serial type='file'>\n      <source path='/s3'/>\n      <target port='3'/>\n"
          "    </serial>\n    <console type='pty'>\n      <target type='serial' port='0'/>" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char xml[1024];
        snprintf(xml, sizeof(xml), "<domain type='kvm'><name>x</name><memory>65536</memory>"
                 "<os><type>hvm</type></os><devices>%s</devices></domain>", cases[i].devs);
        struct dom_def *d = NULL, *d2 = NULL, *c = NULL;
        struct vk_err err = { 0 };
        int r = dom_def_parse(xml, strlen(xml), &d, &err);
        tap_is_int(r, 0, "serial case %zu parses (%s)", i, err.msg);
        if (r)
            continue;
        const struct dom_serial *p0 = &d->serials[0];
        tap_is_int(p0->type, cases[i].type, "serial case %zu: type", i);
        tap_ok(cases[i].path ? p0->path && !strcmp(p0->path, cases[i].path) : !p0->path,
               "serial case %zu: path %s", i, p0->path ? p0->path : "(none)");
        char *out = dom_def_format(d, 0);
        tap_ok(out && strstr(out, cases[i].want), "serial case %zu: dumpxml has the device", i);
        if (out && !strstr(out, cases[i].want))
            printf("#   got:\n%s\n", out);
        r = out ? dom_def_parse(out, strlen(out), &d2, &err) : -1;
        char *out2 = r == 0 ? dom_def_format(d2, 0) : NULL;
        tap_ok(out2 && !strcmp(out, out2), "serial case %zu: dumpxml round-trips", i);
        c = dom_def_copy(d);
        char *out3 = c ? dom_def_format(c, 0) : NULL;
        tap_ok(out3 && out && !strcmp(out, out3), "serial case %zu: a copy formats the same", i);
        free(out);
        free(out2);
        free(out3);
        dom_def_free(d);
        dom_def_free(d2);
        dom_def_free(c);
    }
}

static void test_samples(void)
{
    DIR *dp = opendir(SAMPLES_DIR);
    if (!dp) {
        tap_ok(0, "samples dir %s", SAMPLES_DIR);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!strstr(e->d_name, ".xml"))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", SAMPLES_DIR, e->d_name);
        char *xml = NULL;
        size_t len;
        struct dom_def *d = NULL;
        struct vk_err err = { 0 };
        int r = vk_read_file(path, &xml, &len, &err);
        if (r == 0)
            r = dom_def_parse(xml, len, &d, &err);
        tap_is_int(r, 0, "libvirt sample %s accepted (%s)", e->d_name, err.msg);
        dom_def_free(d);
        free(xml);
    }
    closedir(dp);
}

int main(void)
{
    test_parse_base();
    test_bad();
    test_hostile();
    test_helpers();
    test_rng_balloon();
    test_serial_backends();
    test_samples();
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
