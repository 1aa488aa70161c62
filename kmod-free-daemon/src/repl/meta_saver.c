/* The metadata saver thread. Jobs go in a FIFO under a mutex; the worker takes one at a time,
 * writes it (blocking, off the reactor), and hands it back through an eventfd that the
 * reactor watches, so completions run on the reactor like every other callback. */
#include "repl/meta_saver.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct meta_job {
    void *owner;
    uint64_t version;
    char dir[512];
    struct repl_meta m;
    int err;
    char msg[256];
    struct meta_job *next;
};

struct meta_saver {
    struct loop *loop;
    meta_saved_fn done;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    struct meta_job *queue, *finished; /* FIFO to the worker; LIFO back */
    void *busy_owner;                  /* the job in progress, or NULL */
    bool stop;
    int efd;
    struct loop_watch w;
    uint64_t next_version;
};

static void *worker(void *arg)
{
    struct meta_saver *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->queue && !s->stop)
            pthread_cond_wait(&s->work, &s->mu);
        if (!s->queue)
            break;
        struct meta_job *j = s->queue;
        s->queue = j->next;
        s->busy_owner = j->owner;
        pthread_mutex_unlock(&s->mu);
        j->err =
            repl_meta_save(j->dir, &j->m, j->msg, sizeof(j->msg)) < 0 ? (errno ? errno : EIO) : 0;
        pthread_mutex_lock(&s->mu);
        s->busy_owner = NULL;
        j->next = s->finished;
        s->finished = j;
        uint64_t one = 1;
        if (write(s->efd, &one, sizeof(one)) < 0) {
            /* the counter cannot overflow here; nothing else can fail */
        }
        pthread_cond_broadcast(&s->idle);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Takes the finished jobs and runs their completions (reactor). */
static void reap(struct meta_saver *s, void *skip_owner)
{
    pthread_mutex_lock(&s->mu);
    struct meta_job *list = s->finished;
    s->finished = NULL;
    pthread_mutex_unlock(&s->mu);
    /* oldest first, so an owner sees its versions in order */
    struct meta_job *rev = NULL;
    while (list) {
        struct meta_job *j = list;
        list = j->next;
        j->next = rev;
        rev = j;
    }
    while (rev) {
        struct meta_job *j = rev;
        rev = j->next;
        if (j->owner != skip_owner)
            s->done(j->owner, j->version, j->err, j->msg);
        free(j);
    }
}

static void on_event(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    struct meta_saver *s = w->ctx;
    uint64_t v;
    if (read(s->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    reap(s, NULL);
}

struct meta_saver *meta_saver_create(struct loop *l, meta_saved_fn done, char *err, size_t errlen)
{
    struct meta_saver *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = l;
    s->done = done;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0 || loop_add(l, &s->w, s->efd, EPOLLIN, on_event, s) < 0 ||
        pthread_create(&s->thread, NULL, worker, s) != 0) {
        snprintf(err, errlen, "metadata saver: %s", strerror(errno));
        if (s->efd >= 0) {
            loop_del(l, &s->w);
            close(s->efd);
        }
        free(s);
        return NULL;
    }
    return s;
}

uint64_t meta_saver_save(struct meta_saver *s, void *owner, const char *dir,
                         const struct repl_meta *m)
{
    uint64_t version = ++s->next_version;
    pthread_mutex_lock(&s->mu);
    for (struct meta_job *j = s->queue; j; j = j->next)
        if (j->owner == owner) { /* superseded: the newer state replaces it in place */
            j->m = *m;
            j->version = version;
            pthread_mutex_unlock(&s->mu);
            return version;
        }
    struct meta_job *j = calloc(1, sizeof(*j));
    if (!j) {
        pthread_mutex_unlock(&s->mu);
        char msg[256];
        int e = repl_meta_save(dir, m, msg, sizeof(msg)) < 0 ? EIO : 0; /* no memory: inline */
        s->done(owner, version, e, msg);
        return version;
    }
    j->owner = owner;
    j->version = version;
    snprintf(j->dir, sizeof(j->dir), "%s", dir);
    j->m = *m;
    struct meta_job **tail = &s->queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return version;
}

static bool owner_pending(struct meta_saver *s, void *owner)
{
    if (s->busy_owner == owner)
        return true;
    for (struct meta_job *j = s->queue; j; j = j->next)
        if (j->owner == owner)
            return true;
    return false;
}

void meta_saver_drain(struct meta_saver *s, void *owner)
{
    pthread_mutex_lock(&s->mu);
    while (owner_pending(s, owner))
        pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    reap(s, owner);
}

void meta_saver_destroy(struct meta_saver *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL); /* the worker empties the queue before it stops */
    reap(s, NULL);
    loop_del(s->loop, &s->w);
    close(s->efd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    free(s);
}
