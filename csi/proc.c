/* Child processes for the node service (contract in proc.h). */
#include "proc.h"

#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void argv_text(const char *const argv[], char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; argv[i] && pos + 1 < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? " " : "", argv[i]);
}

extern char **environ;

/* In a child, before exec: main() blocks SIGTERM/SIGINT (for sigwait) and ignores SIGPIPE;
 * a tool must get the defaults back, or it could neither be stopped nor see a broken pipe.
 * Only async-signal-safe calls: the parent is multithreaded. */
static void child_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

int proc_run(const char *const argv[], int timeout_ms, char *out, size_t outlen)
{
    return proc_run_env(argv, NULL, timeout_ms, out, outlen);
}

int proc_run_env(const char *const argv[], const char *const env[], int timeout_ms, char *out,
                 size_t outlen)
{
    char cmd[1024];
    argv_text(argv, cmd, sizeof(cmd));
    size_t n_env = 0, n_extra = 0;
    while (environ[n_env])
        n_env++;
    while (env && env[n_extra])
        n_extra++;
    /* built before fork: the child of a threaded process must not allocate */
    char **envp = calloc(n_env + n_extra + 1, sizeof(*envp));
    if (!envp)
        abort();
    memcpy(envp, environ, n_env * sizeof(*envp));
    char names[256] = "";
    for (size_t i = 0; i < n_extra; i++) {
        envp[n_env + i] = (char *)env[i];
        size_t nl = strcspn(env[i], "=");
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, " %.*s=...", (int)nl, env[i]);
    }
    log_info("exec", "%s%s%s%s", n_extra ? "env" : "", names, n_extra ? " " : "", cmd);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(out, outlen, "pipe: %s", strerror(errno));
        free(envp);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out, outlen, "fork: %s", strerror(errno));
        free(envp);
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        child_signals();
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        execvpe(argv[0], (char *const *)argv, envp);
        dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    free(envp);
    close(pfd[1]);
    size_t have = 0;
    if (outlen)
        out[0] = '\0';
    long long deadline = now_ms() + timeout_ms;
    bool timed_out = false;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue;
        char buf[1024];
        ssize_t n = read(pfd[0], buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && have + 1 < outlen; i++)
            out[have++] = buf[i];
        if (outlen)
            out[have] = '\0';
    }
    close(pfd[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    while (have && (out[have - 1] == '\n' || out[have - 1] == ' '))
        out[--have] = '\0';
    if (timed_out) {
        snprintf(out, outlen, "%s: killed after %d ms", argv[0], timeout_ms);
        return -1;
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code != 0)
        log_info("exec", "%s exited %d: %s", argv[0], code, out);
    return code;
}

pid_t proc_spawn(const char *const argv[], const char *logpath)
{
    char cmd[1024];
    argv_text(argv, cmd, sizeof(cmd));
    log_info("exec", "%s &", cmd);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        child_signals();
        setsid();
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(logfd);
    return pid;
}

int proc_reap(pid_t pid, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD && kill(pid, 0) < 0))
            return 0;
        if (now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
}
