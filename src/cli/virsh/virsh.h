/* Shared helpers for the virsh-compatible commands (src/cli/virsh/).
 *
 * Every command talks to virtkitd only through the client library
 * (src/daemon/client.h). Output follows virsh: the same columns and words,
 * and a blank line after each successful command (virsh prints it too);
 * --json replaces the text with one JSON document and no blank line. */
#ifndef VK_CLI_VIRSH_H
#define VK_CLI_VIRSH_H

#include <stdbool.h>

#include <json-c/json.h>

#include "cli.h"
#include "client.h"

/* Options: a NULL-name terminated table. kinds:
 *  'b' flag (bool *), 's' option with a value (const char **),
 *  'p' optional positional (const char **), 'P' required positional;
 *  positionals may also be given as --NAME VALUE (virsh allows it). */
struct vopt {
    const char *name;
    char kind;
    void *dst;
};

/* Parse argv (argv[0] = command). Returns CLI_OK or prints a usage error
 * and returns CLI_USAGE. Handles --help (returns -1: caller returns CLI_OK). */
int virsh_parse(const struct cli_command *c, int argc, char **argv, const struct vopt *opts);

/* Connect using -c/--connect (exported by main as $VIRTKIT_DEFAULT_URI),
 * -r/--readonly ($VIRTKIT_READONLY). Prints the error; NULL on failure. */
struct vk_client *virsh_connect(const char *cmd);
/* Call; on error prints "virtkit: CMD: message" and returns CLI_FAIL.
 * params ownership is taken. */
int virsh_call(const char *cmd, struct vk_client *c, const char *method,
               struct json_object *params, struct json_object **result);
/* One-shot: connect, call, close. */
int virsh_call1(const char *cmd, const char *method, struct json_object *params,
                struct json_object **result);
/* {"domain": dom} */
struct json_object *virsh_dom_params(const char *dom);

/* JSON accessors with defaults */
const char *vj_str(struct json_object *o, const char *key, const char *dflt);
int64_t vj_int(struct json_object *o, const char *key, int64_t dflt);
bool vj_bool(struct json_object *o, const char *key);
double vj_double(struct json_object *o, const char *key);

/* virsh's table layout: " H1   H2\n----...\n v1   v2\n". cells[r][c],
 * row 0 is the header. */
void virsh_table(FILE *out, int rows, int cols, const char *const *cells);
/* Print a JSON document (pretty) to stdout. */
void virsh_print_json(struct json_object *o);
/* The blank line virsh prints after a successful command. */
void virsh_done(void);

/* Read a whole file ("-" = stdin). Prints the error; NULL on failure. */
char *virsh_read_file(const char *cmd, const char *path);



/* The common shape "CMD DOMAIN": call method with {"domain"}, print
 * msgfmt with the domain's name ("Domain '%s' suspended"). */
int virsh_simple(const struct cli_command *c, int argc, char **argv, const char *method,
                 const char *msgfmt);
/* The name of a domain given by name/uuid/id (for messages). */
const char *virsh_dom_name(struct json_object *info, const char *fallback);
/* console relay (cmd_console.c): attach to a running domain */
int virsh_console(const char *cmd, const char *dom, bool force);
/* The same; *remote_closed tells whether the daemon ended the relay (the
 * guest's serial port closed, i.e. the VM went away, or another client
 * took over) rather than the user (^], end of input). */
int virsh_console_ex(const char *cmd, const char *dom, bool force, bool *remote_closed);
#endif
