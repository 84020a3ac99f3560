/*
 * tcheck.c - see tcheck.h.  Each check builds the expected rows as
 * (key, values) from the model, reads the view's rows the same way and
 * compares the two sorted lists: same keys, values within the rounding of
 * the view's columns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "km_pg.h"
#include "km_test.h"
#include "km_time.h"
#include "km_util.h"
#include "tcheck.h"

#define TC_NV 8

struct kv {
        char key[200];
        double v[TC_NV];
};

struct kvs {
        struct kv *r;
        size_t n;
};

static PGconn *tc_conn;

void tc_init(PGconn *conn)
{
        tc_conn = conn;
}

void tc_pause_ms(int ms)
{
        /* polling a condition against a deadline (the caller's loop) */
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
}

int tc_log_lines(const char *log, const char *s)
{
        FILE *fp = fopen(log, "r");
        char line[2048];
        int n = 0;

        if (fp == NULL)
                return -1;
        while (fgets(line, sizeof(line), fp))
                n += strstr(line, s) != NULL;
        fclose(fp);
        return n;
}

PGresult *tc_query(const char *sql)
{
        PGresult *res = NULL;
        char err[512];

        if (km_pg_exec(tc_conn, sql, 0, NULL, &res, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
        return res;
}

static long tc_long(const char *sql)
{
        PGresult *res = tc_query(sql);
        long v = atol(PQgetvalue(res, 0, 0));

        PQclear(res);
        return v;
}

static struct kv *kv_add(struct kvs *s, const char *key)
{
        s->r = km_xrealloc(s->r, (s->n + 1) * sizeof(*s->r));
        memset(&s->r[s->n], 0, sizeof(s->r[s->n]));
        snprintf(s->r[s->n].key, sizeof(s->r[s->n].key), "%s", key);
        for (int i = 0; i < TC_NV; i++)
                s->r[s->n].v[i] = NAN;
        return &s->r[s->n++];
}

static struct kv *kv_get(struct kvs *s, const char *key)
{
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->r[i].key, key) == 0)
                        return &s->r[i];
        return kv_add(s, key);
}

/* Rows of sql: the first nk columns joined with '|' are the key, the
 * next ones the values (NULL -> NAN). */
static void kv_query(struct kvs *s, const char *sql, int nk)
{
        PGresult *res = tc_query(sql);

        for (int i = 0; i < PQntuples(res); i++) {
                char key[200] = "";
                struct kv *r;

                for (int k = 0; k < nk; k++) {
                        strncat(key, PQgetvalue(res, i, k),
                                sizeof(key) - strlen(key) - 2);
                        if (k + 1 < nk)
                                strcat(key, "|");
                }
                r = kv_add(s, key);
                for (int c = nk; c < PQnfields(res) && c - nk < TC_NV; c++)
                        r->v[c - nk] = PQgetisnull(res, i, c)
                                               ? NAN
                                               : atof(PQgetvalue(res, i, c));
        }
        PQclear(res);
}

static int kv_cmp(const void *a, const void *b)
{
        return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

static void kv_compare(const char *what, struct kvs *want, struct kvs *got,
                       int nv, const double *tol)
{
        size_t bad = 0;

        qsort(want->r, want->n, sizeof(*want->r), kv_cmp);
        qsort(got->r, got->n, sizeof(*got->r), kv_cmp);
        if (want->n != got->n)
                print_error("%s: got %zu rows, want %zu\n", what, got->n,
                            want->n);
        for (size_t i = 0, j = 0; i < want->n || j < got->n;) {
                int c = i == want->n  ? 1
                        : j == got->n ? -1
                                      : strcmp(want->r[i].key, got->r[j].key);

                if (c) {
                        if (bad++ < 10)
                                print_error("%s: row %s %s\n", what,
                                            c < 0 ? want->r[i].key
                                                  : got->r[j].key,
                                            c < 0 ? "missing" : "unexpected");
                        c < 0 ? i++ : j++;
                        continue;
                }
                for (int k = 0; k < nv; k++) {
                        double w = want->r[i].v[k], g = got->r[j].v[k];

                        if ((isnan(w) && isnan(g)) ||
                            (!isnan(w) && !isnan(g) && fabs(w - g) <= tol[k]))
                                continue;
                        if (bad++ < 10)
                                print_error("%s %s value %d: got %g, want %g\n",
                                            what, want->r[i].key, k, g, w);
                }
                i++;
                j++;
        }
        free(want->r);
        free(got->r);
        if (bad || want->n != got->n)
                fail_msg("%s: %zu difference(s)", what, bad);
}

void tc_check_facts(const struct fx_data *d)
{
        long tasks = 0, events = 0, votes = 0, score = 0;

        for (size_t i = 0; i < d->nc; i++) {
                const struct fx_cpl *c = &d->c[i];

                tasks += c->ntask;
                events += c->t[0].rej ? 1
                                      : (c->t[0].ack != 0) + (c->t[0].res != 0);
        }
        for (size_t i = 0; i < d->nv; i++)
                if (d->v[i].kept) {
                        votes++;
                        score += d->v[i].score;
                }
        assert_int_equal(tc_long("SELECT count(*) FROM an_complaints"), d->nc);
        assert_int_equal(tc_long("SELECT sum(n) FROM an_daily"), d->nc);
        assert_int_equal(tc_long("SELECT count(*) FROM an_tasks"), tasks);
        assert_int_equal(tc_long("SELECT sum(n) FROM an_org_daily"), tasks);
        assert_int_equal(tc_long("SELECT sum(n) FROM an_daily_district"),
                         d->nc);
        assert_int_equal(tc_long("SELECT count(*) FROM an_task_events"),
                         events);
        assert_int_equal(tc_long("SELECT count(*) FROM an_votes"), votes);
        assert_int_equal(tc_long("SELECT sum(n) FROM an_vote_month"), votes);
        assert_int_equal(tc_long("SELECT sum(score_sum) FROM an_vote_month"),
                         score);
}

static double tc_wow(double n, double prev)
{
        return prev > 0 ? ex_round(100.0 * (n - prev) / prev, 1) : NAN;
}

void tc_check_weekly(const struct fx_data *d)
{
        static const double tol[3] = {0, 0, 0.051};
        struct kvs want = {0}, got = {0}, twant = {0}, tgot = {0};
        int64_t wmin = INT64_MAX, wmax = INT64_MIN;
        const struct km_conf *conf = d->conf;

        for (size_t i = 0; i < d->nc; i++) {
                int64_t w = fx_week_start(d->c[i].day);

                wmin = w < wmin ? w : wmin;
                wmax = w > wmax ? w : wmax;
        }
        for (int64_t w = wmin; w <= wmax; w += 7) {
                long tot = 0, tprev = 0;
                char key[200];

                for (size_t k = 0; k < conf->ncategories; k++) {
                        long n = 0, prev = 0;
                        struct kv *r;

                        for (size_t i = 0; i < d->nc; i++) {
                                int64_t cw = fx_week_start(d->c[i].day);

                                if (strcmp(d->c[i].category,
                                           conf->categories[k].code))
                                        continue;
                                n += cw == w;
                                prev += cw == w - 7;
                        }
                        snprintf(key, sizeof(key), "%lld|%s", (long long)w,
                                 conf->categories[k].code);
                        r = kv_add(&want, key);
                        r->v[0] = (double)n;
                        r->v[1] = (double)prev;
                        r->v[2] = tc_wow((double)n, (double)prev);
                        tot += n;
                        tprev += prev;
                }
                snprintf(key, sizeof(key), "%lld", (long long)w);
                kv_add(&twant, key)->v[0] = (double)tot;
                twant.r[twant.n - 1].v[1] = (double)tprev;
                twant.r[twant.n - 1].v[2] = tc_wow((double)tot, (double)tprev);
        }
        kv_query(&got,
                 "SELECT week_start - date '1970-01-01', category, n, prev_n, "
                 "wow_pct FROM complaints_weekly",
                 2);
        kv_compare("complaints_weekly", &want, &got, 3, tol);
        kv_query(&tgot,
                 "SELECT week_start - date '1970-01-01', n, prev_n, wow_pct "
                 "FROM complaints_weekly_total",
                 1);
        kv_compare("complaints_weekly_total", &twant, &tgot, 3, tol);
}

void tc_check_ytd(const struct fx_data *d)
{
        static const double tol[1] = {0};
        struct kvs want = {0}, got = {0};

        for (size_t i = 0; i < d->nc; i++) {
                int y, m, dd;
                char key[200];
                struct kv *r;

                km_civil_from_days(d->c[i].day, &y, &m, &dd);
                snprintf(key, sizeof(key), "%d|%s", y, d->c[i].category);
                r = kv_get(&want, key);
                r->v[0] = isnan(r->v[0]) ? 1 : r->v[0] + 1;
        }
        kv_query(&got, "SELECT year, category, n FROM complaints_ytd", 2);
        kv_compare("complaints_ytd", &want, &got, 1, tol);
}

void tc_check_channels(const struct fx_data *d)
{
        static const double tol[1] = {0};
        struct kvs want = {0}, got = {0};

        for (size_t i = 0; i < d->nc; i++) {
                char key[200];
                struct kv *r;

                snprintf(key, sizeof(key), "%lld|%s",
                         (long long)fx_week_start(d->c[i].day),
                         d->c[i].channel);
                r = kv_get(&want, key);
                r->v[0] = isnan(r->v[0]) ? 1 : r->v[0] + 1;
        }
        kv_query(&got,
                 "SELECT week_start - date '1970-01-01', channel, n "
                 "FROM channels_weekly",
                 2);
        kv_compare("channels_weekly", &want, &got, 1, tol);
        assert_int_equal(tc_long("SELECT count(*) FROM (SELECT week_start FROM "
                                 "channels_weekly GROUP BY 1 HAVING "
                                 "abs(sum(share_pct) - 100) > 0.5) x"),
                         0);
}

void tc_check_districts(const struct fx_data *d)
{
        static const double tol[1] = {0};
        struct kvs want = {0}, got = {0};

        for (size_t i = 0; i < d->nc; i++) {
                const struct fx_cpl *c = &d->c[i];
                char key[200];
                struct kv *r;

                snprintf(key, sizeof(key), "%lld|%s|%s",
                         (long long)fx_week_start(c->day), c->category,
                         c->bld >= 0 ? d->b[c->bld].district : "");
                r = kv_get(&want, key);
                r->v[0] = isnan(r->v[0]) ? 1 : r->v[0] + 1;
        }
        kv_query(&got,
                 "SELECT week_start - date '1970-01-01', category, "
                 "coalesce(district, ''), n FROM complaints_weekly_district "
                 "WHERE n > 0",
                 3);
        kv_compare("complaints_weekly_district", &want, &got, 1, tol);
}

void tc_check_orgs(const struct fx_data *d, int64_t now)
{
        static const double tol[8] = {0,     0.006, 0.006, 0.006,
                                      0.006, 0.006, 0,     0};
        struct kvs want = {0}, got = {0};
        struct ex_org *o = NULL;
        size_t n = ex_org_stats(d, now, &o);

        for (size_t i = 0; i < n; i++) {
                struct kv *r = kv_add(&want, o[i].id);

                r->v[0] = (double)o[i].complaints;
                r->v[1] = o[i].apartments > 0
                                  ? ex_round(100.0 * (double)o[i].complaints /
                                                     (double)o[i].apartments,
                                             2)
                                  : NAN;
                r->v[2] = ex_round(o[i].ack_med, 2);
                r->v[3] = ex_round(o[i].ack_p90, 2);
                r->v[4] = ex_round(o[i].res_med, 2);
                r->v[5] = ex_round(o[i].res_p90, 2);
                r->v[6] = (double)o[i].breaches;
                r->v[7] = (double)(o[i].rejected * 1000000 + o[i].open * 1000 +
                                   o[i].overdue);
        }
        free(o);
        kv_query(&got,
                 "SELECT org_id, complaints, per_100_apartments, ack_median_h, "
                 "ack_p90_h, resolve_median_h, resolve_p90_h, sla_breaches, "
                 "rejected * 1000000 + open * 1000 + overdue FROM org_stats",
                 1);
        kv_compare("org_stats", &want, &got, 8, tol);
}

void tc_check_rating(const struct fx_data *d, int64_t now,
                     const struct ex_rating_params *p)
{
        static const double tol[8] = {0,      0.006, 0.006, 0.0001,
                                      0.0001, 0.006, 0.051, 0.2};
        static const double stol[7] = {0.051, 0.051, 0.051, 0.051,
                                       0.051, 0.051, 0.11};
        struct kvs want = {0}, got = {0}, swant = {0}, sgot = {0};
        struct ex_rating *r = NULL;
        size_t n = ex_rating(d, now, p, &r);
        long rated = 0, unrated = 0;

        for (size_t i = 0; i < n; i++) {
                char key[200];
                struct kv *k;

                snprintf(key, sizeof(key), "%lld|%s|%s", (long long)r[i].month,
                         r[i].ksk, r[i].reason ? r[i].reason : "rated");
                k = kv_add(&want, key);
                k->v[0] = (double)r[i].complaints;
                k->v[1] = ex_round(r[i].per100, 2);
                k->v[2] = ex_round(r[i].res_med, 2);
                k->v[3] = ex_round(r[i].breach_rate, 4);
                k->v[4] = ex_round(r[i].repeat_rate, 4);
                k->v[5] = ex_round(r[i].avg_vote, 2);
                k->v[6] = (double)r[i].votes;
                k->v[7] = 0;
                if (!r[i].rated) {
                        unrated++;
                        continue;
                }
                rated++;
                k = kv_add(&swant, key);
                for (int c = 0; c < 6; c++)
                        k->v[c] = ex_round(r[i].s[c], 1);
                k->v[6] = ex_round(r[i].score, 1);
        }
        free(r);
        print_message("rating: %ld rated, %ld unrated KSK-months\n", rated,
                      unrated);
        assert_true(rated > 0 && unrated > 0); /* both sides exercised */
        kv_query(&got,
                 "SELECT month - date '1970-01-01', ksk_id, "
                 "coalesce(unrated_reason, 'rated'), complaints, "
                 "per_100_apartments, resolve_median_h, sla_breach_rate, "
                 "repeat_rate, avg_vote, votes, 0 FROM ksk_rating",
                 3);
        kv_compare("ksk_rating components", &want, &got, 8, tol);
        kv_query(&sgot,
                 "SELECT month - date '1970-01-01', ksk_id, 'rated', "
                 "s_complaints, s_resolution, s_sla, s_repeat, s_votes, "
                 "s_disputed, score FROM ksk_rating WHERE rated",
                 3);
        kv_compare("ksk_rating scores", &swant, &sgot, 7, stol);
        /* ranks follow the scores, per city and per district; the unrated
         * have none */
        assert_int_equal(
                tc_long("SELECT count(*) FROM ksk_rating k WHERE rated AND "
                        "(rank_city <> 1 + (SELECT count(*) FROM ksk_rating x "
                        "WHERE x.rated AND x.month = k.month AND x.score > k.score) "
                        "OR rank_district <> 1 + (SELECT count(*) FROM ksk_rating x "
                        "WHERE x.rated AND x.month = k.month AND x.district IS NOT "
                        "DISTINCT FROM k.district AND x.score > k.score))"),
                0);
        assert_int_equal(tc_long("SELECT count(*) FROM ksk_rating WHERE NOT "
                                 "rated AND (score IS NOT NULL OR rank_city "
                                 "IS NOT NULL)"),
                         0);
}

/* No table komek-analytics or the escalator writes holds a phone number,
 * a resident's name or a description. */
void tc_check_no_pii(void)
{
        static const char *const tables[] = {
                "an_complaints", "an_tasks",      "an_task_events",
                "an_votes",      "an_daily",      "an_daily_district",
                "an_org_daily",  "an_vote_month", "an_watermarks",
                "escalations",
        };
        char sql[512];

        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
                snprintf(sql, sizeof(sql),
                         "SELECT count(*) FROM %s t WHERE t::text ~ "
                         "'\\+7[0-9]{10}|Асель|Позвонили|contact'",
                         tables[i]);
                if (tc_long(sql) != 0)
                        fail_msg("%s holds personal data", tables[i]);
        }
        assert_int_equal(
                tc_long("SELECT count(*) FROM information_schema.columns WHERE "
                        "table_schema = current_schema() AND (table_name LIKE 'an%' "
                        "OR table_name = 'escalations') AND column_name IN "
                        "('contact', 'description', 'resident_hash', 'note', "
                        "'apartment', 'street', 'house')"),
                0);
}

struct tc_dlq {
        char origins[16][128];
        int n, total, bad_headers;
};

/* A header's value as a string (empty when absent). */
static void tc_header(rd_kafka_headers_t *hdrs, const char *name, char *buf,
                      size_t len)
{
        const void *v;
        size_t n;

        buf[0] = '\0';
        if (hdrs && rd_kafka_header_get_last(hdrs, name, &v, &n) == 0)
                snprintf(buf, len, "%.*s", (int)n, (const char *)v);
}

/* Kafka Connect's error headers agree with the JSON body (issue 11). */
static int tc_dlq_headers_ok(const rd_kafka_message_t *rkm, json_t *m)
{
        rd_kafka_headers_t *hdrs = NULL;
        json_t *o = json_object_get(m, "origin");
        const char *reason = json_string_value(json_object_get(m, "reason"));
        char h[256], want[256];

        if (rd_kafka_message_headers(rkm, &hdrs) || reason == NULL)
                return 0;
        tc_header(hdrs, "__connect.errors.topic", h, sizeof(h));
        if (strcmp(h, json_string_value(json_object_get(o, "topic"))))
                return 0;
        tc_header(hdrs, "__connect.errors.partition", h, sizeof(h));
        snprintf(
                want, sizeof(want), "%lld",
                (long long)json_integer_value(json_object_get(o, "partition")));
        if (strcmp(h, want))
                return 0;
        tc_header(hdrs, "__connect.errors.offset", h, sizeof(h));
        snprintf(want, sizeof(want), "%lld",
                 (long long)json_integer_value(json_object_get(o, "offset")));
        if (strcmp(h, want))
                return 0;
        tc_header(hdrs, "__connect.errors.exception.class.name", h, sizeof(h));
        snprintf(want, sizeof(want), "komek.%s", reason);
        if (strcmp(h, want))
                return 0;
        tc_header(hdrs, "__connect.errors.exception.message", h, sizeof(h));
        if (strncmp(h, reason, strlen(reason)))
                return 0;
        tc_header(hdrs, "__connect.errors.connector.name", h, sizeof(h));
        if (strcmp(h, "komek-analytics"))
                return 0;
        tc_header(hdrs, "__connect.errors.stage", h, sizeof(h));
        return h[0] != '\0';
}

static int tc_dlq_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct tc_dlq *q = opaque;
        json_t *m = json_loadb(rkm->payload, rkm->len, 0, NULL);
        json_t *o = json_object_get(m, "origin");
        char key[128];
        int i;

        q->total++;
        if (!tc_dlq_headers_ok(rkm, m))
                q->bad_headers++;
        snprintf(key, sizeof(key), "%s|%lld|%lld",
                 json_string_value(json_object_get(o, "topic")),
                 (long long)json_integer_value(json_object_get(o, "partition")),
                 (long long)json_integer_value(json_object_get(o, "offset")));
        for (i = 0; i < q->n && strcmp(q->origins[i], key); i++)
                ;
        if (i == q->n && q->n < 16)
                snprintf(q->origins[q->n++], sizeof(q->origins[0]), "%s", key);
        json_decref(m);
        return 0;
}

void tc_check_dlq(struct fx_env *env, int bad)
{
        struct tc_dlq q;

        memset(&q, 0, sizeof(q));
        /* the writers have exited: the end of the topic is all of it */
        assert_true(km_test_read_to_end(&env->conf, env->topics[FX_DLQ],
                                        "read_committed", 20000, tc_dlq_cb,
                                        &q) >= 0);
        /* at least once: a batch killed after its dead letters were sent
         * sends them again; every bad message is there */
        assert_int_equal(q.n, bad);
        assert_true(q.total >= bad);
        /* each carries Kafka Connect's error headers */
        assert_int_equal(q.bad_headers, 0);
}

/* Terminate the PostgreSQL sessions of group's analytics processes.
 * @returns how many. */
long tc_terminate_sessions(const char *group)
{
        char app[64], err[512];
        const char *p[1] = {app};
        PGresult *res = NULL;
        long n = 0;

        snprintf(app, sizeof(app), "komek-analytics/%s", group);
        if (km_pg_exec(tc_conn,
                       "SELECT count(pg_terminate_backend(pid)) FROM "
                       "pg_stat_activity WHERE application_name = $1",
                       1, p, &res, err, sizeof(err)))
                fail_msg("terminate: %s", err);
        n = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
        return n;
}

/* A number that changes if any fact or aggregate does. */
long tc_fingerprint(void)
{
        return tc_long("SELECT (SELECT count(*) FROM an_complaints) + "
                       "(SELECT sum(n) * 3 FROM an_daily) + "
                       "(SELECT count(*) * 5 FROM an_tasks) + "
                       "(SELECT sum(n) * 7 FROM an_daily_district) + "
                       "(SELECT sum(n) * 11 FROM an_org_daily) + "
                       "(SELECT count(*) * 13 FROM an_task_events) + "
                       "(SELECT count(*) * 17 FROM an_votes) + "
                       "(SELECT sum(score_sum) * 19 FROM an_vote_month)");
}
