/* virtkit: entry point and dispatch through the command table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static void print_overview(FILE *out)
{
    fprintf(out, "usage: virtkit [--version] [--help] [-c URI] [-r] COMMAND [ARGS...]\n\n"
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

/* Global options before the command (virsh's): -c/--connect URI and
 * -r/--readonly, handed to the daemon client through the environment. */
static int global_options(int *argc, char ***argv)
{
    while (*argc > 1 && (*argv)[1][0] == '-') {
        const char *a = (*argv)[1];
        if (!strcmp(a, "-c") || !strcmp(a, "--connect")) {
            if (*argc < 3) {
                fprintf(stderr, "virtkit: %s needs a URI\n", a);
                return -1;
            }
            setenv("VIRTKIT_DEFAULT_URI", (*argv)[2], 1);
            (*argc)--;
            (*argv)++;
        } else if (!strncmp(a, "--connect=", 10)) {
            setenv("VIRTKIT_DEFAULT_URI", a + 10, 1);
        } else if (!strcmp(a, "-r") || !strcmp(a, "--readonly")) {
            setenv("VIRTKIT_READONLY", "1", 1);
        } else {
            break;
        }
        (*argc)--;
        (*argv)++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    vk_log_set_prefix("virtkit");
    if (global_options(&argc, &argv) < 0)
        return CLI_USAGE;
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
