/* The CSI Node service: stage (attach + format-if-blank + mount), publish (bind mount, or the
 * device node bound onto a file for raw block), unpublish, unstage (unmount + detach),
 * expand (grow the filesystem), volume stats with health (health.h), node info (zone topology) and
 * capabilities.
 *
 * Idempotency: the attachment record (attach.h) and the mount table are the state; each call
 * first checks whether its work is already done. One lock serialises calls that change
 * attachments or mounts: kubelet issues few of them, and it rules out two stages of one volume
 * racing for devices. */
#include "plugin.h"

#include "attach.h"
#include "ctl_client.h"
#include "health.h"
#include "mounts.h"
#include "nbd_resize.h"
#include "volumes.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static pthread_mutex_t node_lock = PTHREAD_MUTEX_INITIALIZER;

/* The local tandemd's node.status field (zone, nbd); "" when it does not answer. */
static void local_status(const struct csi_plugin *p, const char *field, char *out, size_t len,
                         char *err, size_t errlen)
{
    out[0] = '\0';
    struct json_object *q = json_object_new_object(), *n;
    json_object_object_add(q, "op", json_object_new_string("node.status"));
    struct json_object *r = ctl_call(p->tandem_control, q, 5000, err, errlen);
    json_object_put(q);
    if (ctl_ok(r) && json_object_object_get_ex(r, "node", &n) && ctl_str(n, field))
        snprintf(out, len, "%s", ctl_str(n, field));
    else if (r)
        snprintf(err, errlen, "node.status: %s", ctl_str(r, "error") ? ctl_str(r, "error") : "?");
    json_object_put(r);
}

static bool is_block(const Csi__V1__VolumeCapability *cap)
{
    return cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
}

static bool is_reader_only(const Csi__V1__VolumeCapability *cap)
{
    return cap->access_mode &&
           cap->access_mode->mode ==
               CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY;
}

/* mount_flags joined with commas, plus "ro" when asked */
static void mount_options(const Csi__V1__VolumeCapability *cap, bool ro, char *out, size_t len)
{
    size_t pos = 0;
    out[0] = '\0';
    if (cap->mount)
        for (size_t i = 0; i < cap->mount->n_mount_flags && pos + 1 < len; i++)
            pos += (size_t)snprintf(out + pos, len - pos, "%s%s", pos ? "," : "",
                                    cap->mount->mount_flags[i]);
    if (ro && pos + 1 < len)
        snprintf(out + pos, len - pos, "%sro", pos ? "," : "");
}

static int check_cap(struct rpc_call *c, const char *call, const Csi__V1__VolumeCapability *cap)
{
    char why[512];
    if (!cap) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s: volume_capability is required", call);
        return -1;
    }
    Csi__V1__VolumeCapability *const caps[] = {(Csi__V1__VolumeCapability *)cap};
    if (pb_check_capabilities(caps, 1, why, sizeof(why)) != 0) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s: %s", call, why);
        return -1;
    }
    return 0;
}

/* ---- NodeStageVolume ---- */

static ProtobufCMessage *stage_locked(struct rpc_call *c, struct csi_plugin *p,
                                      const Csi__V1__NodeStageVolumeRequest *req)
{
    char err[1024];
    const Csi__V1__VolumeCapability *cap = req->volume_capability;
    struct attachment a;
    if (attach_record_load(p->state_dir, req->volume_id, &a) == 0) {
        if (strcmp(a.staging, req->staging_target_path) != 0)
            return rpc_error(c, GRPC_STATUS_ALREADY_EXISTS, "volume %s is staged at %s, not %s",
                             req->volume_id, a.staging, req->staging_target_path);
        if (a.block != is_block(cap))
            return rpc_error(c, GRPC_STATUS_ALREADY_EXISTS, "volume %s is staged as %s, not %s",
                             req->volume_id, a.block ? "block" : "mount",
                             is_block(cap) ? "block" : "mount");
        if (a.block || mount_is_mountpoint(a.staging)) {
            rpc_note(c, "already staged on %s (%s)", a.device, a.method);
            goto done;
        }
        /* attached but not mounted (a crash between the two): mount below */
    } else {
        const char *nbd = pb_map_get(req->publish_context, req->n_publish_context, CTX_NBD);
        char local_nbd[256];
        if (!nbd || !nbd[0]) {
            local_status(p, "nbd", local_nbd, sizeof(local_nbd), err, sizeof(err));
            if (!local_nbd[0])
                return rpc_error(c, GRPC_STATUS_UNAVAILABLE, "local tandemd: %s", err);
            nbd = local_nbd;
        }
        if (attach_volume(p->state_dir, req->volume_id, nbd, p->attach_mode, &a, err, sizeof(err)) <
            0)
            return rpc_error(c, GRPC_STATUS_INTERNAL, "attach %s: %s", req->volume_id, err);
        snprintf(a.staging, sizeof(a.staging), "%s", req->staging_target_path);
        a.block = is_block(cap);
        if (attach_record_save(p->state_dir, &a, err, sizeof(err)) < 0) {
            char e2[512];
            detach_volume(&a, e2, sizeof(e2));
            return rpc_error(c, GRPC_STATUS_INTERNAL, "%s", err);
        }
        rpc_note(c, "attach: %s",
                 strcmp(a.method, "nbd") == 0 ? "kernel NBD (nbd-client)"
                                              : "nbdfuse+loop (no /dev/nbd* on this kernel)");
        rpc_note(c, "device %s", a.device);
    }
    if (!a.block) {
        const char *fs = cap->mount && cap->mount->fs_type[0] ? cap->mount->fs_type : NULL;
        if (!fs)
            fs = pb_map_get(req->volume_context, req->n_volume_context, CTX_FS_TYPE);
        if (!fs || !fs[0])
            fs = "ext4";
        char opts[4200], note[256];
        mount_options(cap, is_reader_only(cap), opts, sizeof(opts));
        if (mount_format_and_mount(a.device, req->staging_target_path, fs, opts, note, sizeof(note),
                                   err, sizeof(err)) < 0)
            return rpc_error(c, GRPC_STATUS_INTERNAL, "%s", err);
        rpc_note(c, "%s; mounted at %s", note, req->staging_target_path);
    }
done:;
    Csi__V1__NodeStageVolumeResponse *r = arena_new(&c->arena, Csi__V1__NodeStageVolumeResponse);
    csi__v1__node_stage_volume_response__init(r);
    return &r->base;
}

static ProtobufCMessage *node_stage(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__NodeStageVolumeRequest *req = (const Csi__V1__NodeStageVolumeRequest *)msg;
    struct csi_plugin *p = *(struct csi_plugin **)ctx;
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "NodeStageVolume: volume_id is required");
    if (!req->staging_target_path[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeStageVolume: staging_target_path is required");
    if (check_cap(c, "NodeStageVolume", req->volume_capability) < 0)
        return NULL;
    if (!vol_name_valid(req->volume_id))
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "no volume %s", req->volume_id);
    pthread_mutex_lock(&node_lock);
    ProtobufCMessage *r = stage_locked(c, p, req);
    pthread_mutex_unlock(&node_lock);
    return r;
}

/* ---- NodeUnstageVolume ---- */

static ProtobufCMessage *node_unstage(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__NodeUnstageVolumeRequest *req = (const Csi__V1__NodeUnstageVolumeRequest *)msg;
    struct csi_plugin *p = *(struct csi_plugin **)ctx;
    char err[1024];
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeUnstageVolume: volume_id is required");
    if (!req->staging_target_path[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeUnstageVolume: staging_target_path is required");
    Csi__V1__NodeUnstageVolumeResponse *resp =
        arena_new(&c->arena, Csi__V1__NodeUnstageVolumeResponse);
    csi__v1__node_unstage_volume_response__init(resp);
    pthread_mutex_lock(&node_lock);
    struct attachment a;
    bool have =
        vol_name_valid(req->volume_id) && attach_record_load(p->state_dir, req->volume_id, &a) == 0;
    if (mount_is_mountpoint(req->staging_target_path) &&
        mount_unmount(req->staging_target_path, err, sizeof(err)) < 0) {
        pthread_mutex_unlock(&node_lock);
        return rpc_error(c, GRPC_STATUS_INTERNAL, "%s", err);
    }
    if (have) {
        if (detach_volume(&a, err, sizeof(err)) < 0) {
            pthread_mutex_unlock(&node_lock);
            return rpc_error(c, GRPC_STATUS_INTERNAL, "detach %s: %s", req->volume_id, err);
        }
        attach_record_remove(p->state_dir, req->volume_id);
        rpc_note(c, "unmounted and detached %s (%s)", a.device, a.method);
    } else {
        rpc_note(c, "not staged");
    }
    pthread_mutex_unlock(&node_lock);
    return &resp->base;
}

/* ---- NodePublishVolume / NodeUnpublishVolume ---- */

static ProtobufCMessage *node_publish(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__NodePublishVolumeRequest *req = (const Csi__V1__NodePublishVolumeRequest *)msg;
    struct csi_plugin *p = *(struct csi_plugin **)ctx;
    char err[1024];
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodePublishVolume: volume_id is required");
    if (!req->staging_target_path[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodePublishVolume: staging_target_path is required (this plugin "
                         "stages volumes)");
    if (!req->target_path[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodePublishVolume: target_path is required");
    if (check_cap(c, "NodePublishVolume", req->volume_capability) < 0)
        return NULL;
    bool block = is_block(req->volume_capability);
    bool ro = req->readonly || is_reader_only(req->volume_capability);
    Csi__V1__NodePublishVolumeResponse *resp =
        arena_new(&c->arena, Csi__V1__NodePublishVolumeResponse);
    csi__v1__node_publish_volume_response__init(resp);
    pthread_mutex_lock(&node_lock);
    struct attachment a;
    if (!vol_name_valid(req->volume_id) ||
        attach_record_load(p->state_dir, req->volume_id, &a) < 0) {
        pthread_mutex_unlock(&node_lock);
        return rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION,
                         "volume %s is not staged on this node; NodeStageVolume first",
                         req->volume_id);
    }
    if (a.block != block || strcmp(a.staging, req->staging_target_path) != 0) {
        pthread_mutex_unlock(&node_lock);
        return rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION,
                         "volume %s is staged at %s as %s; this publish asks for %s as %s",
                         req->volume_id, a.staging, a.block ? "block" : "mount",
                         req->staging_target_path, block ? "block" : "mount");
    }
    if (mount_is_mountpoint(req->target_path)) {
        pthread_mutex_unlock(&node_lock);
        rpc_note(c, "already published");
        return &resp->base;
    }
    int rc;
    if (block) {
        /* raw block: the device node bind-mounted onto a file at target_path */
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", req->target_path);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent)
            *slash = '\0';
        mount_mkdir_p(parent);
        int fd = open(req->target_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0640);
        if (fd >= 0)
            close(fd);
        rc = mount_bind(a.device, req->target_path, ro, err, sizeof(err));
    } else {
        if (mount_mkdir_p(req->target_path) < 0) {
            pthread_mutex_unlock(&node_lock);
            return rpc_error(c, GRPC_STATUS_INTERNAL, "cannot create %s: %s", req->target_path,
                             strerror(errno));
        }
        rc = mount_bind(req->staging_target_path, req->target_path, ro, err, sizeof(err));
    }
    pthread_mutex_unlock(&node_lock);
    if (rc < 0)
        return rpc_error(c, GRPC_STATUS_INTERNAL, "%s", err);
    rpc_note(c, "%s %s at %s%s", block ? "device" : "filesystem", block ? a.device : a.staging,
             req->target_path, ro ? " (read-only)" : "");
    return &resp->base;
}

static ProtobufCMessage *node_unpublish(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__NodeUnpublishVolumeRequest *req =
        (const Csi__V1__NodeUnpublishVolumeRequest *)msg;
    (void)ctx;
    char err[1024];
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeUnpublishVolume: volume_id is required");
    if (!req->target_path[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeUnpublishVolume: target_path is required");
    Csi__V1__NodeUnpublishVolumeResponse *resp =
        arena_new(&c->arena, Csi__V1__NodeUnpublishVolumeResponse);
    csi__v1__node_unpublish_volume_response__init(resp);
    pthread_mutex_lock(&node_lock);
    if (mount_is_mountpoint(req->target_path) &&
        mount_unmount(req->target_path, err, sizeof(err)) < 0) {
        pthread_mutex_unlock(&node_lock);
        return rpc_error(c, GRPC_STATUS_INTERNAL, "%s", err);
    }
    struct stat st;
    if (lstat(req->target_path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            rmdir(req->target_path);
        else
            unlink(req->target_path);
    }
    pthread_mutex_unlock(&node_lock);
    return &resp->base;
}

/* ---- NodeGetVolumeStats ---- */

static Csi__V1__VolumeUsage *usage(struct arena *a, Csi__V1__VolumeUsage__Unit unit,
                                   long long total, long long avail, long long used)
{
    Csi__V1__VolumeUsage *u = arena_new(a, Csi__V1__VolumeUsage);
    csi__v1__volume_usage__init(u);
    u->unit = unit;
    u->total = total;
    u->available = avail;
    u->used = used;
    return u;
}

/* The volume's health from its replicas (health.h). The volume is served by this node's
 * tandemd, except with remote access: then the condition says only what the local one knows. */
static Csi__V1__VolumeCondition *condition(struct rpc_call *c, const struct csi_plugin *p,
                                           const char *volume)
{
    char msg[512];
    Csi__V1__VolumeCondition *vc = arena_new(&c->arena, Csi__V1__VolumeCondition);
    csi__v1__volume_condition__init(vc);
    vc->abnormal = health_of(p->tandem_control, volume, msg, sizeof(msg));
    vc->message = arena_strdup(&c->arena, msg);
    return vc;
}

static ProtobufCMessage *node_stats(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__NodeGetVolumeStatsRequest *req = (const Csi__V1__NodeGetVolumeStatsRequest *)msg;
    struct csi_plugin *p = *(struct csi_plugin **)ctx;
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeGetVolumeStats: volume_id is required");
    if (!req->volume_path[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeGetVolumeStats: volume_path is required");
    struct stat st;
    if (stat(req->volume_path, &st) < 0)
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "volume path %s: %s", req->volume_path,
                         strerror(errno));
    Csi__V1__NodeGetVolumeStatsResponse *r =
        arena_new(&c->arena, Csi__V1__NodeGetVolumeStatsResponse);
    csi__v1__node_get_volume_stats_response__init(r);
    r->usage = arena_alloc(&c->arena, 2 * sizeof(void *));
    if (S_ISBLK(st.st_mode)) {
        int fd = open(req->volume_path, O_RDONLY | O_CLOEXEC);
        unsigned long long bytes = 0;
        if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
            if (fd >= 0)
                close(fd);
            return rpc_error(c, GRPC_STATUS_INTERNAL, "size of %s: %s", req->volume_path,
                             strerror(errno));
        }
        close(fd);
        r->usage[r->n_usage++] =
            usage(&c->arena, CSI__V1__VOLUME_USAGE__UNIT__BYTES, (long long)bytes, 0, 0);
        r->volume_condition = condition(c, p, req->volume_id);
        return &r->base;
    }
    if (!mount_is_mountpoint(req->volume_path))
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "%s is not a mounted volume", req->volume_path);
    struct statvfs vs;
    if (statvfs(req->volume_path, &vs) < 0)
        return rpc_error(c, GRPC_STATUS_INTERNAL, "statvfs %s: %s", req->volume_path,
                         strerror(errno));
    long long fr = (long long)vs.f_frsize;
    r->usage[r->n_usage++] =
        usage(&c->arena, CSI__V1__VOLUME_USAGE__UNIT__BYTES, (long long)vs.f_blocks * fr,
              (long long)vs.f_bavail * fr, (long long)(vs.f_blocks - vs.f_bfree) * fr);
    r->usage[r->n_usage++] =
        usage(&c->arena, CSI__V1__VOLUME_USAGE__UNIT__INODES, (long long)vs.f_files,
              (long long)vs.f_favail, (long long)(vs.f_files - vs.f_ffree));
    r->volume_condition = condition(c, p, req->volume_id);
    return &r->base;
}

/* ---- NodeExpandVolume ---- */

/* Online or offline (csi/README.md, "Expansion"). After ControllerExpandVolume the export is
 * larger but a device attached before still has the old size (NBD has no resize notice): a
 * kernel NBD device is told its export's new size (nbd_resize.h); an nbdfuse+loop attachment
 * cannot be (nbdfuse serves the size it found at start), so that is FAILED_PRECONDITION until it
 * is staged again. Then the filesystem is grown: ext4 unmounted when it is only staged (no
 * CAP_SYS_RESOURCE needed), else online. */
static ProtobufCMessage *node_expand(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__NodeExpandVolumeRequest *req = (const Csi__V1__NodeExpandVolumeRequest *)msg;
    struct csi_plugin *p = *(struct csi_plugin **)ctx;
    char err[1024];
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeExpandVolume: volume_id is required");
    if (!req->volume_path[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "NodeExpandVolume: volume_path is required");
    if (req->capacity_range &&
        (req->capacity_range->required_bytes < 0 || req->capacity_range->limit_bytes < 0))
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "NodeExpandVolume: negative capacity");
    pthread_mutex_lock(&node_lock);
    struct attachment a;
    if (!vol_name_valid(req->volume_id) ||
        attach_record_load(p->state_dir, req->volume_id, &a) < 0) {
        pthread_mutex_unlock(&node_lock);
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "volume %s is not staged on this node",
                         req->volume_id);
    }
    long long bytes = 0;
    int fd = open(a.device, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        unsigned long long b;
        if (ioctl(fd, BLKGETSIZE64, &b) == 0)
            bytes = (long long)b;
        close(fd);
    }
    long long want = req->capacity_range ? req->capacity_range->required_bytes : 0;
    if (strcmp(a.method, "nbd") == 0 && a.uri[0]) {
        uint64_t exp;
        if (nbd_export_size(a.uri, &exp, err, sizeof(err)) < 0) {
            pthread_mutex_unlock(&node_lock);
            return rpc_error(c, GRPC_STATUS_UNAVAILABLE, "NodeExpandVolume: %s", err);
        }
        if ((long long)exp > bytes) {
            if (nbd_resize(a.device, exp, err, sizeof(err)) < 0) {
                pthread_mutex_unlock(&node_lock);
                return rpc_error(c, GRPC_STATUS_INTERNAL, "NodeExpandVolume: %s", err);
            }
            rpc_note(c, "%s grown from %lld to %llu bytes", a.device, bytes,
                     (unsigned long long)exp);
            bytes = (long long)exp;
        }
    }
    if (want && bytes < want) {
        pthread_mutex_unlock(&node_lock);
        return rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION, "%s is %lld bytes, less than %lld: %s",
                         a.device, bytes, want,
                         strcmp(a.method, "nbd") == 0
                             ? "its export has not grown (ControllerExpandVolume first)"
                             : "an nbdfuse+loop attachment keeps the size the export had when it "
                               "was attached, so it cannot grow online; unstage and stage it "
                               "again (the kernel NBD path grows online)");
    }
    /* kubelet grows after NodeStage and before NodePublish: then ext4 can be grown unmounted,
     * which needs no CAP_SYS_RESOURCE (online resize does); once published, online only */
    int rc = 0, gerr = 0;
    if (!a.block) {
        char type[64] = "";
        bool ext = mount_probe_fs(a.device, type, sizeof(type), err, sizeof(err)) > 0 &&
                   strncmp(type, "ext", 3) == 0;
        bool alone = mount_count_source(a.device) <= 1;
        rc = ext && alone ? mount_grow_fs_offline(a.device, a.staging, err, sizeof(err))
                          : mount_grow_fs(a.device, a.staging, err, sizeof(err));
        gerr = rc < 0 ? errno : 0;
        rpc_note(c, "%s grow of %s", ext && alone ? "unmounted" : "online", type);
    }
    pthread_mutex_unlock(&node_lock);
    if (rc < 0)
        return rpc_error(c, gerr == EPERM ? GRPC_STATUS_FAILED_PRECONDITION : GRPC_STATUS_INTERNAL,
                         "%s", err);
    rpc_note(c, "%s %s is %lld bytes", a.block ? "block device" : "filesystem on", a.device, bytes);
    Csi__V1__NodeExpandVolumeResponse *r = arena_new(&c->arena, Csi__V1__NodeExpandVolumeResponse);
    csi__v1__node_expand_volume_response__init(r);
    r->capacity_bytes = bytes;
    return &r->base;
}

/* ---- NodeGetInfo / NodeGetCapabilities ---- */

static ProtobufCMessage *node_info(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    (void)msg;
    struct csi_plugin *p = *(struct csi_plugin **)ctx;
    char zone[128], err[512];
    if (p->zone[0])
        snprintf(zone, sizeof(zone), "%s", p->zone);
    else
        local_status(p, "zone", zone, sizeof(zone), err, sizeof(err));
    if (!zone[0])
        return rpc_error(c, GRPC_STATUS_UNAVAILABLE,
                         "no --zone given and the local tandemd reports none: %s", err);
    Csi__V1__NodeGetInfoResponse *r = arena_new(&c->arena, Csi__V1__NodeGetInfoResponse);
    csi__v1__node_get_info_response__init(r);
    r->node_id = (char *)p->node_id;
    r->accessible_topology = pb_zone_topology(&c->arena, zone);
    /* the kernel NBD path has a fixed number of devices (nbds_max): say so to the scheduler */
    if (strcmp(p->attach_mode, "fuse") != 0)
        r->max_volumes_per_node = attach_nbd_devices();
    return &r->base;
}

static ProtobufCMessage *node_caps(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    (void)msg;
    (void)ctx;
    static const Csi__V1__NodeServiceCapability__RPC__Type types[] = {
        CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME,
        CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS,
        CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
        CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER,
        CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
    };
    size_t n = sizeof(types) / sizeof(types[0]);
    struct arena *a = &c->arena;
    Csi__V1__NodeGetCapabilitiesResponse *r = arena_new(a, Csi__V1__NodeGetCapabilitiesResponse);
    csi__v1__node_get_capabilities_response__init(r);
    r->capabilities = arena_alloc(a, n * sizeof(void *));
    for (size_t i = 0; i < n; i++) {
        Csi__V1__NodeServiceCapability *cap = arena_new(a, Csi__V1__NodeServiceCapability);
        csi__v1__node_service_capability__init(cap);
        cap->type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
        cap->rpc = arena_new(a, Csi__V1__NodeServiceCapability__RPC);
        csi__v1__node_service_capability__rpc__init(cap->rpc);
        cap->rpc->type = types[i];
        r->capabilities[r->n_capabilities++] = cap;
    }
    return &r->base;
}

const struct rpc_method node_methods[] = {
    {"/csi.v1.Node/NodeStageVolume", &csi__v1__node_stage_volume_request__descriptor, node_stage,
     &csi_plugin},
    {"/csi.v1.Node/NodeUnstageVolume", &csi__v1__node_unstage_volume_request__descriptor,
     node_unstage, &csi_plugin},
    {"/csi.v1.Node/NodePublishVolume", &csi__v1__node_publish_volume_request__descriptor,
     node_publish, &csi_plugin},
    {"/csi.v1.Node/NodeUnpublishVolume", &csi__v1__node_unpublish_volume_request__descriptor,
     node_unpublish, &csi_plugin},
    {"/csi.v1.Node/NodeGetVolumeStats", &csi__v1__node_get_volume_stats_request__descriptor,
     node_stats, &csi_plugin},
    {"/csi.v1.Node/NodeExpandVolume", &csi__v1__node_expand_volume_request__descriptor, node_expand,
     &csi_plugin},
    {"/csi.v1.Node/NodeGetInfo", &csi__v1__node_get_info_request__descriptor, node_info,
     &csi_plugin},
    {"/csi.v1.Node/NodeGetCapabilities", &csi__v1__node_get_capabilities_request__descriptor,
     node_caps, &csi_plugin},
};
const size_t node_methods_n = sizeof(node_methods) / sizeof(node_methods[0]);
