/*
 * tasksink_db.c - dispatch messages into tasks rows.
 *
 * SECURITY: a dispatch message is validated like any input (the topic is
 * ours, but anyone with access could write to it): an invalid one, and a
 * row the database refuses, is dead-lettered (complaints.dlq, origin and
 * reason, km_dlq_produce), never a crash.
 *
 * Dead letters and the batch: they are produced while the batch is open
 * and flushed, every one acknowledged by the broker, before the
 * PostgreSQL transaction that commits the batch's offsets; one that fails
 * rolls the batch back (it is read again).  So a consumed message is
 * never lost.  It is at least once, not exactly once: if the commit fails
 * after the acknowledgement, the retried batch dead-letters the message
 * again, with the same key "<topic>/<partition>/<offset>" (the origin),
 * which a DLQ reader deduplicates on.  A batch the database refuses
 * dead-letters only its refused rows (ts_bisect), once each.  All values
 * go in as COPY data or statement parameters, never into SQL text.  The
 * resident's contact goes into
 * tasks.contact (the organisation calls back) and nowhere else; it is
 * never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_dir.h"
#include "km_log.h"
#include "km_dlq.h"
#include "km_outbox.h"
#include "km_pg.h"
#include "km_task.h"
#include "km_util.h"
#include "tasksink.h"

int tasksink_dlq(struct tasksink *ts, const char *stage, int32_t partition,
                 int64_t offset, const char *reason, const char *detail,
                 const void *buf, size_t len, char *err, size_t errlen)
{
        struct km_dlq_origin from = {ts->conf->topic_dispatch, partition,
                                     offset, NULL};
        int r = km_dlq_produce(ts->producer, ts->conf, "komek-tasksink", stage,
                               &from, reason, detail, buf, len, &ts->pcounts,
                               10000, err, errlen);

        if (r == 0)
                km_log_warn("%s[%d]@%lld: dead-lettered: %s: %s",
                            ts->conf->topic_dispatch, (int)partition,
                            (long long)offset, reason, detail);
        return r;
}

/* Every dead letter of the batch acknowledged, before its offsets commit. */
static int tasksink_dlq_flush(struct tasksink *ts, char *err, size_t errlen)
{
        int r;

        if (ts->dlq_failed)
                return km_err_set(err, errlen, KM_ERETRY,
                                  "a dead letter could not be produced");
        if ((r = km_kafka_flush(ts->producer, 15000, err, errlen)))
                return r;
        if (ts->pcounts.failed > ts->failed_seen) {
                ts->failed_seen = ts->pcounts.failed;
                return km_err_set(err, errlen, KM_ERETRY, "dead letter: %s",
                                  ts->pcounts.last_error);
        }
        return 0;
}

/* --- the set-based write ----------------------------------------------
 *
 * The batch's lines are COPied into ts_stage, a temporary table of this
 * connection (created once per backend, emptied at every commit), then
 * four prepared statements: the attempts (DO NOTHING: a re-delivery adds
 * nothing), the tasks (one row per complaint, its highest attempt of the
 * batch; a row replaces the stored one only for a higher attempt), the
 * tasks routed by an old directory (below), and every partition's next
 * offset; sent together, one round trip (ts_pipeline).  Rows go in complaint_id order, so two
 * sinks lock rows in one order.  updated_at is clock_timestamp(): the
 * moment the row was written, just before the commit, not the
 * transaction's start. */
static const char ts_sql_stage[] =
        "CREATE TEMP TABLE IF NOT EXISTS ts_stage (ord integer, complaint_id uuid,"
        " attempt integer, org_id text, org_kind text, building_id text,"
        " district text, category text, route_reason text,"
        " received_at timestamptz, routed_at timestamptz, due_at timestamptz,"
        " description text, address text, contact jsonb, complaint jsonb)"
        " ON COMMIT DELETE ROWS";

static const char ts_sql_copy[] = "COPY ts_stage FROM STDIN";

/* The staged rows' open tasks a router routed to an organisation the
 * directory no longer names for the building, category and received_at:
 * it held the old directory (it reloads between batches) or the dispatch
 * was on the topic when komek-directory import handed the open tasks over
 * (directory_handover.c).  Each is handed over as the import does, in
 * this transaction (migration 116), once: not again while its handover
 * waits in task_outbox (a re-delivered batch).  A re-route (rerouted:*: a
 * rejection, a handover) was chosen by someone, not by the directory:
 * left alone.  The responsible organisation is directory_responsible()'s
 * body (107) joined in, not the function called per row: the planner
 * pushed that call down onto every open task of the table, not only the
 * batch's (800 ms a 400-row batch over 10,000 tasks; now a few ms).  Each
 * of the batch's tasks is read by its key (the lateral OFFSET 0 keeps the
 * planner from joining the table's open tasks instead: the statement is
 * prepared, its plan made once, maybe while tasks was empty, and ts_stage
 * has no statistics), each period by building_orgs' primary key. */
static const char ts_sql_stale[] =
        "SELECT t.complaint_id::text, t.org_id, r.org, k.kind FROM (SELECT"
        " DISTINCT complaint_id FROM ts_stage) s CROSS JOIN LATERAL (SELECT *"
        " FROM tasks x WHERE x.complaint_id = s.complaint_id OFFSET 0) t"
        " JOIN categories k ON k.code = t.category"
        " CROSS JOIN LATERAL (SELECT h.org_id AS org FROM building_periods h"
        " WHERE h.building_id = t.building_id AND h.kind = k.kind"
        " AND h.valid_from <= t.received_at AND (h.valid_to IS NULL OR"
        " t.received_at < h.valid_to) LIMIT 1) r WHERE t.building_id IS NOT NULL"
        " AND t.status IN ('open', 'acknowledged', 'reopened') AND"
        " t.route_reason NOT LIKE 'rerouted:%' AND r.org <> t.org_id"
        " AND NOT EXISTS (SELECT 1 FROM task_outbox o WHERE o.complaint_id ="
        " t.complaint_id AND o.attempt = t.attempt AND o.event = 'handed_over')"
        " ORDER BY t.complaint_id";

#define TS_NSTMT 4
static const char *const ts_stmt_name[TS_NSTMT] = {"ts_attempts", "ts_tasks",
                                                   "ts_offsets", "ts_stale"};
static const char *const ts_stmt_sql[TS_NSTMT] = {
        "INSERT INTO task_attempts (complaint_id, attempt, org_id, route_reason,"
        " routed_at) SELECT complaint_id, attempt, org_id, route_reason,"
        " routed_at FROM ts_stage ORDER BY complaint_id, attempt"
        " ON CONFLICT DO NOTHING",
        "WITH s AS (SELECT DISTINCT ON (complaint_id) * FROM ts_stage"
        " ORDER BY complaint_id, attempt DESC, ord),"
        " up AS (INSERT INTO tasks (complaint_id, attempt, org_id, org_kind,"
        " building_id, district, category, route_reason, status, received_at,"
        " routed_at, due_at, description, address, contact, updated_at,"
        " complaint) SELECT complaint_id, attempt, org_id, org_kind, building_id,"
        " district, category, route_reason, 'open', received_at, routed_at,"
        " due_at, description, address, contact, clock_timestamp(), complaint"
        " FROM s ORDER BY complaint_id"
        " ON CONFLICT (complaint_id) DO UPDATE SET attempt = EXCLUDED.attempt,"
        " org_id = EXCLUDED.org_id, org_kind = EXCLUDED.org_kind,"
        " building_id = EXCLUDED.building_id, district = EXCLUDED.district,"
        " category = EXCLUDED.category, route_reason = EXCLUDED.route_reason,"
        " status = 'open', routed_at = EXCLUDED.routed_at,"
        " due_at = EXCLUDED.due_at, acknowledged_at = NULL, resolved_at = NULL,"
        " status_note = NULL, updated_at = EXCLUDED.updated_at,"
        " complaint = EXCLUDED.complaint"
        " WHERE tasks.attempt < EXCLUDED.attempt RETURNING (xmax = 0) AS fresh)"
        " SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh)"
        " FROM up",
        "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset,"
        " updated_at) SELECT $1, topic, part, off, now()"
        " FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS x(topic, part,"
        " off) ORDER BY topic, part ON CONFLICT (consumer, topic, partition)"
        " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
        ts_sql_stale,
};
static const int ts_stmt_nparams[TS_NSTMT] = {0, 0, 4, 0};

/* km_pg's SQLSTATE mapping, for the calls km_pg_exec does not make. */
static int ts_pg_err(PGconn *conn, PGresult *res, const char *what, char *err,
                     size_t errlen)
{
        const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *msg;
        int code = KM_EFATAL;

        if (PQstatus(conn) != CONNECTION_OK || st == NULL ||
            !strcmp(st, "40001") || !strcmp(st, "40P01") ||
            !strncmp(st, "57P", 3) || !strncmp(st, "08", 2) ||
            !strcmp(st, "55P03"))
                code = KM_ERETRY;
        else if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2))
                code = KM_EINPUT;
        /* the primary message only: COPY's CONTEXT quotes the field, which
         * may be a resident's text, and this goes to the log */
        msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        return km_err_set(err, errlen, code, "postgresql %s: %s: %s",
                          st ? st : "connection", what,
                          msg ? msg : PQerrorMessage(conn));
}

/* The staging table and the statements, once per backend (a reset
 * connection is a new backend: made again). */
static int ts_prepare(struct tasksink *ts, char *err, size_t errlen)
{
        PGresult *res;
        int r;

        if (ts->stage_pid != 0 && ts->stage_pid == PQbackendPID(ts->conn))
                return 0;
        ts->stage_pid = 0;
        /* DEALLOCATE: the same backend if its pid came back (no other
         * named statements live on this connection) */
        if ((r = km_pg_exec(ts->conn, "DEALLOCATE ALL", 0, NULL, NULL, err,
                            errlen)) ||
            (r = km_pg_exec(ts->conn, ts_sql_stage, 0, NULL, NULL, err,
                            errlen)))
                return r;
        for (int i = 0; i < TS_NSTMT; i++) {
                res = PQprepare(ts->conn, ts_stmt_name[i], ts_stmt_sql[i],
                                ts_stmt_nparams[i], NULL);
                if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                        r = ts_pg_err(ts->conn, res, "prepare", err, errlen);
                        PQclear(res);
                        return r;
                }
                PQclear(res);
        }
        ts->stage_pid = PQbackendPID(ts->conn);
        return 0;
}

static int ts_exec(struct tasksink *ts, int stmt, const char *const *params,
                   PGresult **out, char *err, size_t errlen)
{
        PGresult *res =
                PQexecPrepared(ts->conn, ts_stmt_name[stmt],
                               ts_stmt_nparams[stmt], params, NULL, NULL, 0);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        int r;

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                if (out)
                        *out = res;
                else
                        PQclear(res);
                return 0;
        }
        r = ts_pg_err(ts->conn, res, ts_stmt_name[stmt], err, errlen);
        PQclear(res);
        return r;
}

/* COPY rows [lo, hi) into ts_stage: their lines are contiguous. */
static int ts_copy(struct tasksink *ts, size_t lo, size_t hi, char *err,
                   size_t errlen)
{
        const char *p = ts->copy + ts->rows[lo].line_off;
        size_t len = ts->rows[hi - 1].line_off + ts->rows[hi - 1].line_len -
                     ts->rows[lo].line_off;
        PGresult *res = PQexec(ts->conn, ts_sql_copy);
        int r = 0;

        if (PQresultStatus(res) != PGRES_COPY_IN) {
                r = ts_pg_err(ts->conn, res, "copy", err, errlen);
                PQclear(res);
                return r;
        }
        PQclear(res);
        while (len > 0 && r == 0) { /* libpq takes an int length */
                int n = len > (1u << 20) ? 1 << 20 : (int)len;

                if (PQputCopyData(ts->conn, p, n) != 1)
                        r = km_err_set(err, errlen, KM_ERETRY, "copy: %s",
                                       PQerrorMessage(ts->conn));
                p += n;
                len -= (size_t)n;
        }
        if (PQputCopyEnd(ts->conn, r ? "aborted" : NULL) != 1 && r == 0)
                r = km_err_set(err, errlen, KM_ERETRY, "copy: %s",
                               PQerrorMessage(ts->conn));
        while ((res = PQgetResult(ts->conn)) != NULL) {
                if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0)
                        r = ts_pg_err(ts->conn, res, "copy", err, errlen);
                PQclear(res);
        }
        return r;
}

/* ts_offsets' parameters 2-4: every partition's topic, partition and next
 * offset as array literals (free each of v[0..2]). */
static void ts_offsets_params(const struct tasksink *ts, char *v[3])
{
        const rd_kafka_topic_partition_list_t *o = ts->offsets;
        size_t cap = 64, nt = 0, np = 0, no = 0;

        for (int i = 0; i < o->cnt; i++)
                cap += strlen(o->elems[i].topic) + 32;
        for (int i = 0; i < 3; i++)
                v[i] = km_xmalloc(cap);
        /* topic names are [A-Za-z0-9._-]: no quoting within the literal */
        for (int i = 0; i < o->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &o->elems[i];
                const char *sep = i ? "," : "{";

                nt += (size_t)snprintf(v[0] + nt, cap - nt, "%s\"%s\"", sep,
                                       tp->topic);
                np += (size_t)snprintf(v[1] + np, cap - np, "%s%d", sep,
                                       (int)tp->partition);
                no += (size_t)snprintf(v[2] + no, cap - no, "%s%lld", sep,
                                       (long long)tp->offset);
        }
        snprintf(v[0] + nt, cap - nt, "}");
        snprintf(v[1] + np, cap - np, "}");
        snprintf(v[2] + no, cap - no, "}");
}

/* Every partition's next offset, one statement. */
static int ts_offsets(struct tasksink *ts, char *err, size_t errlen)
{
        char *v[3];
        int r;

        ts_offsets_params(ts, v);
        {
                const char *params[4] = {ts->name, v[0], v[1], v[2]};

                r = ts_exec(ts, 2, params, NULL, err, errlen);
        }
        for (int i = 0; i < 3; i++)
                free(v[i]);
        return r;
}

/* Hand over the tasks of ts_stale's result res (freed here). */
static int ts_handover_stale(struct tasksink *ts, PGresult *res, char *err,
                             size_t errlen)
{
        int r = 0;

        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                const struct km_dir_org to = {.id = PQgetvalue(res, i, 2),
                                              .kind = PQgetvalue(res, i, 3),
                                              .name = ""};
                struct km_task_result out;

                r = km_task_handover(ts->conn, ts->conf, PQgetvalue(res, i, 0),
                                     PQgetvalue(res, i, 1), &to, 0, &out, err,
                                     errlen);
                if (r == KM_EINPUT) { /* no longer open there */
                        r = 0;
                        continue;
                }
                if (r == 0) {
                        ts->handed++;
                        km_log_info("task %s routed by an old directory: "
                                    "handed over from %s to %s (attempt %d)",
                                    PQgetvalue(res, i, 0),
                                    PQgetvalue(res, i, 1), to.id, out.attempt);
                }
        }
        PQclear(res);
        return r;
}

/* After the COPY, one round trip (libpq's pipeline mode): the attempts,
 * the tasks, the stale check and, offsets set, the partitions' next
 * offsets.  *tasks and *stale: their results (the caller clears them).
 * The first statement the server refuses decides the error; it skips the
 * ones after it up to the sync, and the transaction is rolled back.  Every
 * result is read before the pipeline is left. */
static int ts_pipeline(struct tasksink *ts, int offsets, PGresult **tasks,
                       PGresult **stale, char *err, size_t errlen)
{
        static const int order[4] = {0, 1, 3, 2};
        const int n = offsets ? 4 : 3;
        char *v[3] = {NULL, NULL, NULL};
        PGresult *res;
        int r = 0, k = 0, sent = 0;

        if (offsets)
                ts_offsets_params(ts, v);
        if (PQenterPipelineMode(ts->conn) != 1) {
                r = km_err_set(err, errlen, KM_ERETRY, "pipeline: %s",
                               PQerrorMessage(ts->conn));
                goto out;
        }
        for (; sent < n; sent++) {
                const char *params[4] = {ts->name, v[0], v[1], v[2]};
                int q = order[sent];

                if (PQsendQueryPrepared(ts->conn, ts_stmt_name[q],
                                        ts_stmt_nparams[q],
                                        ts_stmt_nparams[q] ? params : NULL,
                                        NULL, NULL, 0) != 1)
                        break;
        }
        if (sent < n || PQpipelineSync(ts->conn) != 1) {
                /* the connection is gone: nothing to read */
                r = km_err_set(err, errlen, KM_ERETRY, "pipeline: %s",
                               PQerrorMessage(ts->conn));
                goto out;
        }
        /* each statement's results end with a NULL; then the sync's */
        while (k <= n) {
                ExecStatusType st;

                if ((res = PQgetResult(ts->conn)) == NULL) {
                        if (PQstatus(ts->conn) != CONNECTION_OK)
                                break;
                        k++;
                        continue;
                }
                st = PQresultStatus(res);
                if (st == PGRES_PIPELINE_SYNC) {
                        PQclear(res);
                        break;
                }
                if (st == PGRES_FATAL_ERROR && r == 0)
                        r = ts_pg_err(ts->conn, res, ts_stmt_name[order[k]],
                                      err, errlen);
                if (k < n && order[k] == 1 && st == PGRES_TUPLES_OK && !*tasks)
                        *tasks = res;
                else if (k < n && order[k] == 3 && st == PGRES_TUPLES_OK &&
                         !*stale)
                        *stale = res;
                else
                        PQclear(res);
        }
        if (PQexitPipelineMode(ts->conn) != 1 && r == 0)
                r = km_err_set(err, errlen, KM_ERETRY, "pipeline: %s",
                               PQerrorMessage(ts->conn));
        if (r == 0 && (*tasks == NULL || *stale == NULL))
                r = km_err_set(err, errlen, KM_ERETRY,
                               "pipeline: results missing");
out:
        for (int i = 0; i < 3; i++)
                free(v[i]);
        return r;
}

/* Rows [lo, hi): staged, then attempts and tasks (and the handover of
 * those routed by an old directory); offsets set: the batch's offsets
 * too.  counts: new, re-routed, duplicate. */
static int ts_write_rows(struct tasksink *ts, size_t lo, size_t hi, int offsets,
                         int64_t counts[4], char *err, size_t errlen)
{
        PGresult *tasks = NULL, *stale = NULL;
        int64_t fresh, rerouted;
        int r;

        if ((r = ts_copy(ts, lo, hi, err, errlen)) ||
            (r = ts_pipeline(ts, offsets, &tasks, &stale, err, errlen))) {
                PQclear(tasks);
                PQclear(stale);
                return r;
        }
        fresh = strtoll(PQgetvalue(tasks, 0, 0), NULL, 10);
        rerouted = strtoll(PQgetvalue(tasks, 0, 1), NULL, 10);
        PQclear(tasks);
        if ((r = ts_handover_stale(ts, stale, err, errlen)))
                return r;
        counts[0] += fresh;
        counts[1] += rerouted;
        counts[2] += (int64_t)(hi - lo) - fresh - rerouted;
        return 0;
}

static int ts_sql(struct tasksink *ts, const char *sql, char *err,
                  size_t errlen)
{
        return km_pg_exec(ts->conn, sql, 0, NULL, NULL, err, errlen);
}

/* Rows [lo, hi) of a batch the database refused, each half under its own
 * savepoint: a half it accepts is written, a half it refuses is split
 * again, down to the one row, which is dead-lettered (TASK_PUT, refused,
 * the server's message).  log2(batch) rounds for one bad row. */
static int ts_bisect(struct tasksink *ts, size_t lo, size_t hi,
                     int64_t counts[4], char *err, size_t errlen)
{
        int64_t c[4] = {0, 0, 0, 0};
        char perr[512];
        int r;

        if ((r = ts_sql(ts, "SAVEPOINT part", err, errlen)))
                return r;
        r = ts_write_rows(ts, lo, hi, 0, c, err, errlen);
        if (r == 0) {
                for (int i = 0; i < 3; i++)
                        counts[i] += c[i];
                /* the staging rows of this part are done with */
                if ((r = ts_sql(ts, "TRUNCATE ts_stage", err, errlen)) == 0)
                        r = ts_sql(ts, "RELEASE SAVEPOINT part", err, errlen);
                return r;
        }
        if (r != KM_EINPUT)
                return r;
        if ((r = ts_sql(ts, "ROLLBACK TO SAVEPOINT part", perr,
                        sizeof(perr))) ||
            (r = ts_sql(ts, "RELEASE SAVEPOINT part", perr, sizeof(perr))))
                return km_err_set(err, errlen, r, "%s", perr);
        if (hi - lo == 1) {
                const struct tasksink_row *w = &ts->rows[lo];

                r = tasksink_dlq(ts, "TASK_PUT", w->partition, w->offset,
                                 "refused", err, w->raw, w->rawlen, perr,
                                 sizeof(perr));
                if (r)
                        return km_err_set(err, errlen, r, "%s", perr);
                counts[3]++;
                return 0;
        }
        if ((r = ts_bisect(ts, lo, lo + (hi - lo) / 2, counts, err, errlen)))
                return r;
        return ts_bisect(ts, lo + (hi - lo) / 2, hi, counts, err, errlen);
}

/* Rows and offsets in one transaction.  bisect: isolate the rows the
 * database refuses (KM_EINPUT), so they are dead-lettered, not retried
 * forever. */
static int tasksink_batch_txn(struct tasksink *ts, int bisect,
                              int64_t counts[4], char *err, size_t errlen)
{
        int r;

        if ((r = ts_prepare(ts, err, errlen)))
                return r;
        if ((r = km_pg_begin(ts->conn, err, errlen)))
                return r;
        /* after an import that runs now, or before it (km_task.h) */
        if (ts->nrows > 0 &&
            (r = km_task_handover_lock(ts->conn, 0, err, errlen)))
                goto fail;
        /* the offsets: with the rows' statements, or (a bisection, or no
         * row) alone */
        if (ts->nrows > 0) {
                r = bisect ? ts_bisect(ts, 0, ts->nrows, counts, err, errlen)
                           : ts_write_rows(ts, 0, ts->nrows, 1, counts, err,
                                           errlen);
                if (r)
                        goto fail;
        }
        if ((bisect || ts->nrows == 0) && (r = ts_offsets(ts, err, errlen)))
                goto fail;
        if ((r = tasksink_dlq_flush(ts, err, errlen)))
                goto fail;
        if ((r = km_pg_commit(ts->conn, err, errlen)))
                goto fail;
        return 0;
fail:
        km_pg_rollback(ts->conn);
        return r;
}

int tasksink_batch_write(struct tasksink *ts, char *err, size_t errlen)
{
        int64_t counts[4] = {0, 0, 0, 0}, t0 = km_now_ms();
        int r;

        if (ts->offsets == NULL || ts->offsets->cnt == 0)
                return 0;
        r = tasksink_batch_txn(ts, 0, counts, err, errlen);
        if (r == KM_EINPUT) {
                km_obs_pg_error(ts->m.reg, r);
                km_log_warn("batch refused (%s): isolating the row(s) refused",
                            err);
                counts[0] = counts[1] = counts[2] = counts[3] = 0;
                r = tasksink_batch_txn(ts, 1, counts, err, errlen);
        }
        if (r) {
                km_obs_pg_error(ts->m.reg, r);
                return r;
        }
        tasksink_metrics_committed(ts, counts, t0);
        ts->inserted += counts[0];
        ts->rerouted += counts[1];
        ts->duplicates += counts[2];
        ts->dlq += counts[3] + ts->m.n_invalid;
        ts->batches++;
        km_log_debug("batch: %zu row(s): %lld new, %lld re-routed, %lld "
                     "duplicate, %lld refused",
                     ts->nrows, (long long)counts[0], (long long)counts[1],
                     (long long)counts[2], (long long)counts[3]);
        tasksink_batch_clear(ts);
        return 0;
}

void tasksink_batch_clear(struct tasksink *ts)
{
        for (size_t i = 0; i < ts->nrows; i++)
                tasksink_row_free(&ts->rows[i]);
        ts->nrows = 0;
        ts->copylen = 0;
        ts->m.n_in = 0;
        ts->m.n_invalid = 0;
        ts->dlq_failed = 0;
        if (ts->offsets)
                rd_kafka_topic_partition_list_destroy(ts->offsets);
        ts->offsets = NULL;
}

int tasksink_seek_stored(struct tasksink *ts,
                         rd_kafka_topic_partition_list_t *parts, char *err,
                         size_t errlen)
{
        int r;

        if (PQstatus(ts->conn) != CONNECTION_OK)
                PQreset(ts->conn);
        r = km_pg_offsets_load(ts->conn, ts->name, parts, err, errlen);
        km_obs_pg_error(ts->m.reg, r);
        return r;
}
