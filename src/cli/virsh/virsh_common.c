/* Shared helpers for the virsh-compatible commands (virsh.h). */
#include "virsh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int virsh_parse(const struct cli_command *c, int argc, char **argv, const struct vopt *opts)
{
    if (cli_want_help(c, argc, argv))
        return -1;
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && !strcmp(a, "--")) {
            dashdash = true;
            continue;
        }
        if (!dashdash && a[0] == '-' && a[1] == '-' && a[2]) {
            char name[64];
            const char *eq = strchr(a + 2, '=');
            snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a - 2) : (int)strlen(a + 2), a + 2);
            const struct vopt *o = NULL;
            for (const struct vopt *x = opts; x->name; x++)
                if (!strcmp(x->name, name))
                    o = x;
            if (!o)
                return cli_usage_error(c, "command '%s' doesn't support option --%s", c->name, name);
            if (o->kind == 'b') {
                if (eq)
                    return cli_usage_error(c, "option --%s takes no value", name);
                *(bool *)o->dst = true;
                continue;
            }
            const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val)
                return cli_usage_error(c, "option --%s needs a value", name);
            *(const char **)o->dst = val;
            continue;
        }
        /* positional: the first unset one */
        const struct vopt *o = NULL;
        for (const struct vopt *x = opts; x->name && !o; x++)
            if ((x->kind == 'p' || x->kind == 'P') && !*(const char **)x->dst)
                o = x;
        if (!o)
            return cli_usage_error(c, "unexpected data '%s'", a);
        *(const char **)o->dst = a;
    }
    for (const struct vopt *x = opts; x->name; x++)
        if (x->kind == 'P' && !*(const char **)x->dst)
            return cli_usage_error(c, "command '%s' requires <%s> option", c->name, x->name);
    return CLI_OK;
}

struct vk_client *virsh_connect(const char *cmd)
{
    struct vk_client *cl = NULL;
    struct vk_err err = { 0 };
    if (vk_client_open(NULL, false, &cl, &err) < 0) {
        cli_error(cmd, "failed to connect to the hypervisor: %s", err.msg);
        return NULL;
    }
    return cl;
}

int virsh_call(const char *cmd, struct vk_client *c, const char *method,
               struct json_object *params, struct json_object **result)
{
    struct vk_err err = { 0 };
    if (vk_client_call(c, method, params, result, &err) < 0) {
        cli_error(cmd, "%s", err.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int virsh_call1(const char *cmd, const char *method, struct json_object *params,
                struct json_object **result)
{
    struct vk_client *c = virsh_connect(cmd);
    if (!c) {
        json_object_put(params);
        return CLI_FAIL;
    }
    int r = virsh_call(cmd, c, method, params, result);
    vk_client_close(c);
    return r;
}

struct json_object *virsh_dom_params(const char *dom)
{
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "domain", json_object_new_string(dom));
    return p;
}

const char *vj_str(struct json_object *o, const char *key, const char *dflt)
{
    struct json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return dflt;
}

int64_t vj_int(struct json_object *o, const char *key, int64_t dflt)
{
    struct json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    return dflt;
}

bool vj_bool(struct json_object *o, const char *key)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

double vj_double(struct json_object *o, const char *key)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0;
}

void virsh_table(FILE *out, int rows, int cols, const char *const *cells)
{
    size_t width[16] = { 0 };
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols && c < 16; c++)
            width[c] = VK_MAX(width[c], strlen(cells[r * cols + c]));
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols && c < 16; c++) {
            const char *s = cells[r * cols + c];
            if (c < cols - 1)
                fprintf(out, " %-*s  ", (int)width[c], s);
            else
                fprintf(out, " %s", s);
        }
        fputc('\n', out);
        if (r == 0) {
            for (int c = 0; c < cols && c < 16; c++)
                for (size_t k = 0; k < width[c] + 3; k++)
                    fputc('-', out);
            fputc('\n', out);
        }
    }
}

void virsh_print_json(struct json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

void virsh_done(void)
{
    putchar('\n');
}

char *virsh_read_file(const char *cmd, const char *path)
{
    char *data = NULL;
    size_t len;
    struct vk_err err = { 0 };
    if (!strcmp(path, "-")) {
        size_t cap = 0;
        len = 0;
        for (;;) {
            if (cap - len < 4096) {
                cap = cap * 2 + 8192;
                char *n = realloc(data, cap + 1);
                if (!n) {
                    free(data);
                    cli_error(cmd, "out of memory");
                    return NULL;
                }
                data = n;
            }
            size_t n = fread(data + len, 1, cap - len, stdin);
            if (!n)
                break;
            len += n;
        }
        data[len] = 0;
        return data;
    }
    if (vk_read_file(path, &data, &len, &err) < 0) {
        cli_error(cmd, "Failed to open file '%s': %s", path, err.msg);
        return NULL;
    }
    return data;
}

const char *virsh_dom_name(struct json_object *info, const char *fallback)
{
    return vj_str(info, "name", fallback);
}

int virsh_simple(const struct cli_command *c, int argc, char **argv, const char *method,
                 const char *msgfmt)
{
    const char *dom = NULL;
    const struct vopt o[] = { { "domain", 'P', &dom }, { NULL, 0, NULL } };
    int r = virsh_parse(c, argc, argv, o);
    if (r)
        return r < 0 ? CLI_OK : r;
    struct vk_client *cl = virsh_connect(c->name);
    if (!cl)
        return CLI_FAIL;
    struct json_object *info = NULL;
    r = virsh_call(c->name, cl, "domain.info", virsh_dom_params(dom), &info);
    if (r == CLI_OK)
        r = virsh_call(c->name, cl, method, virsh_dom_params(dom), NULL);
    if (r == CLI_OK) {
        printf(msgfmt, virsh_dom_name(info, dom));
        putchar('\n');
        virsh_done();
    }
    json_object_put(info);
    vk_client_close(cl);
    return r;
}
