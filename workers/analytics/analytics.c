/*
 * analytics.c - komek-analytics: the exactly-once metrics sink.  Consumes
 * complaints, dispatch, task-events and votes (read_committed) and writes
 * facts and aggregates into PostgreSQL, one transaction per batch with
 * the consumed offsets.  Run as many processes as there are partitions to
 * share, all in one analytics.group.  See docs/analytics.md.
 *
 * Exit: 0 (also after SIGTERM/SIGINT: the batch in hand is finished or
 * rolled back, nothing half-written), 1 runtime failure, 2 usage/config.
 */
#include <stdio.h>
#include <string.h>

#include "analytics.h"
#include "km_log.h"
#include "km_sig.h"

#define AN_OFF(f) offsetof(struct analytics_conf, f)

static const struct km_conf_key analytics_keys[] = {
        {"analytics.group", KM_CT_STR, "komek-analytics", 1, 200, AN_OFF(group),
         "group", "consumer group; also the consumer name of its offsets"},
        {"analytics.batch_max", KM_CT_INT, "5000", 1, 1000000,
         AN_OFF(batch_max), "batch-max", "messages per transaction"},
        {"analytics.batch_ms", KM_CT_INT, "500", 1, 60000, AN_OFF(batch_ms),
         "batch-ms", "longest a batch waits before it is written (ms)"},
        {"analytics.utc_offset_hours", KM_CT_INT, "5", -12, 14,
         AN_OFF(utc_offset_hours), NULL,
         "local time of the city (days, weeks): UTC+5 for Astana"},
        {"analytics.naive", KM_CT_BOOL, "false", 0, 0, AN_OFF(naive), "naive",
         "bench baseline only: one INSERT+COMMIT per complaint, no aggregates"},
        {"analytics.lag", KM_CT_BOOL, "false", 0, 0, AN_OFF(lag), "lag",
         "print the stored offsets against the high watermarks, the total "
         "lag, and exit"},
        {"analytics.rating_w_complaints", KM_CT_DOUBLE, "0.30", 0, 100,
         AN_OFF(w_complaints), NULL,
         "rating weight: complaints per 100 apartments"},
        {"analytics.rating_w_resolution", KM_CT_DOUBLE, "0.20", 0, 100,
         AN_OFF(w_resolution), NULL, "rating weight: median resolution time"},
        {"analytics.rating_w_sla", KM_CT_DOUBLE, "0.20", 0, 100, AN_OFF(w_sla),
         NULL, "rating weight: SLA breach rate"},
        {"analytics.rating_w_repeat", KM_CT_DOUBLE, "0.10", 0, 100,
         AN_OFF(w_repeat), NULL, "rating weight: repeat rate"},
        {"analytics.rating_w_votes", KM_CT_DOUBLE, "0.20", 0, 100,
         AN_OFF(w_votes), NULL, "rating weight: residents' average vote"},
        {"analytics.rating_w_disputed", KM_CT_DOUBLE, "0.10", 0, 100,
         AN_OFF(w_disputed), NULL,
         "rating weight: share of resolutions residents disputed"},
        {"analytics.rating_min_complaints", KM_CT_INT, "5", 0, 1000000,
         AN_OFF(min_complaints), NULL,
         "fewer complaints in the month: unrated"},
        {"analytics.rating_min_votes", KM_CT_INT, "5", 0, 1000000,
         AN_OFF(min_votes), NULL, "fewer votes in the month: unrated"},
        {"analytics.rating_repeat_days", KM_CT_INT, "30", 1, 366,
         AN_OFF(repeat_days), NULL,
         "a complaint is a repeat if its building+category had one this many "
         "days before"},
        KM_METRICS_CONF_KEYS("analytics", struct analytics_conf,
                             metrics_address, metrics_port),
        KM_OBS_PORT_FILE_KEY("analytics", struct analytics_conf,
                             metrics_port_file),
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void analytics_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-analytics [options]\n"
                "  Consume complaints, dispatch, task-events and votes and "
                "keep the\n  analytics tables in PostgreSQL, exactly once. "
                "Stops on SIGTERM/SIGINT.\n");
        km_conf_usage(conf, stdout);
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct analytics_conf ac;
        struct analytics an;
        enum km_log_level lvl = KM_LOG_INFO;
        char err[512];
        int r;

        memset(&ac, 0, sizeof(ac));
        memset(&an, 0, sizeof(an));
        if (km_conf_main(&conf, "analytics", analytics_keys, &ac, argc, argv,
                         err, sizeof(err))) {
                fprintf(stderr, "komek-analytics: %s\n", err);
                km_conf_destroy(&conf);
                return 2;
        }
        if (conf.help || conf.dump) {
                if (conf.help)
                        analytics_usage(&conf);
                else
                        km_conf_dump(&conf, stdout);
                km_conf_destroy(&conf);
                return 0;
        }
        if (conf.nargs != 0) {
                fprintf(stderr, "komek-analytics: unexpected argument %s\n",
                        conf.args[0]);
                km_conf_destroy(&conf);
                return 2;
        }
        km_log_level_parse(conf.log_level, &lvl);
        km_log_init("komek-analytics", lvl, conf.log_json);
        km_sig_install();
        if (ac.lag) {
                r = analytics_lag(&conf, &ac, stdout, err, sizeof(err));
                if (r)
                        km_log_error("%s", err);
                km_conf_destroy(&conf);
                return r == 0 ? 0 : r == KM_ECONFIG ? 2 : 1;
        }

        r = analytics_init(&an, &conf, &ac, err, sizeof(err));
        if (r == 0) {
                km_log_info("consuming %s, %s, %s, %s as group %s",
                            an.topics[0], an.topics[1], an.topics[2],
                            an.topics[3], ac.group);
                r = analytics_run(&an, err, sizeof(err));
        }
        if (r)
                km_log_error("%s", err);
        km_log_info(
                "consumed %lld; new complaints %lld (duplicates %lld), "
                "tasks %lld (%lld), task events %lld (%lld), votes %lld "
                "(%lld); dead-lettered %lld; batches %lld, retried %lld",
                (long long)an.consumed, (long long)an.new_rows[AN_T_COMPLAINTS],
                (long long)an.dup_rows[AN_T_COMPLAINTS],
                (long long)an.new_rows[AN_T_DISPATCH],
                (long long)an.dup_rows[AN_T_DISPATCH],
                (long long)an.new_rows[AN_T_EVENTS],
                (long long)an.dup_rows[AN_T_EVENTS],
                (long long)an.new_rows[AN_T_VOTES],
                (long long)an.dup_rows[AN_T_VOTES], (long long)an.dead_lettered,
                (long long)an.batches, (long long)an.retries);
        analytics_destroy(&an);
        km_conf_destroy(&conf);
        return r == 0 ? 0 : r == KM_ECONFIG ? 2 : 1;
}
