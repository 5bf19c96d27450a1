/* `virtkit img`: the qemu-img compatible image tool.
 *
 * One file per subcommand (img_<name>.c) defining `int img_<name>(argc, argv)`;
 * cmd_img.c holds the subcommand table {name, handler, summary, usage}.
 * Handlers get argv[0] = subcommand name and return CLI_OK, CLI_FAIL,
 * CLI_USAGE or a command-specific status (check, compare).
 *
 * Messages keep qemu-img's wording, prefixed "virtkit: img: ".
 */
#ifndef VK_CLI_IMG_H
#define VK_CLI_IMG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

struct img_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage;
};

const struct img_cmd *img_find(const char *name);

/* "virtkit: img: msg" on stderr; returns CLI_FAIL. */
int img_error(const char *fmt, ...) VK_PRINTF(1, 2);
/* As img_error plus the subcommand's usage line; returns CLI_USAGE. */
int img_usage(const char *sub, const char *fmt, ...) VK_PRINTF(2, 3);
/* Prints the subcommand's usage and summary to stdout when argv has
 * -h/--help; the handler then returns CLI_OK. */
bool img_want_help(int argc, char **argv);

/* --output=human|json; returns 0 or -EINVAL. */
int img_parse_output(const char *s, bool *json);
/* Size argument as qemu-img: suffixes k K M G T P E, 'b' ignored. */
int img_parse_img_size(const char *s, uint64_t *out);

/* Progress bar on stderr? qemu-img prints it on stdout: "    (12.34/100%)\r".
 * Updates are printed at most every 1%; img_progress_done prints 100%. */
struct img_progress {
    bool on;
    double last;
};
void img_progress_init(struct img_progress *p, bool on);
void img_progress_update(struct img_progress *p, uint64_t done, uint64_t total);
void img_progress_done(struct img_progress *p);

/* Subcommand handlers. */
int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_check(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_map(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_measure(int argc, char **argv);
int img_amend(int argc, char **argv);
int img_dd(int argc, char **argv);
int img_bench(int argc, char **argv);

#endif
