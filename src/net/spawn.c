/* Running helper programs (nft, dnsmasq) synchronously, with stdin text and
 * their stderr captured for error messages. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

int net_find_binary(const char *explicit_path, const char *env, const char *name,
                    char *out, size_t len, struct vk_err *err)
{
    const char *p = explicit_path && *explicit_path ? explicit_path : (env ? getenv(env) : NULL);
    if (p && *p) {
        if (access(p, X_OK) < 0)
            return vk_err_set(err, -ENOENT, "%s binary '%s' is not executable: %s", name, p,
                              strerror(errno));
        snprintf(out, len, "%s", p);
        return 0;
    }
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s:/usr/sbin:/sbin:/usr/bin:/bin", path ? path : "");
    for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, len, "%s/%s", dir, name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return vk_err_set(err, -ENOENT, "%s is not installed (no '%s' in PATH%s%s)", name, name,
                      env ? " or $" : "", env ? env : "");
}

int net_spawn(char *const argv[], const char *input, int *status, char *errbuf, size_t errlen)
{
    int in[2] = { -1, -1 }, errp[2];
    if ((input && pipe2(in, O_CLOEXEC) < 0) || pipe2(errp, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        if (input) { close(in[0]); close(in[1]); }
        close(errp[0]);
        close(errp[1]);
        return e;
    }
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        int nul = open("/dev/null", O_RDWR);
        dup2(input ? in[0] : nul, 0);
        dup2(nul, 1);
        dup2(errp[1], 2);
        execv(argv[0], argv);
        dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(errp[1]);
    if (input) {
        close(in[0]);
        /* Rulesets are small (a few KiB): fit in the pipe, no deadlock. */
        if (vk_write_full(in[1], input, strlen(input)) < 0)
            vk_debug("short write to %s", argv[0]);
        close(in[1]);
    }
    size_t got = 0;
    char tmp[512];
    ssize_t n;
    while ((n = read(errp[0], tmp, sizeof(tmp))) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < n && errbuf && got + 1 < errlen; i++)
            errbuf[got++] = tmp[i];
    }
    close(errp[0]);
    if (errbuf && errlen) {
        errbuf[got] = 0;
        while (got && (errbuf[got - 1] == '\n' || errbuf[got - 1] == ' '))
            errbuf[--got] = 0;
        for (char *p = errbuf; *p; p++)
            if (*p == '\n')
                *p = ' ';
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    *status = st;
    return 0;
}
