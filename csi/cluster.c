/* Nodes file and live probes (contract in cluster.h). */
#include "cluster.h"

#include "ctl_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PROBE_TIMEOUT_MS 3000

int cluster_load(struct cluster *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot open nodes file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    unsigned lineno = 0;
    c->n = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char id[NODE_ID_MAX], control[256], peer[128], extra[8];
        int k = sscanf(line, "%127s %255s %127s %7s", id, control, peer, extra);
        if (k <= 0)
            continue;
        if (k != 3) {
            snprintf(err, errlen, "%s:%u: want NODE_ID CONTROL_ENDPOINT PEER_ADDRESS", path,
                     lineno);
            fclose(f);
            return -1;
        }
        if (c->n == CLUSTER_MAX_NODES) {
            snprintf(err, errlen, "%s: more than %d nodes", path, CLUSTER_MAX_NODES);
            fclose(f);
            return -1;
        }
        if (cluster_find(c, id)) {
            snprintf(err, errlen, "%s:%u: node %s listed twice", path, lineno, id);
            fclose(f);
            return -1;
        }
        struct cluster_node *n = &c->nodes[c->n++];
        snprintf(n->id, sizeof(n->id), "%s", id);
        if (strncmp(control, "tls://", 6) == 0 && !strchr(control, '@'))
            /* the bridge's certificate must be issued for this node id (ctl_tls.h) */
            snprintf(n->control, sizeof(n->control), "tls://%s@%s", id, control + 6);
        else
            snprintf(n->control, sizeof(n->control), "%s", control);
        snprintf(n->peer, sizeof(n->peer), "%s", peer);
    }
    fclose(f);
    if (c->n == 0) {
        snprintf(err, errlen, "nodes file %s lists no nodes", path);
        return -1;
    }
    return 0;
}

const struct cluster_node *cluster_find(const struct cluster *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->nodes[i].id, id) == 0)
            return &c->nodes[i];
    return NULL;
}

void cluster_probe_one(const struct cluster_node *node, struct node_view *v)
{
    memset(v, 0, sizeof(*v));
    v->node = node;
    struct json_object *req = json_object_new_object();
    json_object_object_add(req, "op", json_object_new_string("node.status"));
    struct json_object *r =
        ctl_call(node->control, req, PROBE_TIMEOUT_MS, v->error, sizeof(v->error));
    json_object_put(req);
    if (!r)
        return;
    struct json_object *n, *cap;
    if (!ctl_ok(r) || !json_object_object_get_ex(r, "node", &n)) {
        snprintf(v->error, sizeof(v->error), "node.status failed: %s",
                 ctl_str(r, "error") ? ctl_str(r, "error") : "?");
        json_object_put(r);
        return;
    }
    const char *id = ctl_str(n, "node");
    if (!id || strcmp(id, node->id) != 0) {
        /* a nodes file pointing at the wrong daemon would place replicas on the wrong host */
        snprintf(v->error, sizeof(v->error), "%s answers as node %s, not %s", node->control,
                 id ? id : "?", node->id);
        json_object_put(r);
        return;
    }
    snprintf(v->zone, sizeof(v->zone), "%s", ctl_str(n, "zone") ? ctl_str(n, "zone") : "");
    snprintf(v->nbd, sizeof(v->nbd), "%s", ctl_str(n, "nbd") ? ctl_str(n, "nbd") : "");
    if (json_object_object_get_ex(n, "capacity", &cap)) {
        v->free_bytes = ctl_int(cap, "free_bytes");
        v->total_bytes = ctl_int(cap, "total_bytes");
    }
    v->up = true;
    json_object_put(r);
}

struct node_view *cluster_probe(const struct cluster *c, struct arena *a)
{
    struct node_view *v = arena_alloc(a, sizeof(*v) * (c->n ? c->n : 1));
    for (size_t i = 0; i < c->n; i++)
        cluster_probe_one(&c->nodes[i], &v[i]);
    return v;
}
