/* The interactive shell: `virtkit` with no arguments, like `virsh`.
 * Line editing, history (~/.cache/virtkit/history) and completion of
 * command names, their --options and domain names, through libedit. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

#include "virsh.h"

#define MAX_ARGS 64

int cli_shell(int argc, char **argv);

/* Split a line like a shell does for simple cases: blanks separate words,
 * '...' and "..." quote, backslash escapes. Returns the word count. */
static int split(char *line, char **words, int max)
{
    int n = 0;
    char *r = line, *w = line;
    while (*r && n < max - 1) {
        while (isspace((unsigned char)*r))
            r++;
        if (!*r)
            break;
        words[n++] = w;
        char quote = 0;
        while (*r && (quote || !isspace((unsigned char)*r))) {
            if (quote && *r == quote) {
                quote = 0;
                r++;
            } else if (!quote && (*r == '\'' || *r == '"')) {
                quote = *r++;
            } else if (*r == '\\' && r[1] && quote != '\'') {
                *w++ = r[1];
                r += 2;
            } else {
                *w++ = *r++;
            }
        }
        if (*r)
            r++;
        *w++ = 0;
    }
    words[n] = NULL;
    return n;
}

/* ---- completion ----------------------------------------------------------- */

static char **cands;
static size_t n_cands;

static void cands_reset(void)
{
    for (size_t i = 0; i < n_cands; i++)
        free(cands[i]);
    free(cands);
    cands = NULL;
    n_cands = 0;
}

static void cand_add(const char *s, size_t len)
{
    char **c = realloc(cands, (n_cands + 1) * sizeof(*c));
    if (!c)
        return;
    cands = c;
    cands[n_cands] = strndup(s, len);
    if (cands[n_cands])
        n_cands++;
}

static char *gen(const char *text, int state)
{
    static size_t i;
    if (!state)
        i = 0;
    size_t len = strlen(text);
    while (i < n_cands) {
        const char *c = cands[i++];
        if (!strncmp(c, text, len))
            return strdup(c);
    }
    return NULL;
}

static void collect_options(const struct cli_command *c)
{
    for (const struct cli_option_help *o = c->options; o && o->flags; o++) {
        for (const char *p = o->flags; (p = strstr(p, "--")); ) {
            size_t l = strcspn(p, " ,|=");
            cand_add(p, l);
            p += l;
        }
    }
}

static void collect_domains(void)
{
    struct vk_client *cl = NULL;
    struct vk_err err = { 0 };
    struct json_object *res = NULL;
    if (vk_client_open(NULL, false, &cl, &err) < 0)
        return;
    if (vk_client_call(cl, "domain.list", NULL, &res, &err) == 0) {
        struct json_object *arr = json_object_object_get(res, "domains");
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
            const char *nm = vj_str(json_object_array_get_idx(arr, i), "name", NULL);
            if (nm)
                cand_add(nm, strlen(nm));
        }
        json_object_put(res);
    }
    vk_client_close(cl);
}

static char **complete(const char *text, int start, int end)
{
    cands_reset();
    rl_attempted_completion_over = 1;
    char *line = strndup(rl_line_buffer, (size_t)start);
    char *words[MAX_ARGS];
    int n = line ? split(line, words, MAX_ARGS) : 0;
    if (n == 0) {
        for (const struct cli_command *const *c = cli_commands; *c; c++)
            cand_add((*c)->name, strlen((*c)->name));
        cand_add("quit", 4);
        cand_add("exit", 4);
    } else {
        const struct cli_command *c = cli_find(words[0]);
        if (c && text[0] == '-')
            collect_options(c);
        else if (c && !strcmp(c->group, "Domains"))
            collect_domains();
    }
    free(line);
    return rl_completion_matches(text, gen);
}

/* ---- loop ---------------------------------------------------------------- */

static void history_path(char *out, size_t len)
{
    const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (cache && *cache == '/')
        snprintf(out, len, "%s/virtkit", cache);
    else
        snprintf(out, len, "%s/.cache/virtkit", home && *home ? home : "/tmp");
    vk_mkdir_p(out, 0700);
    size_t l = strlen(out);
    snprintf(out + l, len - l, "/history");
}

int cli_shell(int argc, char **argv)
{
    bool tty = isatty(0);
    char hist[4096];
    if (tty) {
        printf("Welcome to virtkit, the virtualization interactive terminal.\n\n"
               "Type:  'help' for help with commands\n"
               "       'quit' to quit\n\n");
        history_path(hist, sizeof(hist));
        using_history();
        read_history(hist);
        rl_readline_name = "virtkit";
        rl_attempted_completion_function = complete;
    }
    const char *prompt = geteuid() == 0 ? "virtkit # " : "virtkit $ ";
    int last = CLI_OK;
    for (;;) {
        char *line;
        if (tty) {
            line = readline(prompt);
        } else {
            static char buf[8192];
            line = fgets(buf, sizeof(buf), stdin) ? strdup(buf) : NULL;
        }
        if (!line)
            break;
        char *copy = strdup(line);
        char *words[MAX_ARGS];
        int n = copy ? split(copy, words, MAX_ARGS) : 0;
        if (n > 0 && tty)
            add_history(line);
        free(line);
        if (n == 0) {
            free(copy);
            continue;
        }
        if (!strcmp(words[0], "quit") || !strcmp(words[0], "exit")) {
            free(copy);
            break;
        }
        const struct cli_command *c = cli_find(words[0]);
        if (!strcmp(words[0], "help") && n == 1) {
            for (const struct cli_command *const *x = cli_commands; *x; x++)
                printf("    %-20s %s\n", (*x)->name, (*x)->summary);
            printf("\n");
            last = CLI_OK;
        } else if (!c) {
            fprintf(stderr, "virtkit: unknown command: '%s'\n", words[0]);
            last = CLI_USAGE;
        } else {
            last = c->run(n, words);
        }
        fflush(stdout);
        free(copy);
    }
    if (tty) {
        write_history(hist);
        printf("\n");
    }
    cands_reset();
    return last;
}
