/* virsh domifaddr: addresses of a domain's interfaces (from DHCP leases). */
#include <string.h>

#include "virsh.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--interface NAME", "only this interface" },
    { "--source lease", "where addresses come from (only lease)" },
    { "--full", "repeat name and MAC on every line" },
    { "--json", "JSON output" },
    { NULL, NULL },
};

const struct cli_command cmd_domifaddr = {
    .name = "domifaddr",
    .group = "Domains",
    .summary = "get network interfaces' addresses for a running domain",
    .usage = "virtkit domifaddr DOMAIN [--interface NAME] [--source lease] [--full] [--json]",
    .options = opts_help,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *dom = NULL, *iface = NULL, *source = NULL;
    bool full = false, json = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "interface", 'p', &iface },
                              { "source", 's', &source }, { "full", 'b', &full },
                              { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_domifaddr, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    if (source && strcmp(source, "lease"))
        return cli_error("domifaddr", "source '%s' is not supported (lease only)", source);
    struct json_object *res = NULL;
    if (virsh_call1("domifaddr", "domain.ifaddr", virsh_dom_params(dom), &res))
        return CLI_FAIL;
    struct json_object *arr = json_object_object_get(res, "interfaces");
    if (json) {
        virsh_print_json(arr);
        json_object_put(res);
        return CLI_OK;
    }
    printf(" %-10s %-20s %-8s     %s\n%s%s\n", "Name", "MAC address", "Protocol", "Address",
           "-------------------------------------------------", "------------------------------");
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
        struct json_object *f = json_object_array_get_idx(arr, i);
        const char *name = vj_str(f, "name", "-"), *mac = vj_str(f, "mac", "");
        if (iface && strcmp(iface, name) && strcmp(iface, mac))
            continue;
        struct json_object *addrs = json_object_object_get(f, "addrs");
        size_t na = addrs ? json_object_array_length(addrs) : 0;
        if (!na)
            printf(" %-10s %-17s    %-12s %s\n", name, mac, "N/A", "N/A");
        for (size_t k = 0; k < na; k++) {
            struct json_object *a = json_object_array_get_idx(addrs, k);
            char addr[128];
            snprintf(addr, sizeof(addr), "%s/%lld", vj_str(a, "addr", ""), (long long)vj_int(a, "prefix", 0));
            if (k == 0 || full)
                printf(" %-10s %-17s    %-12s %s\n", name, mac, vj_str(a, "type", ""), addr);
            else
                printf(" %-10s %-17s    %-12s %s\n", "-", "-", vj_str(a, "type", ""), addr);
        }
    }
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}
