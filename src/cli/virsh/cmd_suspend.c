/* virsh suspend: suspend a domain. */
#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_suspend = {
    .name = "suspend",
    .group = "Domains",
    .summary = "suspend a domain",
    .usage = "virtkit suspend DOMAIN",
    .run = run,
};

static int run(int argc, char **argv)
{
    return virsh_simple(&cmd_suspend, argc, argv, "domain.suspend", "Domain '%s' suspended");
}
