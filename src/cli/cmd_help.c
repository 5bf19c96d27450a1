/* virtkit help [COMMAND] */
#include "cli.h"

static int run(int argc, char **argv);

const struct cli_command cmd_help = {
    .name = "help",
    .group = "General",
    .summary = "show help for virtkit or one command",
    .usage = "virtkit help [COMMAND]",
    .run = run,
};

static int run(int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error(&cmd_help, "too many arguments");
    const struct cli_command *c = cli_find(argv[1]);
    if (!c)
        return cli_usage_error(&cmd_help, "unknown command '%s'", argv[1]);
    cli_print_help(c, stdout);
    return CLI_OK;
}
