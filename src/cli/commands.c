/* The command table. Order = order in `virtkit help` (grouped). */
#include <stddef.h>

#include "cli.h"

extern const struct cli_command cmd_help, cmd_completion,
    cmd_host_validate;
extern const struct cli_command cmd_bridge;
extern const struct cli_command cmd_img;

const struct cli_command *const cli_commands[] = {
    &cmd_help,
    &cmd_completion,
    &cmd_host_validate,
    &cmd_bridge,
    &cmd_img,
    NULL,
};
