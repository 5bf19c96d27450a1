/* virtkit: entry point and dispatch through the command table. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static void print_overview(FILE *out)
{
    fprintf(out, "usage: virtkit [--version] [--help] COMMAND [ARGS...]\n\n"
                 "virtkit is a virtualization toolkit: host checks, disk images,\n"
                 "virtual machines and networks, compatible with QEMU and libvirt habits.\n");
    const char *group = NULL;
    for (const struct cli_command *const *c = cli_commands; *c; c++) {
        if (!group || strcmp(group, (*c)->group)) {
            group = (*c)->group;
            fprintf(out, "\n%s commands:\n", group);
        }
        fprintf(out, "  %-18s %s\n", (*c)->name, (*c)->summary);
    }
    fprintf(out, "\nRun 'virtkit help COMMAND' or 'virtkit COMMAND --help' for details.\n"
                 "Exit status: 0 success, 1 operational failure, 2 usage error.\n");
}

int cli_shell(int argc, char **argv) __attribute__((weak));

int main(int argc, char **argv)
{
    vk_log_set_prefix("virtkit");
    if (argc < 2) {
        if (cli_shell)
            return cli_shell(argc, argv);
        print_overview(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("virtkit %s\n", VK_VERSION);
        return CLI_OK;
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        print_overview(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "help") && argc < 3) {
        print_overview(stdout);
        return CLI_OK;
    }
    const struct cli_command *c = cli_find(name);
    if (!c) {
        fprintf(stderr, "virtkit: unknown command '%s'; see 'virtkit help'\n", name);
        return CLI_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
