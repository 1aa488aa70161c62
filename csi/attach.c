/* Block-device attachment through kernel NBD or nbdfuse + loop (contract in attach.h). */
#include "attach.h"

#include "mounts.h"
#include "proc.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ATTACH_TIMEOUT_MS 20000
#define MAX_NBD_DEVICES   128

static bool kernel_has_nbd(void)
{
    if (access("/dev/nbd0", F_OK) == 0)
        return true;
    char out[256];
    const char *const argv[] = {"modprobe", "-q", "nbd", NULL};
    proc_run(argv, 10000, out, sizeof(out));
    return access("/dev/nbd0", F_OK) == 0;
}

int attach_nbd_devices(void)
{
    int n = 0;
    char dev[32];
    for (; n < 4096; n++) {
        snprintf(dev, sizeof(dev), "/dev/nbd%d", n);
        if (access(dev, F_OK) < 0)
            break;
    }
    return n;
}

static bool is_unix_addr(const char *addr)
{
    return addr[0] == '/' || strncmp(addr, "unix:", 5) == 0;
}

static const char *unix_path(const char *addr)
{
    if (strncmp(addr, "unix://", 7) == 0)
        return addr + 7;
    if (strncmp(addr, "unix:", 5) == 0)
        return addr + 5;
    return addr;
}

static int split_hostport(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *a = strncmp(addr, "tcp://", 6) == 0 ? addr + 6 : addr;
    const char *colon = strrchr(a, ':');
    if (!colon || (size_t)(colon - a) >= hlen)
        return -1;
    snprintf(host, hlen, "%.*s", (int)(colon - a), a);
    snprintf(port, plen, "%s", colon + 1);
    return 0;
}

static int attach_nbd(const char *volume, const char *nbd_addr, struct attachment *a, char *err,
                      size_t errlen)
{
    for (int i = 0; i < MAX_NBD_DEVICES; i++) {
        char dev[64], pidf[96];
        snprintf(dev, sizeof(dev), "/dev/nbd%d", i);
        snprintf(pidf, sizeof(pidf), "/sys/block/nbd%d/pid", i);
        if (access(dev, F_OK) < 0)
            break;
        if (access(pidf, F_OK) == 0)
            continue; /* connected */
        char out[1024], host[256], port[16];
        int rc;
        if (is_unix_addr(nbd_addr)) {
            const char *const argv[] = {"nbd-client", "-unix", unix_path(nbd_addr), dev, "-N",
                                        volume,       NULL};
            rc = proc_run(argv, ATTACH_TIMEOUT_MS, out, sizeof(out));
        } else if (split_hostport(nbd_addr, host, sizeof(host), port, sizeof(port)) == 0) {
            const char *const argv[] = {"nbd-client", host, port, dev, "-N", volume, NULL};
            rc = proc_run(argv, ATTACH_TIMEOUT_MS, out, sizeof(out));
        } else {
            snprintf(err, errlen, "cannot parse NBD address %s", nbd_addr);
            return -1;
        }
        if (rc != 0) {
            snprintf(err, errlen, "nbd-client %s for %s failed: %s", dev, volume, out);
            return -1;
        }
        snprintf(a->method, sizeof(a->method), "nbd");
        snprintf(a->device, sizeof(a->device), "%s", dev);
        return 0;
    }
    snprintf(err, errlen, "no free /dev/nbd device");
    return -1;
}

static void nbd_uri(const char *volume, const char *nbd_addr, char *uri, size_t len)
{
    if (is_unix_addr(nbd_addr)) {
        snprintf(uri, len, "nbd+unix:///%s?socket=%s", volume, unix_path(nbd_addr));
    } else {
        const char *a = strncmp(nbd_addr, "tcp://", 6) == 0 ? nbd_addr + 6 : nbd_addr;
        snprintf(uri, len, "nbd://%s/%s", a, volume);
    }
}

static int read_pidfile(const char *path)
{
    FILE *f = fopen(path, "re");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

static int fuse_unmount(const char *dir, int pid, char *err, size_t errlen)
{
    char out[512];
    const char *const argv[] = {"fusermount3", "-u", dir, NULL};
    int rc = -1;
    /* the loop device's release is asynchronous: the mount can be busy for a moment */
    for (int i = 0; i < 50 && (rc = proc_run(argv, 10000, out, sizeof(out))) != 0; i++) {
        if (strstr(out, "not found") || strstr(out, "not mounted") || strstr(out, "Invalid"))
            break;
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    if (rc != 0 && !strstr(out, "not found") && !strstr(out, "not mounted")) {
        /* still busy after 5 s (a slow loop release under load): the loop device is detached
         * and the filesystem unmounted, so nothing can write any more; let the kernel finish
         * the unmount when the last reference goes, and nbdfuse exit then */
        log_warn("attach", "fusermount3 -u %s: %s; unmounting lazily", dir, out);
        const char *const lazy[] = {"fusermount3", "-uz", dir, NULL};
        if (proc_run(lazy, 10000, out, sizeof(out)) != 0) {
            snprintf(err, errlen, "fusermount3 -uz %s: %s", dir, out);
            return -1;
        }
    }
    if (pid > 0 && proc_reap(pid, 10000) < 0)
        log_warn("attach", "nbdfuse %d did not exit after unmount; killed", pid);
    rmdir(dir);
    return 0;
}

static int attach_fuse(const char *state_dir, const char *volume, const char *nbd_addr,
                       struct attachment *a, char *err, size_t errlen)
{
    char dir[PATH_MAX], file[PATH_MAX + 8], pidfile[PATH_MAX + 8], logf[PATH_MAX + 8],
        uri[PATH_MAX + 128];
    snprintf(dir, sizeof(dir), "%s/fuse/%s", state_dir, volume);
    snprintf(file, sizeof(file), "%s/disk", dir);
    snprintf(pidfile, sizeof(pidfile), "%s.pid", dir);
    snprintf(logf, sizeof(logf), "%s.log", dir);
    if (mount_mkdir_p(dir) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    unlink(pidfile);
    nbd_uri(volume, nbd_addr, uri, sizeof(uri));
    const char *const argv[] = {"nbdfuse", "-P", pidfile, file, uri, NULL};
    pid_t pid = proc_spawn(argv, logf);
    if (pid < 0) {
        snprintf(err, errlen, "cannot start nbdfuse: %s", strerror(errno));
        return -1;
    }
    /* ready when it has written its pidfile (nbdfuse does so once the mount serves) */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (read_pidfile(pidfile) > 0 && access(file, R_OK) == 0)
            break;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char tail[512] = "";
            FILE *f = fopen(logf, "re");
            if (f) {
                size_t n = fread(tail, 1, sizeof(tail) - 1, f);
                tail[n] = '\0';
                fclose(f);
            }
            snprintf(err, errlen, "nbdfuse for %s exited before serving: %s", uri, tail);
            rmdir(dir);
            return -1;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 > ATTACH_TIMEOUT_MS) {
            kill(pid, SIGTERM);
            fuse_unmount(dir, pid, err, errlen);
            snprintf(err, errlen, "nbdfuse for %s not ready within %d s", uri,
                     ATTACH_TIMEOUT_MS / 1000);
            return -1;
        }
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    char out[512];
    const char *const lo[] = {"losetup", "-f", "--show", "--direct-io=on", file, NULL};
    if (proc_run(lo, ATTACH_TIMEOUT_MS, out, sizeof(out)) != 0 || strncmp(out, "/dev/", 5) != 0) {
        snprintf(err, errlen, "losetup %s: %s", file, out);
        char e2[256];
        fuse_unmount(dir, pid, e2, sizeof(e2));
        return -1;
    }
    snprintf(a->method, sizeof(a->method), "fuse");
    snprintf(a->device, sizeof(a->device), "%s", out);
    snprintf(a->fuse_dir, sizeof(a->fuse_dir), "%s", dir);
    a->fuse_pid = (int)pid;
    return 0;
}

int attach_volume(const char *state_dir, const char *volume, const char *nbd_addr,
                  const char *method, struct attachment *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->volume, sizeof(out->volume), "%s", volume);
    bool use_nbd = strcmp(method, "nbd") == 0 || (strcmp(method, "auto") == 0 && kernel_has_nbd());
    int rc = use_nbd ? attach_nbd(volume, nbd_addr, out, err, errlen)
                     : attach_fuse(state_dir, volume, nbd_addr, out, err, errlen);
    if (rc == 0)
        nbd_uri(volume, nbd_addr, out->uri, sizeof(out->uri));
    if (rc == 0)
        log_info("attach", "volume %s attached as %s via %s", volume, out->device,
                 use_nbd ? "the kernel NBD driver (nbd-client)"
                         : "nbdfuse + loop (this kernel has no /dev/nbd*)");
    return rc;
}

int detach_volume(const struct attachment *a, char *err, size_t errlen)
{
    char out[512];
    if (strcmp(a->method, "nbd") == 0) {
        const char *const argv[] = {"nbd-client", "-d", a->device, NULL};
        if (proc_run(argv, ATTACH_TIMEOUT_MS, out, sizeof(out)) != 0) {
            snprintf(err, errlen, "nbd-client -d %s: %s", a->device, out);
            return -1;
        }
        return 0;
    }
    const char *const argv[] = {"losetup", "-d", a->device, NULL};
    if (proc_run(argv, ATTACH_TIMEOUT_MS, out, sizeof(out)) != 0 && !strstr(out, "No such"))
        log_warn("attach", "losetup -d %s: %s", a->device, out);
    /* the loop driver lets go of its backing file asynchronously: wait (bounded) for it, so
     * the FUSE mount is no longer busy */
    char backing[96];
    const char *name = strrchr(a->device, '/');
    snprintf(backing, sizeof(backing), "/sys/block/%s/loop/backing_file", name ? name + 1 : "");
    for (int i = 0; i < 200 && access(backing, F_OK) == 0; i++)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    return fuse_unmount(a->fuse_dir, a->fuse_pid, err, errlen);
}

static void record_path(const char *state_dir, const char *volume, char *out, size_t len)
{
    snprintf(out, len, "%s/attach/%s", state_dir, volume);
}

int attach_record_load(const char *state_dir, const char *volume, struct attachment *a)
{
    char path[PATH_MAX];
    record_path(state_dir, volume, path, sizeof(path));
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    memset(a, 0, sizeof(*a));
    snprintf(a->volume, sizeof(a->volume), "%s", volume);
    char line[PATH_MAX + 160];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        if (strcmp(k, "method") == 0)
            snprintf(a->method, sizeof(a->method), "%s", v);
        else if (strcmp(k, "device") == 0)
            snprintf(a->device, sizeof(a->device), "%s", v);
        else if (strcmp(k, "fuse_dir") == 0)
            snprintf(a->fuse_dir, sizeof(a->fuse_dir), "%s", v);
        else if (strcmp(k, "fuse_pid") == 0)
            a->fuse_pid = atoi(v);
        else if (strcmp(k, "staging") == 0)
            snprintf(a->staging, sizeof(a->staging), "%s", v);
        else if (strcmp(k, "block") == 0)
            a->block = strcmp(v, "1") == 0;
        else if (strcmp(k, "uri") == 0)
            snprintf(a->uri, sizeof(a->uri), "%s", v);
    }
    fclose(f);
    return 0;
}

int attach_record_save(const char *state_dir, const struct attachment *a, char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 80], tmp[PATH_MAX + 96];
    snprintf(dir, sizeof(dir), "%s/attach", state_dir);
    if (mount_mkdir_p(dir) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    record_path(state_dir, a->volume, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "method=%s\ndevice=%s\nfuse_dir=%s\nfuse_pid=%d\nstaging=%s\nblock=%d\nuri=%s\n",
            a->method, a->device, a->fuse_dir, a->fuse_pid, a->staging, a->block ? 1 : 0, a->uri);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

void attach_record_remove(const char *state_dir, const char *volume)
{
    char path[PATH_MAX];
    record_path(state_dir, volume, path, sizeof(path));
    unlink(path);
}
