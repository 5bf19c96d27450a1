/* Shared CLI helpers: errors, help printing, command lookup. */
#include <stdarg.h>
#include <string.h>

#include "cli.h"

const struct cli_command *cli_find(const char *name)
{
    for (const struct cli_command *const *c = cli_commands; *c; c++)
        if (!strcmp((*c)->name, name))
            return *c;
    return NULL;
}

static void verror(const char *cmd, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "virtkit: %s: %s\n", cmd, msg);
}

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(cmd, fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

int cli_usage_error(const struct cli_command *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(c->name, fmt, ap);
    va_end(ap);
    fprintf(stderr, "usage: %s\n", c->usage);
    return CLI_USAGE;
}

void cli_print_help(const struct cli_command *c, FILE *out)
{
    fprintf(out, "usage: %s\n\n%s\n", c->usage, c->summary);
    if (c->description)
        fprintf(out, "\n%s\n", c->description);
    if (c->options) {
        fprintf(out, "\nOptions:\n");
        for (const struct cli_option_help *o = c->options; o->flags; o++)
            fprintf(out, "  %-28s %s\n", o->flags, o->help);
    }
}

bool cli_want_help(const struct cli_command *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_print_help(c, stdout);
            return true;
        }
    }
    return false;
}
