/* Helpers shared by the `virtkit img` subcommands. */
#ifndef VK_CLI_IMGUTIL_H
#define VK_CLI_IMGUTIL_H

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "img.h"

/* Pretty-print like qemu-img --output=json (same indentation, same key
 * order), followed by a newline. */
void img_json_print(FILE *out, json_object *obj);

#endif

#include "src/block/block.h"

/* Open an image, printing qemu-img's "Could not open 'x': why" on failure.
 * Returns NULL on failure (message printed). */
struct blk *img_open(const char *path, const char *fmt, unsigned flags,
                     const struct blk_open_opts *opts);
/* -t / -T cache mode -> BLK_O_* flags; -EINVAL for unknown modes. */
int img_cache_flags(const char *mode, unsigned *flags);
/* Append one -o argument to an accumulated option string (qemu-img lets -o
 * repeat). Returns 0 or -ENOMEM. */
int img_opts_append(char **acc, const char *arg);
/* True when the option string asks for help ("help" or "?" item). */
bool img_opts_is_help(const char *opts);
/* Print the "-o help" list for a format's creation options. */
int img_print_create_help(const char *fmt);
/* Check a format name: "raw" or "qcow2". */
bool img_format_known(const char *fmt);
/* Format the error of a failed block call: "msg" from err or strerror. */
const char *img_errstr(const struct vk_err *e, int r);
/* Read-ahead buffer helper: malloc'd aligned to 4 KiB (for O_DIRECT). */
void *img_alloc(size_t len);
/* True when all `len` bytes at `buf` are zero. */
bool img_is_zero(const void *buf, size_t len);
/* Human number for check stats ("%.2f" of a/b percent). */
double img_pct(uint64_t a, uint64_t b);
/* qemu's size_to_str: 3 significant digits, switching unit at 1000. */
void img_size_str(uint64_t v, char *buf, size_t len);
/* "DATE" and "VM CLOCK" columns of snapshot tables. */
void img_snapshot_header(FILE *out);
void img_snapshot_row(FILE *out, const struct blk_snapshot_info *s);
json_object *img_snapshot_json(const struct blk_snapshot_info *s);
/* Full blk_info as qemu-img's ImageInfo JSON object. */
json_object *img_info_json(const struct blk_info *in);
