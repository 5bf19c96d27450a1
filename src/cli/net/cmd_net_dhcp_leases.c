/* virtkit net-dhcp-leases: the network's DHCP leases (as virsh), read by the
 * daemon from dnsmasq's lease file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netcmd.h"

static int run(int argc, char **argv);

static const struct cli_option_help options[] = {
    { "--mac MAC", "only leases of this MAC address" },
    { "--json", "print the leases as JSON" },
    { NULL, NULL },
};

const struct cli_command cmd_net_dhcp_leases = {
    .name = "net-dhcp-leases",
    .group = "Networks",
    .summary = "print lease info for a given network",
    .usage = "virtkit net-dhcp-leases NETWORK [--mac MAC] [--json]",
    .options = options,
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *net = NULL, *mac = NULL;
    bool json = false;
    const struct vopt opts[] = { { "network", 'P', &net }, { "mac", 's', &mac },
                                 { "json", 'b', &json }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_net_dhcp_leases, argc, argv, opts);
    if (r != CLI_OK)
        return r < 0 ? CLI_OK : r;
    struct json_object *p = netcmd_params(net), *res = NULL;
    if (mac)
        json_object_object_add(p, "mac", json_object_new_string(mac));
    if (virsh_call1(cmd_net_dhcp_leases.name, "network.leases", p, &res) != CLI_OK)
        return CLI_FAIL;
    struct json_object *arr = NULL;
    json_object_object_get_ex(res, "leases", &arr);
    if (json) {
        virsh_print_json(arr ? arr : res);
        json_object_put(res);
        return CLI_OK;
    }
    size_t n = arr ? json_object_array_length(arr) : 0;
    const char **cells = calloc((n + 1) * 6, sizeof(*cells));
    char (*strs)[3][80] = calloc(n + 1, sizeof(*strs));
    static const char *const hdr[] = { "Expiry Time", "MAC address", "Protocol", "IP address",
                                       "Hostname", "Client ID or DUID" };
    for (int c = 0; c < 6; c++)
        cells[c] = hdr[c];
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        time_t t = (time_t)vj_int(o, "expiry", 0);
        struct tm tm;
        if (t)
            strftime(strs[i][0], sizeof(strs[i][0]), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
        else
            snprintf(strs[i][0], sizeof(strs[i][0]), "never");
        snprintf(strs[i][1], sizeof(strs[i][1]), "%s/%d", vj_str(o, "ip", ""),
                 (int)vj_int(o, "prefix", 0));
        const char **row = cells + (i + 1) * 6;
        row[0] = strs[i][0];
        row[1] = vj_str(o, "mac", "");
        if (!*row[1])
            row[1] = "-";
        row[2] = vj_str(o, "type", "");
        row[3] = strs[i][1];
        row[4] = *vj_str(o, "hostname", "") ? vj_str(o, "hostname", "") : "-";
        row[5] = *vj_str(o, "clientid", "") ? vj_str(o, "clientid", "") : "-";
    }
    virsh_table(stdout, (int)n + 1, 6, cells);
    free(cells);
    free(strs);
    json_object_put(res);
    virsh_done();
    return CLI_OK;
}
