/* virsh resume: resume a suspended domain. */
#include "virsh.h"

static int run(int argc, char **argv);

const struct cli_command cmd_resume = {
    .name = "resume",
    .group = "Domains",
    .summary = "resume a suspended domain",
    .usage = "virtkit resume DOMAIN",
    .run = run,
};

static int run(int argc, char **argv)
{
    return virsh_simple(&cmd_resume, argc, argv, "domain.resume", "Domain '%s' resumed");
}
