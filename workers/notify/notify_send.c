/*
 * notify_send.c - the sender: claim due rows of the delivery log, send,
 * and record the outcome.
 *
 * A round claims at most notify.send_batch pending rows whose next_at has
 * come and whose lease (if any) ran out, leasing them for notify.lease_s
 * (FOR UPDATE SKIP LOCKED: two komek-notify processes never claim the
 * same row).  Webhooks go one row at a time; e-mail rows of one
 * recipient that are not urgent and whose channel has a digest interval
 * go as one digest, the others one by one.  A sent row is marked sent
 * with its Message-ID; a failed one gets the next try after
 * min(retry_base_ms * 2^tries, retry_max_ms), jittered to between half
 * and all of it, unless that would be past notify.max_age_s from when it
 * was logged: then it is dead-lettered (acknowledged by the broker
 * first) and marked dead with the reason.  A row whose channel was
 * removed from the directory is dead at once (channel_removed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_dlq.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"
#include "notify.h"

static const char notify_sql_claim[] =
        "WITH c AS (SELECT id FROM notify_deliveries WHERE status = 'pending'"
        " AND next_at <= now() AND (lease_until IS NULL OR lease_until < now())"
        " ORDER BY next_at, id LIMIT $1::integer FOR UPDATE SKIP LOCKED)"
        " UPDATE notify_deliveries d SET lease_until = now() + $2::integer"
        " * interval '1 second' FROM c WHERE d.id = c.id"
        " RETURNING d.id, d.event_id, d.kind, d.complaint_id, d.attempt::text,"
        " d.org_id, d.channel, d.target, d.category, d.district, d.building_id,"
        " to_char(d.routed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " to_char(d.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " d.created_at::text, d.origin_partition::text, d.origin_offset::text,"
        " (SELECT coalesce(o.secret, '') FROM org_channels o WHERE"
        " o.org_id = d.org_id AND o.channel = d.channel AND o.target = d.target),"
        " d.urgent::text, d.tries::text,"
        " extract(epoch FROM now() - d.created_at)::bigint::text,"
        " (SELECT o.digest_minutes::text FROM org_channels o WHERE"
        " o.org_id = d.org_id AND o.channel = d.channel AND o.target = d.target)";

#define NOTIFY_ROUND_MS 1000 /* a sender round's budget */

static char *notify_col(PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col)
                       ? NULL
                       : km_xstrdup(PQgetvalue(res, row, col));
}

static void notify_row_free(struct notify_row *r)
{
        free(r->id);
        free(r->event_id);
        free(r->kind);
        free(r->complaint_id);
        free(r->attempt);
        free(r->org_id);
        free(r->channel);
        free(r->target);
        free(r->category);
        free(r->district);
        free(r->building_id);
        free(r->routed_at);
        free(r->due_at);
        free(r->created_at);
        free(r->origin_partition);
        free(r->origin_offset);
        free(r->secret);
}

static int notify_is_webhook(const struct notify_row *r)
{
        return strcmp(r->channel, "webhook") == 0;
}

/* "{id,id,...}": a bigint[] literal of the rows' ids (digits only). */
static char *notify_id_array(struct notify_row **rows, size_t nrows)
{
        size_t cap = 3, len = 0;
        char *s;

        for (size_t i = 0; i < nrows; i++)
                cap += strlen(rows[i]->id) + 1;
        s = km_xmalloc(cap);
        s[len++] = '{';
        for (size_t i = 0; i < nrows; i++)
                len += (size_t)snprintf(s + len, cap - len, "%s%s",
                                        i ? "," : "", rows[i]->id);
        snprintf(s + len, cap - len, "}");
        return s;
}

/* Mark rows sent (one statement); a row cancelled by a task event while
 * it was being sent went out all the same: sent. */
static int notify_mark_sent(struct notify *n, struct notify_row **rows,
                            size_t nrows, const char *msgid, char *err,
                            size_t errlen)
{
        char *ids = notify_id_array(rows, nrows);
        const char *p[2];
        int r;

        p[0] = ids;
        p[1] = msgid;
        r = km_pg_exec(n->conn,
                       "UPDATE notify_deliveries SET status = 'sent', sent_at ="
                       " now(), tries = tries + 1, message_id = $2,"
                       " lease_until = NULL, last_error = NULL"
                       " WHERE id = ANY($1::bigint[])"
                       " AND status IN ('pending', 'cancelled')",
                       2, p, NULL, err, errlen);
        free(ids);
        return r;
}

/* The next try, or the dead letter (reason in why). */
static int notify_mark_failed(struct notify *n, struct notify_row *r,
                              const char *why, int give_up, char *err,
                              size_t errlen)
{
        int64_t delay = n->nc->retry_base_ms;
        int wh = notify_is_webhook(r);
        char ms[24];
        const char *p[3] = {r->id, why, ms};
        int rc;

        for (int i = 0; i < r->tries && delay < n->nc->retry_max_ms; i++)
                delay *= 2;
        if (delay > n->nc->retry_max_ms)
                delay = n->nc->retry_max_ms;
        delay = delay / 2 + (int64_t)(rand() % (int)(delay / 2 + 1));
        if (!give_up && r->age_s + delay / 1000 <= n->nc->max_age_s) {
                snprintf(ms, sizeof(ms), "%lld", (long long)delay);
                rc = km_pg_exec(n->conn,
                                "UPDATE notify_deliveries SET tries = tries + "
                                "1, next_at = now() + $3::bigint * interval "
                                "'1 millisecond', lease_until = NULL, "
                                "last_error = $2 WHERE id = $1::bigint AND "
                                "status = 'pending'",
                                3, p, NULL, err, errlen);
                if (rc == 0) {
                        n->retried++;
                        km_metric_add(n->m.retry[wh], 1);
                        km_log_info("delivery %s (%s %s, org %s): %s; next "
                                    "try in %lld ms",
                                    r->id, r->channel, r->kind, r->org_id, why,
                                    (long long)delay);
                }
                return rc;
        }
        {
                char *body = notify_webhook_body(n, r);
                json_t *origin = json_pack(
                        "{s:s, s:s, s:s, s:s, s:s}", "delivery", r->id,
                        "channel", r->channel, "org_id", r->org_id, "event_id",
                        r->event_id, "kind", r->kind);
                int32_t part =
                        r->origin_partition ? atoi(r->origin_partition) : 0;
                int64_t off = r->origin_offset
                                      ? strtoll(r->origin_offset, NULL, 10)
                                      : -1;

                rc = notify_dlq(n, "NOTIFY_SEND",
                                off >= 0 ? n->conf->topic_dispatch : NULL, part,
                                off, origin, "notify_undeliverable", why, body,
                                strlen(body), err, errlen);
                free(body);
                if (rc == 0)
                        rc = km_dlq_flush(n->producer, &n->pcounts,
                                          &n->failed_seen, 15000, err, errlen);
                if (rc)
                        return rc; /* the lease runs out: tried again */
        }
        rc = km_pg_exec(n->conn,
                        "UPDATE notify_deliveries SET status = 'dead', tries "
                        "= tries + 1, lease_until = NULL, last_error = $2 "
                        "WHERE id = $1::bigint AND status = 'pending'",
                        2, p, NULL, err, errlen);
        if (rc == 0) {
                n->dead++;
                km_metric_add(n->m.dead[wh], 1);
                km_log_warn("delivery %s (%s %s, org %s): given up after %d "
                            "tries: %s",
                            r->id, r->channel, r->kind, r->org_id, r->tries + 1,
                            why);
        }
        return rc;
}

/* Send one message for rows (one webhook row, or e-mail rows of one
 * recipient) and record the outcome. */
static int notify_send_group(struct notify *n, struct notify_row **rows,
                             size_t nrows, int *nsent, char *err, size_t errlen)
{
        struct notify_row *r = rows[0];
        int wh = notify_is_webhook(r), rc;
        char why[512], msgid[128];

        if (r->secret == NULL) {
                rc = 0;
                for (size_t i = 0; i < nrows && rc == 0; i++)
                        rc = notify_mark_failed(n, rows[i], "channel_removed",
                                                1, err, errlen);
                return rc;
        }
        if (wh) {
                snprintf(msgid, sizeof(msgid), "%s", r->event_id);
                rc = notify_webhook_post(n, r, why, sizeof(why));
        } else {
                char *msg = notify_mail_build(n, rows, nrows, msgid);

                rc = notify_mail_send(n, r->target, msg, why, sizeof(why));
                free(msg);
        }
        if (rc == 0) {
                if ((rc = notify_mark_sent(n, rows, nrows, msgid, err, errlen)))
                        return rc;
                n->sent += (int64_t)nrows;
                *nsent += (int)nrows;
                km_metric_add(n->m.sent[wh], (int64_t)nrows);
                km_log_debug("sent %zu %s notification(s) to org %s", nrows,
                             r->channel, r->org_id);
                return 0;
        }
        rc = 0;
        for (size_t i = 0; i < nrows && rc == 0; i++)
                rc = notify_mark_failed(n, rows[i], why, 0, err, errlen);
        return rc;
}

/* Rows a stop or the round's budget left unsent: their leases end now, so
 * the next round (or another process) sends them without waiting for
 * lease_s. */
static int notify_release(struct notify *n, struct notify_row *rows, int nrows,
                          char *err, size_t errlen)
{
        struct notify_row **left = km_xcalloc((size_t)nrows, sizeof(*left));
        size_t nleft = 0;
        char *ids;
        const char *p[1];
        int r;

        for (int i = 0; i < nrows; i++)
                if (rows[i].done <= 0)
                        left[nleft++] = &rows[i];
        if (nleft == 0) {
                free(left);
                return 0;
        }
        ids = notify_id_array(left, nleft);
        p[0] = ids;
        r = km_pg_exec(n->conn,
                       "UPDATE notify_deliveries SET lease_until = NULL"
                       " WHERE id = ANY($1::bigint[]) AND status = 'pending'",
                       1, p, NULL, err, errlen);
        km_log_debug("round: %zu claimed notification(s) left for the next",
                     nleft);
        free(ids);
        free(left);
        return r;
}

int notify_send_round(struct notify *n, int *nsent, char *err, size_t errlen)
{
        char lim[24], lease[24];
        const char *p[2] = {lim, lease};
        PGresult *res = NULL;
        struct notify_row *rows = NULL, **grp = NULL;
        int64_t t0 = km_now_ms();
        int nrows, rc;

        *nsent = 0;
        snprintf(lim, sizeof(lim), "%lld", (long long)n->nc->send_batch);
        snprintf(lease, sizeof(lease), "%lld", (long long)n->nc->lease_s);
        if ((rc = km_pg_exec(n->conn, notify_sql_claim, 2, p, &res, err,
                             errlen))) {
                km_obs_pg_error(n->m.reg, rc);
                return rc;
        }
        nrows = PQntuples(res);
        if (nrows == 0) {
                PQclear(res);
                return 0;
        }
        rows = km_xcalloc((size_t)nrows, sizeof(*rows));
        grp = km_xcalloc((size_t)nrows, sizeof(*grp));
        for (int i = 0; i < nrows; i++) {
                struct notify_row *r = &rows[i];
                char *dig = notify_col(res, i, 20);

                r->id = notify_col(res, i, 0);
                r->event_id = notify_col(res, i, 1);
                r->kind = notify_col(res, i, 2);
                r->complaint_id = notify_col(res, i, 3);
                r->attempt = notify_col(res, i, 4);
                r->org_id = notify_col(res, i, 5);
                r->channel = notify_col(res, i, 6);
                r->target = notify_col(res, i, 7);
                r->category = notify_col(res, i, 8);
                r->district = notify_col(res, i, 9);
                r->building_id = notify_col(res, i, 10);
                r->routed_at = notify_col(res, i, 11);
                r->due_at = notify_col(res, i, 12);
                r->created_at = notify_col(res, i, 13);
                r->origin_partition = notify_col(res, i, 14);
                r->origin_offset = notify_col(res, i, 15);
                r->secret = notify_col(res, i, 16);
                r->urgent = strcmp(PQgetvalue(res, i, 17), "true") == 0;
                r->tries = atoi(PQgetvalue(res, i, 18));
                r->age_s = strtoll(PQgetvalue(res, i, 19), NULL, 10);
                /* done < 0: may join a digest */
                r->done = !notify_is_webhook(r) && !r->urgent && dig &&
                                          atoi(dig) > 0
                                  ? -1
                                  : 0;
                free(dig);
        }
        PQclear(res);
        rc = 0;
        /* a round ends after NOTIFY_ROUND_MS (plus the send under way, at
         * most timeout_ms): the consumer is polled between rounds, well
         * within max.poll.interval.ms whatever the receivers do */
        for (int i = 0; i < nrows && rc == 0 && !n->fatal && !km_sig_stop &&
                        km_now_ms() - t0 < NOTIFY_ROUND_MS;
             i++) {
                size_t ng = 0;

                if (rows[i].done > 0)
                        continue;
                grp[ng++] = &rows[i];
                if (rows[i].done < 0)
                        for (int j = i + 1; j < nrows && ng < 100; j++)
                                if (rows[j].done < 0 &&
                                    strcmp(rows[j].org_id, rows[i].org_id) ==
                                            0 &&
                                    strcmp(rows[j].target, rows[i].target) ==
                                            0) {
                                        rows[j].done = 1;
                                        grp[ng++] = &rows[j];
                                }
                rows[i].done = 1;
                rc = notify_send_group(n, grp, ng, nsent, err, errlen);
        }
        if (rc == 0)
                rc = notify_release(n, rows, nrows, err, errlen);
        for (int i = 0; i < nrows; i++)
                notify_row_free(&rows[i]);
        free(rows);
        free(grp);
        if (rc)
                km_obs_pg_error(n->m.reg, rc);
        return rc;
}
