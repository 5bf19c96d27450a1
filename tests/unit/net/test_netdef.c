/* Network XML: parse, validate (errors name the element), format round trip,
 * DHCP host edits. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "netdef.h"
#include "network.h"
#include "tap.h"

static const char example[] =
    "<network>\n"
    "  <name>default</name>\n"
    "  <uuid>3e3fce45-4f53-4fa7-bb32-11f34168b82b</uuid>\n"
    "  <forward mode='nat'>\n"
    "    <nat>\n"
    "      <port start='1024' end='65535'/>\n"
    "    </nat>\n"
    "  </forward>\n"
    "  <bridge name='virbr0' stp='on' delay='0'/>\n"
    "  <mac address='52:54:00:0a:cd:21'/>\n"
    "  <domain name='example'/>\n"
    "  <dns>\n"
    "    <host ip='192.168.120.5'>\n"
    "      <hostname>files</hostname>\n"
    "    </host>\n"
    "  </dns>\n"
    "  <ip address='192.168.120.1' netmask='255.255.255.0'>\n"
    "    <dhcp>\n"
    "      <range start='192.168.120.100' end='192.168.120.200'/>\n"
    "      <host mac='52:54:00:11:22:33' name='vm1' ip='192.168.120.10'/>\n"
    "    </dhcp>\n"
    "  </ip>\n"
    "  <ip family='ipv6' address='fd00:120::1' prefix='64'/>\n"
    "</network>\n";

static int parse(const char *x, struct net_def **d, struct vk_err *e)
{
    memset(e, 0, sizeof(*e));
    return net_def_parse(x, strlen(x), d, e);
}

/* Build the example with one substring replaced. */
static char *variant(const char *from, const char *to)
{
    const char *p = strstr(example, from);
    if (!p)
        return NULL;
    size_t n = strlen(example) - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(p - example), example, to, p + strlen(from));
    return s;
}

static void bad(const char *from, const char *to, const char *want_in_msg)
{
    char *x = variant(from, to);
    struct net_def *d = NULL;
    struct vk_err e;
    int r = x ? parse(x, &d, &e) : 0;
    bool hit = r == -EINVAL && strstr(e.msg, want_in_msg) != NULL;
    for (char *p = e.msg; *p; p++)      /* keep the TAP line one line */
        if (*p == '\n')
            *p = ' ';
    tap_ok(hit, "rejects %s -> %s: '%s'", from, to, e.msg);
    net_def_free(d);
    free(x);
}

int main(void)
{
    struct net_def *d = NULL;
    struct vk_err e;
    tap_is_int(parse(example, &d, &e), 0, "example parses (%s)", e.msg);
    if (!d)
        return tap_done();
    tap_is_str(d->name, "default", "name");
    tap_is_int(d->forward, NET_FWD_NAT, "forward nat");
    tap_is_int(d->nat_port_start, 1024, "nat port start");
    tap_is_int(d->nat_port_end, 65535, "nat port end");
    tap_is_str(d->bridge, "virbr0", "bridge name");
    tap_ok(d->stp && d->delay == 0, "stp on, delay 0");
    tap_is_int(d->nips, 2, "two ip elements");
    tap_is_int(d->ips[0].prefix, 24, "netmask -> /24");
    tap_ok(d->ips[0].has_range, "dhcp range");
    tap_is_int(d->ips[0].nhosts, 1, "one dhcp host");
    tap_is_str(d->ips[0].hosts[0].name, "vm1", "dhcp host name");
    tap_is_int(d->ips[1].addr.family, AF_INET6, "ipv6 ip");
    tap_is_int(d->ndns_hosts, 1, "dns host");
    tap_is_str(d->domain, "example", "domain");

    char *out = net_def_format(d);
    tap_is_str(out, example, "format reproduces the canonical example");
    struct net_def *d2 = NULL;
    tap_is_int(parse(out, &d2, &e), 0, "formatted XML parses again");
    char *out2 = d2 ? net_def_format(d2) : NULL;
    tap_is_str(out2, out, "round trip is stable");
    free(out);
    free(out2);
    net_def_free(d2);

    /* DHCP host edits */
    tap_is_int(net_def_update_dhcp_host(d, NET_UPDATE_ADD,
               "<host mac='52:54:00:aa:bb:cc' name='vm2' ip='192.168.120.11'/>", &e), 0, "add host");
    tap_is_int(d->ips[0].nhosts, 2, "two hosts now");
    tap_is_int(net_def_update_dhcp_host(d, NET_UPDATE_ADD,
               "<host mac='52:54:00:aa:bb:cc' name='vm3' ip='192.168.120.12'/>", &e), -EEXIST,
               "add of an existing mac refused");
    tap_is_int(net_def_update_dhcp_host(d, NET_UPDATE_MODIFY,
               "<host mac='52:54:00:aa:bb:cc' name='vm2' ip='192.168.120.13'/>", &e), 0, "modify host");
    tap_is_str(d->ips[0].hosts[1].name, "vm2", "modified entry kept its name");
    tap_ok(d->ips[0].hosts[1].ip.b[3] == 13, "modified entry has the new ip");
    tap_is_int(net_def_update_dhcp_host(d, NET_UPDATE_ADD,
               "<host mac='52:54:00:aa:bb:cd' ip='10.0.0.9'/>", &e), -EINVAL, "ip outside the subnet refused");
    tap_is_int(net_def_update_dhcp_host(d, NET_UPDATE_DELETE,
               "<host mac='52:54:00:aa:bb:cc' ip='192.168.120.13'/>", &e), 0, "delete host");
    tap_is_int(net_def_update_dhcp_host(d, NET_UPDATE_DELETE,
               "<host mac='52:54:00:aa:bb:cc' ip='192.168.120.13'/>", &e), -ENOENT, "delete again: not found");
    tap_is_int(d->ips[0].nhosts, 1, "back to one host");
    net_def_free(d);

    /* Defaults: uuid and mac are generated, netmask form for IPv4 without one. */
    tap_is_int(parse("<network><name>n1</name><ip address='10.1.2.1'/></network>", &d, &e), 0,
               "minimal isolated network");
    if (d) {
        net_def_fill_defaults(d);
        tap_ok(d->has_mac && d->mac[0] == 0x52 && d->mac[1] == 0x54 && d->mac[2] == 0,
               "generated MAC uses 52:54:00");
        tap_ok(d->uuid[6] >> 4 == 4, "generated UUID is version 4");
        tap_is_int(d->forward, NET_FWD_NONE, "no forward = isolated");
        net_def_free(d);
    }

    /* Strict validation, the element is named. */
    bad("<name>default</name>", "", "missing <name>");
    bad("mode='nat'", "mode='teleport'", "<forward>: unsupported mode 'teleport'");
    bad("start='1024'", "start='70000'", "<port>");
    bad("start='1024' end='65535'", "start='2000' end='1000'", "<port>: start 2000 is after end 1000");
    bad("netmask='255.255.255.0'", "netmask='255.0.255.0'", "<ip>: netmask '255.0.255.0' is not contiguous");
    bad("netmask='255.255.255.0'", "prefix='40'", "<ip>: prefix '40'");
    bad("start='192.168.120.100'", "start='192.168.121.100'", "<range>: 192.168.121.100-192.168.120.200 is not inside");
    bad("end='192.168.120.200'", "end='192.168.120.50'", "<range>: start 192.168.120.100 is after end");
    bad("end='192.168.120.200'", "end='192.168.120.255'", "broadcast");
    bad("address='192.168.120.1'", "address='192.168.120.300'", "<ip>: '192.168.120.300' is not a valid IP");
    bad("<domain name='example'/>", "<frobnicate/>", "<network>: unsupported element <frobnicate>");
    bad("stp='on'", "stp='maybe'", "<bridge>: stp must be on or off");
    bad("name='virbr0'", "name='this-name-is-too-long'", "<bridge>: invalid bridge name");
    bad("name='virbr0'", "name='br\"x'", "<bridge>: invalid bridge name");
    bad("<hostname>files</hostname>", "<hostname>a&#10;server=1.1.1.1</hostname>", "<hostname>: invalid");
    bad("<domain name='example'/>", "<domain name='ex&#10;server=1.2.3.4'/>", "<domain>: missing or invalid");
    bad("<uuid>3e3fce45-4f53-4fa7-bb32-11f34168b82b</uuid>", "<uuid>nope</uuid>", "<uuid>");
    bad("mac='52:54:00:11:22:33'", "mac='52:54:00:11:22'", "<host>: invalid MAC");
    bad("ip='192.168.120.10'", "ip='192.168.120.1'", "<host>: ip 192.168.120.1 is not a usable");
    bad("<ip family='ipv6' address='fd00:120::1' prefix='64'/>",
        "<ip address='192.168.120.7' prefix='25'/>", "overlaps");
    bad("<bridge name='virbr0' stp='on' delay='0'/>", "<bridge name='virbr0' color='red'/>",
        "<bridge>: unsupported attribute 'color'");
    bad("</network>", "", "malformed network XML");
    bad("<forward mode='nat'>", "<forward mode='bridge'>", "<nat>: only allowed");

    tap_is_int(parse("<network><name>x</name><forward mode='nat'/></network>", &d, &e), -EINVAL,
               "nat without IPv4 refused");
    tap_ok(strstr(e.msg, "needs an IPv4") != NULL, "... says why: %s", e.msg);
    tap_is_int(parse("<network><name>br</name><forward mode='bridge'/><bridge name='br9'/></network>",
                     &d, &e), 0, "forward bridge to a host bridge");
    if (d) {
        char *x = net_def_format(d);
        tap_ok(x && strstr(x, "<bridge name='br9'/>") && strstr(x, "<forward mode='bridge'/>"),
               "bridge network formats without stp");
        free(x);
        net_def_free(d);
    }
    tap_is_int(parse("<network><name>br</name><forward mode='bridge'/></network>", &d, &e), -EINVAL,
               "forward bridge without a bridge name refused");
    /* What each forward mode installs (nftables text). */
    static const struct { const char *fwd; const char *want[4]; const char *not_want; } modes[] = {
        { "<forward mode='nat'><nat><address start='10.0.0.5' end='10.0.0.6'/>"
          "<port start='2000' end='3000'/></nat></forward>",
          { "snat ip to 10.0.0.5-10.0.0.6:2000-3000", "ct state established,related accept",
            "iifname \"vb\" ip saddr 10.1.2.0/24 accept", NULL }, "masquerade" },
        { "<forward mode='route' dev='eth9'/>",
          { "iifname \"vb\" oifname \"eth9\" ip saddr 10.1.2.0/24 accept",
            "oifname \"vb\" ip daddr 10.1.2.0/24 accept", NULL }, "postrouting" },
        { "", { "iifname \"vb\" oifname \"vb\" accept", "iifname \"vb\" reject",
                "oifname \"vb\" reject", NULL }, "saddr" },
    };
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char x[600];
        snprintf(x, sizeof(x), "<network><name>m-%zu</name>%s<bridge name='vb'/>"
                 "<ip address='10.1.2.1' prefix='24'/></network>", i, modes[i].fwd);
        struct net_def *m = NULL;
        tap_is_int(parse(x, &m, &e), 0, "mode %zu parses (%s)", i, e.msg);
        char *rules = m ? net_nft_ruleset(m, "virtkit_m") : NULL;
        bool ok = rules && strstr(rules, "table inet virtkit_m {") &&
                  strstr(rules, "delete table inet virtkit_m") && !strstr(rules, modes[i].not_want);
        for (int k = 0; ok && modes[i].want[k]; k++)
            ok = strstr(rules, modes[i].want[k]) != NULL;
        tap_ok(ok, "mode %zu installs the expected rules", i);
        if (!ok && rules)
            printf("# %s\n", rules);
        free(rules);
        net_def_free(m);
    }
    tap_is_int(parse("<network><name>o</name><forward mode='open'/><bridge name='vb'/>"
                     "<ip address='10.1.2.1' prefix='24'/></network>", &d, &e), 0, "open mode");
    tap_ok(d && net_nft_ruleset(d, "virtkit_o") == NULL, "open mode installs no rules");
    net_def_free(d);
    /* Hostile input: truncations and byte flips of the example never crash
     * (run under ASan/UBSan by make check) and either parse or explain. */
    unsigned seed = 12345, parsed = 0, refused = 0, unexplained = 0;
    size_t n = strlen(example);
    char *buf = malloc(n + 1);
    for (int i = 0; i < 3000; i++) {
        memcpy(buf, example, n + 1);
        size_t len = n;
        for (int k = 0; k < 1 + i % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            static const char junk[] = "<>/='\"&;:.-0123456789abcxyz \n\x01\xff";
            buf[at] = junk[(seed >> 20) % (sizeof(junk) - 1)];
        }
        if (i % 7 == 0)
            len = (seed >> 4) % n;
        struct net_def *m = NULL;
        memset(&e, 0, sizeof(e));
        int r = net_def_parse(buf, len, &m, &e);
        if (r == 0) {
            char *x = net_def_format(m);
            struct net_def *m2 = NULL;
            if (!x || net_def_parse(x, strlen(x), &m2, NULL) < 0)
                unexplained++;      /* what we accept must format and re-parse */
            free(x);
            net_def_free(m2);
            net_def_free(m);
            parsed++;
        } else {
            refused++;
            if (!e.msg[0])
                unexplained++;
        }
    }
    free(buf);
    tap_ok(unexplained == 0, "3000 mangled documents: %u parsed, %u refused with a message",
           parsed, refused);

    /* What newer libvirt writes: connections=, <lease> in a range,
     * <dns enable='no'>; kept on format and passed to dnsmasq. */
    static const char lv[] =
        "<network connections='2'><name>lv</name><forward mode='nat'/>"
        "<bridge name='virbr9' stp='on' delay='0'/><dns enable='no'/>"
        "<ip address='10.9.9.1' netmask='255.255.255.0'><dhcp>"
        "<range start='10.9.9.2' end='10.9.9.254'><lease expiry='1' unit='hours'/></range>"
        "</dhcp></ip></network>";
    struct net_def *lvd = NULL;
    tap_is_int(parse(lv, &lvd, &e), 0, "libvirt XML with <lease> and <dns enable='no'> (%s)", e.msg);
    if (lvd) {
        tap_is_int(lvd->ips[0].lease_seconds, 3600, "lease 1 hour");
        char *x = net_def_format(lvd);
        tap_ok(x && strstr(x, "<lease expiry='3600' unit='seconds'/>") && strstr(x, "<dns enable='no'/>"),
               "format keeps lease and dns enable");
        free(x);
        char cdir[] = "/tmp/vk-test-dnsmasq-XXXXXX", cpath[128], *conf = NULL;
        size_t clen;
        if (mkdtemp(cdir)) {
            snprintf(cpath, sizeof(cpath), "%s/lv.conf", cdir);
            tap_ok(net_dnsmasq_write_config(lvd, cdir, &e) == 0 &&
                   vk_read_file(cpath, &conf, &clen, NULL) == 0 &&
                   strstr(conf, "dhcp-range=10.9.9.2,10.9.9.254,255.255.255.0,3600\n") &&
                   strstr(conf, "port=0\n") && strstr(conf, "interface=virbr9\n"),
                   "dnsmasq config: lease time, DNS off, bound to the bridge");
            free(conf);
            char rm[160];
            snprintf(rm, sizeof(rm), "rm -rf %s", cdir);
            if (system(rm) != 0)
                printf("# could not remove %s\n", cdir);
        }
        net_def_free(lvd);
    }
    bad("<mac address='52:54:00:0a:cd:21'/>", "<mtu size='20'/>", "<mtu>: size must be");
    tap_is_int(parse("<network><name>m</name><mtu size='9000'/></network>", &d, &e), 0, "mtu parses");
    if (d) {
        char *x = net_def_format(d);
        tap_ok(x && strstr(x, "<mtu size='9000'/>"), "mtu formats");
        free(x);
        net_def_free(d);
    }
    bad("<range start='192.168.120.100' end='192.168.120.200'/>",
        "<range start='192.168.120.100' end='192.168.120.200'><lease expiry='1' unit='days'/></range>",
        "<lease>: unit must be");

    /* Lease files (dnsmasq's format; treated as untrusted input). */
    char dir[] = "/tmp/vk-test-leases-XXXXXX";
    if (mkdtemp(dir)) {
        struct net_def *ld = NULL;
        tap_is_int(parse(example, &ld, &e), 0, "example parses again");
        char path[128], body[1024];
        snprintf(path, sizeof(path), "%s/default.leases", dir);
        long long future = (long long)time(NULL) + 3600;
        int bl = snprintf(body, sizeof(body),
            "%lld 52:54:00:11:22:33 192.168.120.150 vm1 01:52:54:00:11:22:33\n"
            "0 52:54:00:11:22:34 192.168.120.151 * *\n"
            "1000 52:54:00:11:22:35 192.168.120.152 old *\n"
            "duid 00:01:00:01:2c:aa:bb:cc:dd:ee:ff:00:11\n"
            "%lld 12345 fd00:120::50 six 00:01:00:01\n"
            "garbage line\n%lld zz:zz 192.168.120.9 x y\n"
            "%lld 52:54:00:11:22:36 not-an-ip x y\n\n\x01\xff\n",
            future, future, future, future);
        struct net_lease *v = NULL;
        size_t cnt = 0;
        if (ld && vk_write_file_atomic(path, body, (size_t)bl, 0644, NULL) == 0 &&
            net_leases_read(ld, dir, &v, &cnt, &e) == 0) {
            tap_is_int(cnt, 4, "current leases read, expired and broken lines skipped");
            tap_ok(cnt >= 2 && v[0].has_mac && v[0].prefix == 24 && !strcmp(v[0].hostname, "vm1") &&
                   !strcmp(v[0].clientid, "01:52:54:00:11:22:33"), "first lease fields");
            tap_ok(cnt >= 2 && v[1].expiry == 0 && !v[1].hostname[0], "infinite lease, no hostname");
            tap_ok(cnt >= 3 && v[2].ip.family == AF_INET6 && !v[2].has_mac && v[2].prefix == 64,
                   "IPv6 lease (no MAC)");
        } else {
            tap_ok(0, "reading leases: %s", e.msg);
        }
        free(v);
        net_def_free(ld);
        unlink(path);
        rmdir(dir);
    }

    char tn[64];
    net_nft_table_name("my-net.1", tn, sizeof(tn));
    tap_is_str(tn, "virtkit_my_net_1", "table names are nft-safe");
    return tap_done();
}
