/* virtkitd: the management daemon. One thread, one epoll loop (loop.c):
 * client connections (conn.c, JSON lines, rpc.h), VM process exits
 * (pidfds), VM control and serial sockets, timers, signals. This file:
 * options, start-up order, the emulator lookup, signals, idle exit. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "dispatch.h"
#include "domain.h"

/* ---- emulator lookup ------------------------------------------------------- */

/* libvirt-written XML names QEMU as the emulator; virtkit runs its own. */
static bool is_qemu(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return !strncmp(base, "qemu-system-", 12) || !strcmp(base, "qemu-kvm") || !strcmp(base, "kvm");
}

void vkd_emulator_path(const char *xml_emulator, char *out, size_t len)
{
    if (xml_emulator && *xml_emulator && !is_qemu(xml_emulator)) {
        snprintf(out, len, "%s", xml_emulator);
        return;
    }
    const char *env = getenv("VIRTKIT_VM");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            const char *cands[] = { "/virtkit-vm", "/../vm/virtkit-vm" };
            for (size_t i = 0; i < VK_ARRAY_SIZE(cands); i++) {
                snprintf(out, len, "%s%s", self, cands[i]);
                if (access(out, X_OK) == 0)
                    return;
            }
        }
    }
    snprintf(out, len, "%s/virtkit-vm", VK_LIBEXECDIR);
    if (access(out, X_OK) == 0)
        return;
    snprintf(out, len, "virtkit-vm");
}

/* ---- main -------------------------------------------------------------- */

static void signal_ready(struct vkd *d, int fd, uint32_t events, void *opaque)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            vkd_reap_children();
        else if (si.ssi_signo == SIGHUP)
            vk_info("SIGHUP: nothing to reload (definitions are read at start-up)");
        else
            d->quit = true;
    }
}

/* --timeout: a session daemon started on demand exits when it has had no
 * clients and no running domains for that long (as libvirt's does). */
static int idle_timeout_s, idle_s;

static void idle_tick(struct vkd *d, void *opaque)
{
    bool busy = d->conns != NULL;
    for (struct domain *x = d->domains; x && !busy; x = x->next)
        busy = dom_is_active(x) || x->starting;
    idle_s = busy ? 0 : idle_s + 1;
    if (idle_s >= idle_timeout_s) {
        vk_info("idle for %d s: exiting", idle_s);
        d->quit = true;
        return;
    }
    if (vkd_timer(d, 1000, idle_tick, NULL) < 0)
        vk_warn("idle timer failed; --timeout disabled");
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: virtkitd [--system|--session] [--root DIR] [--daemon] [--verbose]\n\n"
        "The virtkit management daemon: keeps domain definitions, supervises one\n"
        "virtkit-vm process per running domain and serves the RPC API (docs/rpc.md).\n\n"
        "  --system       system instance (default for root): /etc/virtkit, /var/lib/virtkit,\n"
        "                 /run/virtkit/virtkit-sock (rw) and virtkit-sock-ro\n"
        "  --session      per-user instance (default for other users), XDG directories\n"
        "  --root DIR     prefix every path with DIR (also $VIRTKIT_ROOT)\n"
        "  --daemon       detach once the sockets listen; log to LOGDIR/virtkitd.log\n"
        "  --timeout SECS exit after SECS without clients and running domains\n"
        "  --group NAME   the admin group (default virtkit, also $VIRTKIT_GROUP)\n"
        "  --verbose      debug logging\n"
        "  --version      print the version\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "system", no_argument, NULL, 's' },
        { "session", no_argument, NULL, 'S' },
        { "root", required_argument, NULL, 'r' },
        { "daemon", no_argument, NULL, 'd' },
        { "verbose", no_argument, NULL, 'v' },
        { "timeout", required_argument, NULL, 't' },
        { "group", required_argument, NULL, 'g' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int mode = -1;
    const char *root = NULL;
    bool daemonize = false;
    int o;
    vk_log_set_prefix("virtkitd");
    const char *group = getenv("VIRTKIT_GROUP");
    while ((o = getopt_long(argc, argv, "r:dvVht:g:", opts, NULL)) != -1) {
        switch (o) {
        case 's': mode = 1; break;
        case 'S': mode = 0; break;
        case 'r': root = optarg; break;
        case 'd': daemonize = true; break;
        case 'g': group = optarg; break;
        case 'v': vk_log_set_level(VK_LOG_DEBUG); break;
        case 't':
            if (vk_parse_int(optarg, 1, 1 << 30, &idle_timeout_s) < 0) {
                fprintf(stderr, "virtkitd: --timeout: '%s' is not a number of seconds\n", optarg);
                return 2;
            }
            break;
        case 'V': printf("virtkitd %s (protocol %d)\n", VK_VERSION, VK_RPC_PROTOCOL); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    /* --daemon: fork first (epoll and signalfd must belong to the process
     * that uses them); the parent exits once the child reports that its
     * sockets listen, with the child's status. */
    int ready_pipe[2] = { -1, -1 };
    if (daemonize) {
        if (pipe2(ready_pipe, O_CLOEXEC) < 0) {
            fprintf(stderr, "virtkitd: pipe: %s\n", strerror(errno));
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "virtkitd: fork: %s\n", strerror(errno));
            return 1;
        }
        if (pid > 0) {
            close(ready_pipe[1]);
            char ok = 0;
            ssize_t n = read(ready_pipe[0], &ok, 1);
            _exit(n == 1 && ok == 1 ? 0 : 1);
        }
        close(ready_pipe[0]);
        setsid();
    }
    static struct vkd d;
    struct vk_err err = { 0 };
    d.system = mode < 0 ? geteuid() == 0 : mode == 1;
    d.owner_uid = geteuid();
    struct group *gr = getgrnam(group && *group ? group : "virtkit");
    d.virtkit_gid = gr ? gr->gr_gid : (gid_t)-1;
    if (vk_paths_init(&d.paths, d.system, root, &err) < 0 ||
        vk_paths_mkdirs(&d.paths, d.system, &err) < 0) {
        fprintf(stderr, "virtkitd: %s\n", err.msg);
        return 1;
    }
    /* one daemon per instance */
    char lockpath[PATH_MAX + 32];
    snprintf(lockpath, sizeof(lockpath), "%s/virtkitd.lock", d.paths.run);
    int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "virtkitd: another virtkitd runs for %s (%s)\n", d.paths.run,
                lockfd < 0 ? strerror(errno) : "lock held");
        return 1;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* every client and every VM (pidfd, QMP, serial) costs descriptors */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    d.epfd = epoll_create1(EPOLL_CLOEXEC);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (d.epfd < 0 || sfd < 0 || vkd_watch(&d, sfd, EPOLLIN, signal_ready, NULL) < 0) {
        fprintf(stderr, "virtkitd: event loop: %s\n", strerror(errno));
        return 1;
    }
    d.listen_rw = vkd_listen(d.paths.sock_rw, d.system ? 0660 : 0600,
                            d.system ? d.virtkit_gid : (gid_t)-1, &err);
    d.listen_ro = d.listen_rw < 0 ? -1 :
                  vkd_listen(d.paths.sock_ro, d.system ? 0666 : 0600, (gid_t)-1, &err);
    if (d.listen_rw < 0 || d.listen_ro < 0 ||
        vkd_watch(&d, d.listen_rw, EPOLLIN, vkd_accept, NULL) < 0 ||
        vkd_watch(&d, d.listen_ro, EPOLLIN, vkd_accept, (void *)1) < 0) {
        fprintf(stderr, "virtkitd: %s\n", err.msg);
        return 1;
    }
    for (size_t a = 0; a < rpc_n_areas; a++) {
        if (!rpc_areas[a] || !rpc_areas[a]->init)
            continue;
        if (rpc_areas[a]->init(&d, &err) < 0) {
            fprintf(stderr, "virtkitd: %s: %s\n", rpc_areas[a]->name, err.msg);
            return 1;
        }
    }
    if (daemonize) {
        char logpath[PATH_MAX + 32];
        snprintf(logpath, sizeof(logpath), "%s/virtkitd.log", d.paths.log);
        int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul >= 0)
            dup2(nul, 0);
        if (lfd >= 0) {
            dup2(lfd, 1);
            dup2(lfd, 2);
        }
    }
    {
        char pidpath[PATH_MAX + 32], pidtxt[32];
        snprintf(pidpath, sizeof(pidpath), "%s/virtkitd.pid", d.paths.run);
        int n = snprintf(pidtxt, sizeof(pidtxt), "%d\n", (int)getpid());
        if (vk_write_file_atomic(pidpath, pidtxt, (size_t)n, 0644, &err) < 0)
            vk_warn("%s", err.msg);
    }
    vk_info("listening on %s and %s", d.paths.sock_rw, d.paths.sock_ro);
    if (ready_pipe[1] >= 0) {
        char ok = 1;
        if (write(ready_pipe[1], &ok, 1) != 1)
            vk_warn("could not tell the parent that the daemon is ready");
        close(ready_pipe[1]);
    }
    for (size_t a = 0; a < rpc_n_areas; a++)
        if (rpc_areas[a] && rpc_areas[a]->autostart)
            rpc_areas[a]->autostart(&d);

    if (idle_timeout_s && vkd_timer(&d, 1000, idle_tick, NULL) < 0)
        vk_warn("idle timer failed; --timeout disabled");
    while (!d.quit) {
        struct epoll_event evs[64];
        int n = epoll_wait(d.epfd, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            vk_error("epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++)
            vkd_loop_dispatch(&d, &evs[i]);
    }
    vk_info("exiting; running domains keep running");
    for (size_t a = rpc_n_areas; a-- > 0;)
        if (rpc_areas[a] && rpc_areas[a]->fini)
            rpc_areas[a]->fini(&d);
    vkd_conns_free_all(&d);
    unlink(d.paths.sock_rw);
    unlink(d.paths.sock_ro);
    snprintf(lockpath, sizeof(lockpath), "%s/virtkitd.pid", d.paths.run);
    unlink(lockpath);
    vkd_loop_fini();
    return 0;
}
