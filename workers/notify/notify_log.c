/*
 * notify_log.c - dispatch messages into the delivery log.
 *
 * SECURITY: a dispatch message is validated like any input; an invalid
 * one is dead-lettered (invalid_dispatch, origin and reason), flushed and
 * acknowledged before the transaction that commits its offset.  Of a
 * message only the task's facts are kept (ids, category, district,
 * building, times, the emergency flag): never the resident's contact or
 * text.  Every value reaches SQL as a parameter: the batch is one JSON
 * array read by jsonb_to_recordset, one statement for the whole batch.
 *
 * event_id is md5('<complaint_id>/<attempt>/<kind>')::uuid: the same
 * message read again gives the same id, so the unique (event_id,
 * channel, target) makes a re-read add nothing; receivers may recompute
 * it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_dlq.h"
#include "km_id.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"
#include "notify.h"

/* The batch's delivery rows; e-mail of a task whose attempt was closed
 * already (notify_task_marks: its task-event was read first) is logged
 * cancelled.  @returns rows logged, of them cancelled. */
static const char notify_sql_log[] =
        "WITH ins AS (INSERT INTO notify_deliveries (event_id, kind, complaint_id,"
        " attempt, org_id, channel, target, urgent, category, district,"
        " building_id, routed_at, due_at, origin_topic, origin_partition,"
        " origin_offset, next_at, status, cancelled_by, last_error)"
        " SELECT md5(m.complaint_id::text || '/' || m.attempt || '/' || k.kind)"
        "::uuid, k.kind, m.complaint_id, m.attempt, m.org_id, c.channel,"
        " c.target, u.urgent, m.category, m.district, m.building_id,"
        " m.routed_at, m.due_at, $2, m.part, m.off,"
        " CASE WHEN u.urgent OR c.channel = 'webhook' OR c.digest_minutes = 0"
        " THEN now() ELSE to_timestamp(ceil(extract(epoch FROM now())"
        " / (c.digest_minutes * 60)) * (c.digest_minutes * 60)) END,"
        " CASE WHEN x.cancel THEN 'cancelled' ELSE 'pending' END,"
        " CASE WHEN x.cancel THEN mk.event_id END,"
        " CASE WHEN x.cancel THEN 'task ' || mk.event END"
        " FROM jsonb_to_recordset($1::jsonb) AS m(complaint_id uuid,"
        " attempt integer, org_id text, category text, district text,"
        " building_id text, received_at timestamptz, routed_at timestamptz,"
        " due_at timestamptz, emergency boolean, part integer, off bigint)"
        " CROSS JOIN LATERAL (SELECT CASE WHEN m.attempt > 1 THEN 'reroute'"
        " ELSE 'new' END AS kind) k"
        " CROSS JOIN LATERAL (SELECT m.emergency OR m.due_at - m.received_at"
        " <= $3::integer * interval '1 hour' AS urgent) u"
        " JOIN org_channels c ON c.org_id = m.org_id"
        " LEFT JOIN LATERAL (SELECT t.event_id, t.event FROM notify_task_marks t"
        " WHERE t.complaint_id = m.complaint_id AND t.attempt >= m.attempt"
        " ORDER BY t.attempt LIMIT 1) mk ON true"
        " CROSS JOIN LATERAL (SELECT mk.event_id IS NOT NULL"
        " AND c.channel = 'email' AS cancel) x"
        " ORDER BY 1, c.channel, c.target"
        " ON CONFLICT (event_id, channel, target) DO NOTHING RETURNING status)"
        " SELECT count(*), count(*) FILTER (WHERE status = 'cancelled') FROM ins";

/* The batch's task events (in order, "ord"): an acknowledgement,
 * resolution, rejection or handover of attempt A cancels the task's pending SLA
 * warnings and new-task / re-route e-mail of attempts <= A, and marks
 * (complaint, A) closed for dispatch messages read later; a reopening
 * removes the mark.  Of several events of one (complaint, attempt) in a
 * batch the last decides the mark.  A row being sent (leased) is
 * cancelled too: notify_mark_sent still records it as sent when its send
 * succeeds.  @returns rows cancelled. */
static const char notify_sql_events[] =
        "WITH e AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS e(event_id"
        " uuid, complaint_id uuid, attempt integer, event text, ord integer)),"
        " closing AS (SELECT * FROM e WHERE event <> 'reopened'),"
        " last AS (SELECT DISTINCT ON (complaint_id, attempt) * FROM e"
        " ORDER BY complaint_id, attempt, ord DESC),"
        " cancel AS (UPDATE notify_deliveries d SET status = 'cancelled',"
        " cancelled_by = x.event_id, last_error = 'task ' || x.event"
        " FROM closing x WHERE d.complaint_id = x.complaint_id"
        " AND d.attempt <= x.attempt AND d.status = 'pending'"
        " AND (d.kind = 'sla_warning' OR d.channel = 'email') RETURNING d.id),"
        " mark AS (INSERT INTO notify_task_marks (complaint_id, attempt, event,"
        " event_id) SELECT complaint_id, attempt, event, event_id FROM last"
        " WHERE event <> 'reopened' ON CONFLICT (complaint_id, attempt) DO UPDATE"
        " SET event = excluded.event, event_id = excluded.event_id, at = now()"
        " RETURNING 1),"
        " unmark AS (DELETE FROM notify_task_marks t USING last l"
        " WHERE l.event = 'reopened' AND t.complaint_id = l.complaint_id"
        " AND t.attempt = l.attempt RETURNING 1)"
        " SELECT (SELECT count(DISTINCT id) FROM cancel), (SELECT count(*) FROM"
        " mark), (SELECT count(*) FROM unmark)";

/* Open tasks due within sla_warn_minutes that were not warned of. */
static const char notify_sql_sla[] =
        "INSERT INTO notify_deliveries (event_id, kind, complaint_id, attempt,"
        " org_id, channel, target, urgent, category, district, building_id,"
        " routed_at, due_at, next_at)"
        " SELECT md5(t.complaint_id::text || '/' || t.attempt || '/sla_warning')"
        "::uuid, 'sla_warning', t.complaint_id, t.attempt, t.org_id, c.channel,"
        " c.target, true, t.category, t.district, t.building_id, t.routed_at,"
        " t.due_at, now() FROM tasks t JOIN org_channels c ON c.org_id = t.org_id"
        " WHERE t.status = 'open' AND t.due_at > now()"
        " AND t.due_at <= now() + $1::integer * interval '1 minute'"
        " ORDER BY 1, c.channel, c.target"
        " ON CONFLICT (event_id, channel, target) DO NOTHING";

static const char *notify_str(json_t *o, const char *k, int nullable,
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

int notify_dlq(struct notify *n, const char *stage, const char *topic,
               int32_t partition, int64_t offset, json_t *origin,
               const char *reason, const char *detail, const void *buf,
               size_t len, char *err, size_t errlen)
{
        /* topic NULL: no consumed message (an SLA warning): origin only */
        struct km_dlq_origin from = {topic, partition, offset, origin};
        int r = km_dlq_produce(n->producer, n->conf, "komek-notify", stage,
                               &from, reason, detail, buf, len, &n->pcounts,
                               10000, err, errlen);

        if (r == 0 && topic)
                km_log_warn("%s[%d]@%lld: dead-lettered: %s: %s", topic,
                            (int)partition, (long long)offset, reason, detail);
        else if (r == 0)
                km_log_warn("dead-lettered: %s: %s", reason, detail);
        return r;
}

/* The message as a JSON object, or NULL with err. */
static json_t *notify_load(const rd_kafka_message_t *rkm, char *err,
                           size_t errlen)
{
        json_t *o = rkm->payload ? json_loadb(rkm->payload, rkm->len,
                                              JSON_REJECT_DUPLICATES, NULL)
                                 : NULL;

        if (o == NULL || !json_is_object(o)) {
                json_decref(o);
                km_err_set(err, errlen, KM_EINPUT, "not a JSON object");
                return NULL;
        }
        return o;
}

/* The message's facts as one record of the batch, or KM_EINPUT. */
static int notify_parse(const rd_kafka_message_t *rkm, json_t **out, char *err,
                        size_t errlen)
{
        const char *id, *org, *cat, *dist, *bld, *rec, *rout, *due;
        json_t *o, *c, *rec_o, *em;
        int bad = 0;
        int64_t t;
        json_int_t attempt;

        if ((o = notify_load(rkm, err, errlen)) == NULL)
                return KM_EINPUT;
        id = notify_str(o, "complaint_id", 0, 64, &bad);
        org = notify_str(o, "org_id", 0, 64, &bad);
        cat = notify_str(o, "category", 0, 64, &bad);
        dist = notify_str(o, "district", 1, 256, &bad);
        bld = notify_str(o, "building_id", 1, 64, &bad);
        rec = notify_str(o, "received_at", 0, 64, &bad);
        rout = notify_str(o, "routed_at", 0, 64, &bad);
        due = notify_str(o, "due_at", 0, 64, &bad);
        if (bad || !km_id_valid(id) || km_parse_rfc3339(rec, &t) ||
            km_parse_rfc3339(rout, &t) || km_parse_rfc3339(due, &t)) {
                json_decref(o);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "missing or invalid field");
        }
        if (!json_is_integer(json_object_get(o, "attempt")) ||
            (attempt = json_integer_value(json_object_get(o, "attempt"))) < 1 ||
            attempt > 1000000) {
                json_decref(o);
                return km_err_set(err, errlen, KM_EINPUT, "invalid attempt");
        }
        c = json_object_get(o, "complaint");
        em = json_is_object(c) ? json_object_get(c, "emergency") : NULL;
        rec_o = json_pack("{s:s, s:I, s:s, s:s, s:s?, s:s?, s:s, s:s, s:s,"
                          " s:b, s:i, s:I}",
                          "complaint_id", id, "attempt", attempt, "org_id", org,
                          "category", cat, "district", dist, "building_id", bld,
                          "received_at", rec, "routed_at", rout, "due_at", due,
                          "emergency", em && json_is_true(em), "part",
                          (int)rkm->partition, "off", (json_int_t)rkm->offset);
        json_decref(o);
        if (rec_o == NULL)
                return km_err_set(err, errlen, KM_EINPUT,
                                  "invalid field (not UTF-8?)");
        *out = rec_o;
        return 0;
}

/* A task-events message as one record of the batch's events; *out NULL
 * for an event that cancels nothing (confirmed, commented), KM_EINPUT
 * for an invalid one. */
static int notify_parse_event(const rd_kafka_message_t *rkm, size_t ord,
                              json_t **out, char *err, size_t errlen)
{
        static const char *const kept[] = {"acknowledged", "resolved",
                                           "rejected", "handed_over",
                                           "reopened"};
        const char *eid, *cid, *ev;
        json_t *o, *a;
        int bad = 0, known = 0;

        *out = NULL;
        if ((o = notify_load(rkm, err, errlen)) == NULL)
                return KM_EINPUT;
        eid = notify_str(o, "event_id", 0, 64, &bad);
        cid = notify_str(o, "complaint_id", 0, 64, &bad);
        ev = notify_str(o, "event", 0, 32, &bad);
        a = json_object_get(o, "attempt");
        if (bad || !km_id_valid(eid) || !km_id_valid(cid) ||
            !json_is_integer(a) || json_integer_value(a) < 1 ||
            json_integer_value(a) > 1000000) {
                json_decref(o);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "missing or invalid field");
        }
        for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
                known |= strcmp(ev, kept[i]) == 0;
        if (known)
                *out = json_pack("{s:s, s:s, s:I, s:s, s:I}", "event_id", eid,
                                 "complaint_id", cid, "attempt",
                                 json_integer_value(a), "event", ev, "ord",
                                 (json_int_t)ord);
        json_decref(o);
        return 0;
}

void notify_log_message(struct notify *n, const rd_kafka_message_t *rkm,
                        char *err, size_t errlen)
{
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        int is_event = strcmp(topic, n->conf->topic_task_events) == 0;
        rd_kafka_topic_partition_t *p;
        json_t *rec = NULL;
        char perr[512];
        int r;

        if (n->offsets == NULL) {
                n->offsets = rd_kafka_topic_partition_list_new(8);
                n->batch = json_array();
                n->events = json_array();
                n->batch_start_ms = km_now_ms();
        }
        if (is_event) {
                km_metric_add(n->m.ev_in, 1);
                r = notify_parse_event(rkm, json_array_size(n->events), &rec,
                                       err, errlen);
                if (r == 0 && rec)
                        json_array_append_new(n->events, rec);
        } else {
                n->consumed++;
                km_metric_add(n->m.in, 1);
                r = notify_parse(rkm, &rec, err, errlen);
                if (r == 0)
                        json_array_append_new(n->batch, rec);
        }
        if (r) {
                r = notify_dlq(n, "VALUE_CONVERTER", topic, rkm->partition,
                               rkm->offset, NULL,
                               is_event ? "invalid_task_event"
                                        : "invalid_dispatch",
                               err, rkm->payload, rkm->payload ? rkm->len : 0,
                               perr, sizeof(perr));
                if (r) { /* the offset must not advance */
                        km_log_warn("%s[%d]@%lld: dead letter: %s: rolling "
                                    "back",
                                    topic, (int)rkm->partition,
                                    (long long)rkm->offset, perr);
                        n->dlq_failed = 1;
                        if (r == KM_EFATAL)
                                n->fatal = 1;
                }
                n->invalid++;
                km_metric_add(is_event ? n->m.ev_invalid : n->m.invalid, 1);
        }
        p = rd_kafka_topic_partition_list_find(n->offsets, topic,
                                               rkm->partition);
        if (p == NULL)
                p = rd_kafka_topic_partition_list_add(n->offsets, topic,
                                                      rkm->partition);
        p->offset = rkm->offset + 1;
}

/* Every dead letter of the batch acknowledged, before its offsets commit. */
static int notify_dlq_flush(struct notify *n, char *err, size_t errlen)
{
        if (n->dlq_failed)
                return km_err_set(err, errlen, KM_ERETRY,
                                  "a dead letter could not be produced");
        return km_dlq_flush(n->producer, &n->pcounts, &n->failed_seen, 15000,
                            err, errlen);
}

int notify_log_write(struct notify *n, char *err, size_t errlen)
{
        PGresult *res = NULL;
        char *arr = NULL, hours[24];
        int64_t logged = 0, cancelled = 0;
        int r;

        if (n->offsets == NULL || n->offsets->cnt == 0)
                return 0;
        snprintf(hours, sizeof(hours), "%lld",
                 (long long)n->nc->urgent_sla_hours);
        if ((r = km_pg_begin(n->conn, err, errlen)))
                return r;
        if (json_array_size(n->batch) > 0) {
                const char *p[3];

                arr = json_dumps(n->batch, JSON_COMPACT);
                p[0] = arr;
                p[1] = n->conf->topic_dispatch;
                p[2] = hours;
                r = km_pg_exec(n->conn, notify_sql_log, 3, p, &res, err,
                               errlen);
                free(arr);
                if (r)
                        goto fail;
                logged = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                cancelled = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
                PQclear(res);
        }
        if (json_array_size(n->events) > 0) {
                const char *p[1];

                arr = json_dumps(n->events, JSON_COMPACT);
                p[0] = arr;
                r = km_pg_exec(n->conn, notify_sql_events, 1, p, &res, err,
                               errlen);
                free(arr);
                if (r)
                        goto fail;
                cancelled += strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                PQclear(res);
        }
        for (int i = 0; i < n->offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &n->offsets->elems[i];

                if ((r = km_pg_offset_store(n->conn, n->name, tp->topic,
                                            tp->partition, tp->offset, err,
                                            errlen)))
                        goto fail;
        }
        if ((r = notify_dlq_flush(n, err, errlen)) ||
            (r = km_pg_commit(n->conn, err, errlen)))
                goto fail;
        n->logged += logged;
        n->cancelled += cancelled;
        n->batches++;
        km_metric_add(n->m.logged, logged);
        km_metric_add(n->m.cancelled, cancelled);
        if (cancelled > 0)
                km_log_info("task-events: %lld pending notification(s) "
                            "cancelled",
                            (long long)cancelled);
        km_metric_set(n->m.last_commit, (double)km_wall_s());
        km_log_debug("batch: %zu dispatch message(s), %zu task event(s), "
                     "%lld delivery row(s) logged",
                     json_array_size(n->batch), json_array_size(n->events),
                     (long long)logged);
        notify_log_clear(n);
        return 0;
fail:
        km_pg_rollback(n->conn);
        km_obs_pg_error(n->m.reg, r);
        return r;
}

void notify_log_clear(struct notify *n)
{
        json_decref(n->batch);
        n->batch = NULL;
        json_decref(n->events);
        n->events = NULL;
        n->dlq_failed = 0;
        if (n->offsets)
                rd_kafka_topic_partition_list_destroy(n->offsets);
        n->offsets = NULL;
}

int notify_log_seek(struct notify *n, rd_kafka_topic_partition_list_t *parts,
                    char *err, size_t errlen)
{
        int r;

        if (PQstatus(n->conn) != CONNECTION_OK)
                PQreset(n->conn);
        r = km_pg_offsets_load(n->conn, n->name, parts, err, errlen);
        km_obs_pg_error(n->m.reg, r);
        return r;
}

int notify_sla_scan(struct notify *n, char *err, size_t errlen)
{
        PGresult *res = NULL;
        char mins[24];
        const char *p[1] = {mins};
        int r;

        if (n->nc->sla_warn_minutes <= 0)
                return 0;
        snprintf(mins, sizeof(mins), "%lld",
                 (long long)n->nc->sla_warn_minutes);
        r = km_pg_exec(n->conn, notify_sql_sla, 1, p, &res, err, errlen);
        if (r) {
                km_obs_pg_error(n->m.reg, r);
                return r;
        }
        if (atoi(PQcmdTuples(res)) > 0)
                km_log_info("sla: %s warning(s) logged", PQcmdTuples(res));
        PQclear(res);
        return 0;
}
