/* The CSI Identity service, served in both modes: the driver's name and version, its plugin
 * capabilities, and Probe (ready when the tandemd it depends on answers). */
#include "plugin.h"

#include "ctl_client.h"
#include "version.h"

static ProtobufCMessage *get_plugin_info(struct rpc_call *c, const ProtobufCMessage *req, void *ctx)
{
    (void)req;
    (void)ctx;
    Csi__V1__GetPluginInfoResponse *r = arena_new(&c->arena, Csi__V1__GetPluginInfoResponse);
    csi__v1__get_plugin_info_response__init(r);
    r->name = CSI_DRIVER_NAME;
    r->vendor_version = TANDEM_VERSION;
    return &r->base;
}

static Csi__V1__PluginCapability *service_cap(struct arena *a,
                                              Csi__V1__PluginCapability__Service__Type type)
{
    Csi__V1__PluginCapability *p = arena_new(a, Csi__V1__PluginCapability);
    csi__v1__plugin_capability__init(p);
    p->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
    p->service = arena_new(a, Csi__V1__PluginCapability__Service);
    csi__v1__plugin_capability__service__init(p->service);
    p->service->type = type;
    return p;
}

static ProtobufCMessage *get_plugin_capabilities(struct rpc_call *c, const ProtobufCMessage *req,
                                                 void *ctx)
{
    (void)req;
    (void)ctx;
    struct arena *a = &c->arena;
    Csi__V1__GetPluginCapabilitiesResponse *r =
        arena_new(a, Csi__V1__GetPluginCapabilitiesResponse);
    csi__v1__get_plugin_capabilities_response__init(r);
    r->capabilities = arena_alloc(a, 3 * sizeof(*r->capabilities));
    r->capabilities[r->n_capabilities++] =
        service_cap(a, CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE);
    r->capabilities[r->n_capabilities++] =
        service_cap(a, CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS);
    /* online: a published volume grows in place on the kernel NBD path (the node plugin tells
     * the device its export's new size, then resize2fs/xfs_growfs); nbdfuse+loop attachments
     * refuse it with FAILED_PRECONDITION and grow at the next stage (csi/README.md) */
    Csi__V1__PluginCapability *exp = arena_new(a, Csi__V1__PluginCapability);
    csi__v1__plugin_capability__init(exp);
    exp->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
    exp->volume_expansion = arena_new(a, Csi__V1__PluginCapability__VolumeExpansion);
    csi__v1__plugin_capability__volume_expansion__init(exp->volume_expansion);
    exp->volume_expansion->type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
    r->capabilities[r->n_capabilities++] = exp;
    return &r->base;
}

/* Ready = the daemons this plugin drives answer: the local one in node mode, at least one in
 * controller mode. Not ready is an answer (ready=false), not an error: the plugin itself is
 * healthy and the liveness probe must not restart it for a daemon that is still starting. */
static ProtobufCMessage *probe(struct rpc_call *c, const ProtobufCMessage *req, void *ctx)
{
    (void)req;
    struct csi_plugin *p = *(struct csi_plugin **)ctx;
    bool ready = false;
    if (p->mode == MODE_NODE) {
        struct json_object *q = json_object_new_object();
        json_object_object_add(q, "op", json_object_new_string("node.status"));
        char err[256];
        struct json_object *res = ctl_call(p->tandem_control, q, 3000, err, sizeof(err));
        ready = ctl_ok(res);
        if (!ready)
            rpc_note(c, "local tandemd not ready: %s", res ? ctl_str(res, "error") : err);
        json_object_put(res);
        json_object_put(q);
    } else {
        for (size_t i = 0; i < p->cluster.n && !ready; i++) {
            struct node_view v;
            cluster_probe_one(&p->cluster.nodes[i], &v);
            ready = v.up;
        }
        if (!ready)
            rpc_note(c, "no tandemd in the nodes file answers");
    }
    Csi__V1__ProbeResponse *r = arena_new(&c->arena, Csi__V1__ProbeResponse);
    csi__v1__probe_response__init(r);
    r->ready = arena_new(&c->arena, Google__Protobuf__BoolValue);
    google__protobuf__bool_value__init(r->ready);
    r->ready->value = ready;
    return &r->base;
}

const struct rpc_method identity_methods[] = {
    {"/csi.v1.Identity/GetPluginInfo", &csi__v1__get_plugin_info_request__descriptor,
     get_plugin_info, &csi_plugin},
    {"/csi.v1.Identity/GetPluginCapabilities",
     &csi__v1__get_plugin_capabilities_request__descriptor, get_plugin_capabilities, &csi_plugin},
    {"/csi.v1.Identity/Probe", &csi__v1__probe_request__descriptor, probe, &csi_plugin},
};
const size_t identity_methods_n = sizeof(identity_methods) / sizeof(identity_methods[0]);
