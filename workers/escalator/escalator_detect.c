/*
 * escalator_detect.c - find escalations in the analytics tables and insert
 * each once into `escalations` (escalation_id = UUIDv5 of kind, subject
 * and window; ON CONFLICT DO NOTHING).
 *
 * Reference time: nothing is judged on data komek-analytics may not have
 * read yet.  For each partition of `dispatch` and `task-events`, a
 * partition whose stored offset (consumer_offsets of analytics_group)
 * reached the high watermark is caught up to now; one that is behind is
 * only caught up to its event-time watermark (an_watermarks).  The
 * reference time is the smallest of these, and of now.
 *
 *  sla_breach       the complaint's current task is not rejected and was
 *                   not resolved by due_at, and due_at < reference.  One
 *                   per complaint.
 *  systemic         the same building + category complained about
 *                   systemic_count times within systemic_window_hours
 *                   (first attempts, window [t - W, t]): fires on the
 *                   complaint that brings the count to the threshold from
 *                   below, so a long burst is one escalation.  Its
 *                   incident_id: the incident (deploy/sql/114_incidents.sql)
 *                   holding its complaints when the row is first written,
 *                   else NULL.
 *  inefficient_ksk  per complete local calendar month (ended before the
 *                   reference), over the inefficient_months months ending
 *                   with it: a KSK with at least inefficient_min_apartments
 *                   whose incidents per 100 apartments exceed
 *                   inefficient_factor x the median of those KSKs, with at
 *                   least inefficient_min_complaints incidents (a KSK with
 *                   3 is not "far above" a median of 1).  An incident is a
 *                   complaint (task it did not reject) with no earlier
 *                   such complaint of its building + category within
 *                   systemic_window_hours: the repeats of one problem are
 *                   the systemic rule's, not a count of failures
 *                   (docs/analytics.md, "Why incidents, over months").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escalator.h"
#include "km_id.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"

#define ES_TS(col)                                                             \
        "to_char((" col ") AT TIME ZONE 'UTC', "                               \
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

int escalator_watermark(struct escalator *es, int64_t *ref, int *caught_up,
                        char *err, size_t errlen)
{
        const char *topics[2] = {es->conf->topic_dispatch,
                                 es->conf->topic_task_events};
        const char *params[3] = {es->ec->analytics_group, topics[0], topics[1]};
        PGresult *res = NULL;
        int64_t now = km_wall_s();
        int r;

        *ref = now;
        *caught_up = 1;
        r = escalator_pg_exec(
                es,
                "SELECT o.topic, o.partition, o.next_offset,"
                " coalesce(extract(epoch FROM w.event_at)::bigint, 0)"
                " FROM consumer_offsets o LEFT JOIN an_watermarks w"
                " ON w.consumer = o.consumer AND w.topic = o.topic"
                " AND w.partition = o.partition"
                " WHERE o.consumer = $1 AND o.topic IN ($2, $3)",
                3, params, &res, err, errlen);
        if (r)
                return r;
        for (int t = 0; t < 2; t++) {
                int np = km_kafka_partitions(es->rk, topics[t], 10000);

                if (np < 0) {
                        PQclear(res);
                        return km_err_set(err, errlen, KM_ERETRY,
                                          "metadata of %s unavailable",
                                          topics[t]);
                }
                for (int p = 0; p < np; p++) {
                        int64_t lo = 0, hi = 0, next = -1, ev = 0;
                        rd_kafka_resp_err_t e =
                                rd_kafka_query_watermark_offsets(
                                        es->rk, topics[t], p, &lo, &hi, 10000);

                        if (e) {
                                PQclear(res);
                                return km_err_set(err, errlen, KM_ERETRY,
                                                  "watermarks of %s[%d]: %s",
                                                  topics[t], p,
                                                  rd_kafka_err2str(e));
                        }
                        if (hi <= lo)
                                continue; /* empty: nothing to wait for */
                        for (int i = 0; i < PQntuples(res); i++)
                                if (!strcmp(PQgetvalue(res, i, 0), topics[t]) &&
                                    atoi(PQgetvalue(res, i, 1)) == p) {
                                        next = strtoll(PQgetvalue(res, i, 2),
                                                       NULL, 10);
                                        ev = strtoll(PQgetvalue(res, i, 3),
                                                     NULL, 10);
                                }
                        if (next >= hi)
                                continue;
                        *caught_up = 0;
                        if (ev <= 0)
                                ev = INT64_MIN; /* nothing read yet */
                        if (ev < *ref)
                                *ref = ev;
                }
        }
        PQclear(res);
        return 0;
}

static int es_insert(struct escalator *es, json_t *rows, int kind, char *err,
                     size_t errlen)
{
        PGresult *res = NULL;
        char *text;
        const char *params[1];
        int r;

        if (json_array_size(rows) == 0)
                return 0;
        text = json_dumps(rows, JSON_COMPACT);
        params[0] = text;
        r = escalator_pg_exec(
                es,
                "WITH ins AS (INSERT INTO escalations (escalation_id, kind, org_id,"
                " building_id, category, complaint_id, window_start, window_end,"
                " evidence, incident_id)"
                " SELECT escalation_id, kind, org_id, building_id, category,"
                " complaint_id, window_start, window_end, evidence,"
                /* a new systemic case: the incident (114_incidents.sql) of its
             * complaints, the triggering one's first; evaluated only for
             * rows not yet stored (the WHERE), for the organisation's
             * tasks only (the view's windows are partitioned by org_id) */
                " CASE WHEN x.kind = 'systemic' THEN (SELECT it.incident_id"
                " FROM incident_tasks it WHERE it.org_id = x.org_id"
                " AND it.category = x.category AND it.complaint_id IN (SELECT"
                " value::uuid FROM jsonb_array_elements_text(x.evidence ->"
                " 'complaint_ids')) ORDER BY it.complaint_id = x.complaint_id"
                " DESC, it.received_at DESC, it.complaint_id LIMIT 1) END"
                " FROM json_to_recordset($1::json) AS x(escalation_id uuid,"
                " kind text, org_id text, building_id text, category text,"
                " complaint_id uuid, window_start timestamptz,"
                " window_end timestamptz, evidence jsonb)"
                " WHERE NOT EXISTS (SELECT 1 FROM escalations e"
                " WHERE e.escalation_id = x.escalation_id)"
                " ORDER BY escalation_id ON CONFLICT DO NOTHING RETURNING 1)"
                " SELECT count(*) FROM ins",
                1, params, &res, err, errlen);
        free(text);
        if (r == 0) {
                int64_t n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

                es->detected[kind] += n;
                km_metric_add(es->m.opened[kind], n);
                PQclear(res);
        }
        return r;
}

static json_t *es_str(PGresult *res, int i, int col)
{
        return PQgetisnull(res, i, col) ? json_null()
                                        : json_string(PQgetvalue(res, i, col));
}

static int es_sla(struct escalator *es, const char *sref, char *err,
                  size_t errlen)
{
        const char *params[1] = {sref};
        PGresult *res = NULL;
        json_t *rows;
        int r;

        r = escalator_pg_exec(
                es,
                "SELECT t.complaint_id, t.attempt, t.org_id, t.building_id,"
                " t.category, " ES_TS("t.received_at") ", " ES_TS(
                        "t.due_at") ","
                                    " " ES_TS(
                                            "t.resolved_at") ", c.sla_hours,"
                                                             " round(extract(epoch FROM coalesce(t.resolved_at, $1::timestamptz)"
                                                             " - t.due_at)::numeric / 3600, 2)"
                                                             " FROM task_times t LEFT JOIN categories c ON c.code = t.category"
                                                             " WHERE t.current AND t.rejected_at IS NULL"
                                                             " AND t.due_at < $1::timestamptz"
                                                             " AND (t.resolved_at IS NULL OR t.resolved_at > t.due_at)"
                                                             " AND NOT EXISTS (SELECT 1 FROM escalations e WHERE"
                                                             " e.kind = 'sla_breach' AND e.complaint_id = t.complaint_id)"
                                                             " ORDER BY t.due_at, t.complaint_id",
                1, params, &res, err, errlen);
        if (r)
                return r;
        rows = json_array();
        for (int i = 0; i < PQntuples(res); i++) {
                char id[KM_ID_LEN];
                const char *cid = PQgetvalue(res, i, 0);

                km_id_derive("sla_breach", cid, id);
                json_array_append_new(
                        rows,
                        json_pack(
                                "{s:s,s:s,s:o,s:o,s:o,s:s,s:o,s:o,s:{s:i,s:o,s:o,s:o,"
                                "s:o,s:f,s:s}}",
                                "escalation_id", id, "kind", "sla_breach",
                                "org_id", es_str(res, i, 2), "building_id",
                                es_str(res, i, 3), "category",
                                es_str(res, i, 4), "complaint_id", cid,
                                "window_start", es_str(res, i, 5), "window_end",
                                es_str(res, i, 6), "evidence", "attempt",
                                atoi(PQgetvalue(res, i, 1)), "received_at",
                                es_str(res, i, 5), "due_at", es_str(res, i, 6),
                                "resolved_at", es_str(res, i, 7), "sla_hours",
                                PQgetisnull(res, i, 8)
                                        ? json_null()
                                        : json_integer(
                                                  atoi(PQgetvalue(res, i, 8))),
                                "overdue_hours", atof(PQgetvalue(res, i, 9)),
                                "reference_time", sref));
        }
        PQclear(res);
        r = es_insert(es, rows, 0, err, errlen);
        json_decref(rows);
        return r;
}

static int es_systemic(struct escalator *es, const char *sref, char *err,
                       size_t errlen)
{
        char win[32], n[24];
        const char *params[3] = {sref, win, n};
        PGresult *res = NULL;
        json_t *rows;
        int r;

        snprintf(win, sizeof(win), "%lld hours",
                 (long long)es->ec->systemic_window_hours);
        snprintf(n, sizeof(n), "%lld", (long long)es->ec->systemic_count);
        r = escalator_pg_exec(
                es,
                "WITH c AS (SELECT t.complaint_id, t.building_id, t.category,"
                " t.org_id, t.received_at, count(*) OVER (PARTITION BY"
                " t.building_id, t.category ORDER BY t.received_at RANGE BETWEEN"
                " $2::interval PRECEDING AND CURRENT ROW) AS cnt"
                " FROM an_tasks t WHERE t.attempt = 1 AND t.building_id IS NOT NULL"
                " AND t.received_at <= $1::timestamptz),"
                " d AS (SELECT c.*, lag(cnt) OVER (PARTITION BY building_id,"
                " category ORDER BY received_at, complaint_id) AS prev_cnt FROM c)"
                " SELECT d.building_id, d.category, d.org_id,"
                " " ES_TS(
                        "d.received_at - $2::interval") ","
                                                        " " ES_TS(
                                                                "d.received_at") ", d.cnt,"
                                                                                 " (SELECT json_agg(x.complaint_id ORDER BY x.received_at,"
                                                                                 " x.complaint_id) FROM an_tasks x WHERE x.attempt = 1"
                                                                                 " AND x.building_id = d.building_id AND x.category = d.category"
                                                                                 " AND x.received_at BETWEEN d.received_at - $2::interval"
                                                                                 " AND d.received_at)::text, d.complaint_id"
                                                                                 " FROM d WHERE d.cnt >= $3::int"
                                                                                 " AND (d.prev_cnt IS NULL OR d.prev_cnt < $3::int)"
                                                                                 " ORDER BY d.received_at, d.complaint_id",
                3, params, &res, err, errlen);
        if (r)
                return r;
        rows = json_array();
        for (int i = 0; i < PQntuples(res); i++) {
                char id[KM_ID_LEN], *subject;
                json_t *ids = json_loads(PQgetvalue(res, i, 6), 0, NULL);

                subject = km_xasprintf("%s|%s|%s", PQgetvalue(res, i, 0),
                                       PQgetvalue(res, i, 1),
                                       PQgetvalue(res, i, 4));
                km_id_derive("systemic", subject, id);
                free(subject);
                json_array_append_new(
                        rows,
                        json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:I,s:I,"
                                  "s:I,s:o,s:s}}",
                                  "escalation_id", id, "kind", "systemic",
                                  "org_id", es_str(res, i, 2), "building_id",
                                  es_str(res, i, 0), "category",
                                  es_str(res, i, 1), "complaint_id",
                                  es_str(res, i, 7), "window_start",
                                  es_str(res, i, 3), "window_end",
                                  es_str(res, i, 4), "evidence", "count",
                                  (json_int_t)strtoll(PQgetvalue(res, i, 5),
                                                      NULL, 10),
                                  "threshold",
                                  (json_int_t)es->ec->systemic_count,
                                  "window_hours",
                                  (json_int_t)es->ec->systemic_window_hours,
                                  "complaint_ids", ids ? ids : json_array(),
                                  "reference_time", sref));
        }
        PQclear(res);
        r = es_insert(es, rows, 1, err, errlen);
        json_decref(rows);
        return r;
}

static int es_inefficient(struct escalator *es, const char *sref, char *err,
                          size_t errlen)
{
        char apts[24], factor[32], minc[24], win[32], months[24];
        const char *params[6] = {sref, apts, factor, minc, win, months};
        PGresult *res = NULL;
        json_t *rows;
        int r;

        snprintf(apts, sizeof(apts), "%lld",
                 (long long)es->ec->inefficient_min_apartments);
        snprintf(factor, sizeof(factor), "%.6f", es->ec->inefficient_factor);
        snprintf(minc, sizeof(minc), "%lld",
                 (long long)es->ec->inefficient_min_complaints);
        snprintf(win, sizeof(win), "%lld hours",
                 (long long)es->ec->systemic_window_hours);
        snprintf(months, sizeof(months), "%lld",
                 (long long)es->ec->inefficient_months);
        r = escalator_pg_exec(
                es,
                "WITH p AS (SELECT utc_offset_hours FROM an_params),"
                " months AS (SELECT DISTINCT date_trunc('month', day)::date AS month"
                " FROM an_tasks),"
                " done AS (SELECT m.month, (m.month - make_interval(months =>"
                " $6::int - 1))::date AS first FROM months m, p WHERE"
                " (m.month + interval '1 month')::date <= (($1::timestamptz AT TIME"
                " ZONE 'UTC') + make_interval(secs => p.utc_offset_hours * 3600))::date),"
                /* by the day (108): the KSK responsible when each complaint
             * arrived, the apartments it served in the window's last month */
                " k AS (SELECT month, org_id AS ksk_id, apartments FROM"
                " org_apartments_monthly WHERE kind = 'ksk' AND apartments >="
                " $2::bigint AND apartments > 0),"
                " kept AS (SELECT t.org_id, date_trunc('month', t.day)::date AS month,"
                " t.received_at, lag(t.received_at) OVER (PARTITION BY"
                " t.building_id, t.category ORDER BY t.received_at, t.complaint_id)"
                " AS prev FROM task_times t WHERE t.org_kind = 'ksk' AND"
                " t.rejected_at IS NULL),"
                " cnt AS (SELECT d.month, x.org_id, count(*) AS n FROM done d"
                " JOIN kept x ON x.month BETWEEN d.first AND d.month"
                " WHERE x.prev IS NULL OR x.prev < x.received_at - $5::interval"
                " GROUP BY 1, 2),"
                " rates AS (SELECT d.month, d.first, k.ksk_id, k.apartments,"
                " coalesce(c.n, 0) AS n,"
                " 100.0 * coalesce(c.n, 0) / k.apartments AS per_100"
                " FROM done d JOIN k ON k.month = d.month LEFT JOIN cnt c ON"
                " c.month = d.month AND c.org_id = k.ksk_id),"
                " med AS (SELECT month, percentile_cont(0.5) WITHIN GROUP (ORDER BY"
                " per_100) AS median, count(*) AS ksks FROM rates GROUP BY 1)"
                " SELECT r.ksk_id, to_char(r.month, 'YYYY-MM'), r.apartments, r.n,"
                " round(r.per_100::numeric, 3)::float8,"
                " round(m.median::numeric, 3)::float8, m.ksks,"
                " " ES_TS(
                        "(r.first::timestamp - make_interval(secs =>"
                        " p.utc_offset_hours * 3600)) AT TIME ZONE 'UTC'") ","
                                                                           " " ES_TS(
                                                                                   "((r.month + interval '1 month')::timestamp -"
                                                                                   " make_interval(secs => p.utc_offset_hours * 3600))"
                                                                                   " AT TIME ZONE 'UTC'") " FROM rates r JOIN med m USING (month), p"
                                                                                                          " WHERE m.median > 0 AND r.per_100 > $3::float8 * m.median"
                                                                                                          " AND r.n >= $4::bigint ORDER BY r.month, r.ksk_id",
                6, params, &res, err, errlen);
        if (r)
                return r;
        rows = json_array();
        for (int i = 0; i < PQntuples(res); i++) {
                char id[KM_ID_LEN], *subject;

                subject = km_xasprintf("%s|%s", PQgetvalue(res, i, 0),
                                       PQgetvalue(res, i, 1));
                km_id_derive("inefficient_ksk", subject, id);
                free(subject);
                json_array_append_new(
                        rows,
                        json_pack(
                                "{s:s,s:s,s:o,s:n,s:n,s:n,s:o,s:o,s:{s:o,s:I,"
                                "s:I,s:I,s:f,s:f,s:f,s:I,s:I,s:I,s:s}}",
                                "escalation_id", id, "kind", "inefficient_ksk",
                                "org_id", es_str(res, i, 0), "building_id",
                                "category", "complaint_id", "window_start",
                                es_str(res, i, 7), "window_end",
                                es_str(res, i, 8), "evidence", "month",
                                es_str(res, i, 1), "months",
                                (json_int_t)es->ec->inefficient_months,
                                "complaints",
                                (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL,
                                                    10),
                                "apartments",
                                (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL,
                                                    10),
                                "per_100_apartments",
                                atof(PQgetvalue(res, i, 4)),
                                "city_median_per_100",
                                atof(PQgetvalue(res, i, 5)), "factor",
                                es->ec->inefficient_factor, "ksks_compared",
                                (json_int_t)strtoll(PQgetvalue(res, i, 6), NULL,
                                                    10),
                                "min_apartments",
                                (json_int_t)es->ec->inefficient_min_apartments,
                                "repeat_window_hours",
                                (json_int_t)es->ec->systemic_window_hours,
                                "reference_time", sref));
        }
        PQclear(res);
        r = es_insert(es, rows, 2, err, errlen);
        json_decref(rows);
        return r;
}

int escalator_detect(struct escalator *es, int64_t ref, char *err,
                     size_t errlen)
{
        char sref[24];
        int r;

        km_fmt_rfc3339(ref, sref, sizeof(sref));
        r = es_sla(es, sref, err, errlen);
        if (r == 0)
                r = es_systemic(es, sref, err, errlen);
        if (r == 0)
                r = es_inefficient(es, sref, err, errlen);
        return r;
}
