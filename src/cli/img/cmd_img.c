/* virtkit img: dispatch to the qemu-img compatible subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

static const struct img_cmd img_cmds[] = {
    { "amend", img_amend, "change format-specific options of an image",
      "amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename" },
    { "bench", img_bench, "run a simple I/O benchmark on an image",
      "bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-n] "
      "[--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] "
      "[-t cache] [-w] [-U] filename" },
    { "check", img_check, "check an image for consistency (and repair it)",
      "check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename" },
    { "commit", img_commit, "commit an overlay's changes into its backing file",
      "commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] filename" },
    { "compare", img_compare, "compare the guest-visible content of two images",
      "compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2" },
    { "convert", img_convert, "convert an image to another format or layout",
      "convert [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] "
      "[-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-S sparse_size] "
      "[-m num_coroutines] [-W] filename [filename2 [...]] output_filename" },
    { "create", img_create, "create a new image",
      "create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]" },
    { "dd", img_dd, "copy data between images, dd style",
      "dd [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output" },
    { "info", img_info, "show information about an image",
      "info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename" },
    { "map", img_map, "show the allocation map of an image",
      "map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename" },
    { "measure", img_measure, "compute the file size needed for an image",
      "measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]" },
    { "snapshot", img_snapshot, "list, create, apply or delete internal snapshots",
      "snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename" },
    { "rebase", img_rebase, "change the backing file of an image",
      "rebase [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename" },
    { "resize", img_resize, "change the virtual size of an image",
      "resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size" },
};

const struct img_cmd *img_find(const char *name)
{
    for (size_t i = 0; i < VK_ARRAY_SIZE(img_cmds); i++)
        if (!strcmp(img_cmds[i].name, name))
            return &img_cmds[i];
    return NULL;
}

int img_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("virtkit: img: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}

int img_usage(const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("virtkit: img: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    const struct img_cmd *c = img_find(sub);
    if (c)
        fprintf(stderr, "usage: virtkit img %s\n", c->usage);
    else
        fprintf(stderr, "Try 'virtkit img --help' for more information\n");
    return CLI_USAGE;
}

bool img_want_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            const struct img_cmd *c = img_find(argv[0]);
            if (c)
                printf("usage: virtkit img %s\n\n%s\n", c->usage, c->summary);
            return true;
        }
    }
    return false;
}

int img_parse_output(const char *s, bool *json)
{
    if (!strcmp(s, "json"))
        *json = true;
    else if (!strcmp(s, "human"))
        *json = false;
    else
        return -EINVAL;
    return 0;
}

int img_parse_img_size(const char *s, uint64_t *out)
{
    /* qemu-img refuses sizes that do not fit in int64 */
    int r = vk_parse_size(s, out);
    if (r == 0 && *out > INT64_MAX)
        r = -ERANGE;
    return r;
}

static void print_overview(FILE *out)
{
    fprintf(out, "usage: virtkit img COMMAND [command options]\n"
                 "qemu-img compatible disk image utility (formats: raw, qcow2)\n\n"
                 "Command syntax:\n");
    for (size_t i = 0; i < VK_ARRAY_SIZE(img_cmds); i++)
        fprintf(out, "  %s\n", img_cmds[i].usage);
    fprintf(out, "\nCommands:\n");
    for (size_t i = 0; i < VK_ARRAY_SIZE(img_cmds); i++)
        fprintf(out, "  %-10s %s\n", img_cmds[i].name, img_cmds[i].summary);
    fprintf(out, "\n'size' takes the suffixes k K M G T P E (powers of 1024); 'b' is ignored.\n"
                 "Use '-o help' to list a format's creation options.\n"
                 "Exit status: 0 success, 1 failure, 2 usage error; check: 0 clean,\n"
                 "1 not completed, 2 corruptions, 3 leaks; compare: 0 identical, 1 different, 2 error.\n"
                 "See docs/img.md for differences from qemu-img.\n");
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_overview(stdout);
        return CLI_OK;
    }
    const struct img_cmd *c = img_find(argv[1]);
    if (!c) {
        fprintf(stderr, "virtkit: img: Command not found: %s\n"
                        "Try 'virtkit img --help' for more information\n", argv[1]);
        return CLI_USAGE;
    }
    if (img_want_help(argc - 1, argv + 1))
        return CLI_OK;
    return c->run(argc - 1, argv + 1);
}

static const char *const subcommands[] = {
    "amend", "bench", "check", "commit", "compare", "convert", "create", "dd",
    "info", "map", "measure", "snapshot", "rebase", "resize", NULL,
};

const struct cli_command cmd_img = {
    .name = "img",
    .group = "Images",
    .summary = "manage disk images (qemu-img compatible)",
    .usage = "virtkit img COMMAND [command options]",
    .description =
        "Same subcommands, options, -o creation options, --output=json shapes and\n"
        "exit codes as qemu-img 7.2, for the raw and qcow2 formats. Run\n"
        "'virtkit img --help' for the command syntax, and see docs/img.md.",
    .subcommands = subcommands,
    .run = run,
};
