/*
 * escalator.c - komek-escalator: every escalator.interval_s (or once with
 * --once) judge the analytics tables up to the reference time (see
 * escalator_detect.c), insert new escalations and publish them on the
 * `escalations` topic exactly once (escalator_publish.c).
 *
 * Why a program of its own and not inside komek-analytics: analytics runs
 * as N processes sharing partitions, while escalations need one judge
 * that sees all of them (a city median, a building's complaints from any
 * partition) and one publisher whose Kafka transactions fence its
 * predecessors.  The escalator takes a PostgreSQL advisory lock; a second
 * instance waits as a standby.
 *
 * Metrics and health (escalator_metrics.c) are served from the database
 * connection on, so a standby answers /metrics and /healthz too.
 *
 * Exit: 0 (also after SIGTERM/SIGINT), 1 runtime failure (also: lost the
 * database connection, and so the lock), 2 usage or config error.
 */
#include <stdio.h>
#include <string.h>

#include "escalator.h"
#include "km_log.h"
#include "km_main.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"

#define ES_OFF(f) offsetof(struct escalator_conf, f)

static const struct km_conf_key escalator_keys[] = {
        {"escalator.name", KM_CT_STR, "komek-escalator", 1, 200, ES_OFF(name),
         "name", "transactional.id, lock and reconcile consumer name"},
        {"escalator.analytics_group", KM_CT_STR, "komek-analytics", 1, 200,
         ES_OFF(analytics_group), "analytics-group",
         "komek-analytics' group: whose progress bounds the reference time"},
        {"escalator.interval_s", KM_CT_INT, "30", 1, 86400, ES_OFF(interval_s),
         "interval-s", "seconds between passes"},
        {"escalator.once", KM_CT_BOOL, "false", 0, 0, ES_OFF(once), "once",
         "one pass (detect, publish), then exit"},
        {"escalator.systemic_count", KM_CT_INT, "3", 2, 1000,
         ES_OFF(systemic_count), NULL,
         "systemic: this many complaints of one building + category"},
        {"escalator.systemic_window_hours", KM_CT_INT, "168", 1, 8784,
         ES_OFF(systemic_window_hours), NULL,
         "systemic: ... within this window"},
        {"escalator.inefficient_factor", KM_CT_DOUBLE, "4.0", 1, 1000,
         ES_OFF(inefficient_factor), NULL,
         "inefficient KSK: incidents per 100 apartments above factor x the "
         "city median over inefficient_months"},
        {"escalator.inefficient_min_apartments", KM_CT_INT, "100", 1, 10000000,
         ES_OFF(inefficient_min_apartments), NULL,
         "inefficient KSK: only KSKs with at least this many apartments"},
        {"escalator.inefficient_min_complaints", KM_CT_INT, "10", 1, 1000000,
         ES_OFF(inefficient_min_complaints), NULL,
         "inefficient KSK: and at least this many incidents in the months"},
        {"escalator.inefficient_months", KM_CT_INT, "3", 1, 12,
         ES_OFF(inefficient_months), NULL,
         "inefficient KSK: months judged together (the month and those "
         "before it)"},
        KM_METRICS_CONF_KEYS("escalator", struct escalator_conf,
                             metrics_address, metrics_port),
        KM_OBS_PORT_FILE_KEY("escalator", struct escalator_conf,
                             metrics_port_file),
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void escalator_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-escalator [options]\n"
                "  Detect SLA breaches, systemic cases and inefficient KSKs "
                "in the\n  analytics tables; one row in escalations and one "
                "message on the\n  escalations topic each, once.\n");
        km_conf_usage(conf, stdout);
}

/* Wait for the leader lock.  @returns 0 when held, KM_ERETRY on stop. */
static int escalator_lock(struct escalator *es, char *err, size_t errlen)
{
        const char *params[1] = {es->ec->name};
        int warned = 0;

        while (!km_sig_stop) {
                PGresult *res = NULL;
                int got, r;

                r = escalator_pg_exec(es,
                                      "SELECT pg_try_advisory_lock(73053105,"
                                      " hashtext($1))",
                                      1, params, &res, err, errlen);
                if (r)
                        return r;
                got = PQgetvalue(res, 0, 0)[0] == 't';
                PQclear(res);
                if (got)
                        return 0;
                if (es->ec->once)
                        return km_err_set(err, errlen, KM_EFATAL,
                                          "another %s holds the lock",
                                          es->ec->name);
                if (!warned)
                        km_log_info("standby: another %s is the leader",
                                    es->ec->name);
                warned = 1;
                /* the producer handle does not exist yet: wait on the
                 * database's clock, interruptible by a signal */
                r = escalator_pg_exec(es, "SELECT pg_sleep(1)", 0, NULL, NULL,
                                      err, errlen);
                if (r)
                        return r;
                escalator_metrics_tick(es); /* a standby is probed too */
        }
        return KM_ERETRY;
}

static int escalator_pass(struct escalator *es, char *err, size_t errlen)
{
        int64_t ref, t0 = km_now_ms();
        int caught_up, r;
        char sref[24];

        r = escalator_watermark(es, &ref, &caught_up, err, errlen);
        if (r)
                return r;
        if (ref == INT64_MIN) {
                km_log_info("analytics has not read every partition yet: "
                            "nothing judged");
        } else {
                km_fmt_rfc3339(ref, sref, sizeof(sref));
                km_log_debug("judging up to %s (%s)", sref,
                             caught_up ? "caught up" : "analytics behind");
                r = escalator_detect(es, ref, err, errlen);
                if (r)
                        return r;
        }
        es->passes++;
        r = escalator_publish(es, err, errlen);
        if (r == 0)
                escalator_metrics_pass(es, t0);
        return r;
}

static int escalator_run(struct escalator *es, char *err, size_t errlen)
{
        int r;

        es->conn =
                km_pg_connect(es->conf->pg_conninfo, "komek-escalator",
                              (int)es->conf->pg_connect_timeout_s, err, errlen);
        if (es->conn == NULL)
                return KM_EFATAL;
        /* /metrics and /healthz from here: a standby answers too
         * (komek_escalator_leader 0) */
        r = escalator_metrics_serve(es, err, errlen);
        if (r)
                return r;
        escalator_metrics_tick(es);
        r = escalator_lock(es, err, errlen);
        if (r)
                return km_sig_stop ? 0 : r;
        /* Leader now: the transactional producer fences older instances
         * and aborts what they left open; then reconcile. */
        es->rk = km_kafka_producer_new(es->conf, es->ec->name, &es->counts, err,
                                       errlen);
        if (es->rk == NULL) /* a stop while waiting for the broker: exit 0 */
                return km_sig_stop ? 0 : KM_EFATAL;
        escalator_metrics_leader(es);
        r = escalator_reconcile(es, err, errlen);
        if (r)
                return r;
        for (;;) {
                int64_t next;

                r = escalator_pass(es, err, errlen);
                if (r == KM_ERETRY && PQstatus(es->conn) != CONNECTION_OK)
                        r = KM_EFATAL; /* the lock went with the session */
                if (r == KM_EFATAL || (r && es->ec->once))
                        return r;
                if (r)
                        km_log_warn("pass failed, retrying: %s", err);
                if (es->ec->once || km_sig_stop)
                        return 0;
                next = km_now_ms() + es->ec->interval_s * 1000;
                while (!km_sig_stop && km_now_ms() < next) {
                        rd_kafka_poll(es->rk, 500);
                        /* broker and database health for /healthz */
                        escalator_metrics_tick(es);
                }
                if (km_sig_stop)
                        return 0;
                if (es->counts.fatal)
                        return km_err_set(err, errlen, KM_EFATAL, "%s",
                                          es->counts.fatal_reason);
        }
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct escalator_conf ec;
        struct escalator es;
        char err[512];
        int r;

        memset(&ec, 0, sizeof(ec));
        memset(&es, 0, sizeof(es));
        if (km_main_conf(&conf, "komek-escalator", escalator_keys, &ec, argc,
                         argv, escalator_usage, 0, &r))
                return r;
        km_main_start(&conf, "komek-escalator", 0);
        es.conf = &conf;
        es.ec = &ec;
        escalator_metrics_init(&es);
        r = escalator_run(&es, err, sizeof(err));
        if (r)
                km_log_error("%s", err);
        if (es.rk) {
                if (km_kafka_flush(es.rk, 10000, err, sizeof(err)))
                        km_log_warn("%s", err);
                rd_kafka_destroy(es.rk);
        }
        if (es.conn)
                PQfinish(es.conn);
        escalator_metrics_destroy(&es);
        km_log_info("passes %lld; new escalations: sla_breach %lld, systemic "
                    "%lld, inefficient_ksk %lld; published %lld; found "
                    "already published %lld",
                    (long long)es.passes, (long long)es.detected[0],
                    (long long)es.detected[1], (long long)es.detected[2],
                    (long long)es.published, (long long)es.reconciled);
        km_conf_destroy(&conf);
        return r == 0 ? 0 : r == KM_ECONFIG ? 2 : 1;
}
