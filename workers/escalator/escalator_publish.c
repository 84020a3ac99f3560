/*
 * escalator_publish.c - one message on `escalations` per row, once.
 *
 * The row is the outbox: rows with published_at NULL are produced in a
 * Kafka transaction (transactional.id = escalator.name, so an older
 * instance is fenced) and marked published after the commit.  A crash
 * between the commit and the mark would publish them again, so on start,
 * after init_transactions has aborted anything left open, the escalator
 * reads the topic (read_committed) from where its last reconciliation
 * ended (consumer_offsets, consumer = escalator.name) to the end and
 * marks every escalation_id found there as published.  If marking fails
 * after a commit the escalator stops (exit 1) rather than publish twice;
 * the next start reconciles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escalator.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"

#define ES_CHUNK 2000

/* Mark ids (a JSON array of uuid strings) published. */
static int es_mark(struct escalator *es, json_t *ids, int64_t *marked,
                   char *err, size_t errlen)
{
        PGresult *res = NULL;
        char *text;
        const char *params[1];
        int r;

        if (json_array_size(ids) == 0)
                return 0;
        text = json_dumps(ids, JSON_COMPACT);
        params[0] = text;
        r = escalator_pg_exec(
                es,
                "WITH u AS (UPDATE escalations SET published_at = now()"
                " WHERE escalation_id IN (SELECT value::uuid FROM"
                " json_array_elements_text($1::json))"
                " AND published_at IS NULL RETURNING 1)"
                " SELECT count(*) FROM u",
                1, params, &res, err, errlen);
        free(text);
        if (r == 0) {
                if (marked)
                        *marked += strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                PQclear(res);
        }
        return r;
}

static rd_kafka_t *es_reader_new(struct escalator *es, char *err, size_t errlen)
{
        rd_kafka_conf_t *kc = km_kafka_conf_new(es->conf, NULL, err, errlen);
        char errstr[512], group[300];
        rd_kafka_t *rk;

        if (kc == NULL)
                return NULL;
        snprintf(group, sizeof(group), "%s-reconcile", es->ec->name);
        if (rd_kafka_conf_set(kc, "group.id", group, errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                              sizeof(errstr))) {
                rd_kafka_conf_destroy(kc);
                km_err_set(err, errlen, KM_ECONFIG, "reader: %s", errstr);
                return NULL;
        }
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
        if (rk == NULL) {
                rd_kafka_conf_destroy(kc);
                km_err_set(err, errlen, KM_EFATAL, "reader: %s", errstr);
                return NULL;
        }
        rd_kafka_poll_set_consumer(rk);
        return rk;
}

int escalator_reconcile(struct escalator *es, char *err, size_t errlen)
{
        const char *topic = es->conf->topic_escalations;
        rd_kafka_t *rk = NULL;
        rd_kafka_topic_partition_list_t *parts = NULL;
        json_t *ids = json_array();
        int64_t deadline = km_now_ms() + 60000;
        int np, eofs = 0, r = 0;

        rk = es_reader_new(es, err, errlen);
        if (rk == NULL) {
                r = KM_EFATAL;
                goto cleanup;
        }
        np = km_kafka_partitions(rk, topic, 10000);
        if (np < 0) {
                r = km_err_set(err, errlen, KM_ERETRY, "metadata of %s", topic);
                goto cleanup;
        }
        parts = rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
                rd_kafka_topic_partition_list_add(parts, topic, p);
        r = km_pg_offsets_load(es->conn, es->ec->name, parts, err, errlen);
        km_obs_pg_error(es->m.reg, r);
        if (r)
                goto cleanup;
        rd_kafka_assign(rk, parts);
        while (eofs < np) {
                rd_kafka_message_t *rkm;

                if (km_now_ms() > deadline || km_sig_stop) {
                        r = km_err_set(err, errlen, KM_ERETRY,
                                       "reconcile: %s not read to its end",
                                       topic);
                        goto cleanup;
                }
                rkm = rd_kafka_consumer_poll(rk, 500);
                if (rkm == NULL)
                        continue;
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        parts->elems[rkm->partition].offset = rkm->offset;
                        eofs++;
                } else if (rkm->err) {
                        km_log_warn("reconcile: %s",
                                    rd_kafka_message_errstr(rkm));
                } else {
                        json_t *msg =
                                json_loadb(rkm->payload, rkm->len, 0, NULL);
                        json_t *id = json_object_get(msg, "escalation_id");

                        if (json_is_string(id))
                                json_array_append(ids, id);
                        json_decref(msg);
                        parts->elems[rkm->partition].offset = rkm->offset + 1;
                }
                rd_kafka_message_destroy(rkm);
        }
        r = km_pg_begin(es->conn, err, errlen);
        km_obs_pg_error(es->m.reg, r);
        if (r)
                goto cleanup;
        r = es_mark(es, ids, &es->reconciled, err, errlen); /* counted */
        for (int p = 0; r == 0 && p < np; p++)
                if (parts->elems[p].offset >= 0) {
                        r = km_pg_offset_store(es->conn, es->ec->name, topic, p,
                                               parts->elems[p].offset, err,
                                               errlen);
                        km_obs_pg_error(es->m.reg, r);
                }
        if (r == 0) {
                r = km_pg_commit(es->conn, err, errlen);
                km_obs_pg_error(es->m.reg, r);
        } else {
                km_pg_rollback(es->conn);
        }
        if (r == 0)
                km_log_info("reconciled %s: %zu message(s) read, %lld row(s) "
                            "found unmarked",
                            topic, json_array_size(ids),
                            (long long)es->reconciled);
cleanup:
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        json_decref(ids);
        return r;
}

static int es_abort(struct escalator *es, int r)
{
        rd_kafka_error_t *error;

        if (r == KM_EFATAL)
                return r;
        km_metric_add(es->m.aborts, 1);
        error = rd_kafka_abort_transaction(es->rk, 30000);
        if (error) {
                r = rd_kafka_error_is_fatal(error) ? KM_EFATAL : r;
                km_log_warn("abort_transaction: %s",
                            rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
        return r;
}

/* Publish one chunk of unpublished rows.  @returns the number published
 * (0: none left) or a negative KM_E*. */
static int es_publish_chunk(struct escalator *es, char *err, size_t errlen)
{
        PGresult *res = NULL;
        json_t *ids = NULL;
        char lim[16];
        const char *params[1] = {lim};
        int r, n;

        snprintf(lim, sizeof(lim), "%d", ES_CHUNK);
        r = escalator_pg_exec(
                es,
                "SELECT escalation_id, coalesce(org_id, ''), json_build_object("
                "'schema_version', 1, 'escalation_id', escalation_id, 'kind', kind,"
                " 'org_id', org_id, 'building_id', building_id, 'category',"
                " category, 'complaint_id', complaint_id, 'window_start',"
                " to_char(window_start AT TIME ZONE 'UTC',"
                " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'window_end',"
                " to_char(window_end AT TIME ZONE 'UTC',"
                " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'evidence', evidence,"
                " 'incident_id', incident_id, 'at',"
                " to_char(detected_at AT TIME ZONE 'UTC',"
                " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text"
                " FROM escalations WHERE published_at IS NULL"
                " ORDER BY detected_at, escalation_id LIMIT $1::int",
                1, params, &res, err, errlen);
        if (r)
                return r;
        n = PQntuples(res);
        if (n == 0) {
                PQclear(res);
                return 0;
        }
        r = km_kafka_txn_err(rd_kafka_begin_transaction(es->rk),
                             "begin_transaction", err, errlen);
        if (r) {
                PQclear(res);
                return r;
        }
        ids = json_array();
        for (int i = 0; i < n && r == 0; i++) {
                const char *key = PQgetvalue(res, i, 1);
                const char *msg = PQgetvalue(res, i, 2);

                r = km_kafka_produce(es->rk, es->conf->topic_escalations,
                                     RD_KAFKA_PARTITION_UA, *key ? key : NULL,
                                     msg, strlen(msg), &es->counts, 30000, err,
                                     errlen);
                json_array_append_new(ids, json_string(PQgetvalue(res, i, 0)));
        }
        PQclear(res);
        /* A commit that timed out is committed again, never aborted (the
         * abort would conflict with the commit in flight); one still in
         * flight after two minutes stops the escalator (KM_EFATAL) and the
         * next start reconciles. */
        if (r == 0)
                r = km_kafka_txn_commit(es->rk, 10000, 12, err, errlen);
        if (r) {
                r = es_abort(es, r == KM_EINPUT ? KM_ERETRY : r);
                json_decref(ids);
                return r;
        }
        escalator_metrics_published(es, n);
        /* Committed on the topic: mark the rows.  A failure here is
         * repaired by the next start's reconciliation. */
        r = es_mark(es, ids, NULL, err, errlen);
        json_decref(ids);
        if (r) /* publishing again would duplicate: stop, restart reconciles */
                return KM_EFATAL;
        es->published += n;
        return n;
}

int escalator_publish(struct escalator *es, char *err, size_t errlen)
{
        int n;

        while (!km_sig_stop) {
                n = es_publish_chunk(es, err, errlen);
                if (n <= 0)
                        return n;
                km_log_info("published %d escalation(s) on %s", n,
                            es->conf->topic_escalations);
                if (n < ES_CHUNK)
                        return 0;
        }
        return 0;
}
