/* virsh reset: reset a domain (hardware reset). */
#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_reset = {
    .name = "reset",
    .group = "Domains",
    .summary = "reset a domain (hardware reset)",
    .usage = "virtkit reset DOMAIN",
    .run = run,
};

static int run(int argc, char **argv)
{
    return virsh_simple(&cmd_reset, argc, argv, "domain.reset", "Domain '%s' was reset");
}
