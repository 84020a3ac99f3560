/*
 * analytics_store.c - write one batch in one PostgreSQL transaction:
 * per topic, COPY of its fact rows into a staging table, then one
 * statement that inserts them into the facts with ON CONFLICT DO NOTHING
 * and, in the same statement, adds the rows that were new (RETURNING) to
 * the aggregates; then the partitions' event-time watermarks and next
 * offsets (km_pg_offset_store).  Two round trips per topic, whatever the
 * batch size.
 *
 * Exactly once: a batch is all or nothing, and facts are keyed (complaint
 * id, (complaint id, attempt), event id, vote id), so a message read
 * again - after a crash, a rebalance, a duplicate publication or by a
 * second process - finds its row and adds nothing to the aggregates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "km_pg.h"
#include "km_util.h"

/* Per topic: the staging table (a temporary table of this session,
 * emptied at every commit) that COPY fills, and the statement that moves
 * its rows into the facts and adds the new ones to the aggregates. */
static const char *const an_stage_ddl =
    "CREATE TEMP TABLE IF NOT EXISTS an_stage_complaints (complaint_id uuid,"
    " received_at timestamptz, day date, category text, channel text,"
    " source text, building_id text, emergency boolean)"
    " ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS an_stage_tasks (complaint_id uuid,"
    " attempt integer, org_id text, org_kind text, building_id text,"
    " district text, category text, route_reason text,"
    " received_at timestamptz, day date, routed_at timestamptz,"
    " due_at timestamptz, channel text) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS an_stage_events (event_id uuid,"
    " complaint_id uuid, attempt integer, org_id text, event text,"
    " at timestamptz, reason text) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS an_stage_votes (vote_id uuid,"
    " ksk_id text, month date, score smallint, voted_at timestamptz)"
    " ON COMMIT DELETE ROWS";

static const char *const an_copy_sql[AN_NTOPICS] = {
    "COPY an_stage_complaints FROM STDIN",
    "COPY an_stage_tasks FROM STDIN",
    "COPY an_stage_events FROM STDIN",
    "COPY an_stage_votes FROM STDIN",
};

/* The staging rows are in key order (sorted before COPY), so rows are
 * inserted and aggregates upserted in key order by every process: no two
 * transactions lock the same rows in opposite orders; and of two rows
 * with one key the first to arrive is the one kept. */
static const char *const an_sql[AN_NTOPICS] = {
    /* complaints -> an_complaints, an_daily */
    "WITH ins AS (INSERT INTO an_complaints (complaint_id, received_at, day,"
    " category, channel, source, building_id, emergency)"
    " SELECT * FROM an_stage_complaints"
    " ON CONFLICT (complaint_id) DO NOTHING RETURNING day, category, channel),"
    " agg AS (INSERT INTO an_daily AS a (day, category, channel, n)"
    " SELECT day, category, channel, count(*) FROM ins GROUP BY 1, 2, 3"
    " ORDER BY 1, 2, 3 ON CONFLICT (day, category, channel)"
    " DO UPDATE SET n = a.n + EXCLUDED.n RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM agg)",
    /* dispatch -> an_tasks, an_daily_district, an_org_daily */
    "WITH ins AS (INSERT INTO an_tasks (complaint_id, attempt, org_id,"
    " org_kind, building_id, district, category, route_reason, received_at,"
    " day, routed_at, due_at, channel)"
    " SELECT * FROM an_stage_tasks"
    " ON CONFLICT (complaint_id, attempt) DO NOTHING"
    " RETURNING attempt, day, category, district, org_id),"
    " agg1 AS (INSERT INTO an_daily_district AS a (day, category, district, n)"
    " SELECT day, category, coalesce(district, ''), count(*) FROM ins"
    " WHERE attempt = 1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    " ON CONFLICT (day, category, district) DO UPDATE SET n = a.n + EXCLUDED.n"
    " RETURNING 1),"
    " agg2 AS (INSERT INTO an_org_daily AS a (day, org_id, category, n)"
    " SELECT day, org_id, category, count(*) FROM ins GROUP BY 1, 2, 3"
    " ORDER BY 1, 2, 3 ON CONFLICT (day, org_id, category)"
    " DO UPDATE SET n = a.n + EXCLUDED.n RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM agg1),"
    " (SELECT count(*) FROM agg2)",
    /* task-events -> an_task_events */
    "WITH ins AS (INSERT INTO an_task_events (event_id, complaint_id,"
    " attempt, org_id, event, at, reason)"
    " SELECT * FROM an_stage_events ON CONFLICT (event_id) DO NOTHING"
    " RETURNING 1)"
    " SELECT count(*) FROM ins",
    /* votes -> an_votes, an_vote_month */
    "WITH ins AS (INSERT INTO an_votes (vote_id, ksk_id, month, score,"
    " voted_at) SELECT * FROM an_stage_votes"
    " ON CONFLICT (vote_id) DO NOTHING RETURNING ksk_id, month, score),"
    " agg AS (INSERT INTO an_vote_month AS a (ksk_id, month, n, score_sum)"
    " SELECT ksk_id, month, count(*), sum(score) FROM ins GROUP BY 1, 2"
    " ORDER BY 1, 2 ON CONFLICT (ksk_id, month) DO UPDATE"
    " SET n = a.n + EXCLUDED.n, score_sum = a.score_sum + EXCLUDED.score_sum"
    " RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM agg)",
};

static const char an_sql_watermarks[] =
    "INSERT INTO an_watermarks AS w (consumer, topic, partition, event_at)"
    " SELECT $1, topic, partition, event_at FROM json_to_recordset($2::json)"
    " AS x(topic text, partition integer, event_at timestamptz)"
    " ORDER BY topic, partition"
    " ON CONFLICT (consumer, topic, partition)"
    " DO UPDATE SET event_at = greatest(w.event_at, EXCLUDED.event_at)";

int analytics_store_settings(struct analytics *an, char *err, size_t errlen)
{
        const struct analytics_conf *ac = an->ac;
        json_t *rows = json_pack(
            "[{s:s,s:f},{s:s,s:f},{s:s,s:f},{s:s,s:f},{s:s,s:f},{s:s,s:f},"
            "{s:s,s:f},{s:s,s:f},{s:s,s:f}]",
            "key", "utc_offset_hours", "value", (double)ac->utc_offset_hours,
            "key", "rating_w_complaints", "value", ac->w_complaints, "key",
            "rating_w_resolution", "value", ac->w_resolution, "key",
            "rating_w_sla", "value", ac->w_sla, "key", "rating_w_repeat",
            "value", ac->w_repeat, "key", "rating_w_votes", "value",
            ac->w_votes, "key", "rating_min_complaints", "value",
            (double)ac->min_complaints, "key", "rating_min_votes", "value",
            (double)ac->min_votes, "key", "rating_repeat_days", "value",
            (double)ac->repeat_days);
        char *text = json_dumps(rows, JSON_COMPACT);
        const char *params[1] = {text};
        int r;

        r = km_pg_exec(an->conn,
                       "INSERT INTO an_settings (key, value, updated_at)"
                       " SELECT key, value, now() FROM json_to_recordset($1::json)"
                       " AS x(key text, value double precision)"
                       " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                       " updated_at = now()"
                       " WHERE an_settings.value IS DISTINCT FROM EXCLUDED.value",
                       1, params, NULL, err, errlen);
        free(text);
        json_decref(rows);
        return r;
}

static int an_store_positions(struct analytics *an, const struct an_pos *pos,
                              size_t npos, char *err, size_t errlen)
{
        json_t *wm = json_array();
        int r = 0;

        for (size_t i = 0; i < npos; i++) {
                char t[24];

                if (pos[i].event_at <= 0)
                        continue;
                km_fmt_rfc3339(pos[i].event_at, t, sizeof(t));
                json_array_append_new(
                    wm, json_pack("{s:s,s:i,s:s}", "topic",
                                  an->topics[pos[i].topic], "partition",
                                  (int)pos[i].partition, "event_at", t));
        }
        if (json_array_size(wm) > 0) {
                char *text = json_dumps(wm, JSON_COMPACT);
                const char *params[2] = {an->ac->group, text};

                r = km_pg_exec(an->conn, an_sql_watermarks, 2, params, NULL,
                               err, errlen);
                free(text);
        }
        json_decref(wm);
        for (size_t i = 0; r == 0 && i < npos; i++)
                r = km_pg_offset_store(an->conn, an->ac->group,
                                       an->topics[pos[i].topic],
                                       pos[i].partition, pos[i].next_offset,
                                       err, errlen);
        return r;
}

int analytics_store_prepare(struct analytics *an, char *err, size_t errlen)
{
        PGresult *res = PQexec(an->conn, an_stage_ddl);
        int r = 0;

        if (PQresultStatus(res) != PGRES_COMMAND_OK)
                r = km_err_set(err, errlen,
                               PQstatus(an->conn) == CONNECTION_OK ? KM_EFATAL
                                                                   : KM_ERETRY,
                               "staging tables: %s", PQerrorMessage(an->conn));
        PQclear(res);
        return r;
}

static int an_pg_err(PGconn *conn, PGresult *res, const char *what, char *err,
                     size_t errlen)
{
        const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        int code = KM_EFATAL;

        if (PQstatus(conn) != CONNECTION_OK || st == NULL ||
            !strcmp(st, "40001") || !strcmp(st, "40P01") ||
            !strncmp(st, "57P", 3) || !strncmp(st, "08", 2))
                code = KM_ERETRY;
        else if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2))
                code = KM_EINPUT;
        return km_err_set(err, errlen, code, "%s: %s %s", what,
                          st ? st : "connection", PQerrorMessage(conn));
}

/* COPY the rows into the topic's staging table. */
static int an_copy(struct analytics *an, int t, struct an_msg **rows,
                   size_t n, char *err, size_t errlen)
{
        PGresult *res = PQexec(an->conn, an_copy_sql[t]);
        int r = 0;

        if (PQresultStatus(res) != PGRES_COPY_IN) {
                r = an_pg_err(an->conn, res, "copy", err, errlen);
                PQclear(res);
                return r;
        }
        PQclear(res);
        for (size_t i = 0; i < n && r == 0; i++)
                if (PQputCopyData(an->conn, rows[i]->row,
                                  (int)rows[i]->rowlen) != 1)
                        r = KM_ERETRY;
        if (PQputCopyEnd(an->conn, r ? "aborted" : NULL) != 1)
                r = KM_ERETRY;
        while ((res = PQgetResult(an->conn)) != NULL) {
                if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0)
                        r = an_pg_err(an->conn, res, "copy", err, errlen);
                PQclear(res);
        }
        if (r == KM_ERETRY && err[0] == '\0')
                km_err_set(err, errlen, r, "copy: %s", PQerrorMessage(an->conn));
        return r;
}

static int an_row_cmp(const void *a, const void *b)
{
        const struct an_msg *x = *(const struct an_msg *const *)a;
        const struct an_msg *y = *(const struct an_msg *const *)b;
        int c = strcmp(x->key, y->key);

        if (c == 0)
                c = x->attempt - y->attempt;
        if (c == 0)
                c = x->ord < y->ord ? -1 : x->ord > y->ord;
        return c;
}

int analytics_store_batch(struct analytics *an, struct an_msg *msgs, size_t n,
                          const struct an_pos *pos, size_t npos, char *err,
                          size_t errlen)
{
        struct an_msg **rows = km_xcalloc(n + 1, sizeof(*rows));
        int64_t fresh[AN_NTOPICS] = {0}, total[AN_NTOPICS] = {0};
        int r = 0, intx = 0;

        err[0] = '\0';
        r = km_pg_begin(an->conn, err, errlen);
        if (r)
                goto cleanup;
        intx = 1;
        for (int t = 0; t < AN_NTOPICS && r == 0; t++) {
                PGresult *res = NULL;
                size_t k = 0;

                for (size_t i = 0; i < n; i++)
                        if (msgs[i].row && msgs[i].topic == t) {
                                msgs[i].ord = i;
                                rows[k++] = &msgs[i];
                        }
                total[t] = (int64_t)k;
                if (k == 0)
                        continue;
                qsort(rows, k, sizeof(*rows), an_row_cmp);
                r = an_copy(an, t, rows, k, err, errlen);
                if (r == 0)
                        r = km_pg_exec(an->conn, an_sql[t], 0, NULL, &res, err,
                                       errlen);
                if (r == 0) {
                        fresh[t] = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                        PQclear(res);
                }
        }
        if (r == 0)
                r = an_store_positions(an, pos, npos, err, errlen);
        if (r == 0)
                r = km_pg_commit(an->conn, err, errlen);
        if (r == 0) {
                intx = 0;
                for (int t = 0; t < AN_NTOPICS; t++) {
                        an->new_rows[t] += fresh[t];
                        an->dup_rows[t] += total[t] - fresh[t];
                }
        }
cleanup:
        if (r && intx)
                km_pg_rollback(an->conn);
        free(rows);
        return r;
}

/* The bench baseline (analytics.naive): what a naive writer does, one
 * single-row INSERT committed on its own per complaint; no aggregates, no
 * offsets.  Other topics go through the normal path one by one. */
int analytics_store_naive(struct analytics *an, struct an_msg *m, char *err,
                          size_t errlen)
{
        char line[1024], *params[8], *p = line;
        int n = 0, r;

        if (m->topic != AN_T_COMPLAINTS || m->row == NULL ||
            m->rowlen >= sizeof(line))
                return analytics_store_batch(an, m, 1, NULL, 0, err, errlen);
        memcpy(line, m->row, m->rowlen);
        line[m->rowlen - 1] = '\0'; /* the newline */
        while (n < 8) { /* split the COPY line; \N is NULL */
                char *w = p;

                params[n] = w;
                while (*p && *p != '\t') {
                        if (*p == '\\' && p[1])
                                p++;
                        *w++ = *p++;
                }
                if (!strcmp(params[n], "N") && p - params[n] == 2)
                        params[n] = NULL;
                n++;
                if (*p == '\0') {
                        *w = '\0';
                        break;
                }
                p++;
                *w = '\0';
        }
        if (n != 8)
                return km_err_set(err, errlen, KM_EFATAL, "naive: bad row");
        r = km_pg_exec(an->conn,
                       "INSERT INTO an_complaints (complaint_id, received_at,"
                       " day, category, channel, source, building_id, emergency)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                       " ON CONFLICT (complaint_id) DO NOTHING",
                       8, (const char *const *)params, NULL, err, errlen);
        if (r == 0)
                an->new_rows[AN_T_COMPLAINTS]++;
        return r;
}
