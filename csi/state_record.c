/* Records in the plugin's state dir (contract in state_record.h). */
#include "state_record.h"

#include "util/atomic_file.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool key_ok(const char *k)
{
    return k[0] && !strchr(k, '/');
}

bool state_record_name(const struct csi_plugin *pl, char *out, size_t len, const char *kind,
                       const char *key, const char *sub)
{
    if (!pl->state_dir || !pl->state_dir[0] || !key_ok(key) || (sub && !key_ok(sub)))
        return false;
    int n = sub ? snprintf(out, len, "%s-%s@%s", kind, key, sub)
                : snprintf(out, len, "%s-%s", kind, key);
    return n >= 0 && (size_t)n < len;
}

static bool path_of(const struct csi_plugin *pl, const char *name, char *out, size_t len)
{
    return (size_t)snprintf(out, len, "%s/%s", pl->state_dir, name) < len;
}

bool state_record_read(const struct csi_plugin *pl, const char *name, char *buf, size_t len)
{
    char path[PATH_MAX];
    FILE *f = path_of(pl, name, path, sizeof(path)) ? fopen(path, "re") : NULL;
    if (!f)
        return false;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return true;
}

int state_record_write(const struct csi_plugin *pl, const char *name, const char *text)
{
    return atomic_file_write(pl->state_dir, name, text, strlen(text));
}

void state_record_drop(const struct csi_plugin *pl, const char *name)
{
    char path[PATH_MAX];
    if (path_of(pl, name, path, sizeof(path)))
        unlink(path);
}

void state_record_drop_prefix(const struct csi_plugin *pl, const char *prefix)
{
    DIR *d = pl->state_dir ? opendir(pl->state_dir) : NULL;
    if (!d)
        return;
    size_t n = strlen(prefix);
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, n) == 0)
            state_record_drop(pl, e->d_name);
    closedir(d);
}
