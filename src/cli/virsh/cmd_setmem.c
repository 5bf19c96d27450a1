/* virsh setmem: change the current memory: --live through the running
 * VM's balloon, --config in the definition. Size: a number with virsh's
 * suffixes, KiB default. */
#include <string.h>

#include "virsh.h"
#include "domain_xml.h"

static int run(int argc, char **argv);

static const struct cli_option_help opts_help[] = {
    { "--size SIZE", "new memory size (KiB, or with a unit: M, G, MiB...)" },
    { "--config", "change the persistent config" },
    { "--live", "change the running domain (through its balloon device)" },
    { "--current", "live if running, else config" },
    { NULL, NULL },
};

const struct cli_command cmd_setmem = {
    .name = "setmem",
    .group = "Domains",
    .summary = "change memory allocation",
    .usage = "virtkit setmem DOMAIN SIZE [--config|--live|--current]",
    .options = opts_help,
    .run = run,
};

/* "512M", "1GiB", "1048576" (KiB) */
int virsh_parse_kib(const char *s, uint64_t *kib);
int virsh_parse_kib(const char *s, uint64_t *kib)
{
    char num[32];
    size_t n = strspn(s, "0123456789");
    if (!n || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = 0;
    return dom_parse_memory(num, s[n] ? s + n : NULL, kib);
}

static int run(int argc, char **argv)
{
    const char *dom = NULL, *size = NULL;
    bool config = false, live = false, current = false;
    const struct vopt o[] = { { "domain", 'P', &dom }, { "size", 'P', &size }, { "config", 'b', &config },
                              { "live", 'b', &live }, { "current", 'b', &current }, { NULL, 0, NULL } };
    int r = virsh_parse(&cmd_setmem, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    uint64_t kib;
    if (virsh_parse_kib(size, &kib) < 0)
        return cli_usage_error(&cmd_setmem, "invalid memory size '%s'", size);
    struct json_object *p = virsh_dom_params(dom);
    json_object_object_add(p, "kib", json_object_new_int64((int64_t)kib));
    json_object_object_add(p, "config", json_object_new_boolean(config));
    json_object_object_add(p, "live", json_object_new_boolean(live));
    if (virsh_call1("setmem", "domain.set-memory", p, NULL))
        return CLI_FAIL;
    virsh_done();
    return CLI_OK;
}
