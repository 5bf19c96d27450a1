/* RPC area "node": handshake, host facts, event subscription. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "dispatch.h"

static int node_hello(struct rpc_call *call, struct json_object *params,
                      struct json_object **result)
{
    uint64_t want = VK_RPC_PROTOCOL;
    if (rpc_param_u64(call, params, "protocol", false, &want) < 0)
        return -1;
    if (want != VK_RPC_PROTOCOL)
        return rpc_fail(call, VK_RPC_E_VERSION,
                        "client speaks protocol %llu, this virtkitd speaks %d",
                        (unsigned long long)want, VK_RPC_PROTOCOL);
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "protocol", json_object_new_int(VK_RPC_PROTOCOL));
    json_object_object_add(r, "version", json_object_new_string(VK_VERSION));
    json_object_object_add(r, "uri", json_object_new_string(
        call->d->system ? "virtkit:///system" : "virtkit:///session"));
    json_object_object_add(r, "readonly", json_object_new_boolean(call->conn->readonly_socket));
    json_object_object_add(r, "privileged", json_object_new_boolean(call->privileged));
    *result = r;
    return 0;
}

static int node_hostname(struct rpc_call *call, struct json_object *params,
                         struct json_object **result)
{
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) < 0)
        return rpc_fail(call, VK_RPC_E_FAILED, "gethostname: %s", strerror(errno));
    *result = json_object_new_object();
    json_object_object_add(*result, "hostname", json_object_new_string(host));
    return 0;
}

/* CPU facts from /proc/cpuinfo and sysfs. */
static void cpu_facts(long *mhz, int *sockets, int *cores, int *threads)
{
    char *data = NULL;
    size_t len;
    *mhz = 0;
    *sockets = 1;
    *cores = 1;
    *threads = 1;
    if (vk_read_file("/proc/cpuinfo", &data, &len, NULL) < 0)
        return;
    char *p = strstr(data, "cpu MHz");
    if (p && (p = strchr(p, ':')))
        *mhz = (long)strtod(p + 1, NULL);
    int maxphys = 0, siblings = 0, cpucores = 0;
    for (p = data; (p = strstr(p, "physical id")); p++) {
        char *c = strchr(p, ':');
        if (c && atoi(c + 1) + 1 > maxphys)
            maxphys = atoi(c + 1) + 1;
    }
    if ((p = strstr(data, "siblings")) && (p = strchr(p, ':')))
        siblings = atoi(p + 1);
    if ((p = strstr(data, "cpu cores")) && (p = strchr(p, ':')))
        cpucores = atoi(p + 1);
    if (maxphys > 0)
        *sockets = maxphys;
    if (cpucores > 0)
        *cores = cpucores;
    if (cpucores > 0 && siblings >= cpucores)
        *threads = siblings / cpucores;
    free(data);
}

static int node_info(struct rpc_call *call, struct json_object *params,
                     struct json_object **result)
{
    struct utsname u;
    struct sysinfo si;
    uname(&u);
    sysinfo(&si);
    long mhz;
    int sockets, cores, threads;
    cpu_facts(&mhz, &sockets, &cores, &threads);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (sockets * cores * threads != cpus) {
        /* the host's topology does not add up (e.g. a VM): report it flat */
        sockets = 1;
        cores = (int)cpus;
        threads = 1;
    }
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "model", json_object_new_string(u.machine));
    json_object_object_add(r, "cpus", json_object_new_int((int)cpus));
    json_object_object_add(r, "mhz", json_object_new_int64(mhz));
    /* as libvirt: memory and cell count from the NUMA nodes when sysfs has them */
    uint64_t node_kib = 0;
    int nodes = 0;
    for (int n = 0; n < 1024; n++) {
        char path[96], *data = NULL;
        size_t len;
        snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", n);
        if (vk_read_file(path, &data, &len, NULL) < 0)
            break;
        char *m = strstr(data, "MemTotal:");
        if (m)
            node_kib += strtoull(m + 9, NULL, 10);
        nodes++;
        free(data);
    }
    json_object_object_add(r, "nodes", json_object_new_int(nodes ? nodes : 1));
    json_object_object_add(r, "sockets", json_object_new_int(sockets));
    json_object_object_add(r, "cores", json_object_new_int(cores));
    json_object_object_add(r, "threads", json_object_new_int(threads));
    json_object_object_add(r, "memory_kib", json_object_new_int64(
        (int64_t)(node_kib ? node_kib : (uint64_t)si.totalram * si.mem_unit / 1024)));
    *result = r;
    return 0;
}

static int node_capabilities(struct rpc_call *call, struct json_object *params,
                             struct json_object **result)
{
    struct utsname u;
    uname(&u);
    char emu[PATH_MAX];
    vkd_emulator_path(NULL, emu, sizeof(emu));
    bool kvm = access("/dev/kvm", R_OK | W_OK) == 0;
    char xml[8192];
    snprintf(xml, sizeof(xml),
        "<capabilities>\n\n"
        "  <host>\n"
        "    <cpu>\n"
        "      <arch>%s</arch>\n"
        "      <topology sockets='1' dies='1' cores='%ld' threads='1'/>\n"
        "    </cpu>\n"
        "    <power_management/>\n"
        "    <migration_features/>\n"
        "  </host>\n\n"
        "  <guest>\n"
        "    <os_type>hvm</os_type>\n"
        "    <arch name='x86_64'>\n"
        "      <wordsize>64</wordsize>\n"
        "      <emulator>%s</emulator>\n"
        "      <machine maxCpus='255'>pc</machine>\n"
        "      <domain type='qemu'/>\n"
        "%s"
        "    </arch>\n"
        "    <features>\n"
        "      <acpi default='on' toggle='yes'/>\n"
        "      <apic default='on' toggle='no'/>\n"
        "    </features>\n"
        "  </guest>\n\n"
        "</capabilities>\n",
        u.machine, sysconf(_SC_NPROCESSORS_ONLN), emu,
        kvm ? "      <domain type='kvm'/>\n" : "");
    *result = json_object_new_object();
    json_object_object_add(*result, "xml", json_object_new_string(xml));
    return 0;
}

static int node_subscribe(struct rpc_call *call, struct json_object *params,
                          struct json_object **result)
{
    call->conn->subscribed = true;
    return 0;
}

static const struct rpc_method node_methods[] = {
    { VK_RPC_HELLO,        true, node_hello },
    { VK_RPC_HOSTNAME,     true, node_hostname },
    { VK_RPC_NODEINFO,     true, node_info },
    { VK_RPC_CAPABILITIES, true, node_capabilities },
    { VK_RPC_SUBSCRIBE,    true, node_subscribe },
    { NULL, false, NULL },
};

const struct rpc_area rpc_area_node = {
    .name = "node",
    .methods = node_methods,
};
