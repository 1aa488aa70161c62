/* Internal structures of repl/, shared by node.c (connections, frames), rvol.c (replicated
 * volumes: write path, attach, resync) and repl_ctl.c (control jobs). Reactor thread only. */
#ifndef TANDEM_REPL_INTERNAL_H
#define TANDEM_REPL_INTERNAL_H

#include "repl/bitmap.h"
#include "repl/frame.h"
#include "repl/meta.h"
#include "repl/meta_saver.h"
#include "repl/repl.h"
#include "repl/tls.h"
#include "vol/registry.h"
#include "vol/volume.h"

#include <stdbool.h>
#include <stdint.h>

#define ACK_RING 4096 /* frames awaiting an ack per peer connection, at most */

struct peer;
struct rio;
struct sio;

/* One queued outgoing frame. payload is borrowed (a client's write buffer, valid until the write
 * completes, which needs this frame's ack) unless release is set. */
struct tx_item {
    uint8_t hdr[FRAME_HEADER_BYTES];
    const void *payload;
    uint32_t payload_len;
    void (*release)(struct repl_node *n, void *payload, uint32_t len);
    struct tx_item *next;
};

/* PEER_TLS: connected, TLS handshake under way (only with --tls-*); no frame is read yet. */
enum peer_state { PEER_DOWN, PEER_CONNECTING, PEER_TLS, PEER_HELLO, PEER_UP };

enum ack_kind {
    ACK_NONE,
    ACK_RIO,
    ACK_RESYNC,
    ACK_CREATE,
    ACK_VERIFY,
    ACK_READ,
    ACK_SNAPSHOT,
    ACK_EXPAND,
    ACK_VOTE,
    ACK_GEN /* a witness holds a generation: region = the generation, len = the member */
};

struct ack_slot {
    enum ack_kind kind;
    uint64_t seq;
    void *ptr;       /* struct rio *, struct rvol * (resync, verify), struct create_job * */
    uint64_t region; /* ACK_RESYNC, ACK_VERIFY */
    uint32_t len;    /* ACK_RESYNC: bytes; ACK_VERIFY: the verify slot */
};

struct peer {
    struct repl_node *node;
    char name[REPL_NAME_MAX + 1];
    char addr[128];
    char zone[64];
    enum peer_state state;
    int fd;
    struct loop_watch w;
    bool outbound;
    bool connect_failed; /* the last connect attempt failed (log once) */
    bool refusal_logged; /* refused since it was last up (log the first refusal only) */
    SSL *ssl;            /* NULL on plain TCP */
    /* TLS sends: frames are copied here and written as few records (SSL has no writev); a
     * write that returned EAGAIN is retried from here with the same bytes. */
    uint8_t *tls_stage;
    size_t stage_len, stage_off;
    /* receive */
    uint8_t rx_hdr[FRAME_HEADER_BYTES];
    uint32_t rx_hdr_got;
    struct frame rx;
    void *rx_payload;
    uint32_t rx_payload_got;
    uint8_t *rxbuf; /* received, not yet parsed: [rx_off, rx_len) */
    size_t rx_off, rx_len;
    /* send */
    struct tx_item *tx_head, *tx_tail;
    size_t tx_sent; /* bytes of tx_head already sent */
    bool in_dirty;
    struct peer *dirty_next;
    uint64_t next_seq;
    struct ack_slot acks[ACK_RING];
    uint64_t last_rx_ms, last_tx_ms, next_connect_ms;
    struct peer *next;
};

enum link_state {
    LINK_DOWN,
    LINK_ATTACHED,
    LINK_SYNC_SOURCE,
    LINK_SYNC_TARGET,
    LINK_SPLIT_BRAIN,
    LINK_REFUSED
};

/* A replicated volume's view of one other member. */
struct member_link {
    struct repl_member *m; /* in rv->meta */
    struct peer *peer;
    enum link_state link;
    enum disk_state peer_disk;
    enum repl_role peer_role;
    bool in_sync;      /* same generation as ours and nothing to resync: may be told our new ones */
    struct bitmap oos; /* regions this member missed */
    uint64_t resync_next; /* next region to copy */
    unsigned resync_inflight;
    uint64_t resync_bytes; /* copied in this resync (status, tests) */
    uint64_t resync_total; /* regions to copy when it started */
    char refuse_reason[160];
    /* A witness member (witness.c): its generation follows ours (equal or behind at attach,
     * then told every new one), and the newest of ours it has acknowledged as durable. */
    bool witness_follows;
    uint64_t witness_gen;
};

struct rio;
struct oos_waiter {
    struct bitmap_waiter w;
    struct rio *r;
};

/* A client write (or flush) in flight on a replicated volume. */
struct rio {
    struct rvol *rv;
    struct vol_io *outer;
    struct vol_io inner;
    unsigned acks_pending;
    unsigned acked_mask;      /* members that acknowledged without error */
    unsigned persist_pending; /* out-of-sync marks not yet durable */
    struct bitmap_waiter wiw; /* write intent durable -> issue the write */
    struct oos_waiter oosw[REPL_MAX_REPLICAS];
    bool local_done;
    bool diskless; /* not written here: the disk is detached (only peers count) */
    int error;
    struct rio *next; /* free list / suspended list */
};

/* Online verify (verify.c): regions in flight and what the pass found. */
#define VERIFY_WINDOW     4
#define VERIFY_DIGEST     32 /* SHA-256 */
#define VERIFY_MAX_LISTED 4096

struct verify_slot {
    bool busy;
    uint64_t region;
    unsigned pending, answered; /* member bits */
    uint8_t local[VERIFY_DIGEST];
    uint8_t peer_sum[REPL_MAX_REPLICAS][VERIFY_DIGEST];
};

struct verify_run {
    bool running;
    unsigned members, started_members; /* taking part now / when the pass began */
    uint64_t next, regions_total, regions_done;
    uint64_t started_ms, finished_ms;
    uint64_t mismatches[REPL_MAX_REPLICAS], compared[REPL_MAX_REPLICAS];
    uint64_t primary_suspect, local_errors;
    struct verify_slot slots[VERIFY_WINDOW];
    struct {
        unsigned member;
        uint64_t region;
        bool primary_suspect;
    } found[VERIFY_MAX_LISTED];
    unsigned n_found;
};

/* A promotion waiting for its votes (vote.c). */
struct vote_run {
    struct reactor_job *job; /* NULL: none under way */
    bool force;
    unsigned asked, answered, granted; /* member bits; granted includes this node */
    uint64_t deadline_ms;
    char refusals[640];
};

struct rvol {
    struct repl_node *node;
    struct volume *vol;
    struct vol_entry *entry;
    char dir[512];
    uint8_t uuid[16];
    uint64_t volume_id;
    struct repl_meta meta;
    unsigned self; /* index of this node in meta.members */
    struct member_link links[REPL_MAX_REPLICAS];
    struct bitmap wi; /* write intent: regions with writes that may not be on every replica */
    unsigned writes_inflight;
    uint64_t last_write_ms;
    struct rio *suspended, **suspended_tail;
    struct rio *held; /* done everywhere they could be, but not yet on a majority (§5) */
    bool had_quorum;
    bool gen_pending; /* a member was lost; the next write starts a new generation */
    /* Metadata saves run on the saver thread (meta_saver.h): the newest version asked for,
     * the newest durable, and the one holding the current generation, which writes wait for
     * (a new generation is durable before the first write in it is issued). */
    uint64_t meta_version, meta_durable, gen_version;
    struct rio *meta_wait, **meta_wait_tail;
    /* The operator said "write without quorum" (promote --force --no-quorum): held until quorum
     * is seen again, never persisted. The one way two sides can both write (split brain). */
    bool quorum_override;
    uint64_t eio_no_majority; /* writes failed because too few replicas had them */
    struct verify_run verify;
    struct vote_run vote;
    /* As a voter: the member (index + 1, 0 none) this node last voted for, and when. */
    unsigned promised_to;
    uint64_t promised_ms;
    /* This node as a witness: generation notices to acknowledge once their save is durable
     * (per member: the notice's seq on its connection, and the metadata version). */
    struct {
        uint64_t seq, version;
        bool pending;
    } gen_acks[REPL_MAX_REPLICAS];
    uint64_t witness_data_frames; /* WRITE/RS_DATA that reached this witness (refused): 0 */
    char outdated_why[200];       /* why the disk went Outdated (status, promote's refusal) */
    struct rvol *next;
};

struct repl_node {
    struct loop *loop;
    struct registry *reg;
    struct io_engine *eng;
    struct bufpool *pool;
    struct reactor_queue *q;
    char name[REPL_NAME_MAX + 1];
    char zone[64];
    char listen_addr[128];
    unsigned timeout_ms;
    unsigned resync_inflight;
    /* Resync bandwidth, node-wide (every volume and peer share it): a token bucket in bytes,
     * refilled at rs_rate bytes/s up to rs_burst. rs_rate 0: no limit. */
    uint64_t rs_rate, rs_burst;
    double rs_tokens;
    uint64_t rs_refill_ms;
    int listen_fd;
    struct loop_watch listen_watch;
    int timer_fd;
    struct loop_watch timer_watch;
    struct peer *peers;
    struct peer *inbound; /* accepted connections not yet named by a HELLO */
    SSL_CTX *tls;         /* NULL: plain TCP */
    /* The last inbound refusal logged: the same reason again within 10 s is only counted. */
    uint64_t inbound_refusal_ms;
    char inbound_refusal_why[160];
    unsigned inbound_refusals_quiet;
    struct peer *dirty;
    struct rvol *vols;
    struct meta_saver *saver;
    struct tx_item *free_tx;
    struct rio *free_rio;
    struct rread *free_rread;
    struct sio *free_sio; /* applied-frame requests (secondary), reused: no malloc per frame */
    struct create_job *creates;
    unsigned local_ops; /* resync reads and applied peer frames on this node's disk */
    uint64_t ticks;
};

/* node.c */
uint64_t repl_now_ms(void);
struct peer *peer_get(struct repl_node *n, const char *name, const char *addr);
void peer_send(struct peer *p, struct frame *f, const void *payload, uint32_t len,
               void (*release)(struct repl_node *n, void *payload, uint32_t len));
/* Sends a JSON payload (copied). */
void peer_send_json(struct peer *p, uint8_t type, uint64_t volume_id, struct json_object *o);
void peer_drop(struct peer *p, const char *why);
void peer_kick_connect(struct peer *p);
void repl_release_malloc(struct repl_node *n, void *payload, uint32_t len);
void repl_release_pool(struct repl_node *n, void *payload, uint32_t len);

/* repl_ctl.c */
void create_job_ack(struct repl_node *n, void *job, struct peer *p, int err);
void create_job_peer_up(struct repl_node *n, struct peer *p);
void create_jobs_tick(struct repl_node *n);

/* rvol.c */
/* Takes `bytes` of resync bandwidth if the bucket has them (node.c keeps the bucket). */
bool repl_resync_take(struct repl_node *n, uint64_t bytes);
struct rvol *rvol_by_id(struct repl_node *n, uint64_t volume_id);
struct rvol *rvol_by_name(struct repl_node *n, const char *name);
struct rvol *rvol_open(struct repl_node *n, struct vol_entry *e, char *err, size_t errlen);
void rvol_close(struct rvol *rv);
void rvol_peer_up(struct rvol *rv, struct peer *p);
void rvol_peer_lost(struct rvol *rv, struct peer *p);
void rvol_frame(struct rvol *rv, struct peer *p, const struct frame *f, void *payload);
/* ACK, RS_ACK, VERIFY_SUM: payload is the frame's (VERIFY_SUM: the digest), or NULL. */
void rvol_ack(struct peer *p, const struct frame *f, const void *payload);
void rvol_tick(struct rvol *rv);
/* Frees the node's spare applied-frame requests (at shutdown, once none is in flight). */
void rvol_free_sios(struct repl_node *n);
/* After a role change: tell in-sync peers our generation, and re-run attach with the others so
 * that a new primary resyncs whoever is behind. */
void rvol_role_changed(struct rvol *rv);
bool rvol_has_quorum(const struct rvol *rv);
/* Quorum, or the operator's override of it. */
bool rvol_may_write(const struct rvol *rv);
/* On the split-brain victim: forget local changes since the split and become a resync target
 * of the other side (the union of both sides' changed regions is copied). -1 and a message
 * if this node is not in split brain or still has clients. */
int rvol_discard_local(struct rvol *rv, char *msg, size_t msglen);
struct member_link *rvol_link_of(struct rvol *rv, struct peer *p);
/* Primary: copy the member's out-of-sync regions to it (link becomes SyncSource). */
void rvol_start_resync(struct rvol *rv, struct member_link *l);

/* Queues a save of rv->meta (off the reactor); errors are logged when it completes. */
void rvol_save_meta(struct rvol *rv);
/* The saver's completion (meta_saver.h), reactor thread. */
void rvol_meta_saved(void *owner, uint64_t version, int err, const char *msg);
/* Sends our generation ids, role and disk state as a ROLE or RS_DONE frame. */
void rvol_send_gens(struct rvol *rv, struct peer *p, uint8_t type);
/* Tells every connected peer our role, disk state and generation (ROLE frame). */
void rvol_announce(struct rvol *rv);

/* diskless.c */
/* A client read: local disk, or a peer when the disk is detached or fails with EIO. */
void rvol_read(struct rvol *rv, struct vol_io *vio);
/* EIO from the backing disk: disk state Diskless (persisted if the disk still allows), peers
 * told; nothing touches the local disk afterwards. Idempotent. */
void rvol_detach(struct rvol *rv, int err, const char *what);
/* READ_DATA (f, payload) or a lost connection (f NULL, ECONNRESET) for a remote read. */
void rvol_read_answer(struct peer *p, void *ptr, int err, const struct frame *f,
                      const void *payload);
void rvol_read_serve(struct rvol *rv, struct peer *p, const struct frame *f);
void rvol_free_reads(struct repl_node *n);

/* verify.c */
/* Starts a pass on the primary; -1 with a message if it cannot run. */
int rvol_verify_start(struct rvol *rv, char *msg, size_t msglen);
void rvol_verify_tick(struct rvol *rv);
/* A VERIFY_SUM (or a lost connection: err ECONNRESET) for the ack slot `a`. */
void rvol_verify_answer(struct rvol *rv, struct peer *p, const struct ack_slot *a, int err,
                        const void *sum, uint32_t sum_len);
/* Peer side: answer a VERIFY_REQ with the digest of that range, in stream order. */
void rvol_verify_serve(struct rvol *rv, struct peer *p, const struct frame *f);
void rvol_verify_status(struct rvol *rv, struct json_object *out);
uint64_t uuid_to_id(const uint8_t uuid[16]);
void peer_fail_acks(struct peer *p);

/* repl_ctl.c: the promotion itself, once the votes are in; -1 and a message if this node can
 * no longer be promoted. */
int rvol_become_primary(struct rvol *rv, bool force, char *msg, size_t msglen);

/* vote.c: promotion needs a majority of voters that each see no live primary (§5) */
/* Asks every attached member for its vote; finishes job (ok or refused) when decided. */
void rvol_vote_start(struct rvol *rv, struct reactor_job *job, bool force);
/* An answer (ACK: err 0 granted, else refused with reason), or a lost connection. */
void rvol_vote_answer(struct rvol *rv, unsigned member, int err, const void *reason,
                      uint32_t reason_len);
void rvol_vote_tick(struct rvol *rv);
/* Volume closing: forget the promotion under way (its job fails). */
void rvol_vote_cancel(struct rvol *rv);
/* Voter side: answer a VOTE_REQ. */
void rvol_vote_serve(struct rvol *rv, struct peer *p, const struct frame *f, struct json_object *o);

/* witness.c: diskless voters (proto §11) */
static inline bool rvol_is_witness(const struct rvol *rv, unsigned member)
{
    return rv->meta.members[member].witness;
}
/* Primary: tell a following witness our generation (RS_DONE, acknowledged once durable). */
void witness_send_gen(struct rvol *rv, struct member_link *l);
/* Every attached witness that follows us has acknowledged our current generation: the first
 * write of a generation waits for this, so the witness may count toward its majority. */
bool witness_gens_ok(const struct rvol *rv);
/* The witness counts toward a write's majority now. */
bool witness_holds_gen(const struct rvol *rv, const struct member_link *l);
/* ATTACH from or to a witness: generation bookkeeping instead of resync decisions. True if
 * this data replica learnt that it is behind (the caller makes it Outdated and demotes it). */
bool witness_on_attach(struct rvol *rv, struct member_link *l, uint64_t rc, bool peer_behind,
                       bool we_behind);
/* On the witness: RS_DONE from a primary, adopted and acknowledged once durable. */
void witness_take_gen(struct rvol *rv, struct peer *p, struct member_link *l, const struct frame *f,
                      struct json_object *o);
/* On the witness: the metadata is durable up to `version`: send the acks it covers. */
void witness_meta_durable(struct rvol *rv);
/* Primary: ACK of a generation notice. */
void witness_gen_acked(struct rvol *rv, unsigned member, uint64_t gen, int err);
/* Writes waiting for the generation to be durable and acknowledged: start them if ready. */
void rvol_gen_ready(struct rvol *rv);

/* rexpand.c: growing a replicated volume */
int rvol_grow(struct rvol *rv, uint64_t size, char *err, size_t errlen);
void rvol_expand_ack(void *job, unsigned member, int err);
void rvol_expand_frame(struct rvol *rv, struct peer *p, const struct frame *f,
                       struct json_object *o);

/* rsnap.c: snapshots at one write boundary on every replica */
void rvol_snapshot_ack(void *job, unsigned member, int err);
void rvol_snapshot_frame(struct rvol *rv, struct peer *p, const struct frame *f,
                         struct json_object *o);
int frame_create_received(struct repl_node *n, struct peer *p, struct json_object *o, char *err,
                          size_t errlen);

#endif
