/* Supervision: start virtkit-vm for a domain, notice its exit, stop it,
 * adopt VMs a previous daemon left running (domain.h).
 *
 * The VM is our child (we are also a child subreaper), in its own session
 * so a terminal's ^C never reaches it; it survives a daemon restart. Exits
 * are seen through pidfds (never by polling kill(pid, 0)). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "domain.h"
#include "netif.h"

/* ---- helpers ----------------------------------------------------------------- */

struct argv_buf { char **v; int n, cap; bool oom; };

static void arg_add(struct argv_buf *a, const char *fmt, ...) VK_PRINTF(2, 3);
static void arg_add(struct argv_buf *a, const char *fmt, ...)
{
    if (a->n + 2 > a->cap) {
        int cap = a->cap * 2 + 16;
        char **v = realloc(a->v, (size_t)cap * sizeof(*v));
        if (!v) {
            a->oom = true;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&a->v[a->n], fmt, ap) < 0)
        a->oom = true;
    else
        a->n++;
    va_end(ap);
    a->v[a->n] = NULL;
}

static void arg_free(struct argv_buf *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
}

/* option values are comma separated: double commas in paths (QEMU rule) */
static char *comma_escape(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == ',' ? 2 : 1;
    char *r = malloc(n + 1), *q = r;
    if (!r)
        return NULL;
    for (const char *p = s; *p; p++) {
        *q++ = *p;
        if (*p == ',')
            *q++ = ',';
    }
    *q = 0;
    return r;
}

/* Sockets live directly in run/ under a short name (sun_path is 108 bytes). */
static int sock_path(struct vkd *d, const struct dom_def *def, const char *suffix,
                     char *out, size_t len, struct vk_err *err)
{
    const unsigned char *u = def->uuid;
    int n = snprintf(out, len, "%s/%02x%02x%02x%02x%02x%02x%02x%02x.%s", d->paths.run,
                     u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], suffix);
    if (n >= 108)
        return vk_err_set(err, -ENAMETOOLONG,
                          "socket path %s is too long for a UNIX socket (use a shorter --root)", out);
    return 0;
}

static int proc_stat_fields(pid_t pid, uint64_t *start, uint64_t *cpu_ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    /* fields after ')': 3=state ... 14=utime 15=stime ... 22=starttime */
    unsigned long long v[24] = { 0 };
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok && field < 23; tok = strtok(NULL, " ")) {
        field++;
        if (field >= 14)
            v[field] = strtoull(tok, NULL, 10);
    }
    if (field < 22)
        return -EIO;
    if (start)
        *start = v[22];
    if (cpu_ticks)
        *cpu_ticks = v[14] + v[15];
    return 0;
}

double dom_cpu_time(const struct domain *dom)
{
    uint64_t ticks;
    if (!dom_is_active(dom) || proc_stat_fields(dom->pid, NULL, &ticks) < 0)
        return 0;
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

int dom_check_files(const struct dom_def *def, struct vk_err *err)
{
    const char *files[] = { def->kernel, def->initrd };
    for (size_t i = 0; i < VK_ARRAY_SIZE(files); i++)
        if (files[i] && access(files[i], R_OK) < 0)
            return vk_err_errno(err, -errno, "Cannot access %s '%s'", i ? "initrd" : "kernel", files[i]);
    for (int i = 0; i < def->n_disks; i++) {
        const struct dom_disk *k = &def->disks[i];
        if (!k->source)
            continue;
        if (access(k->source, k->readonly ? R_OK : R_OK | W_OK) < 0)
            return vk_err_errno(err, -errno, "Cannot access storage file '%s' (disk %s)",
                                k->source, k->target);
    }
    if (!def->kernel)
        return vk_err_set(err, -ENOTSUP,
                          "domain '%s' has no <os><kernel>: virtkit-vm boots kernels directly "
                          "(firmware boot is not supported yet)", def->name);
    return 0;
}

static void log_line(int fd, const char *fmt, ...) VK_PRINTF(2, 3);
static void log_line(int fd, const char *fmt, ...)
{
    char buf[4096], ts[64];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    int n = snprintf(buf, sizeof(buf), "%s.%03ld+0000: ", ts, now.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    if (vk_write_full(fd, buf, (size_t)n) < 0)
        return;
}

/* The last lines of the log after `from`, for start failure messages. */
static void log_tail(const char *path, off_t from, char *out, size_t len)
{
    out[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[2048];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t off = VK_MAX(from, size - (off_t)sizeof(buf) + 1);
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, off);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    char *p = buf;
    size_t l = strlen(p);
    while (l && (p[l - 1] == '\n' || p[l - 1] == ' '))
        p[--l] = 0;
    for (char *q = p; *q; q++)
        if (*q == '\n')
            *q = ' ';
    snprintf(out, len, "%s", p);
}

static void release_taps(struct vkd *d, struct dom_def *live)
{
    for (int i = 0; live && i < live->n_ifaces; i++) {
        struct dom_iface *f = &live->ifaces[i];
        if (f->target) {
            vk_netif()->release(d, f->type, f->source, f->target);
            free(f->target);
            f->target = NULL;
        }
    }
}

/* Does `emu --help` list `device`? (a capability probe, as libvirt probes
 * QEMU). Optional devices the emulator lacks are left out with a note in
 * the domain log rather than failing the start. */
static bool emulator_has(const char *emu, const char *device)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return true;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return true;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execlp(emu, emu, "--help", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char buf[16384];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = 0;
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    return strstr(buf, device) != NULL;
}

/* A start in progress: the VM process runs, its control socket is not
 * answering yet. Owned by dom->starting; start_tick polls it from a timer
 * (every START_POLL_MS) and finishes the start one way or the other. */
struct dom_start {
    unsigned char uuid[16];     /* the domain, looked up again on each tick */
    char qmp[PATH_MAX], serial[PATH_MAX], logpath[PATH_MAX + 256];
    off_t log_start;            /* the VM's own output starts here */
    int64_t deadline;
    bool paused;
    bool exited;                /* vm_exited saw the process end */
    bool aborted;               /* finished by dom_start_abort: the pending tick frees it */
    int wstatus;
    dom_start_done_fn done;
    void *opaque;
};

void dom_start_log_done(struct vkd *d, struct domain *dom, int r, const struct vk_err *err,
                        void *opaque)
{
    if (r < 0)
        vk_warn("domain %s: start failed: %s", dom_current_def(dom) ? dom_current_def(dom)->name : "?",
                err ? err->msg : "");
}

/* ---- exit ------------------------------------------------------------------ */

static void restart_cb(struct vkd *d, void *opaque)
{
    /* the domain may be gone meanwhile: look it up again */
    unsigned char *uuid = opaque;
    struct domain *dom = dom_by_uuid(d, uuid);
    free(uuid);
    if (!dom || dom_is_active(dom) || dom->starting || !dom->def)
        return;
    struct vk_err err = { 0 };
    if (dom_start_async(d, dom, NULL, false, dom_start_log_done, NULL, &err) < 0)
        vk_warn("domain %s: restart failed: %s", dom->def->name, err.msg);
}

static void vm_exited(struct vkd *d, pid_t pid, int wstatus, void *opaque)
{
    struct domain *dom = opaque;
    if (dom->starting) {        /* start_tick reports it to the starter */
        dom->starting->exited = true;
        dom->starting->wstatus = wstatus;
        return;
    }
    const char *reason, *event = "stopped";
    if (dom->destroy_requested)
        reason = "destroyed";
    else if (wstatus >= 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        reason = "shutdown";
    else if (wstatus < 0 && dom->saw_shutdown_event)
        reason = "shutdown";
    else
        reason = "crashed";
    const struct dom_def *live = dom->live;
    char logpath[PATH_MAX + 256];
    snprintf(logpath, sizeof(logpath), "%s/domains/%s.log", d->paths.log, live->name);
    int lfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (lfd >= 0) {
        if (wstatus >= 0 && WIFSIGNALED(wstatus))
            log_line(lfd, "virtkit-vm (pid %d) killed by signal %d; %s", (int)pid, WTERMSIG(wstatus), reason);
        else if (wstatus >= 0)
            log_line(lfd, "virtkit-vm (pid %d) exited with status %d; %s", (int)pid, WEXITSTATUS(wstatus), reason);
        else
            log_line(lfd, "virtkit-vm (pid %d) is gone; %s", (int)pid, reason);
        close(lfd);
    }
    vk_info("domain %s: VM process %d ended: %s", live->name, (int)pid, reason);
    qmp_close(d, dom);
    console_close(d, dom);
    release_taps(d, dom->live);
    dom_status_remove(d, live->name);
    dom->pid = 0;
    dom->pidfd = -1;
    dom->state = DOM_SHUTOFF;
    dom->reason = reason;
    dom_event(d, dom, event, reason);
    dom->id = -1;
    bool restart = false;
    if (dom->def) {
        const char *act = !strcmp(reason, "crashed") ? dom->def->on_crash :
                          !strcmp(reason, "shutdown") ? dom->def->on_poweroff : NULL;
        restart = act && strstr(act, "restart") && !dom->destroy_requested;
        if (dom->restart_pending && !strcmp(reason, "shutdown"))
            restart = true;     /* virsh reboot: ACPI power-off, then start again */
    }
    dom->restart_pending = false;
    dom->destroy_requested = false;
    dom->saw_shutdown_event = false;
    if (!dom->def) {
        dom_event(d, dom, "undefined", "removed");
        dom_remove(d, dom);     /* transient: gone (frees live) */
        return;
    }
    dom_def_free(dom->live);
    dom->live = NULL;
    if (restart) {
        unsigned char *uuid = malloc(16);
        if (uuid) {
            memcpy(uuid, dom->def->uuid, 16);
            if (vkd_timer(d, 100, restart_cb, uuid) < 0)
                free(uuid);
        }
    }
}

/* ---- start ------------------------------------------------------------------ */

/* The daemon holds COM1 (and relays it to `virtkit console`) unless the XML
 * sends it to a file or a socket of its own. */
static bool relays_console(const struct dom_def *def)
{
    return def && def->serials[0].type == DOM_CHR_PTY;
}

static int build_argv(struct vkd *d, const struct dom_def *def, const int *tapfds,
                      struct argv_buf *a, const char *qmp, const char *serial, int logfd)
{
    char emu[PATH_MAX];
    vkd_emulator_path(def->emulator, emu, sizeof(emu));
    arg_add(a, "%s", emu);
    arg_add(a, "--accel");
    arg_add(a, "%s", def->type && !strcmp(def->type, "qemu") ? "tcg" : "kvm");
    arg_add(a, "--memory");
    arg_add(a, "%lluM", (unsigned long long)((def->memory_kib + 1023) / 1024));
    arg_add(a, "--smp");
    arg_add(a, "%u", def->vcpus);
    arg_add(a, "--cpu");
    arg_add(a, "%s", def->cpu_mode && !strcmp(def->cpu_mode, "custom") ? "baseline" : "host");
    if (def->kernel) {
        arg_add(a, "--kernel");
        arg_add(a, "%s", def->kernel);
    }
    if (def->initrd) {
        arg_add(a, "--initrd");
        arg_add(a, "%s", def->initrd);
    }
    if (def->cmdline) {
        arg_add(a, "--append");
        arg_add(a, "%s", def->cmdline);
    }
    /* COM1: the daemon's relay socket (pty: `virtkit console`), or the
     * file / listening socket the XML names; COM2-COM4 as the XML says. */
    for (int i = 0; i < VK_MAX(def->n_serials, 1) && i < DOM_MAX_SERIALS; i++) {
        const struct dom_serial *sp = &def->serials[i];
        arg_add(a, "--serial");
        if (sp->type == DOM_CHR_FILE && sp->path)
            arg_add(a, "file:%s", sp->path);
        else if (sp->type == DOM_CHR_UNIX && sp->path)
            arg_add(a, "unix:%s", sp->path);
        else
            arg_add(a, "unix:%s", serial);
    }
    arg_add(a, "--control");
    arg_add(a, "%s", qmp);
    if (def->on_reboot && !strcmp(def->on_reboot, "destroy"))
        arg_add(a, "--no-reboot");
    for (int i = 0; i < def->n_disks; i++) {
        const struct dom_disk *k = &def->disks[i];
        if (!k->source)
            continue;
        char *p = comma_escape(k->source);
        if (!p)
            return -ENOMEM;
        arg_add(a, "--disk");
        arg_add(a, "path=%s,format=%s%s%s%s%s%s", p, k->driver_type ? k->driver_type : "raw",
                k->readonly ? ",readonly=on" : "",
                k->cache ? ",cache=" : "", k->cache ? k->cache : "",
                k->serial ? ",serial=" : "", k->serial ? k->serial : "");
        free(p);
    }
    for (int i = 0; i < def->n_ifaces; i++) {
        /* id: "net" + the MAC's hex digits, for detach-interface --live
         * (QMP device_del; rpc_domain.c uses the same id) */
        char id[16] = "net";
        size_t n = 3;
        for (const char *p = def->ifaces[i].mac; *p && n < sizeof(id) - 1; p++)
            if (*p != ':')
                id[n++] = *p;
        id[n] = 0;
        arg_add(a, "--net");
        unsigned nq = def->ifaces[i].queues > 1 ? def->ifaces[i].queues : 1;
        char fds[DOM_IFACE_MAX_QUEUES * 8] = "";
        for (unsigned q = 0; q < nq; q++)
            snprintf(fds + strlen(fds), sizeof(fds) - strlen(fds), "%s%d", q ? ":" : "", *tapfds++);
        if (nq > 1)
            arg_add(a, "fd=%s,queues=%u,mac=%s,id=%s", fds, nq, def->ifaces[i].mac, id);
        else
            arg_add(a, "fd=%s,mac=%s,id=%s", fds, def->ifaces[i].mac, id);
    }
    static const char *const optional[] = { "virtio-rng", "virtio-balloon" };
    const bool want[] = { def->rng, def->memballoon };
    for (size_t i = 0; i < VK_ARRAY_SIZE(optional); i++) {
        if (!want[i])
            continue;
        if (!emulator_has(emu, optional[i])) {
            log_line(logfd, "%s has no %s device: left out", emu, optional[i]);
            continue;
        }
        arg_add(a, "--device");
        arg_add(a, "%s", optional[i]);
    }
    return a->oom ? -ENOMEM : 0;
}

#define START_POLL_MS 10
/* How long one tick may wait for the QMP greeting of a VM that accepted
 * the connection (virtkit-vm greets at once; a wedged one costs the loop
 * this much per tick until the start deadline). */
#define START_QMP_WAIT_MS 500

/* Undo a start that did not complete: no process, no TAP, no runtime file. */
static void start_undo(struct vkd *d, struct domain *dom, const char *qmp, const char *serial)
{
    dom->pidfd = -1;
    qmp_close(d, dom);
    console_close(d, dom);
    if (dom->live) {
        release_taps(d, dom->live);
        dom_def_free(dom->live);
        dom->live = NULL;
    }
    dom->pid = 0;
    dom->id = -1;
    dom->state = DOM_SHUTOFF;
    dom->reason = "failed";
    unlink(qmp);
    unlink(serial);
}

/* Finish: the callback runs last (it may remove a transient domain). */
static void start_finish(struct vkd *d, struct domain *dom, struct dom_start *st, int r,
                         const struct vk_err *err)
{
    dom->starting = NULL;
    if (r < 0)
        start_undo(d, dom, st->qmp, st->serial);
    if (st->done)
        st->done(d, dom, r, err, st->opaque);
    if (!st->aborted)
        free(st);
}

/* The control socket answers: the domain is running. */
static void start_running(struct vkd *d, struct domain *dom, struct dom_start *st)
{
    const struct dom_def *live = dom->live;
    for (int i = 0; i < 100 && relays_console(live) && console_connect(d, dom, st->serial) < 0;
         i++) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    dom->id = dom_next_id(d);
    dom->state = DOM_RUNNING;
    dom->reason = "booted";
    if (st->paused) {
        struct vk_err pe = { 0 };
        if (qmp_execute(d, dom, "stop", &pe) < 0)
            vk_warn("domain %s: pausing: %s", live->name, pe.msg);
        else
            dom->reason = "user";
        dom->state = DOM_PAUSED;
    }
    if (live->memballoon && live->current_kib < live->memory_kib) {
        /* as libvirt: currentMemory below <memory> is a balloon target
         * from the start (the guest's driver gives the rest back) */
        struct json_object *args = json_object_new_object();
        json_object_object_add(args, "value", json_object_new_int64((int64_t)(live->current_kib * 1024)));
        struct vk_err be = { 0 };
        if (qmp_call(d, dom, "balloon", args, NULL, &be) < 0)
            vk_debug("domain %s: initial balloon target: %s", live->name, be.msg);
        json_object_put(args);
    }
    dom_set_state(d, dom, dom->state, dom->reason);
    dom_event(d, dom, "started", "booted");
    if (st->paused)
        dom_event(d, dom, "suspended", "paused");
    vk_info("domain %s started (pid %d, id %d)", live->name, (int)dom->pid, dom->id);
    start_finish(d, dom, st, 0, NULL);
}

static void start_tick_cb(struct vkd *d, void *opaque);

/* One look at a starting VM: exited (fail with its last words), control
 * socket answering (running), past the deadline (kill, fail), else later. */
static void start_tick(struct vkd *d, struct dom_start *st)
{
    struct domain *dom = st->aborted ? NULL : dom_by_uuid(d, st->uuid);
    if (!dom || dom->starting != st) {     /* aborted (starting domains stay) */
        free(st);
        return;
    }
    struct vk_err err = { 0 };
    if (st->exited) {
        char tail[600];
        log_tail(st->logpath, st->log_start, tail, sizeof(tail));
        bool sig = st->wstatus >= 0 && WIFSIGNALED(st->wstatus);
        int code = st->wstatus < 0 ? -1 : sig ? WTERMSIG(st->wstatus) : WEXITSTATUS(st->wstatus);
        vk_err_set(&err, -EIO, "virtkit-vm %s %d at start-up%s%s (log: %s)",
                   sig ? "was killed by signal" : "exited with status", code,
                   *tail ? ": " : "", tail, st->logpath);
        start_finish(d, dom, st, err.code, &err);
        return;
    }
    struct vk_err qe = { 0 };
    if (access(st->qmp, F_OK) == 0 && qmp_connect(d, dom, st->qmp, START_QMP_WAIT_MS, &qe) == 0) {
        start_running(d, dom, st);
        return;
    }
    if (vk_now_ns() > st->deadline) {
        /* reap it here: its exit callback must not run for a start that
         * is being undone */
        vkd_unwatch_pid(d, dom->pid);
        kill(dom->pid, SIGKILL);
        waitpid(dom->pid, NULL, 0);
        vk_err_set(&err, -ETIMEDOUT, "virtkit-vm did not open its control socket %s%s%s",
                   st->qmp, qe.msg[0] ? ": " : "", qe.msg);
        start_finish(d, dom, st, err.code, &err);
        return;
    }
    if (vkd_timer(d, START_POLL_MS, start_tick_cb, st) < 0) {
        vkd_unwatch_pid(d, dom->pid);
        kill(dom->pid, SIGKILL);
        waitpid(dom->pid, NULL, 0);
        vk_err_set(&err, -ENOMEM, "cannot arm a timer for the start");
        start_finish(d, dom, st, err.code, &err);
    }
}

static void start_tick_cb(struct vkd *d, void *opaque)
{
    start_tick(d, opaque);
}

void dom_start_abort(struct vkd *d, struct domain *dom, const char *why)
{
    struct dom_start *st = dom->starting;
    if (!st)
        return;
    vkd_unwatch_pid(d, dom->pid);
    kill(dom->pid, SIGKILL);
    waitpid(dom->pid, NULL, 0);
    struct vk_err err = { 0 };
    vk_err_set(&err, -ECANCELED, "%s", why);
    st->aborted = true;         /* one start_tick is always pending: it frees st */
    start_finish(d, dom, st, err.code, &err);
}

int dom_start_async(struct vkd *d, struct domain *dom, const struct dom_def *src, bool paused,
                    dom_start_done_fn done, void *opaque, struct vk_err *err)
{
    if (dom->starting)
        return vk_err_set(err, -EBUSY, "Requested operation is not valid: domain is being started");
    if (dom_is_active(dom))
        return vk_err_set(err, -EBUSY, "Requested operation is not valid: domain is already running");
    if (!src)
        src = dom->def;
    int r = dom_check_files(src, err);
    if (r < 0)
        return r;
    struct dom_def *live = dom_def_copy(src);
    if (!live)
        return vk_err_set(err, -ENOMEM, "out of memory");
    char qmp[PATH_MAX], serial[PATH_MAX], logpath[PATH_MAX + 256];
    if ((r = sock_path(d, live, "qmp", qmp, sizeof(qmp), err)) < 0 ||
        (r = sock_path(d, live, "serial", serial, sizeof(serial), err)) < 0) {
        dom_def_free(live);
        return r;
    }
    unlink(qmp);
    unlink(serial);
    /* TAPs from the network side */
    /* one fd per interface, or per queue pair with <driver queues='N'/>,
     * interface after interface */
    int tapfds[DOM_MAX_IFACES * DOM_IFACE_MAX_QUEUES];
    int ntaps = 0;
    for (int i = 0; i < live->n_ifaces; i++) {
        struct dom_iface *f = &live->ifaces[i];
        struct vk_netif_request req = {
            .domain = live->name, .type = f->type, .source = f->source,
            .mac = f->mac, .model = f->model, .target = f->target,
            .queues = f->queues, .queue_fds = tapfds + ntaps + 1,
        };
        char ifname[16] = "";
        for (unsigned q = 1; q < f->queues; q++)
            tapfds[ntaps + (int)q] = -1;
        int fd = vk_netif()->acquire(d, &req, ifname, err);
        if (fd < 0) {
            r = fd;
            vk_err_prefix(err, "interface %s", f->mac);
            goto fail_taps;
        }
        tapfds[ntaps] = fd;
        ntaps += f->queues > 1 ? (int)f->queues : 1;
        free(f->target);
        f->target = strdup(ifname);
    }
    /* command line; TAP fds are renumbered to 3.. in the child */
    int childfds[DOM_MAX_IFACES * DOM_IFACE_MAX_QUEUES];
    for (int i = 0; i < ntaps; i++)
        childfds[i] = 3 + i;
    snprintf(logpath, sizeof(logpath), "%s/domains/%s.log", d->paths.log, live->name);
    int lfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0) {
        r = vk_err_errno(err, -errno, "opening log %s", logpath);
        goto fail_taps;
    }
    struct argv_buf a = { 0 };
    if (build_argv(d, live, childfds, &a, qmp, serial, lfd) < 0) {
        r = vk_err_set(err, -ENOMEM, "out of memory");
        arg_free(&a);
        close(lfd);
        goto fail_taps;
    }
    {
        char cmd[8192] = "";
        size_t l = 0;
        for (int i = 0; i < a.n && l < sizeof(cmd) - 2; i++)
            l += (size_t)snprintf(cmd + l, sizeof(cmd) - l, "%s%s", i ? " " : "", a.v[i]);
        log_line(lfd, "starting up");
        if (vk_write_full(lfd, cmd, strnlen(cmd, sizeof(cmd))) < 0 || vk_write_full(lfd, "\n", 1) < 0)
            vk_warn("writing %s failed", logpath);
    }
    off_t log_start = lseek(lfd, 0, SEEK_END);     /* the VM's own output starts here */
    pid_t pid = fork();
    if (pid < 0) {
        r = vk_err_errno(err, -errno, "fork");
        close(lfd);
        arg_free(&a);
        goto fail_taps;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        setsid();
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(lfd, 1);
        dup2(lfd, 2);
        int high[DOM_MAX_IFACES * DOM_IFACE_MAX_QUEUES];
        for (int i = 0; i < ntaps; i++)
            high[i] = fcntl(tapfds[i], F_DUPFD, 200);
        for (int i = 0; i < ntaps; i++)
            dup2(high[i], 3 + i);
        closefrom(3 + ntaps);
        execvp(a.v[0], a.v);
        fprintf(stderr, "virtkitd: cannot execute %s: %s\n", a.v[0], strerror(errno));
        _exit(127);
    }
    arg_free(&a);
    close(lfd);
    for (int i = 0; i < ntaps; i++)
        close(tapfds[i]);
    ntaps = 0;

    /* From here the start completes on the loop (start_tick): other
     * clients are served while the emulator comes up. */
    dom->pid = pid;
    if (dom->live != live)
        dom_def_free(dom->live);    /* a transient placeholder, copied into live */
    dom->live = live;
    struct dom_start *st = calloc(1, sizeof(*st));
    if (!st) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        r = vk_err_set(err, -ENOMEM, "out of memory");
        start_undo(d, dom, qmp, serial);
        return r;
    }
    memcpy(st->uuid, live->uuid, 16);
    snprintf(st->qmp, sizeof(st->qmp), "%s", qmp);
    snprintf(st->serial, sizeof(st->serial), "%s", serial);
    snprintf(st->logpath, sizeof(st->logpath), "%s", logpath);
    st->log_start = log_start;
    st->paused = paused;
    st->done = done;
    st->opaque = opaque;
    dom->starting = st;
    int pidfd = vkd_watch_pid(d, pid, vm_exited, dom);
    if (pidfd < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        r = vk_err_errno(err, pidfd, "pidfd_open");
        dom->starting = NULL;
        free(st);
        start_undo(d, dom, qmp, serial);
        return r;
    }
    dom->pidfd = pidfd;
    proc_stat_fields(pid, &dom->proc_start, NULL);
    /* how long the emulator may take to open its control socket */
    int wait_s = 20;
    const char *ws = getenv("VIRTKIT_START_TIMEOUT");
    if (ws && vk_parse_int(ws, 1, 3600, &wait_s) < 0)
        wait_s = 20;
    st->deadline = vk_now_ns() + (int64_t)wait_s * 1000000000;
    start_tick(d, st);
    return 0;

fail_taps:
    for (int i = 0; i < ntaps; i++)
        close(tapfds[i]);
    release_taps(d, live);
    dom_def_free(live);
    return r;
}

/* ---- destroy ------------------------------------------------------------------ */

int dom_destroy(struct vkd *d, struct domain *dom, bool graceful, struct vk_err *err)
{
    if (!dom_is_active(dom))
        return vk_err_set(err, -EINVAL, "Requested operation is not valid: domain is not running");
    int pidfd = dom->pidfd;
    dom->destroy_requested = true;
    kill(dom->pid, SIGTERM);
    if (vkd_wait_pidfd(d, pidfd, graceful ? 10000 : 3000) > 0)
        return 0;
    if (graceful) {
        dom->destroy_requested = false;
        return vk_err_set(err, -EBUSY, "Failed to terminate process %d with SIGTERM", (int)dom->pid);
    }
    kill(dom->pid, SIGKILL);
    if (vkd_wait_pidfd(d, pidfd, 10000) > 0)
        return 0;
    return vk_err_set(err, -EBUSY, "Failed to kill process %d", (int)dom->pid);
}

/* ---- adoption ------------------------------------------------------------------ */

static void adopt_one(struct vkd *d, const char *name)
{
    char path[PATH_MAX + 256];
    char *data = NULL, *xml = NULL;
    size_t len;
    struct vk_err err = { 0 };
    struct dom_def *live = NULL;
    struct json_object *st = NULL;
    dom_run_path(d, name, ".status", path, sizeof(path));
    if (vk_read_file(path, &data, &len, &err) < 0 || !(st = json_tokener_parse(data))) {
        vk_warn("domain %s: unreadable runtime state %s", name, path);
        goto cleanup;
    }
    dom_run_path(d, name, ".xml", path, sizeof(path));
    if (vk_read_file(path, &xml, &len, &err) < 0 || dom_def_parse(xml, len, &live, &err) < 0) {
        vk_warn("domain %s: unreadable live definition: %s", name, err.msg);
        goto cleanup;
    }
    struct json_object *v;
    pid_t pid = json_object_object_get_ex(st, "pid", &v) ? json_object_get_int(v) : 0;
    uint64_t want = json_object_object_get_ex(st, "proc_start", &v) ? (uint64_t)json_object_get_int64(v) : 0;
    int id = json_object_object_get_ex(st, "id", &v) ? json_object_get_int(v) : 0;
    const char *state = json_object_object_get_ex(st, "state", &v) ? json_object_get_string(v) : "running";
    uint64_t have = 0;
    bool alive = pid > 0 && proc_stat_fields(pid, &have, NULL) == 0 && have == want;
    struct domain *dom = dom_by_uuid(d, live->uuid);
    if (dom && strcmp(dom_current_def(dom)->name, live->name))
        dom = NULL;
    if (!alive) {
        vk_info("domain %s: its VM (pid %d) is gone", name, (int)pid);
        release_taps(d, live);
        dom_status_remove(d, name);
        if (dom)
            dom->reason = "unknown";
        goto cleanup;
    }
    if (!dom) {
        dom = dom_add(d, NULL, NULL);     /* transient */
        if (!dom)
            goto cleanup;
    }
    dom->live = live;
    live = NULL;
    dom->pid = pid;
    dom->proc_start = want;
    dom->id = id > 0 ? id : dom_next_id(d);
    if (id >= d->next_domain_id)
        d->next_domain_id = id + 1;
    dom->state = !strcmp(state, "paused") ? DOM_PAUSED : DOM_RUNNING;
    dom->reason = dom->state == DOM_PAUSED ? "user" : "booted";
    /* keep the reason the previous daemon recorded (reasons are static words) */
    static const char *const reasons[] = { "booted", "unpaused", "user", "unknown" };
    const char *was = json_object_object_get_ex(st, "reason", &v) ? json_object_get_string(v) : "";
    for (size_t i = 0; was && i < VK_ARRAY_SIZE(reasons); i++)
        if (!strcmp(was, reasons[i]))
            dom->reason = reasons[i];
    int pidfd = vkd_watch_pid(d, pid, vm_exited, dom);
    if (pidfd < 0) {
        vk_warn("domain %s: pidfd_open(%d): %s", name, (int)pid, strerror(-pidfd));
        dom_def_free(dom->live);
        dom->live = NULL;
        dom->state = DOM_SHUTOFF;
        dom->id = -1;
        if (!dom->def)
            dom_remove(d, dom);
        goto cleanup;
    }
    dom->pidfd = pidfd;
    char qmp[PATH_MAX], serial[PATH_MAX];
    if (sock_path(d, dom->live, "qmp", qmp, sizeof(qmp), &err) == 0 &&
        qmp_connect(d, dom, qmp, 2000, &err) < 0)
        vk_warn("domain %s: control socket: %s", name, err.msg);
    if (relays_console(dom->live) &&
        sock_path(d, dom->live, "serial", serial, sizeof(serial), &err) == 0)
        console_connect(d, dom, serial);
    vk_info("domain %s: adopted running VM (pid %d, id %d)", name, (int)pid, dom->id);
cleanup:
    json_object_put(st);
    dom_def_free(live);
    free(data);
    free(xml);
}

void dom_adopt_all(struct vkd *d)
{
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/domains", d->paths.run);
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        if (l <= 7 || strcmp(e->d_name + l - 7, ".status"))
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(l - 7), e->d_name);
        adopt_one(d, name);
    }
    closedir(dp);
}
