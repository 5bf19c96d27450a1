/* virtkit bridge: what brctl does, over netlink. Output is byte-for-byte
 * brctl's layout so scripts that parse brctl keep working; --json gives the
 * same data as JSON. */
#include <errno.h>
#include <json-c/json.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "net.h"

static int run(int argc, char **argv);

static const struct cli_option_help options[] = {
    { "--json", "print show/showmacs/showstp as JSON" },
    { NULL, NULL },
};

static const char *const subcommands[] = {
    "addbr", "delbr", "addif", "delif", "show", "showmacs", "showstp", "stp",
    "setfd", "sethello", "setmaxage", "setageing", "setbridgeprio",
    "setpathcost", "setportprio", "hairpin", NULL,
};

const struct cli_command cmd_bridge = {
    .name = "bridge",
    .group = "Networks",
    .summary = "manage Linux bridges (brctl compatible)",
    .usage = "virtkit bridge [--json] COMMAND [ARGS]",
    .description =
        "Commands (as brctl):\n"
        "  addbr BRIDGE                 add a bridge\n"
        "  delbr BRIDGE                 delete a bridge (it must be down)\n"
        "  addif BRIDGE DEVICE...       add interfaces to a bridge\n"
        "  delif BRIDGE DEVICE...       remove interfaces from a bridge\n"
        "  show [BRIDGE...]             list bridges and their interfaces\n"
        "  showmacs BRIDGE              show the forwarding database\n"
        "  showstp BRIDGE               show spanning tree state\n"
        "  stp BRIDGE on|off            turn STP on or off\n"
        "  setfd BRIDGE TIME            forward delay (seconds)\n"
        "  sethello BRIDGE TIME         hello time (seconds)\n"
        "  setmaxage BRIDGE TIME        max message age (seconds)\n"
        "  setageing BRIDGE TIME        FDB ageing time (seconds)\n"
        "  setbridgeprio BRIDGE PRIO    bridge priority (0-65535)\n"
        "  setpathcost BRIDGE PORT COST port path cost\n"
        "  setportprio BRIDGE PORT PRIO port priority (0-63)\n"
        "  hairpin BRIDGE PORT on|off   hairpin (reflective relay) mode",
    .options = options,
    .subcommands = subcommands,
    .run = run,
};

#define CMD "bridge"

static void print_json(json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* brctl prints timers as "%4i.%.2i" of seconds/hundredths. */
static void print_timer(int cs)
{
    printf("%4i.%.2i", cs / 100, cs % 100);
}

static json_object *jtimer(int cs)
{
    return json_object_new_double(cs / 100.0);
}

/* ---- show -------------------------------------------------------------- */

static int show_one(const struct net_link *br, json_object *jarr)
{
    struct net_bridge_info bi;
    char (*ports)[NET_IFNAMSIZ] = NULL;
    size_t np = 0;
    struct vk_err err = { 0 };
    if (net_bridge_info(br->name, &bi, &err) < 0 ||
        net_bridge_ports(br->name, &ports, &np, &err) < 0)
        return cli_error(CMD, "can't get info for %s: %s", br->name, err.msg);
    if (jarr) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(br->name));
        json_object_object_add(o, "id", json_object_new_string(bi.bridge_id));
        json_object_object_add(o, "stp", json_object_new_boolean(bi.stp_state != 0));
        json_object *ja = json_object_new_array();
        for (size_t i = 0; i < np; i++)
            json_object_array_add(ja, json_object_new_string(ports[i]));
        json_object_object_add(o, "interfaces", ja);
        json_object_array_add(jarr, o);
    } else {
        printf("%s\t\t%s\t%s\t\t", br->name, bi.bridge_id, bi.stp_state ? "yes" : "no");
        if (np == 0)
            printf("\n");
        for (size_t i = 0; i < np; i++)
            printf(i ? "\t\t\t\t\t\t\t%s\n" : "%s\n", ports[i]);
    }
    free(ports);
    return CLI_OK;
}

static int do_show(int argc, char **argv, bool json)
{
    struct net_link *links;
    size_t n;
    struct vk_err err = { 0 };
    if (net_link_list(&links, &n, &err) < 0)
        return cli_error(CMD, "%s", err.msg);
    json_object *jarr = json ? json_object_new_array() : NULL;
    int rc = CLI_OK;
    /* brctl prints the header before the first bridge it shows (none: no header). */
    bool header = json;
    if (argc == 0) {
        for (size_t i = 0; i < n; i++) {
            if (!links[i].is_bridge)
                continue;
            if (!header)
                printf("bridge name\tbridge id\t\tSTP enabled\tinterfaces\n");
            header = true;
            if (show_one(&links[i], jarr) != CLI_OK)
                rc = CLI_FAIL;
        }
    } else {
        for (int a = 0; a < argc; a++) {
            size_t i;
            for (i = 0; i < n; i++)
                if (links[i].is_bridge && !strcmp(links[i].name, argv[a]))
                    break;
            if (i == n) {
                fflush(stdout);
                cli_error(CMD, "bridge %s does not exist!", argv[a]);
                rc = CLI_FAIL;
                continue;
            }
            if (!header)
                printf("bridge name\tbridge id\t\tSTP enabled\tinterfaces\n");
            header = true;
            if (show_one(&links[i], jarr) != CLI_OK)
                rc = CLI_FAIL;
        }
    }
    free(links);
    if (jarr)
        print_json(jarr);
    return rc;
}

/* ---- showmacs ---------------------------------------------------------- */

static int do_showmacs(const char *br, bool json)
{
    struct net_fdb *v;
    size_t n;
    struct vk_err err = { 0 };
    int r = net_fdb_list(br, &v, &n, &err);
    if (r == -ENODEV || r == -EINVAL)
        return cli_error(CMD, "bridge %s does not exist!", br);
    if (r < 0)
        return cli_error(CMD, "read of forward table failed: %s", err.msg);
    json_object *jarr = json ? json_object_new_array() : NULL;
    if (!json)
        printf("port no\tmac addr\t\tis local?\tageing timer\n");
    for (size_t i = 0; i < n; i++) {
        char mac[18];
        net_mac_format(v[i].mac, mac);
        if (jarr) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "port", json_object_new_int(v[i].port_no));
            json_object_object_add(o, "mac", json_object_new_string(mac));
            json_object_object_add(o, "local", json_object_new_boolean(v[i].is_local));
            json_object_object_add(o, "ageing", jtimer((int)v[i].ageing_cs));
            json_object_array_add(jarr, o);
        } else {
            printf("%3i\t%s\t%s\t\t", v[i].port_no, mac, v[i].is_local ? "yes" : "no");
            print_timer((int)v[i].ageing_cs);
            printf("\n");
        }
    }
    free(v);
    if (jarr)
        print_json(jarr);
    return CLI_OK;
}

/* ---- showstp ----------------------------------------------------------- */

static void print_port_stp(const struct net_port_info *p)
{
    printf("%s (%d)\n", p->name, p->port_no);
    printf(" port id\t\t%.4x\t\t\tstate\t\t%15s\n", p->port_id, net_port_state_names[p->state]);
    printf(" designated root\t%s\tpath cost\t\t%4i\n", p->designated_root, p->path_cost);
    printf(" designated bridge\t%s\tmessage age timer\t", p->designated_bridge);
    print_timer(p->message_age_timer);
    printf("\n designated port\t%.4x\t\t\tforward delay timer\t", p->designated_port);
    print_timer(p->forward_delay_timer);
    printf("\n designated cost\t%4i\t\t\thold timer\t\t", p->designated_cost);
    print_timer(p->hold_timer);
    printf("\n flags\t\t\t");
    if (p->config_pending)
        printf("CONFIG_PENDING ");
    if (p->top_change_ack)
        printf("TOPOLOGY_CHANGE_ACK ");
    if (p->hairpin_mode)
        printf("\n hairpin mode\t\t%4i", p->hairpin_mode);
    printf("\n\n");
}

static json_object *port_json(const struct net_port_info *p)
{
    json_object *o = json_object_new_object();
    char id[8];
    json_object_object_add(o, "name", json_object_new_string(p->name));
    json_object_object_add(o, "port_no", json_object_new_int(p->port_no));
    snprintf(id, sizeof(id), "%.4x", p->port_id);
    json_object_object_add(o, "port_id", json_object_new_string(id));
    json_object_object_add(o, "state", json_object_new_string(net_port_state_names[p->state]));
    json_object_object_add(o, "path_cost", json_object_new_int(p->path_cost));
    json_object_object_add(o, "priority", json_object_new_int(p->priority));
    json_object_object_add(o, "designated_root", json_object_new_string(p->designated_root));
    json_object_object_add(o, "designated_bridge", json_object_new_string(p->designated_bridge));
    snprintf(id, sizeof(id), "%.4x", p->designated_port);
    json_object_object_add(o, "designated_port", json_object_new_string(id));
    json_object_object_add(o, "designated_cost", json_object_new_int(p->designated_cost));
    json_object_object_add(o, "message_age_timer", jtimer(p->message_age_timer));
    json_object_object_add(o, "forward_delay_timer", jtimer(p->forward_delay_timer));
    json_object_object_add(o, "hold_timer", jtimer(p->hold_timer));
    json_object_object_add(o, "hairpin", json_object_new_boolean(p->hairpin_mode != 0));
    return o;
}

static int do_showstp(const char *br, bool json)
{
    struct net_bridge_info b;
    struct vk_err err = { 0 };
    if (net_bridge_info(br, &b, &err) < 0)
        return cli_error(CMD, "%s: can't get info %s", br, strerror(ENODEV));
    char (*ports)[NET_IFNAMSIZ] = NULL;
    size_t np = 0;
    if (net_bridge_ports(br, &ports, &np, &err) < 0)
        return cli_error(CMD, "%s", err.msg);
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(br));
        json_object_object_add(o, "bridge_id", json_object_new_string(b.bridge_id));
        json_object_object_add(o, "designated_root", json_object_new_string(b.designated_root));
        json_object_object_add(o, "root_port", json_object_new_int(b.root_port));
        json_object_object_add(o, "path_cost", json_object_new_int(b.root_path_cost));
        json_object_object_add(o, "stp", json_object_new_boolean(b.stp_state != 0));
        json_object_object_add(o, "priority", json_object_new_int(b.priority));
        json_object_object_add(o, "max_age", jtimer(b.max_age));
        json_object_object_add(o, "hello_time", jtimer(b.hello_time));
        json_object_object_add(o, "forward_delay", jtimer(b.forward_delay));
        json_object_object_add(o, "ageing_time", jtimer(b.ageing_time));
        json_object_object_add(o, "hello_timer", jtimer(b.hello_timer));
        json_object_object_add(o, "tcn_timer", jtimer(b.tcn_timer));
        json_object_object_add(o, "topology_change_timer", jtimer(b.topology_change_timer));
        json_object_object_add(o, "gc_timer", jtimer(b.gc_timer));
        json_object_object_add(o, "topology_change", json_object_new_boolean(b.topology_change));
        json_object_object_add(o, "topology_change_detected",
                               json_object_new_boolean(b.topology_change_detected));
        json_object *ja = json_object_new_array();
        for (size_t i = 0; i < np; i++) {
            struct net_port_info p;
            if (net_port_info(br, ports[i], &p, NULL) == 0)
                json_object_array_add(ja, port_json(&p));
        }
        json_object_object_add(o, "ports", ja);
        free(ports);
        print_json(o);
        return CLI_OK;
    }
    printf("%s\n", br);
    printf(" bridge id\t\t%s\n", b.bridge_id);
    printf(" designated root\t%s\n", b.designated_root);
    printf(" root port\t\t%4i\t\t\tpath cost\t\t%4i\n", b.root_port, b.root_path_cost);
    printf(" max age\t\t");
    print_timer(b.max_age);
    printf("\t\t\tbridge max age\t\t");
    print_timer(b.bridge_max_age);
    printf("\n hello time\t\t");
    print_timer(b.hello_time);
    printf("\t\t\tbridge hello time\t");
    print_timer(b.bridge_hello_time);
    printf("\n forward delay\t\t");
    print_timer(b.forward_delay);
    printf("\t\t\tbridge forward delay\t");
    print_timer(b.bridge_forward_delay);
    printf("\n ageing time\t\t");
    print_timer(b.ageing_time);
    printf("\n hello timer\t\t");
    print_timer(b.hello_timer);
    printf("\t\t\ttcn timer\t\t");
    print_timer(b.tcn_timer);
    printf("\n topology change timer\t");
    print_timer(b.topology_change_timer);
    printf("\t\t\tgc timer\t\t");
    print_timer(b.gc_timer);
    printf("\n flags\t\t\t");
    if (b.topology_change)
        printf("TOPOLOGY_CHANGE ");
    if (b.topology_change_detected)
        printf("TOPOLOGY_CHANGE_DETECTED ");
    printf("\n\n\n");
    for (size_t i = 0; i < np; i++) {
        struct net_port_info p;
        if (net_port_info(br, ports[i], &p, NULL) == 0)
            print_port_stp(&p);
    }
    free(ports);
    return CLI_OK;
}

/* ---- changes ----------------------------------------------------------- */

static int do_addbr(const char *br)
{
    struct vk_err err = { 0 };
    int r = net_bridge_add(br, &err);
    if (r == -EEXIST)
        return cli_error(CMD, "device %s already exists; can't create bridge with the same name", br);
    if (r < 0)
        return cli_error(CMD, "add bridge failed: %s", err.msg);
    return CLI_OK;
}

static int do_delbr(const char *br)
{
    struct net_link l;
    struct vk_err err = { 0 };
    int r = net_link_get(br, &l, &err);
    if (r == -ENODEV || (r == 0 && !l.is_bridge))
        return cli_error(CMD, "bridge %s doesn't exist; can't delete it", br);
    if (r < 0)
        return cli_error(CMD, "%s", err.msg);
    if (l.flags & IFF_UP)
        return cli_error(CMD, "bridge %s is still up; can't delete it "
                         "(bring it down first: ip link set %s down)", br, br);
    if (net_link_del(br, &err) < 0)
        return cli_error(CMD, "can't delete bridge %s: %s", br, err.msg);
    return CLI_OK;
}

static int find_bridge(const char *br, struct net_link *l)
{
    if (net_link_get(br, l, NULL) < 0 || !l->is_bridge)
        return cli_error(CMD, "bridge %s does not exist!", br);
    return CLI_OK;
}

static int do_addif(const char *br, int n, char **ifs)
{
    struct net_link b, p;
    if (find_bridge(br, &b) != CLI_OK)
        return CLI_FAIL;
    int rc = CLI_OK;
    for (int i = 0; i < n; i++) {
        struct vk_err err = { 0 };
        if (net_link_get(ifs[i], &p, NULL) < 0) {
            rc = cli_error(CMD, "interface %s does not exist!", ifs[i]);
        } else if (p.is_bridge) {
            rc = cli_error(CMD, "device %s is a bridge device itself; "
                           "can't enslave a bridge device to a bridge device.", ifs[i]);
        } else if (p.master) {
            rc = cli_error(CMD, "device %s is already a member of a bridge; "
                           "can't enslave it to bridge %s.", ifs[i], br);
        } else if (net_link_set_master(ifs[i], br, &err) < 0) {
            rc = cli_error(CMD, "can't add %s to bridge %s: %s", ifs[i], br, err.msg);
        }
    }
    return rc;
}

static int do_delif(const char *br, int n, char **ifs)
{
    struct net_link b, p;
    if (find_bridge(br, &b) != CLI_OK)
        return CLI_FAIL;
    int rc = CLI_OK;
    for (int i = 0; i < n; i++) {
        struct vk_err err = { 0 };
        if (net_link_get(ifs[i], &p, NULL) < 0)
            rc = cli_error(CMD, "interface %s does not exist!", ifs[i]);
        else if (p.master != b.ifindex)
            rc = cli_error(CMD, "device %s is not a port of %s", ifs[i], br);
        else if (net_link_set_master(ifs[i], NULL, &err) < 0)
            rc = cli_error(CMD, "can't delete %s from %s: %s", ifs[i], br, err.msg);
    }
    return rc;
}

static int parse_onoff(const char *s, int *out)
{
    if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return -EINVAL;
}

/* Seconds (may be fractional) -> centiseconds. */
static int parse_time(const char *s, uint32_t *cs)
{
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || d < 0 || d > 40000000.0)
        return -EINVAL;
    *cs = (uint32_t)(d * 100 + 0.5);
    return 0;
}

static int do_set(const char *verb, int argc, char **argv)
{
    static const struct { const char *verb; enum net_br_opt opt; bool time; } tbl[] = {
        { "setfd", NET_BR_FORWARD_DELAY, true },
        { "sethello", NET_BR_HELLO_TIME, true },
        { "setmaxage", NET_BR_MAX_AGE, true },
        { "setageing", NET_BR_AGEING_TIME, true },
        { "setgcint", NET_BR_AGEING_TIME, true },
        { "setbridgeprio", NET_BR_PRIORITY, false },
    };
    if (argc != 2)
        return cli_error(CMD, "usage: virtkit bridge %s BRIDGE VALUE", verb);
    struct net_link b;
    if (find_bridge(argv[0], &b) != CLI_OK)
        return CLI_FAIL;
    for (size_t i = 0; i < VK_ARRAY_SIZE(tbl); i++) {
        if (strcmp(tbl[i].verb, verb))
            continue;
        uint32_t v;
        int iv;
        if (tbl[i].time) {
            if (parse_time(argv[1], &v) < 0)
                return cli_error(CMD, "bad time value '%s'", argv[1]);
        } else {
            if (vk_parse_int(argv[1], 0, 65535, &iv) < 0)
                return cli_error(CMD, "bad priority value '%s' (0-65535)", argv[1]);
            v = (uint32_t)iv;
        }
        struct vk_err err = { 0 };
        if (net_bridge_set(argv[0], tbl[i].opt, v, &err) < 0)
            return cli_error(CMD, "%s %s failed: %s", verb, argv[0], err.msg);
        return CLI_OK;
    }
    return CLI_USAGE;
}

static int do_portset(const char *verb, int argc, char **argv)
{
    if (argc != 3)
        return cli_error(CMD, "usage: virtkit bridge %s BRIDGE PORT VALUE", verb);
    struct net_link b, p;
    if (find_bridge(argv[0], &b) != CLI_OK)
        return CLI_FAIL;
    if (net_link_get(argv[1], &p, NULL) < 0)
        return cli_error(CMD, "interface %s does not exist!", argv[1]);
    if (p.master != b.ifindex)
        return cli_error(CMD, "device %s is not a slave of %s", argv[1], argv[0]);
    enum net_brport_opt opt;
    int v;
    if (!strcmp(verb, "setpathcost")) {
        opt = NET_BRPORT_COST;
        if (vk_parse_int(argv[2], 1, 65535, &v) < 0)
            return cli_error(CMD, "bad path cost value '%s' (1-65535)", argv[2]);
    } else if (!strcmp(verb, "setportprio")) {
        opt = NET_BRPORT_PRIORITY;
        if (vk_parse_int(argv[2], 0, 63, &v) < 0)
            return cli_error(CMD, "bad port priority value '%s' (0-63)", argv[2]);
    } else {
        opt = NET_BRPORT_HAIRPIN;
        if (parse_onoff(argv[2], &v) < 0)
            return cli_error(CMD, "expect on/off for argument");
    }
    struct vk_err err = { 0 };
    if (net_bridge_port_set(argv[1], opt, (uint32_t)v, &err) < 0)
        return cli_error(CMD, "%s %s %s failed: %s", verb, argv[0], argv[1], err.msg);
    return CLI_OK;
}

static int do_stp(int argc, char **argv)
{
    int v;
    if (argc != 2)
        return cli_error(CMD, "usage: virtkit bridge stp BRIDGE on|off");
    if (parse_onoff(argv[1], &v) < 0)
        return cli_error(CMD, "expect on/off for argument");
    struct net_link b;
    if (find_bridge(argv[0], &b) != CLI_OK)
        return CLI_FAIL;
    struct vk_err err = { 0 };
    if (net_bridge_set(argv[0], NET_BR_STP, (uint32_t)v, &err) < 0)
        return cli_error(CMD, "set stp status failed: %s", err.msg);
    return CLI_OK;
}

static int run(int argc, char **argv)
{
    if (cli_want_help(&cmd_bridge, argc, argv))
        return CLI_OK;
    bool json = false;
    int i = 1;
    char *args[64];
    int na = 0;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
            json = true;
        else if (na < (int)VK_ARRAY_SIZE(args))
            args[na++] = argv[i];
        else
            return cli_usage_error(&cmd_bridge, "too many arguments");
    }
    if (na == 0)
        return cli_usage_error(&cmd_bridge, "missing command");
    const char *verb = args[0];
    char **rest = args + 1;
    int nrest = na - 1;
    struct { const char *verb; int min, max; } arity[] = {
        { "addbr", 1, 1 }, { "delbr", 1, 1 }, { "addif", 2, 63 }, { "delif", 2, 63 },
        { "show", 0, 63 }, { "showmacs", 1, 1 }, { "showstp", 1, 1 }, { "stp", 2, 2 },
        { "setfd", 2, 2 }, { "sethello", 2, 2 }, { "setmaxage", 2, 2 },
        { "setageing", 2, 2 }, { "setgcint", 2, 2 }, { "setbridgeprio", 2, 2 },
        { "setpathcost", 3, 3 }, { "setportprio", 3, 3 }, { "hairpin", 3, 3 },
    };
    size_t k;
    for (k = 0; k < VK_ARRAY_SIZE(arity); k++)
        if (!strcmp(arity[k].verb, verb))
            break;
    if (k == VK_ARRAY_SIZE(arity))
        return cli_usage_error(&cmd_bridge, "never heard of command [%s]", verb);
    if (nrest < arity[k].min || nrest > arity[k].max)
        return cli_usage_error(&cmd_bridge, "incorrect number of arguments for command %s", verb);

    if (!strcmp(verb, "show"))
        return do_show(nrest, rest, json);
    if (!strcmp(verb, "showmacs"))
        return do_showmacs(rest[0], json);
    if (!strcmp(verb, "showstp"))
        return do_showstp(rest[0], json);
    if (!strcmp(verb, "addbr"))
        return do_addbr(rest[0]);
    if (!strcmp(verb, "delbr"))
        return do_delbr(rest[0]);
    if (!strcmp(verb, "addif"))
        return do_addif(rest[0], nrest - 1, rest + 1);
    if (!strcmp(verb, "delif"))
        return do_delif(rest[0], nrest - 1, rest + 1);
    if (!strcmp(verb, "stp"))
        return do_stp(nrest, rest);
    if (!strcmp(verb, "setpathcost") || !strcmp(verb, "setportprio") || !strcmp(verb, "hairpin"))
        return do_portset(verb, nrest, rest);
    return do_set(verb, nrest, rest);
}
