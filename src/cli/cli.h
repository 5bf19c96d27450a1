/* The `virtkit` command line: git-style subcommands from one table.
 *
 * Adding a command = one file `cmd_<name>.c` defining a `const struct
 * cli_command cmd_<name>` and one line in commands.c.
 *
 * Exit status (documented in docs/cli.md):
 *   0  success
 *   1  operational failure (the command ran and something went wrong)
 *   2  usage error (unknown command or option, missing argument)
 * Errors go to stderr as "virtkit: COMMAND: what is wrong".
 */
#ifndef VK_CLI_H
#define VK_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "util.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

struct cli_option_help {
    const char *flags;          /* "-j, --json" */
    const char *help;
};

struct cli_command {
    const char *name;
    const char *group;          /* help section: "Host", "Images", "Domains", ... */
    const char *summary;        /* one line for `virtkit help` */
    const char *usage;          /* "virtkit host-validate [--json] [--root DIR]" */
    const char *description;    /* paragraph for `help COMMAND`, may be NULL */
    const struct cli_option_help *options;  /* NULL-terminated, may be NULL */
    const char *const *subcommands;         /* for completion, NULL-terminated, may be NULL */
    /* argv[0] is the command name. Return CLI_OK / CLI_FAIL / CLI_USAGE. */
    int (*run)(int argc, char **argv);
};

extern const struct cli_command *const cli_commands[];
const struct cli_command *cli_find(const char *name);

/* "virtkit: CMD: message" on stderr; returns CLI_FAIL (or CLI_USAGE). */
int cli_error(const char *cmd, const char *fmt, ...) VK_PRINTF(2, 3);
int cli_usage_error(const struct cli_command *c, const char *fmt, ...) VK_PRINTF(2, 3);
/* Print full help for a command to `out`. */
void cli_print_help(const struct cli_command *c, FILE *out);
/* True if argv has -h/--help before any "--"; prints help. Commands call it
 * first so every command answers --help the same way. */
bool cli_want_help(const struct cli_command *c, int argc, char **argv);

#endif
