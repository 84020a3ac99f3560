/*
 * analytics_lag.c - komek-analytics --lag: for every partition of the four
 * input topics, the next offset stored in PostgreSQL for analytics.group
 * against the partition's high watermark, and the total lag (0: caught
 * up).  Read-only; used by deploy/demo.d/30-analytics.sh to wait for the
 * end of the input, and by operators.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "km_pg.h"

int analytics_lag(struct km_conf *conf, struct analytics_conf *ac, FILE *fp,
                  char *err, size_t errlen)
{
        const char *topics[AN_NTOPICS] = {
                conf->topic_complaints, conf->topic_dispatch,
                conf->topic_task_events, conf->topic_votes};
        rd_kafka_conf_t *kc = NULL;
        rd_kafka_t *rk = NULL;
        PGconn *conn = NULL;
        PGresult *res = NULL;
        const char *params[1] = {ac->group};
        char errstr[512];
        long long total = 0;
        int r;

        conn = km_pg_connect(conf->pg_conninfo, "komek-analytics",
                             (int)conf->pg_connect_timeout_s, err, errlen);
        if (conn == NULL)
                return KM_EFATAL;
        r = km_pg_exec(conn,
                       "SELECT topic, partition, next_offset FROM "
                       "consumer_offsets WHERE consumer = $1",
                       1, params, &res, err, errlen);
        if (r)
                goto cleanup;
        kc = km_kafka_conf_new(conf, NULL, err, errlen);
        if (kc == NULL) {
                r = KM_ECONFIG;
                goto cleanup;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (rk == NULL) {
                rd_kafka_conf_destroy(kc);
                r = km_err_set(err, errlen, KM_EFATAL, "kafka: %s", errstr);
                goto cleanup;
        }
        fprintf(fp, "# topic partition stored high lag (group %s)\n",
                ac->group);
        for (int t = 0; t < AN_NTOPICS; t++) {
                int np = km_kafka_partitions(rk, topics[t], 10000);

                if (np < 0) {
                        r = km_err_set(err, errlen, KM_EFATAL,
                                       "topic %s: no metadata", topics[t]);
                        goto cleanup;
                }
                for (int p = 0; p < np; p++) {
                        int64_t lo = 0, hi = 0, stored = 0;
                        rd_kafka_resp_err_t e =
                                rd_kafka_query_watermark_offsets(
                                        rk, topics[t], p, &lo, &hi, 10000);

                        if (e) {
                                r = km_err_set(err, errlen, KM_EFATAL,
                                               "%s[%d]: %s", topics[t], p,
                                               rd_kafka_err2str(e));
                                goto cleanup;
                        }
                        stored = lo;
                        for (int i = 0; i < PQntuples(res); i++)
                                if (!strcmp(PQgetvalue(res, i, 0), topics[t]) &&
                                    atoi(PQgetvalue(res, i, 1)) == p)
                                        stored = strtoll(PQgetvalue(res, i, 2),
                                                         NULL, 10);
                        fprintf(fp, "%s %d %lld %lld %lld\n", topics[t], p,
                                (long long)stored, (long long)hi,
                                (long long)(hi > stored ? hi - stored : 0));
                        total += hi > stored ? hi - stored : 0;
                }
        }
        fprintf(fp, "total %lld\n", total);
cleanup:
        if (rk)
                rd_kafka_destroy(rk);
        PQclear(res);
        PQfinish(conn);
        return r;
}
