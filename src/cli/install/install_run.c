/* virtkit install, the doing part: ask the daemon, create the disks and
 * kernel files, define the final domain, start the install phase, attach
 * to the console; and undo all of it when anything fails or the user
 * interrupts before the guest runs (docs/install.md). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "install/install.h"
#include "install/install_cmd.h"
#include "virsh/virsh.h"

/* SIGINT/SIGTERM/SIGHUP while install makes things: finish the step at
 * hand, then undo everything (the guest too if it already started). */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

static void catch_signals(bool on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sa.sa_flags = SA_RESTART;       /* the daemon call in progress completes */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static int interrupted_error(void)
{
    return cli_error("install", "interrupted (signal %d): removing what this install created",
                     (int)interrupted);
}

static void undo(struct vk_client *cl, struct plan *p, bool defined)
{
    struct vk_err err = { 0 };
    if (defined) {
        struct json_object *q = virsh_dom_params(p->in.uuid);
        if (vk_client_call(cl, "domain.undefine", q, NULL, &err) < 0)
            fprintf(stderr, "virtkit: install: removing the definition of '%s': %s\n", p->in.name, err.msg);
    }
    for (int i = 0; i < p->in.n_disks; i++)
        if (p->in.disks[i].created && unlink(p->in.disks[i].path) < 0 && errno != ENOENT)
            fprintf(stderr, "virtkit: install: removing '%s': %s\n", p->in.disks[i].path, strerror(errno));
    if (p->extracted) {
        unlink(p->kernel_out);
        unlink(p->initrd_out);
    }
}

static int call(struct vk_client *cl, const char *method, struct json_object *params,
                struct json_object **res, struct vk_err *err)
{
    return vk_client_call(cl, method, params, res, err);
}

/* Without --network virt-install uses the network 'default' when it is
 * active; else the guest has no interface (virtkit has no user-mode NAT). */
static void default_network(struct vk_client *cl, struct plan *p)
{
    if (p->net_given || p->in.n_nics >= INST_MAX_NICS)
        return;
    struct json_object *q = json_object_new_object(), *res = NULL;
    json_object_object_add(q, "network", json_object_new_string("default"));
    struct vk_err err = { 0 };
    if (vk_client_call(cl, "network.info", q, &res, &err) < 0)
        return;
    if (vj_bool(res, "active")) {
        struct inst_nic *n = &p->in.nics[p->in.n_nics++];
        memset(n, 0, sizeof(*n));
        snprintf(n->type, sizeof(n->type), "network");
        snprintf(n->source, sizeof(n->source), "default");
        inst_random_mac(n->mac);
    }
    json_object_put(res);
}

/* A writable disk another guest already uses (virt-install refuses it:
 * two guests writing one image destroy it). Read-only and shareable
 * disks may be shared. */
static int disks_in_use(struct vk_client *cl, const struct plan *p)
{
    struct json_object *list = NULL;
    struct vk_err err = { 0 };
    if (vk_client_call(cl, "domain.list", NULL, &list, &err) < 0)
        return cli_error("install", "%s", err.msg);
    struct json_object *doms = NULL;
    json_object_object_get_ex(list, "domains", &doms);
    int r = CLI_OK;
    for (size_t i = 0; r == CLI_OK && i < json_object_array_length(doms); i++) {
        const char *name = vj_str(json_object_array_get_idx(doms, i), "name", "");
        const char *uuid = vj_str(json_object_array_get_idx(doms, i), "uuid", name);
        struct json_object *res = NULL, *disks = NULL;
        if (vk_client_call(cl, "domain.disks", virsh_dom_params(uuid), &res, &err) < 0)
            continue;       /* gone meanwhile */
        json_object_object_get_ex(res, "disks", &disks);
        for (size_t k = 0; r == CLI_OK && k < json_object_array_length(disks); k++) {
            struct json_object *dk = json_object_array_get_idx(disks, k);
            char src[PATH_MAX], mine[PATH_MAX];
            if (!realpath(vj_str(dk, "source", ""), src))
                continue;
            for (int j = 0; j < p->in.n_disks; j++) {
                const struct inst_disk *d = &p->in.disks[j];
                if (d->readonly || d->shareable || !d->exists || !realpath(d->path, mine) ||
                    strcmp(mine, src))
                    continue;
                r = cli_error("install", "Disk %s is already in use by other guests ['%s'].", d->path, name);
                break;
            }
        }
        json_object_put(res);
    }
    json_object_put(list);
    return r;
}

/* Checks against the daemon before anything is made: the name is free,
 * every network named exists, no writable disk is another guest's. */
static int preflight(struct vk_client *cl, struct plan *p)
{
    struct vk_err err = { 0 };
    default_network(cl, p);
    if (call(cl, "domain.info", virsh_dom_params(p->in.name), NULL, &err) == 0)
        return cli_error("install", "Guest name '%s' is already in use.", p->in.name);
    if (vk_client_last_code(cl) != VK_RPC_E_NO_DOMAIN)
        return cli_error("install", "%s", err.msg);
    for (int i = 0; i < p->in.n_nics; i++) {
        const struct inst_nic *n = &p->in.nics[i];
        if (strcmp(n->type, "network"))
            continue;
        struct json_object *q = json_object_new_object();
        json_object_object_add(q, "network", json_object_new_string(n->source));
        if (call(cl, "network.info", q, NULL, &err) < 0)
            return cli_error("install", "%s", err.msg);
    }
    return disks_in_use(cl, p);
}

static int make_dirs(const char *file)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return vk_mkdir_p(dir, 0755);
}

static int create_things(struct plan *p)
{
    struct vk_err err = { 0 };
    if (p->layout) {
        printf("Retrieving '%s' from %s\n", p->layout->kernel, p->iso);
        printf("Retrieving '%s' from %s\n", p->layout->initrd, p->iso);
        fflush(stdout);
        int r = make_dirs(p->kernel_out);
        if (r < 0)
            return cli_error("install", "creating the folder of '%s': %s", p->kernel_out, strerror(-r));
        p->extracted = true;
        if (location_extract(p->iso, p->layout, p->kernel_out, p->initrd_out, &interrupted, &err) < 0)
            return interrupted ? interrupted_error() : cli_error("install", "%s", err.msg);
        if (initrd_inject(p->initrd_out, p->inject, p->n_inject, &err) < 0)
            return cli_error("install", "%s", err.msg);
    }
    for (int i = 0; i < p->in.n_disks; i++) {
        struct inst_disk *d = &p->in.disks[i];
        if (interrupted)
            return interrupted_error();
        if (d->exists)
            continue;
        char size[32];
        vk_format_size(d->size, size, sizeof(size));
        const char *base = strrchr(d->path, '/');
        printf("Allocating '%s'  |  %s\n", base ? base + 1 : d->path, size);
        fflush(stdout);
        char prefix[PATH_MAX];
        snprintf(prefix, sizeof(prefix), "%s/images/", p->paths.state);
        if (!strncmp(d->path, prefix, strlen(prefix)) && make_dirs(d->path) < 0)
            return cli_error("install", "creating '%s': %s", prefix, strerror(errno));
        if (path_exists(d->path))
            return cli_error("install", "'%s' appeared meanwhile; not overwriting it", d->path);
        d->created = true;
        if (blk_create(d->path, d->format, d->size, NULL, &err) < 0)
            return cli_error("install", "Couldn't create storage volume '%s': %s", d->path, err.msg);
    }
    return CLI_OK;
}

static int dom_state(const char *uuid, char *state, size_t len)
{
    struct vk_client *cl = virsh_connect("install");
    if (!cl)
        return -1;
    struct json_object *res = NULL;
    struct vk_err err = { 0 };
    int r = vk_client_call(cl, "domain.info", virsh_dom_params(uuid), &res, &err);
    vk_client_close(cl);
    if (r < 0) {
        snprintf(state, len, "gone");
        return 0;
    }
    snprintf(state, len, "%s", vj_str(res, "state", ""));
    json_object_put(res);
    return 0;
}

/* Wait until the domain is shut off; minutes < 0 = forever (seconds are
 * added to the limit). 1 = timed out. */
static int wait_shutoff(const char *uuid, long minutes, long seconds)
{
    time_t end = time(NULL) + minutes * 60 + seconds;
    for (;;) {
        char st[32];
        if (dom_state(uuid, st, sizeof(st)) < 0)
            return -1;
        if (!strcmp(st, "shut off") || !strcmp(st, "gone"))
            return 0;
        if (minutes >= 0 && time(NULL) >= end)
            return 1;
        struct timespec ts = { 0, 500 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

static int finish(const struct args *a, const struct plan *p)
{
    bool install_phase = p->in.inst_kernel != NULL;
    char st[32] = "";
    if (!a->noautoconsole) {
        printf("Running text console command: virtkit --connect %s console %s\n", inst_uri_name(), p->in.name);
        fflush(stdout);
        bool guest_left = false;
        int r = virsh_console_ex("install", p->in.uuid, false, &guest_left);
        if (r != CLI_OK)
            return r;
        /* The relay ends when the VM closes its serial port, a moment
         * before the daemon has reaped it: let the state catch up (bounded,
         * for the case where another client took the console over). */
        if (guest_left && wait_shutoff(p->in.uuid, 0, 60) < 0)
            return CLI_FAIL;
    }
    if (dom_state(p->in.uuid, st, sizeof(st)) < 0)
        return CLI_FAIL;
    bool running = strcmp(st, "shut off") && strcmp(st, "gone");
    if (running && a->has_wait) {
        long minutes = a->wait ? strtol(a->wait, NULL, 10) : -1;
        printf("Domain installation still in progress. Waiting for installation to complete.\n");
        fflush(stdout);
        int r = wait_shutoff(p->in.uuid, minutes, 0);
        if (r < 0)
            return CLI_FAIL;
        if (r == 1)
            return cli_error("install", "Installation has exceeded specified time limit. Exiting application.");
        running = false;
    }
    if (running) {
        if (install_phase)
            printf("Domain is still running. Installation may be in progress.\n"
                   "You can reconnect to the console to complete the installation process.\n");
        else
            printf("Domain creation completed.\n");
        return CLI_OK;
    }
    printf("Domain has shutdown. Continuing.\n");
    printf("Domain creation completed.\n");
    if (p->in.boot.kernel)
        printf("You can restart your domain by running:\n  virtkit --connect %s start %s\n",
               inst_uri_name(), p->in.name);
    else    /* the final definition boots from its disk: not possible yet */
        printf("The domain now boots from its disk, which virtkit-vm cannot do yet (no firmware boot):\n"
               "give it the installed system's kernel with\n  virtkit --connect %s edit %s\n"
               "(<os><kernel>, <initrd>, <cmdline>), then start it.\n", inst_uri_name(), p->in.name);
    return CLI_OK;
}

int inst_run(struct args *a, struct plan *p)
{
    struct vk_client *cl = virsh_connect("install");
    if (!cl)
        return CLI_FAIL;
    int r = preflight(cl, p);
    if (r != CLI_OK || a->dry_run) {
        vk_client_close(cl);
        if (r == CLI_OK)
            printf("Dry run completed successfully\n");
        return r;
    }
    printf("\nStarting install...\n");
    fflush(stdout);
    catch_signals(true);
    bool defined = false, started = false;
    struct vk_err err = { 0 };
    struct json_object *q;
    char *final_xml = NULL, *install_xml = NULL;
    if ((r = create_things(p)) != CLI_OK)
        goto fail;
    if (interrupted) {
        r = interrupted_error();
        goto fail;
    }
    final_xml = inst_domain_xml(&p->in, false);
    install_xml = p->in.inst_kernel ? inst_domain_xml(&p->in, true) : NULL;
    if (!final_xml || (p->in.inst_kernel && !install_xml)) {
        r = cli_error("install", "out of memory");
        goto fail;
    }
    printf("Creating domain...\n");
    fflush(stdout);
    if (!a->transient) {
        q = json_object_new_object();
        json_object_object_add(q, "xml", json_object_new_string(final_xml));
        if (call(cl, "domain.define", q, NULL, &err) < 0) {
            r = cli_error("install", "%s", err.msg);
            goto fail;
        }
        defined = true;
    }
    if (interrupted) {
        r = interrupted_error();
        goto fail;
    }
    /* Start: the install phase as a transient override of the definition
     * (the definition keeps the final XML), or the definition itself. */
    if (install_xml || a->transient) {    /* --transient: nothing defined, gone when it stops */
        q = json_object_new_object();
        json_object_object_add(q, "xml", json_object_new_string(install_xml ? install_xml : final_xml));
        r = call(cl, "domain.create", q, NULL, &err);
    } else {
        r = call(cl, "domain.start", virsh_dom_params(p->in.uuid), NULL, &err);
    }
    if (r < 0) {
        r = cli_error("install", "Failed to start domain '%s': %s", p->in.name, err.msg);
        goto fail;
    }
    started = true;
    if (interrupted) {
        r = interrupted_error();
        goto fail;
    }
    if (a->autostart) {
        q = virsh_dom_params(p->in.uuid);
        json_object_object_add(q, "enable", json_object_new_boolean(true));
        if (call(cl, "domain.autostart", q, NULL, &err) < 0)
            fprintf(stderr, "virtkit: install: warning: could not mark '%s' as autostarted: %s\n",
                    p->in.name, err.msg);
    }
    vk_client_close(cl);
    free(final_xml);
    free(install_xml);
    catch_signals(false);   /* from here on the guest stays, as virt-install leaves it */
    return finish(a, p);
fail:
    free(final_xml);
    free(install_xml);
    if (started && call(cl, "domain.destroy", virsh_dom_params(p->in.uuid), NULL, &err) < 0)
        fprintf(stderr, "virtkit: install: stopping '%s': %s\n", p->in.name, err.msg);
    undo(cl, p, defined);
    vk_client_close(cl);
    catch_signals(false);
    return r == CLI_OK ? CLI_FAIL : r;
}

