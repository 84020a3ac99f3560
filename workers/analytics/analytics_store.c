/*
 * analytics_store.c - write one batch in one PostgreSQL transaction, each
 * fact written once:
 *   1. per topic, the batch's rows sorted by key and the repeats within
 *      the batch dropped (the first to arrive is kept);
 *   2. one prepared statement looks the keys up in the facts table; the
 *      rows already there are dropped too;
 *   3. COPY of what is left straight into the facts table (no staging
 *      copy: the row is written once);
 *   4. the aggregate deltas of those new rows, counted here, upserted in
 *      one prepared statement per topic (json_to_recordset; ordered, so
 *      every process locks aggregate rows in one order);
 *   5. the event-time watermarks of every partition in one statement, and
 *      the next offsets of every partition in one statement.
 * Seven round trips for a batch of one topic, whatever its size.
 *
 * Exactly once: a batch is all or nothing, and facts are keyed (complaint
 * id, (complaint id, attempt), event id, vote id), so a message read
 * again - after a crash, a rebalance, a duplicate publication or by a
 * second process - is found in step 2 and adds nothing to the
 * aggregates.  Two processes that insert one key at once: the second's
 * COPY waits for the first to commit, then fails with unique_violation
 * (23505); its transaction is rolled back and the batch is written again
 * (the lookup then finds the row), a few times before it is handed to the
 * message-by-message path (analytics_write.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"

/* Per topic: the COPY into the facts (the parser's column order), the
 * key lookup ($1: keys, $2: attempts for dispatch; returns the 1-based
 * positions of the keys already stored) and the aggregates' upsert. */
static const char *const an_copy_sql[AN_NTOPICS] = {
        "COPY an_complaints (complaint_id, received_at, day, category, channel,"
        " source, building_id, emergency) FROM STDIN",
        "COPY an_tasks (complaint_id, attempt, org_id, org_kind, building_id,"
        " district, category, route_reason, received_at, day, routed_at, due_at,"
        " channel) FROM STDIN",
        "COPY an_task_events (event_id, complaint_id, attempt, org_id, event, at,"
        " reason) FROM STDIN",
        "COPY an_votes (vote_id, ksk_id, month, score, voted_at) FROM STDIN",
};

static const char *const an_known_sql[AN_NTOPICS] = {
        "SELECT x.i FROM unnest($1::uuid[]) WITH ORDINALITY AS x(k, i)"
        " JOIN an_complaints f ON f.complaint_id = x.k",
        "SELECT x.i FROM unnest($1::uuid[], $2::integer[]) WITH ORDINALITY"
        " AS x(k, a, i) WHERE EXISTS (SELECT 1 FROM an_tasks f"
        " WHERE f.complaint_id = x.k AND f.attempt = x.a)",
        "SELECT x.i FROM unnest($1::uuid[]) WITH ORDINALITY AS x(k, i)"
        " WHERE EXISTS (SELECT 1 FROM an_task_events f WHERE f.event_id = x.k)",
        "SELECT x.i FROM unnest($1::uuid[]) WITH ORDINALITY AS x(k, i)"
        " WHERE EXISTS (SELECT 1 FROM an_votes f WHERE f.vote_id = x.k)",
};

static const char *const an_agg_sql[AN_NTOPICS] = {
        /* complaints -> an_daily */
        "INSERT INTO an_daily AS a (day, category, channel, n)"
        " SELECT day, category, channel, n FROM json_to_recordset($1::json)"
        " AS x(day date, category text, channel text, n bigint)"
        " ORDER BY 1, 2, 3 ON CONFLICT (day, category, channel)"
        " DO UPDATE SET n = a.n + EXCLUDED.n",
        /* dispatch -> an_daily_district (first attempts), an_org_daily */
        "WITH d AS (INSERT INTO an_daily_district AS a (day, category, district,"
        " n) SELECT day, category, district, n FROM json_to_recordset($1::json)"
        " AS x(day date, category text, district text, n bigint)"
        " ORDER BY 1, 2, 3 ON CONFLICT (day, category, district)"
        " DO UPDATE SET n = a.n + EXCLUDED.n)"
        " INSERT INTO an_org_daily AS a (day, org_id, category, n)"
        " SELECT day, org_id, category, n FROM json_to_recordset($2::json)"
        " AS x(day date, org_id text, category text, n bigint)"
        " ORDER BY 1, 2, 3 ON CONFLICT (day, org_id, category)"
        " DO UPDATE SET n = a.n + EXCLUDED.n",
        NULL, /* task-events: facts only */
        /* votes -> an_vote_month */
        "INSERT INTO an_vote_month AS a (ksk_id, month, n, score_sum)"
        " SELECT ksk_id, month, n, score_sum FROM json_to_recordset($1::json)"
        " AS x(ksk_id text, month date, n bigint, score_sum bigint)"
        " ORDER BY 1, 2 ON CONFLICT (ksk_id, month) DO UPDATE"
        " SET n = a.n + EXCLUDED.n, score_sum = a.score_sum + EXCLUDED.score_sum",
};

static const char an_sql_watermarks[] =
        "INSERT INTO an_watermarks AS w (consumer, topic, partition, event_at)"
        " SELECT $1, topic, partition, event_at FROM json_to_recordset($2::json)"
        " AS x(topic text, partition integer, event_at timestamptz)"
        " ORDER BY topic, partition"
        " ON CONFLICT (consumer, topic, partition)"
        " DO UPDATE SET event_at = greatest(w.event_at, EXCLUDED.event_at)";

static const char an_sql_offsets[] =
        "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset,"
        " updated_at) SELECT $1, topic, partition, next_offset, now()"
        " FROM json_to_recordset($2::json)"
        " AS x(topic text, partition integer, next_offset bigint)"
        " ORDER BY topic, partition ON CONFLICT (consumer, topic, partition)"
        " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()";

/* The prepared statements: names and parameter counts. */
enum {
        AN_S_KNOWN = 0,
        AN_S_AGG = AN_NTOPICS,
        AN_S_WM = 2 * AN_NTOPICS,
        AN_S_OFF,
        AN_NSTMT
};

static const char *an_stmt_sql(int i)
{
        return i < AN_S_AGG   ? an_known_sql[i]
               : i < AN_S_WM  ? an_agg_sql[i - AN_S_AGG]
               : i == AN_S_WM ? an_sql_watermarks
                              : an_sql_offsets;
}

static int an_stmt_nparams(int i)
{
        if (i == AN_S_KNOWN + AN_T_DISPATCH || i == AN_S_AGG + AN_T_DISPATCH ||
            i >= AN_S_WM)
                return 2;
        return 1;
}

static void an_stmt_name(int i, char *buf, size_t len)
{
        snprintf(buf, len, "an_s%d", i);
}

int analytics_store_settings(struct analytics *an, char *err, size_t errlen)
{
        const struct analytics_conf *ac = an->ac;
        json_t *rows = json_pack(
                "[{s:s,s:f},{s:s,s:f},{s:s,s:f},{s:s,s:f},{s:s,s:f},{s:s,s:f},"
                "{s:s,s:f},{s:s,s:f},{s:s,s:f},{s:s,s:f}]",
                "key", "utc_offset_hours", "value",
                (double)ac->utc_offset_hours, "key", "rating_w_complaints",
                "value", ac->w_complaints, "key", "rating_w_resolution",
                "value", ac->w_resolution, "key", "rating_w_sla", "value",
                ac->w_sla, "key", "rating_w_repeat", "value", ac->w_repeat,
                "key", "rating_w_votes", "value", ac->w_votes, "key",
                "rating_min_complaints", "value", (double)ac->min_complaints,
                "key", "rating_min_votes", "value", (double)ac->min_votes,
                "key", "rating_repeat_days", "value", (double)ac->repeat_days,
                "key", "rating_w_disputed", "value", ac->w_disputed);
        char *text = json_dumps(rows, JSON_COMPACT);
        const char *params[1] = {text};
        int r;

        r = km_pg_exec(
                an->conn,
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

static int an_pg_err(PGconn *conn, PGresult *res, const char *what, char *err,
                     size_t errlen)
{
        const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        /* the primary message only: COPY's CONTEXT quotes the row */
        const char *msg =
                res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        int code = KM_EFATAL;

        if (PQstatus(conn) != CONNECTION_OK || st == NULL ||
            !strcmp(st, "40001") || !strcmp(st, "40P01") ||
            !strncmp(st, "57P", 3) || !strncmp(st, "08", 2))
                code = KM_ERETRY;
        else if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2))
                code = KM_EINPUT;
        return km_err_set(err, errlen, code, "%s: %s %s", what,
                          st ? st : "connection",
                          msg ? msg : PQerrorMessage(conn));
}

int analytics_store_prepare(struct analytics *an, char *err, size_t errlen)
{
        for (int i = 0; i < AN_NSTMT; i++) {
                char name[16];
                PGresult *res;
                int r = 0;

                if (an_stmt_sql(i) == NULL)
                        continue;
                an_stmt_name(i, name, sizeof(name));
                res = PQprepare(an->conn, name, an_stmt_sql(i),
                                an_stmt_nparams(i), NULL);
                if (PQresultStatus(res) != PGRES_COMMAND_OK)
                        r = an_pg_err(an->conn, res, "prepare", err, errlen);
                PQclear(res);
                if (r)
                        return r == KM_EINPUT ? KM_EFATAL : r;
        }
        return 0;
}

static int an_exec(struct analytics *an, int stmt, const char *const *params,
                   PGresult **out, char *err, size_t errlen)
{
        char name[16];
        PGresult *res;
        ExecStatusType st;
        int r;

        an_stmt_name(stmt, name, sizeof(name));
        res = PQexecPrepared(an->conn, name, an_stmt_nparams(stmt), params,
                             NULL, NULL, 0);
        st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                if (out)
                        *out = res;
                else
                        PQclear(res);
                return 0;
        }
        r = an_pg_err(an->conn, res, name, err, errlen);
        PQclear(res);
        return r;
}

/* The partitions' watermarks and next offsets: one statement each. */
static int an_store_positions(struct analytics *an, const struct an_pos *pos,
                              size_t npos, char *err, size_t errlen)
{
        json_t *wm = json_array(), *off = json_array();
        int r = 0;

        for (size_t i = 0; i < npos; i++) {
                const char *topic = an->topics[pos[i].topic];
                char t[24];

                json_array_append_new(
                        off,
                        json_pack("{s:s,s:i,s:I}", "topic", topic, "partition",
                                  (int)pos[i].partition, "next_offset",
                                  (json_int_t)pos[i].next_offset));
                if (pos[i].event_at <= 0)
                        continue;
                km_fmt_rfc3339(pos[i].event_at, t, sizeof(t));
                json_array_append_new(wm, json_pack("{s:s,s:i,s:s}", "topic",
                                                    topic, "partition",
                                                    (int)pos[i].partition,
                                                    "event_at", t));
        }
        for (int k = 0; k < 2 && r == 0; k++) {
                json_t *rows = k == 0 ? wm : off;
                char *text;

                if (json_array_size(rows) == 0)
                        continue;
                text = json_dumps(rows, JSON_COMPACT);
                {
                        const char *params[2] = {an->ac->group, text};

                        r = an_exec(an, k == 0 ? AN_S_WM : AN_S_OFF, params,
                                    NULL, err, errlen);
                }
                free(text);
        }
        json_decref(wm);
        json_decref(off);
        return r;
}

/* COPY the rows into the topic's facts table. */
static int an_copy(struct analytics *an, int t, struct an_msg **rows, size_t n,
                   char *err, size_t errlen)
{
        PGresult *res = PQexec(an->conn, an_copy_sql[t]);
        char *buf = NULL;
        size_t len = 0, cap = 0;
        int r = 0;

        if (PQresultStatus(res) != PGRES_COPY_IN) {
                r = an_pg_err(an->conn, res, "copy", err, errlen);
                PQclear(res);
                return r;
        }
        PQclear(res);
        /* the lines in chunks of ~256 KiB, not one call per row */
        for (size_t i = 0; i <= n && r == 0; i++) {
                if (len > 0 && (i == n || len + rows[i]->rowlen > 262144)) {
                        if (PQputCopyData(an->conn, buf, (int)len) != 1)
                                r = km_err_set(err, errlen, KM_ERETRY,
                                               "copy: %s",
                                               PQerrorMessage(an->conn));
                        len = 0;
                }
                if (i == n)
                        break;
                if (len + rows[i]->rowlen > cap) {
                        cap = len + rows[i]->rowlen > 262144
                                      ? len + rows[i]->rowlen
                                      : 262144;
                        buf = km_xrealloc(buf, cap);
                }
                memcpy(buf + len, rows[i]->row, rows[i]->rowlen);
                len += rows[i]->rowlen;
        }
        free(buf);
        if (PQputCopyEnd(an->conn, r ? "aborted" : NULL) != 1 && r == 0)
                r = km_err_set(err, errlen, KM_ERETRY, "copy: %s",
                               PQerrorMessage(an->conn));
        while ((res = PQgetResult(an->conn)) != NULL) {
                if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0)
                        r = an_pg_err(an->conn, res, "copy", err, errlen);
                PQclear(res);
        }
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

/* Drop the rows whose key the facts table already holds (rows[] sorted,
 * without repeats).  @returns the rows left, compacted in order. */
static int an_drop_known(struct analytics *an, int t, struct an_msg **rows,
                         size_t *k, char *err, size_t errlen)
{
        size_t n = *k, cap = n * 84 + 8, kl = 0, al = 1;
        char *keys = km_xmalloc(cap), *atts = km_xmalloc(n * 12 + 8);
        const char *params[2] = {keys, atts};
        unsigned char *known = km_xcalloc(n, 1);
        PGresult *res = NULL;
        int r;

        atts[0] = '{';
        for (size_t i = 0; i < n; i++) {
                /* quoted, so an element is one element whatever it holds
                 * (a key that is no uuid fails the cast: KM_EINPUT) */
                keys[kl++] = i ? ',' : '{';
                keys[kl++] = '"';
                for (const char *c = rows[i]->key; *c; c++) {
                        if (*c == '"' || *c == '\\')
                                keys[kl++] = '\\';
                        keys[kl++] = *c;
                }
                keys[kl++] = '"';
                al += (size_t)snprintf(atts + al, n * 12 + 8 - al, "%s%d",
                                       i ? "," : "", rows[i]->attempt);
        }
        snprintf(keys + kl, cap - kl, "}");
        snprintf(atts + al, n * 12 + 8 - al, "}");
        r = an_exec(an, AN_S_KNOWN + t, params, &res, err, errlen);
        if (r == 0) {
                size_t w = 0;

                for (int j = 0; j < PQntuples(res); j++) {
                        long i = strtol(PQgetvalue(res, j, 0), NULL, 10);

                        if (i >= 1 && (size_t)i <= n)
                                known[i - 1] = 1;
                }
                PQclear(res);
                for (size_t i = 0; i < n; i++)
                        if (!known[i])
                                rows[w++] = rows[i];
                *k = w;
        }
        free(keys);
        free(atts);
        free(known);
        return r;
}

/* Field i of a COPY text line, unescaped into buf; NULL for \N. */
static const char *an_field(const char *line, size_t len, int i, char *buf,
                            size_t blen)
{
        const char *p = line, *end = line + len;
        size_t w = 0;

        for (; i > 0 && p < end; p++)
                if (*p == '\\')
                        p++;
                else if (*p == '\t')
                        i--;
        if (p + 2 <= end && p[0] == '\\' && p[1] == 'N' &&
            (p + 2 == end || p[2] == '\t' || p[2] == '\n'))
                return NULL;
        for (; p < end && *p != '\t' && *p != '\n' && w + 1 < blen; p++) {
                if (*p == '\\' && p + 1 < end) {
                        p++;
                        buf[w++] = *p == 't'   ? '\t'
                                   : *p == 'n' ? '\n'
                                   : *p == 'r' ? '\r'
                                               : *p;
                } else {
                        buf[w++] = *p;
                }
        }
        buf[w] = '\0';
        return buf;
}

/* One aggregate's deltas: every new row's group (its fields joined by
 * 0x1f, 0x01 for NULL) in an arena; sorted, counted by runs and written
 * as a JSON array of records {fields..., "n"[, "score_sum"]}. */
struct an_grow {
        size_t off; /* the group string in the arena */
        long long score;
};

struct an_agg {
        char *arena;
        size_t len, cap;
        struct an_grow *g;
        size_t n, capn;
};

/* null_as: what a NULL field counts as (NULL: a NULL of its own). */
static void an_agg_add(struct an_agg *a, const struct an_msg *m,
                       const int *cols, int ncols, int score_col,
                       const char *null_as)
{
        char f[1024]; /* a line is at most 1,024 bytes: so is a field */
        const char *v;

        if (a->n == a->capn) {
                a->capn = a->capn ? 2 * a->capn : 1024;
                a->g = km_xrealloc(a->g, a->capn * sizeof(*a->g));
        }
        a->g[a->n].off = a->len;
        a->g[a->n].score = 0;
        for (int c = 0; c < ncols; c++) {
                size_t l;

                v = an_field(m->row, m->rowlen, cols[c], f, sizeof(f));
                if (v == NULL)
                        v = null_as;
                l = v ? strlen(v) : 1;
                if (a->len + l + 2 > a->cap) {
                        a->cap = 2 * (a->len + l + 2) + 65536;
                        a->arena = km_xrealloc(a->arena, a->cap);
                }
                memcpy(a->arena + a->len, v ? v : "\x01", l);
                a->len += l;
                a->arena[a->len++] = c + 1 < ncols ? '\x1f' : '\0';
        }
        if (score_col >= 0) {
                v = an_field(m->row, m->rowlen, score_col, f, sizeof(f));
                a->g[a->n].score = v ? strtoll(v, NULL, 10) : 0;
        }
        a->n++;
}

static const char *an_agg_arena; /* for an_grow_cmp: the writer thread's */

static int an_grow_cmp(const void *x, const void *y)
{
        return strcmp(an_agg_arena + ((const struct an_grow *)x)->off,
                      an_agg_arena + ((const struct an_grow *)y)->off);
}

/* A JSON string of s[0, n) appended to *buf. */
static void an_json_str(char **buf, size_t *len, size_t *cap, const char *s,
                        size_t n)
{
        if (*len + 6 * n + 64 > *cap) {
                *cap = 2 * (*len + 6 * n + 64);
                *buf = km_xrealloc(*buf, *cap);
        }
        (*buf)[(*len)++] = '"';
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '"' || c == '\\') {
                        (*buf)[(*len)++] = '\\';
                        (*buf)[(*len)++] = (char)c;
                } else if (c < 0x20) {
                        *len += (size_t)snprintf(*buf + *len, 7, "\\u%04x", c);
                } else {
                        (*buf)[(*len)++] = (char)c;
                }
        }
        (*buf)[(*len)++] = '"';
}

/* The records, NULL fields as JSON null. */
static char *an_agg_dump(struct an_agg *a, const char *const *names, int ncols,
                         int with_score)
{
        size_t len = 0, cap = 4096;
        char *buf = km_xmalloc(cap);

        an_agg_arena = a->arena;
        if (a->n > 0)
                qsort(a->g, a->n, sizeof(*a->g), an_grow_cmp);
        buf[len++] = '[';
        for (size_t i = 0; i < a->n;) {
                const char *grp = a->arena + a->g[i].off, *p = grp;
                long long score = 0;
                size_t j = i;

                for (; j < a->n && strcmp(a->arena + a->g[j].off, grp) == 0;
                     j++)
                        score += a->g[j].score;
                if (len + 64 > cap)
                        buf = km_xrealloc(buf, cap *= 2);
                if (i > 0)
                        buf[len++] = ',';
                buf[len++] = '{';
                for (int c = 0; c < ncols; c++) {
                        const char *e = strchr(p, '\x1f');
                        size_t l = e ? (size_t)(e - p) : strlen(p);

                        an_json_str(&buf, &len, &cap, names[c],
                                    strlen(names[c]));
                        buf[len++] = ':';
                        if (l == 1 && p[0] == '\x01') {
                                memcpy(buf + len, "null", 4);
                                len += 4;
                        } else {
                                an_json_str(&buf, &len, &cap, p, l);
                        }
                        buf[len++] = ',';
                        p += l + 1;
                }
                if (len + 64 > cap)
                        buf = km_xrealloc(buf, cap *= 2);
                len += (size_t)snprintf(buf + len, cap - len, "\"n\":%zu",
                                        j - i);
                if (with_score)
                        len += (size_t)snprintf(buf + len, cap - len,
                                                ",\"score_sum\":%lld", score);
                buf[len++] = '}';
                i = j;
        }
        buf[len++] = ']';
        buf[len] = '\0';
        return buf;
}

static void an_agg_free(struct an_agg *a)
{
        free(a->arena);
        free(a->g);
}

/* The aggregate deltas of the new rows [0, k), upserted. */
static int an_aggregate(struct analytics *an, int t, struct an_msg **rows,
                        size_t k, char *err, size_t errlen)
{
        /* columns of the COPY lines (an_copy_sql's order) */
        static const char *const daily[] = {"day", "category", "channel"};
        static const int daily_c[] = {2, 3, 4};
        static const char *const district[] = {"day", "category", "district"};
        static const int district_c[] = {9, 6, 5};
        static const char *const org[] = {"day", "org_id", "category"};
        static const int org_c[] = {9, 2, 6};
        static const char *const vote[] = {"ksk_id", "month"};
        static const int vote_c[] = {1, 2};
        struct an_agg a, b;
        char *p1 = NULL, *p2 = NULL;
        int r;

        if (an_agg_sql[t] == NULL || k == 0)
                return 0;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        for (size_t i = 0; i < k; i++) {
                const struct an_msg *m = rows[i];

                if (t == AN_T_COMPLAINTS) {
                        an_agg_add(&a, m, daily_c, 3, -1, NULL);
                } else if (t == AN_T_DISPATCH) {
                        /* an_daily_district keys a task without a
                         * district as '' */
                        if (m->attempt == 1)
                                an_agg_add(&a, m, district_c, 3, -1, "");
                        an_agg_add(&b, m, org_c, 3, -1, NULL);
                } else {
                        an_agg_add(&a, m, vote_c, 2, 3, NULL);
                }
        }
        if (t == AN_T_COMPLAINTS) {
                p1 = an_agg_dump(&a, daily, 3, 0);
        } else if (t == AN_T_DISPATCH) {
                p1 = an_agg_dump(&a, district, 3, 0);
                p2 = an_agg_dump(&b, org, 3, 0);
        } else {
                p1 = an_agg_dump(&a, vote, 2, 1);
        }
        {
                const char *params[2] = {p1, p2};
                r = an_exec(an, AN_S_AGG + t, params, NULL, err, errlen);
        }
        free(p1);
        free(p2);
        an_agg_free(&a);
        an_agg_free(&b);
        return r;
}

/* One try at the batch's transaction.  fresh/total: per topic. */
static int an_store_once(struct analytics *an, struct an_msg *msgs, size_t n,
                         struct an_msg **rows, const struct an_pos *pos,
                         size_t npos, int64_t fresh[AN_NTOPICS],
                         int64_t total[AN_NTOPICS], char *err, size_t errlen)
{
        int r;

        if ((r = km_pg_begin(an->conn, err, errlen)))
                return r;
        for (int t = 0; t < AN_NTOPICS && r == 0; t++) {
                size_t k = 0, w = 0;

                fresh[t] = total[t] = 0;
                for (size_t i = 0; i < n; i++)
                        if (msgs[i].row && msgs[i].topic == t) {
                                msgs[i].ord = i;
                                rows[k++] = &msgs[i];
                        }
                total[t] = (int64_t)k;
                if (k == 0)
                        continue;
                /* key order; of two rows with one key, the first to
                 * arrive is kept */
                qsort(rows, k, sizeof(*rows), an_row_cmp);
                for (size_t i = 0; i < k; i++)
                        if (w == 0 || strcmp(rows[i]->key, rows[w - 1]->key) ||
                            rows[i]->attempt != rows[w - 1]->attempt)
                                rows[w++] = rows[i];
                k = w;
                r = an_drop_known(an, t, rows, &k, err, errlen);
                km_log_debug("batch: %s: %lld row(s), %lld repeated in it, "
                             "%zu already stored",
                             an->topics[t], (long long)total[t],
                             (long long)(total[t] - (int64_t)w), w - k);
                if (r == 0 && k > 0)
                        r = an_copy(an, t, rows, k, err, errlen);
                if (r == 0)
                        r = an_aggregate(an, t, rows, k, err, errlen);
                fresh[t] = (int64_t)k;
        }
        if (r == 0)
                r = an_store_positions(an, pos, npos, err, errlen);
        if (r == 0)
                r = km_pg_commit(an->conn, err, errlen);
        if (r)
                km_pg_rollback(an->conn);
        return r;
}

int analytics_store_batch(struct analytics *an, struct an_msg *msgs, size_t n,
                          const struct an_pos *pos, size_t npos, char *err,
                          size_t errlen)
{
        struct an_msg **rows = km_xcalloc(n + 1, sizeof(*rows));
        int64_t fresh[AN_NTOPICS] = {0}, total[AN_NTOPICS] = {0};
        int r;

        err[0] = '\0';
        /* a key another process inserted between our lookup and our COPY
         * (23505): the next try's lookup finds it */
        for (int try = 0;; try++) {
                r = an_store_once(an, msgs, n, rows, pos, npos, fresh, total,
                                  err, errlen);
                if (r != KM_EINPUT || try == 3 || !strstr(err, " 23505 "))
                        break;
        }
        if (r == 0)
                for (int t = 0; t < AN_NTOPICS; t++) {
                        an->new_rows[t] += fresh[t];
                        an->dup_rows[t] += total[t] - fresh[t];
                }
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
        while (n < 8) {             /* split the COPY line; \N is NULL */
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
        r = km_pg_exec(
                an->conn,
                "INSERT INTO an_complaints (complaint_id, received_at,"
                " day, category, channel, source, building_id, emergency)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (complaint_id) DO NOTHING",
                8, (const char *const *)params, NULL, err, errlen);
        if (r == 0)
                an->new_rows[AN_T_COMPLAINTS]++;
        return r;
}
