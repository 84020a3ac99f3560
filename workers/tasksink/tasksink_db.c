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
        free(row->raw);
        memset(row, 0, sizeof(*row));
}

/* --- the complaint as it arrived: a value's span in the message ------- */

static const char *ts_json_ws(const char *p, const char *end)
{
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
        return p;
}

/* p at '"': past the closing quote; *esc: the string had escapes. */
static const char *ts_json_string(const char *p, const char *end, int *esc)
{
        for (p++; p < end && *p != '"'; p++)
                if (*p == '\\') {
                        *esc = 1;
                        p++;
                }
        return p < end ? p + 1 : NULL;
}

/* Past the value at p (text jansson has already accepted), or NULL. */
static const char *ts_json_skip(const char *p, const char *end)
{
        int depth = 0, esc = 0;

        do {
                if (p >= end)
                        return NULL;
                if (*p == '"') {
                        p = ts_json_string(p, end, &esc);
                        if (p == NULL)
                                return NULL;
                        continue;
                }
                if (*p == '{' || *p == '[')
                        depth++;
                else if (*p == '}' || *p == ']')
                        depth--;
                else if (depth == 0) { /* a scalar: up to a delimiter */
                        while (p < end && !strchr(",}] \t\n\r", *p))
                                p++;
                        return p;
                }
                p++;
        } while (depth > 0);
        return p;
}

/*
 * The bytes of member `key` of the JSON object text [p, p + len): the
 * stored complaint is the text the router sent, not a re-serialisation.
 * @returns 0, or -1 when not found as written (an escaped key such as
 * "compl\u0061int" is not matched; the caller then serialises the value
 * jansson parsed, which is the same JSON).
 */
static int ts_json_member(const char *p, size_t len, const char *key,
                          const char **vp, size_t *vlen)
{
        const char *end = p + len;
        size_t klen = strlen(key);

        p = ts_json_ws(p, end);
        if (p >= end || *p != '{')
                return -1;
        for (p++;;) {
                const char *k, *v;
                size_t n;
                int esc = 0;

                p = ts_json_ws(p, end);
                if (p >= end || *p != '"')
                        return -1;
                k = p + 1;
                p = ts_json_string(p, end, &esc);
                if (p == NULL)
                        return -1;
                n = (size_t)(p - 1 - k); /* the key's bytes, quotes off */
                p = ts_json_ws(p, end);
                if (p >= end || *p != ':')
                        return -1;
                v = ts_json_ws(p + 1, end);
                p = ts_json_skip(v, end);
                if (p == NULL)
                        return -1;
                if (!esc && n == klen && memcmp(k, key, klen) == 0) {
                        *vp = v;
                        *vlen = (size_t)(p - v);
                        return 0;
                }
                p = ts_json_ws(p, end);
                if (p >= end || *p != ',')
                        return -1;
                p++;
        }
}

/* --- the staging line (COPY text format) ------------------------------ */

static void ts_copy_reserve(struct tasksink *ts, size_t n)
{
        if (ts->copylen + n <= ts->copycap)
                return;
        while (ts->copylen + n > ts->copycap)
                ts->copycap = ts->copycap ? ts->copycap * 2 : 65536;
        ts->copy = km_xrealloc(ts->copy, ts->copycap);
}

/* One field and its delimiter; s NULL: \N. */
static void ts_copy_field(struct tasksink *ts, const char *s, size_t n,
                          char delim)
{
        char *w;

        ts_copy_reserve(ts, (s ? 2 * n : 2) + 1);
        w = ts->copy + ts->copylen;
        if (s == NULL) {
                *w++ = '\\';
                *w++ = 'N';
        }
        for (size_t i = 0; s && i < n; i++) {
                char c = s[i];

                if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
                        *w++ = '\\';
                        c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : c;
                }
                *w++ = c;
        }
        *w++ = delim;
        ts->copylen = (size_t)(w - ts->copy);
}

static void ts_copy_str(struct tasksink *ts, const char *s, char delim)
{
        ts_copy_field(ts, s, s ? strlen(s) : 0, delim);
}

/* A JSON value: its bytes in the message, else jansson's serialisation. */
static void ts_copy_json(struct tasksink *ts, const char *buf, size_t len,
                         const char *key, json_t *v, char delim)
{
        const char *p;
        size_t n;
        char *dump;

        if (buf && ts_json_member(buf, len, key, &p, &n) == 0) {
                ts_copy_field(ts, p, n, delim);
                return;
        }
        dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        ts_copy_str(ts, dump, delim);
        free(dump);
}

int tasksink_row_parse(struct tasksink *ts, const rd_kafka_message_t *rkm,
                       struct tasksink_row *row, char *err, size_t errlen)
{
        json_t *o, *c, *a, *contact;
        const char *id, *org_id, *org_kind, *building_id, *district, *category,
            *route_reason, *received_at, *routed_at, *due_at, *description;
        const char *cbuf = NULL;
        size_t clen = 0;
        char *address, ord[24], att[16];
        int bad = 0, r = 0;
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
        id = tasksink_str(o, "complaint_id", 0, &bad);
        org_id = tasksink_str(o, "org_id", 0, &bad);
        org_kind = tasksink_str(o, "org_kind", 0, &bad);
        building_id = tasksink_str(o, "building_id", 1, &bad);
        district = tasksink_str(o, "district", 1, &bad);
        category = tasksink_str(o, "category", 0, &bad);
        route_reason = tasksink_str(o, "route_reason", 0, &bad);
        received_at = tasksink_str(o, "received_at", 0, &bad);
        routed_at = tasksink_str(o, "routed_at", 0, &bad);
        due_at = tasksink_str(o, "due_at", 0, &bad);
        c = json_object_get(o, "complaint");
        if (bad || !json_is_object(c) || !km_id_valid(id) ||
            km_parse_rfc3339(received_at, &t) ||
            km_parse_rfc3339(routed_at, &t) || km_parse_rfc3339(due_at, &t) ||
            strlen(org_id) > 64) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "missing or invalid field");
                goto cleanup;
        }
        if (!json_is_integer(json_object_get(o, "attempt")) ||
            (attempt = json_integer_value(json_object_get(o, "attempt"))) < 1 ||
            attempt > 1000000) {
                r = km_err_set(err, errlen, KM_EINPUT, "invalid attempt");
                goto cleanup;
        }
        description = tasksink_str(c, "description", 0, &bad);
        if (bad) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "complaint without a description");
                goto cleanup;
        }
        snprintf(att, sizeof(att), "%lld", (long long)attempt);
        snprintf(ord, sizeof(ord), "%zu", ts->nrows);
        /* the staging line, in ts_stage's column order */
        row->line_off = ts->copylen;
        ts_copy_str(ts, ord, '\t');
        ts_copy_str(ts, id, '\t');
        ts_copy_str(ts, att, '\t');
        ts_copy_str(ts, org_id, '\t');
        ts_copy_str(ts, org_kind, '\t');
        ts_copy_str(ts, building_id, '\t');
        ts_copy_str(ts, district, '\t');
        ts_copy_str(ts, category, '\t');
        ts_copy_str(ts, route_reason, '\t');
        ts_copy_str(ts, received_at, '\t');
        ts_copy_str(ts, routed_at, '\t');
        ts_copy_str(ts, due_at, '\t');
        ts_copy_str(ts, description, '\t');
        a = json_object_get(c, "address");
        address = json_is_object(a) ? tasksink_address(a) : NULL;
        ts_copy_str(ts, address, '\t');
        free(address);
        /* the complaint's bytes as sent; the contact is a member of it */
        if (ts_json_member(rkm->payload, rkm->len, "complaint", &cbuf,
                           &clen))
                cbuf = NULL;
        contact = json_object_get(c, "contact");
        if (json_is_object(contact))
                ts_copy_json(ts, cbuf, clen, "contact", contact, '\t');
        else
                ts_copy_str(ts, NULL, '\t');
        if (cbuf)
                ts_copy_field(ts, cbuf, clen, '\n');
        else
                ts_copy_json(ts, NULL, 0, "complaint", c, '\n');
        row->line_len = ts->copylen - row->line_off;
        row->rawlen = rkm->len;
        row->raw = km_xmalloc(rkm->len + 1);
        memcpy(row->raw, rkm->payload, rkm->len);
cleanup:
        json_decref(o);
        return r;
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

/* --- the set-based write ----------------------------------------------
 *
 * The batch's lines are COPied into ts_stage, a temporary table of this
 * connection (created once per backend, emptied at every commit), then
 * three prepared statements: the attempts (DO NOTHING: a re-delivery adds
 * nothing), the tasks (one row per complaint, its highest attempt of the
 * batch; a row replaces the stored one only for a higher attempt), and
 * every partition's next offset.  Rows go in complaint_id order, so two
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

static const char *const ts_stmt_name[3] = {"ts_attempts", "ts_tasks",
                                            "ts_offsets"};
static const char *const ts_stmt_sql[3] = {
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
};
static const int ts_stmt_nparams[3] = {0, 0, 4};

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
        for (int i = 0; i < 3; i++) {
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
        PGresult *res = PQexecPrepared(ts->conn, ts_stmt_name[stmt],
                                       ts_stmt_nparams[stmt], params, NULL,
                                       NULL, 0);
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

/* Rows [lo, hi): staged, then attempts and tasks.  counts: new,
 * re-routed, duplicate. */
static int ts_write_rows(struct tasksink *ts, size_t lo, size_t hi,
                         int64_t counts[4], char *err, size_t errlen)
{
        PGresult *res = NULL;
        int64_t fresh, rerouted;
        int r;

        if ((r = ts_copy(ts, lo, hi, err, errlen)) ||
            (r = ts_exec(ts, 0, NULL, NULL, err, errlen)) ||
            (r = ts_exec(ts, 1, NULL, &res, err, errlen)))
                return r;
        fresh = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        rerouted = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        PQclear(res);
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
        r = ts_write_rows(ts, lo, hi, c, err, errlen);
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

/* Every partition's next offset, one statement. */
static int ts_offsets(struct tasksink *ts, char *err, size_t errlen)
{
        const rd_kafka_topic_partition_list_t *o = ts->offsets;
        size_t cap = 64;
        char *topics, *parts, *offs;
        size_t nt = 0, np = 0, no = 0;
        int r;

        for (int i = 0; i < o->cnt; i++)
                cap += strlen(o->elems[i].topic) + 32;
        topics = km_xmalloc(cap);
        parts = km_xmalloc(cap);
        offs = km_xmalloc(cap);
        /* topic names are [A-Za-z0-9._-]: no quoting within the literal */
        for (int i = 0; i < o->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &o->elems[i];
                const char *sep = i ? "," : "{";

                nt += (size_t)snprintf(topics + nt, cap - nt, "%s\"%s\"", sep,
                                       tp->topic);
                np += (size_t)snprintf(parts + np, cap - np, "%s%d", sep,
                                       (int)tp->partition);
                no += (size_t)snprintf(offs + no, cap - no, "%s%lld", sep,
                                       (long long)tp->offset);
        }
        snprintf(topics + nt, cap - nt, "}");
        snprintf(parts + np, cap - np, "}");
        snprintf(offs + no, cap - no, "}");
        {
                const char *params[4] = {ts->name, topics, parts, offs};

                r = ts_exec(ts, 2, params, NULL, err, errlen);
        }
        free(topics);
        free(parts);
        free(offs);
        return r;
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
        if (ts->nrows > 0) {
                r = bisect ? ts_bisect(ts, 0, ts->nrows, counts, err, errlen)
                           : ts_write_rows(ts, 0, ts->nrows, counts, err,
                                           errlen);
                if (r)
                        goto fail;
        }
        if ((r = ts_offsets(ts, err, errlen)))
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
