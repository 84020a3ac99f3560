/*
 * router_dedup.c - a complaint is dispatched once, however often it
 * arrives on `complaints` (a resubmission has the same id: km_id.h).
 *
 * A valid, routed complaint is not produced at once: it waits in the
 * open transaction's pending list.  Before it is produced (every
 * ROUTER_FLUSH_N complaints or ROUTER_FLUSH_BYTES, and at the commit) it
 * is dropped as a duplicate when its id
 *   1. came earlier in the same transaction (dd.txn), or
 *   2. was dispatched by this process in a committed transaction (dd.done:
 *      the last router.dedup_ids ids, FIFO), or
 *   3. is already a task: one query per check,
 *      SELECT complaint_id FROM tasks WHERE complaint_id = ANY($1::uuid[]).
 * Ids enter dd.done only after their transaction committed: an aborted
 * batch is redone and remembers nothing.  Only first dispatches pass here:
 * a re-route (attempt + 1) is produced by komek-inbox / the task sink's
 * outbox relay, never by the router.
 *
 * If the tasks query fails (connection lost and not back after one reset,
 * permission, timeout), the pending complaints are produced unchecked, with
 * one warning until it works again and komek_pg_errors_total counting:
 * routing does not stop for the database, and the sink and analytics
 * deduplicate on complaint id anyway.  XXX a restart forgets dd.done; see
 * docs/routing.md for the window that leaves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_id.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"
#include "router.h"

void router_dedup_init(struct router *r)
{
        struct router_dedup *d = &r->dd;

        memset(d, 0, sizeof(*d));
        router_idset_init(&d->done, (size_t)r->rc->dedup_ids);
        /* the open batch's ids and, while it commits, the previous one's */
        router_idset_init(&d->txn, 2 * (size_t)r->rc->batch_size);
}

static void router_dedup_pend_clear(struct router_dedup *d)
{
        for (size_t i = 0; i < d->npend; i++) {
                free(d->pend[i].key);
                free(d->pend[i].msg);
                free(d->pend[i].dlq);
                free(d->pend[i].detail);
        }
        d->npend = 0;
        d->pendbytes = 0;
        free(d->found);
        d->found = NULL;
        d->nfound = 0;
        d->nchecked = 0;
}

void router_dedup_destroy(struct router *r)
{
        struct router_dedup *d = &r->dd;

        router_dedup_pend_clear(d);
        free(d->pend);
        free(d->sent);
        router_idset_destroy(&d->done);
        router_idset_destroy(&d->txn);
        memset(d, 0, sizeof(*d));
        free(r->cm.sent);
        r->cm.sent = NULL;
}

static int router_dedup_hex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') /* PostgreSQL prints lower case */
                return c - 'A' + 10;
        return -1;
}

/* The 16 bytes of a complaint id, 8-4-4-4-12 hex digits (km_complaint
 * validated or derived it, so it parses; a failure would only make it
 * never match: all zero, as uuid_parse's callers had it). */
static void router_dedup_bytes(const char *cid, unsigned char *id)
{
        int n = 0;

        for (int i = 0; i < 36; i += 2) {
                int hi, lo;

                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (cid[i] != '-')
                                break;
                        i--; /* the pair starts after the dash */
                        continue;
                }
                hi = router_dedup_hex(cid[i]);
                lo = hi < 0 ? -1 : router_dedup_hex(cid[i + 1]);
                if (lo < 0)
                        break;
                id[n++] = (unsigned char)(hi << 4 | lo);
        }
        if (n != ROUTER_ID_BYTES || cid[36] != '\0')
                memset(id, 0, ROUTER_ID_BYTES);
}

/* @returns 1 (and counts it) if cid is a duplicate by memory, else 0 and
 * cid belongs to the open transaction from now on. */
int router_dedup_seen(struct router *r, const char *cid, int32_t partition,
                      int64_t offset)
{
        struct router_dedup *d = &r->dd;
        unsigned char id[ROUTER_ID_BYTES];
        const char *why = NULL;

        router_dedup_bytes(cid, id);
        if (router_idset_has(&d->txn, id))
                why = "earlier in this batch";
        else if (router_idset_has(&d->done, id))
                why = "dispatched before";
        if (why == NULL) {
                router_idset_add(&d->txn, id);
                return 0;
        }
        d->dup_mem++;
        r->m.n_dup++;
        km_log_debug("%s[%d]@%lld: %s: duplicate (%s), dropped",
                     r->conf->topic_complaints, (int)partition,
                     (long long)offset, cid, why);
        return 1;
}

void router_dedup_pend(struct router *r, const char *cid,
                       const struct km_route *route, int triage, char *msg,
                       size_t raw_len, int32_t partition, int64_t offset)
{
        struct router_dedup *d = &r->dd;
        struct router_pend *p;
        size_t l;

        if (d->npend == d->pendcap) {
                d->pendcap = d->pendcap ? 2 * d->pendcap : 256;
                d->pend = km_xrealloc(d->pend, d->pendcap * sizeof(*d->pend));
        }
        p = &d->pend[d->npend++];
        p->dlq = NULL;
        p->detail = NULL;
        router_dedup_bytes(cid, p->id);
        l = strnlen(cid, sizeof(p->cid) - 1); /* not snprintf: per message */
        memcpy(p->cid, cid, l);
        p->cid[l] = '\0';
        p->partition = partition;
        p->offset = offset;
        p->triage = triage;
        p->reason = route->reason;
        p->key = km_xstrdup(route->org->id); /* a reload may free the org */
        p->msg = msg;
        p->msglen = strlen(msg);
        p->raw_len = raw_len;
        d->pendbytes += p->msglen;
}

/* A dead letter waits with the routed complaints, so everything a batch
 * produces is produced in one place, into its transaction. */
void router_dedup_pend_dlq(struct router *r, const struct router_origin *o,
                           const char *reason, const char *detail)
{
        struct router_dedup *d = &r->dd;
        struct router_pend *p;

        if (d->npend == d->pendcap) {
                d->pendcap = d->pendcap ? 2 * d->pendcap : 256;
                d->pend = km_xrealloc(d->pend, d->pendcap * sizeof(*d->pend));
        }
        p = &d->pend[d->npend++];
        memset(p, 0, sizeof(*p));
        p->partition = o->partition;
        p->offset = o->offset;
        p->msglen = o->payload ? o->len : 0;
        p->msg = km_xmalloc(p->msglen + 1);
        if (p->msglen)
                memcpy(p->msg, o->payload, p->msglen);
        p->msg[p->msglen] = '\0';
        p->dlq = km_xstrdup(reason);
        p->detail = km_xstrdup(detail);
        d->pendbytes += p->msglen;
}

int router_dedup_due(const struct router *r)
{
        return r->dd.npend >= ROUTER_FLUSH_N ||
               r->dd.pendbytes >= ROUTER_FLUSH_BYTES;
}

static int router_dedup_cmp(const void *a, const void *b)
{
        return memcmp(a, b, ROUTER_ID_BYTES);
}

/* The pending ids that are tasks already, sorted, into *found (free it).
 * A failed query leaves *nfound 0: see the header comment. */
static void router_dedup_query(struct router *r,
                               unsigned char (**found)[ROUTER_ID_BYTES],
                               size_t *nfound)
{
        static const char sql[] = "SELECT complaint_id FROM tasks "
                                  "WHERE complaint_id = ANY($1::uuid[])";
        struct router_dedup *d = &r->dd;
        char *arr = km_xmalloc(d->npend * KM_ID_LEN + 3), *q = arr, err[512];
        const char *params[1] = {arr};
        PGresult *res = NULL;
        int rc = 0, n;

        *found = NULL;
        *nfound = 0;
        *q++ = '{';
        for (size_t i = 0; i < d->npend; i++) {
                size_t l = strlen(d->pend[i].cid);

                if (d->pend[i].dlq)
                        continue;
                if (q > arr + 1)
                        *q++ = ',';
                memcpy(q, d->pend[i].cid, l);
                q += l;
        }
        *q++ = '}';
        *q = '\0';
        for (int attempt = 0; attempt < 2; attempt++) {
                if (PQstatus(r->conn) != CONNECTION_OK)
                        PQreset(r->conn);
                rc = km_pg_exec(r->conn, sql, 1, params, &res, err,
                                sizeof(err));
                if (rc != KM_ERETRY)
                        break;
        }
        free(arr);
        if (rc) {
                km_obs_pg_error(r->m.reg, rc);
                if (!d->pg_failing)
                        km_log_warn("duplicate check in tasks failed, "
                                    "dispatching unchecked until it works "
                                    "again: %s",
                                    err);
                d->pg_failing = 1;
                d->unchecked += (int64_t)d->npend;
                return;
        }
        if (d->pg_failing)
                km_log_info("duplicate check in tasks works again");
        d->pg_failing = 0;
        n = PQntuples(res);
        if (n > 0) {
                *found = km_xcalloc((size_t)n, ROUTER_ID_BYTES);
                for (int i = 0; i < n; i++)
                        router_dedup_bytes(PQgetvalue(res, i, 0), (*found)[i]);
                qsort(*found, (size_t)n, ROUTER_ID_BYTES, router_dedup_cmp);
                *nfound = (size_t)n;
        }
        PQclear(res);
}

/* Produce one checked complaint into the open transaction. */
static int router_dedup_produce(struct router *r, const struct router_pend *p,
                                char *err, size_t errlen)
{
        struct router_dedup *d = &r->dd;
        int rc;

        rc = km_kafka_produce(r->producer, r->conf->topic_dispatch,
                              RD_KAFKA_PARTITION_UA, p->key, p->msg, p->msglen,
                              &r->pcounts, 30000, err, errlen);
        if (rc == KM_EINPUT) {
                struct router_origin o = {p->partition, p->offset,
                                          p->msg + p->msglen - 1 - p->raw_len,
                                          p->raw_len};

                return router_msg_dlq(r, &o, "too_large",
                                      "dispatch message too large", err,
                                      errlen);
        }
        if (rc)
                return rc;
        if (d->nsent == d->sentcap) {
                d->sentcap = d->sentcap ? 2 * d->sentcap : 256;
                d->sent = km_xrealloc(d->sent, d->sentcap * ROUTER_ID_BYTES);
        }
        memcpy(d->sent[d->nsent++], p->id, ROUTER_ID_BYTES);
        r->st.dispatched++;
        r->m.n_out++;
        if (p->triage)
                r->st.triaged++;
        km_log_debug("%s[%d]@%lld: %s -> %s (%s)", r->conf->topic_complaints,
                     (int)p->partition, (long long)p->offset, p->cid, p->key,
                     p->reason);
        return 0;
}

/* The tasks query of everything pending, ahead of its produce: it needs
 * nothing of a running commit, so router_txn_commit_start runs it while
 * that one finishes. */
void router_dedup_check(struct router *r)
{
        struct router_dedup *d = &r->dd;
        int64_t t0;

        if (d->npend == 0 || d->nchecked == d->npend)
                return;
        t0 = router_now_us();
        free(d->found);
        router_dedup_query(r, &d->found, &d->nfound);
        d->nchecked = d->npend;
        r->st.pg_us += router_now_us() - t0;
}

int router_dedup_flush(struct router *r, char *err, size_t errlen)
{
        struct router_dedup *d = &r->dd;
        unsigned char(*found)[ROUTER_ID_BYTES];
        size_t nfound;
        int rc = 0;
        int64_t t1;

        if (d->npend == 0)
                return 0;
        router_dedup_check(r);
        found = d->found;
        nfound = d->nfound;
        t1 = router_now_us();
        for (size_t i = 0; i < d->npend && rc == 0; i++) {
                const struct router_pend *p = &d->pend[i];

                if (p->dlq) {
                        struct router_origin o = {p->partition, p->offset,
                                                  p->msg, p->msglen};

                        rc = router_msg_dlq(r, &o, p->dlq, p->detail, err,
                                            errlen);
                        continue;
                }
                if (nfound && bsearch(p->id, found, nfound, ROUTER_ID_BYTES,
                                      router_dedup_cmp)) {
                        d->dup_pg++;
                        r->m.n_dup++;
                        km_log_debug("%s[%d]@%lld: %s: duplicate (already a "
                                     "task), dropped",
                                     r->conf->topic_complaints,
                                     (int)p->partition, (long long)p->offset,
                                     p->cid);
                        continue;
                }
                rc = router_dedup_produce(r, p, err, errlen);
        }
        r->st.produce_us += router_now_us() - t1;
        /* on failure the caller aborts the transaction: nothing is kept */
        router_dedup_pend_clear(d);
        return rc;
}

/* The batch's commit starts: what it produced and counted goes with it
 * (cm->sent is empty: router_dedup_committed left it so).  Its ids stay
 * in dd.txn, so the next batch, parsed while it commits, drops them. */
void router_dedup_handover(struct router *r, struct router_commit *cm)
{
        struct router_dedup *d = &r->dd;
        unsigned char(*sent)[ROUTER_ID_BYTES] = cm->sent;
        size_t cap = cm->sentcap;

        cm->sent = d->sent;
        cm->sentcap = d->sentcap;
        cm->nsent = d->nsent;
        d->sent = sent;
        d->sentcap = cap;
        d->nsent = 0;
        cm->dup_mem = d->dup_mem;
        cm->dup_pg = d->dup_pg;
        cm->unchecked = d->unchecked;
        d->dup_mem = 0;
        d->dup_pg = 0;
        d->unchecked = 0;
}

/* The batch of cm committed: what it produced is remembered; dd.txn
 * keeps only the open batch's ids (all still pending: nothing is
 * produced while a commit runs). */
void router_dedup_committed(struct router *r, struct router_commit *cm)
{
        struct router_dedup *d = &r->dd;

        for (size_t i = 0; i < cm->nsent; i++)
                router_idset_add(&d->done, cm->sent[i]);
        cm->nsent = 0;
        r->st.dup_mem += cm->dup_mem;
        r->st.dup_pg += cm->dup_pg;
        r->st.unchecked += cm->unchecked;
        router_idset_clear(&d->txn);
        for (size_t i = 0; i < d->npend; i++)
                if (d->pend[i].dlq == NULL)
                        router_idset_add(&d->txn, d->pend[i].id);
}

/* The transaction was aborted: forget it and the open batch. */
void router_dedup_aborted(struct router *r)
{
        struct router_dedup *d = &r->dd;

        router_dedup_pend_clear(d);
        router_idset_clear(&d->txn);
        d->nsent = 0;
        d->dup_mem = 0;
        d->dup_pg = 0;
        d->unchecked = 0;
}
