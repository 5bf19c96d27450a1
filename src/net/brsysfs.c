/* Bridge STP state from sysfs (/sys/class/net/BR/bridge/ and brif/PORT/):
 * the timers and designated-bridge fields `brctl showstp` prints have no
 * netlink dump that covers all of them on every kernel, sysfs does. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

const char *const net_port_state_names[5] = {
    "disabled", "listening", "learning", "forwarding", "blocking",
};

static int read_str(const char *dir, const char *file, char *buf, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return -EIO;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

/* Integer files are decimal or "0x..." hex; missing ones read as 0. */
static int read_int(const char *dir, const char *file)
{
    char buf[64];
    if (read_str(dir, file, buf, sizeof(buf)) < 0)
        return 0;
    return (int)strtol(buf, NULL, 0);
}

static int bridge_dir(const char *bridge, char *dir, size_t len, struct vk_err *err)
{
    if (!net_ifname_ok(bridge))
        return vk_err_set(err, -EINVAL, "invalid bridge name '%s'", bridge);
    snprintf(dir, len, "/sys/class/net/%s/bridge", bridge);
    char probe[64];
    if (read_str(dir, "bridge_id", probe, sizeof(probe)) < 0)
        return vk_err_set(err, -ENODEV, "bridge %s does not exist", bridge);
    return 0;
}

int net_bridge_info(const char *bridge, struct net_bridge_info *o, struct vk_err *err)
{
    char dir[128];
    int r = bridge_dir(bridge, dir, sizeof(dir), err);
    if (r < 0)
        return r;
    memset(o, 0, sizeof(*o));
    read_str(dir, "bridge_id", o->bridge_id, sizeof(o->bridge_id));
    read_str(dir, "root_id", o->designated_root, sizeof(o->designated_root));
    o->root_port = read_int(dir, "root_port");
    o->root_path_cost = read_int(dir, "root_path_cost");
    /* sysfs exposes one value for "current" and "configured" times. */
    o->max_age = o->bridge_max_age = read_int(dir, "max_age");
    o->hello_time = o->bridge_hello_time = read_int(dir, "hello_time");
    o->forward_delay = o->bridge_forward_delay = read_int(dir, "forward_delay");
    o->ageing_time = read_int(dir, "ageing_time");
    o->hello_timer = read_int(dir, "hello_timer");
    o->tcn_timer = read_int(dir, "tcn_timer");
    o->topology_change_timer = read_int(dir, "topology_change_timer");
    o->gc_timer = read_int(dir, "gc_timer");
    o->stp_state = read_int(dir, "stp_state");
    o->priority = read_int(dir, "priority");
    o->topology_change = read_int(dir, "topology_change") != 0;
    o->topology_change_detected = read_int(dir, "topology_change_detected") != 0;
    return 0;
}

int net_port_info(const char *bridge, const char *port, struct net_port_info *o,
                  struct vk_err *err)
{
    char dir[192];
    if (!net_ifname_ok(bridge) || !net_ifname_ok(port))
        return vk_err_set(err, -EINVAL, "invalid interface name");
    snprintf(dir, sizeof(dir), "/sys/class/net/%s/brif/%s", bridge, port);
    char probe[64];
    if (read_str(dir, "port_no", probe, sizeof(probe)) < 0)
        return vk_err_set(err, -ENODEV, "device %s is not a port of %s", port, bridge);
    memset(o, 0, sizeof(*o));
    snprintf(o->name, sizeof(o->name), "%s", port);
    o->port_no = read_int(dir, "port_no");
    o->port_id = read_int(dir, "port_id");
    o->state = read_int(dir, "state");
    if (o->state < 0 || o->state > 4)
        o->state = 0;
    o->path_cost = read_int(dir, "path_cost");
    o->priority = read_int(dir, "priority");
    read_str(dir, "designated_root", o->designated_root, sizeof(o->designated_root));
    read_str(dir, "designated_bridge", o->designated_bridge, sizeof(o->designated_bridge));
    o->designated_port = read_int(dir, "designated_port");
    o->designated_cost = read_int(dir, "designated_cost");
    o->message_age_timer = read_int(dir, "message_age_timer");
    o->forward_delay_timer = read_int(dir, "forward_delay_timer");
    o->hold_timer = read_int(dir, "hold_timer");
    o->config_pending = read_int(dir, "config_pending") != 0;
    o->top_change_ack = read_int(dir, "change_ack") != 0;
    o->hairpin_mode = read_int(dir, "hairpin_mode");
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

int net_bridge_ports(const char *bridge, char (**names)[NET_IFNAMSIZ], size_t *n,
                     struct vk_err *err)
{
    char dir[128];
    int r = bridge_dir(bridge, dir, sizeof(dir), err);
    if (r < 0)
        return r;
    snprintf(dir, sizeof(dir), "/sys/class/net/%s/brif", bridge);
    DIR *d = opendir(dir);
    if (!d)
        return vk_err_errno(err, -errno, "reading %s", dir);
    char (*v)[NET_IFNAMSIZ] = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= NET_IFNAMSIZ)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            void *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return vk_err_set(err, -ENOMEM, "out of memory");
            }
            v = nv;
        }
        snprintf(v[cnt++], NET_IFNAMSIZ, "%s", de->d_name);
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof(*v), name_cmp);
    *names = v;
    *n = cnt;
    return 0;
}
