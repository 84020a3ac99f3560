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
 * which a DLQ reader deduplicates on.  All
 * values go in as parameters.  The resident's contact goes into
 * tasks.contact (the organisation calls back) and nowhere else; it is
 * never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_id.h"
#include "km_log.h"
#include "km_dlq.h"
#include "km_outbox.h"
#include "km_pg.h"
#include "km_util.h"
#include "tasksink.h"

/* The longest string the complaint model accepts is the description,
 * conf->max_description_chars code points (4,000, the schema's), 4 bytes
 * each at most.  The model has validated lengths in code points already
 * (the router parses strictly); this bound, taken from the model's limit
 * and not a limit of the sink's own, only keeps out what the model could
 * never accept, so the sink accepts everything the model does. */
#define TASKSINK_STR_MAX(conf) ((size_t)(conf)->max_description_chars * 4)

static const char *tasksink_str_max(json_t *o, const char *k, int nullable,
                                    size_t max, int *bad)
{
        json_t *v = json_object_get(o, k);

        if (v && json_is_string(v) && json_string_length(v) > 0 &&
            json_string_length(v) <= max &&
            strlen(json_string_value(v)) == json_string_length(v))
                return json_string_value(v);
        if (nullable && (v == NULL || json_is_null(v)))
                return NULL;
        *bad = 1;
        return NULL;
}

/* "street, house, кв. apartment" or the one-string text. */
static char *tasksink_address(json_t *addr)
{
        const char *parts[4] = {"district", "street", "house", "apartment"};
        json_t *t = json_object_get(addr, "text");
        char *s = NULL;

        if (t && json_is_string(t))
                return km_xstrdup(json_string_value(t));
        for (int i = 0; i < 4; i++) {
                json_t *v = json_object_get(addr, parts[i]);
                char *n;

                if (v == NULL || !json_is_string(v))
                        continue;
                n = km_xasprintf("%s%s%s%s", s ? s : "", s ? ", " : "",
                                 i == 3 ? "кв. " : "", json_string_value(v));
                free(s);
                s = n;
        }
        return s;
}

#define tasksink_str(o, k, nullable, bad)                                      \
        tasksink_str_max(o, k, nullable, TASKSINK_STR_MAX(ts->conf), bad)

void tasksink_row_free(struct tasksink_row *row)
{
        json_decref(row->root);
        free(row->address);
        free(row->contact);
        free(row->complaint);
        free(row->raw);
        memset(row, 0, sizeof(*row));
}

int tasksink_row_parse(struct tasksink *ts, const rd_kafka_message_t *rkm,
                       struct tasksink_row *row, char *err, size_t errlen)
{
        json_t *o, *c, *a, *contact;
        int bad = 0;
        int64_t t;
        json_int_t attempt;

        memset(row, 0, sizeof(*row));
        row->partition = rkm->partition;
        row->offset = rkm->offset;
        o = rkm->payload ? json_loadb(rkm->payload, rkm->len, JSON_REJECT_DUPLICATES,
                                      NULL)
                         : NULL;
        if (o == NULL || !json_is_object(o)) {
                json_decref(o);
                return km_err_set(err, errlen, KM_EINPUT, "not a JSON object");
        }
        row->root = o;
        row->complaint_id = tasksink_str(o, "complaint_id", 0, &bad);
        row->org_id = tasksink_str(o, "org_id", 0, &bad);
        row->org_kind = tasksink_str(o, "org_kind", 0, &bad);
        row->building_id = tasksink_str(o, "building_id", 1, &bad);
        row->district = tasksink_str(o, "district", 1, &bad);
        row->category = tasksink_str(o, "category", 0, &bad);
        row->route_reason = tasksink_str(o, "route_reason", 0, &bad);
        row->received_at = tasksink_str(o, "received_at", 0, &bad);
        row->routed_at = tasksink_str(o, "routed_at", 0, &bad);
        row->due_at = tasksink_str(o, "due_at", 0, &bad);
        c = json_object_get(o, "complaint");
        if (bad || !json_is_object(c) || !km_id_valid(row->complaint_id) ||
            km_parse_rfc3339(row->received_at, &t) ||
            km_parse_rfc3339(row->routed_at, &t) ||
            km_parse_rfc3339(row->due_at, &t) || strlen(row->org_id) > 64) {
                tasksink_row_free(row);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "missing or invalid field");
        }
        if (!json_is_integer(json_object_get(o, "attempt")) ||
            (attempt = json_integer_value(json_object_get(o, "attempt"))) < 1 ||
            attempt > 1000000) {
                tasksink_row_free(row);
                return km_err_set(err, errlen, KM_EINPUT, "invalid attempt");
        }
        snprintf(row->attempt, sizeof(row->attempt), "%lld", (long long)attempt);
        row->description = tasksink_str(c, "description", 0, &bad);
        if (bad) {
                tasksink_row_free(row);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "complaint without a description");
        }
        a = json_object_get(c, "address");
        row->address = json_is_object(a) ? tasksink_address(a) : NULL;
        contact = json_object_get(c, "contact");
        row->contact = json_is_object(contact)
                           ? json_dumps(contact, JSON_COMPACT)
                           : NULL;
        row->complaint = json_dumps(c, JSON_COMPACT);
        row->rawlen = rkm->len;
        row->raw = km_xmalloc(rkm->len + 1);
        memcpy(row->raw, rkm->payload, rkm->len);
        return 0;
}

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

static const char tasksink_upsert[] =
    "WITH att AS (INSERT INTO task_attempts (complaint_id, attempt, org_id, "
    "route_reason, routed_at) VALUES ($1::uuid, $2::int, $3, $7, "
    "$9::timestamptz) ON CONFLICT DO NOTHING) "
    "INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, building_id, "
    "district, category, route_reason, status, received_at, routed_at, "
    "due_at, description, address, contact, updated_at, complaint) VALUES "
    "($1::uuid, $2::int, $3, $4, $5, $6, $8, $7, 'open', $10::timestamptz, "
    "$9::timestamptz, $11::timestamptz, $12, $13, $14::jsonb, now(), "
    "$15::jsonb) ON CONFLICT (complaint_id) DO UPDATE SET attempt = "
    "EXCLUDED.attempt, org_id = EXCLUDED.org_id, org_kind = "
    "EXCLUDED.org_kind, building_id = EXCLUDED.building_id, district = "
    "EXCLUDED.district, category = EXCLUDED.category, route_reason = "
    "EXCLUDED.route_reason, status = 'open', routed_at = EXCLUDED.routed_at, "
    "due_at = EXCLUDED.due_at, acknowledged_at = NULL, resolved_at = NULL, "
    "status_note = NULL, updated_at = now(), complaint = EXCLUDED.complaint "
    "WHERE tasks.attempt < EXCLUDED.attempt RETURNING (xmax = 0)";

/* One row; *outcome: 'i' inserted, 'u' re-routed, 'd' duplicate. */
static int tasksink_row_write(struct tasksink *ts,
                              const struct tasksink_row *w, char *outcome,
                              char *err, size_t errlen)
{
        const char *p[15] = {w->complaint_id, w->attempt,     w->org_id,
                             w->org_kind,     w->building_id, w->district,
                             w->route_reason, w->category,    w->routed_at,
                             w->received_at,  w->due_at,      w->description,
                             w->address,      w->contact,     w->complaint};
        PGresult *res = NULL;
        int r = km_pg_exec(ts->conn, tasksink_upsert, 15, p, &res, err, errlen);

        if (r)
                return r;
        *outcome = PQntuples(res) == 0                   ? 'd'
                   : PQgetvalue(res, 0, 0)[0] == 't' ? 'i'
                                                     : 'u';
        PQclear(res);
        return 0;
}

/* Rows and offsets in one transaction.  savepoints: isolate each row, so
 * a row the database refuses (KM_EINPUT) is dead-lettered, not retried
 * forever. */
static int tasksink_batch_txn(struct tasksink *ts, int savepoints,
                              int64_t counts[4], char *err, size_t errlen)
{
        int r;

        if ((r = km_pg_begin(ts->conn, err, errlen)))
                return r;
        for (size_t i = 0; i < ts->nrows; i++) {
                char outcome = 'd';

                if (savepoints &&
                    (r = km_pg_exec(ts->conn, "SAVEPOINT row", 0, NULL, NULL,
                                    err, errlen)))
                        goto fail;
                r = tasksink_row_write(ts, &ts->rows[i], &outcome, err, errlen);
                if (r == KM_EINPUT && savepoints) {
                        const struct tasksink_row *w = &ts->rows[i];
                        char perr[512];

                        r = km_pg_exec(ts->conn, "ROLLBACK TO SAVEPOINT row",
                                       0, NULL, NULL, perr, sizeof(perr));
                        if (r == 0)
                                r = tasksink_dlq(ts, "TASK_PUT", w->partition,
                                                 w->offset, "refused", err,
                                                 w->raw, w->rawlen, perr,
                                                 sizeof(perr));
                        if (r) {
                                km_err_set(err, errlen, r, "%s", perr);
                                goto fail;
                        }
                        counts[3]++;
                        continue;
                }
                if (r)
                        goto fail;
                counts[outcome == 'i' ? 0 : outcome == 'u' ? 1 : 2]++;
        }
        for (int i = 0; i < ts->offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &ts->offsets->elems[i];

                if ((r = km_pg_offset_store(ts->conn, ts->name, tp->topic,
                                            tp->partition, tp->offset, err,
                                            errlen)))
                        goto fail;
        }
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
                km_log_warn("batch refused (%s): retrying row by row", err);
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
                     "duplicate",
                     ts->nrows, (long long)counts[0], (long long)counts[1],
                     (long long)counts[2]);
        tasksink_batch_clear(ts);
        return 0;
}

void tasksink_batch_clear(struct tasksink *ts)
{
        for (size_t i = 0; i < ts->nrows; i++)
                tasksink_row_free(&ts->rows[i]);
        ts->nrows = 0;
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
