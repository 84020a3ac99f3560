/*
 * km_obs.h - the glue between km_metrics and a long-running program: a
 * registry only when metrics are on, serving with a port file (for
 * metrics_port = -1, tests), the komek_messages_total handles, PostgreSQL
 * error counts, and a periodic probe run from the program's main loop
 * that publishes consumer lag and the health of the broker and the
 * database for /healthz (km_metrics_health_set: the HTTP thread only
 * reads what the main loop saw).
 *
 * Everything accepts a NULL registry (metrics off: port 0) and then does
 * nothing, so the program never tests for it.  Nothing here prints or
 * exits (STYLE.md).
 */
#ifndef KM_OBS_H
#define KM_OBS_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "km_err.h"
#include "km_metrics.h"

#define KM_OBS_PERIOD_MS 3000         /* lag and health, from the loop */
#define KM_OBS_BROKER_TIMEOUT_MS 1000 /* metadata round trip of the probe */
#define KM_OBS_STALL_MS 10000         /* unacknowledged this long: unhealthy */

/*
 * The row after KM_METRICS_CONF_KEYS in a program's key table:
 * "<group>.metrics_port_file" (char *, default none): once serving, the
 * bound port is written there (write + rename), so a test can start a
 * program with metrics_port = -1 (any free port) and read which one.
 */
#define KM_OBS_PORT_FILE_KEY(group, type, field)                                         \
        {                                                                                \
                group ".metrics_port_file", KM_CT_STR, NULL, 0, 4096,                    \
                        offsetof(type, field), "metrics-port-file",                      \
                        "write the metrics port here once serving (for metrics_port -1)" \
        }

/**
 * @brief A registry for prog ("komek-router") when port is not 0, else
 * NULL: metrics off, every km_metric and km_obs call is then a NULL test.
 */
struct km_metrics *km_obs_new(const char *prog, int64_t port);

/**
 * @brief Start serving /metrics and /healthz (km_metrics_start) and write
 * the bound port to port_file.
 * @param m NULL-able: returns 0 at once
 * @param port_file NULL-able
 * @returns 0, KM_ECONFIG (bad address or port), KM_EFATAL (cannot bind,
 *          cannot write the port file).
 */
int km_obs_serve(struct km_metrics *m, const char *address, int64_t port,
                 const char *port_file, char *err, size_t errlen) KM_MUSTCHECK;

/**
 * @brief The komek_messages_total{topic,outcome[,reason]} series; reason
 * (NULL-able) is cut at its first ':' (missing_field:description ->
 * missing_field) so the label set stays bounded.
 * @returns the handle or NULL (m NULL, or labels refused).
 */
struct km_metric *km_obs_messages(struct km_metrics *m, const char *topic,
                                  const char *outcome, const char *reason);

/**
 * @brief The series of a consumer that commits batches:
 * komek_batch_seconds (first message to committed; help: its HELP text),
 * komek_batch_seconds{stage="commit"} (the commit itself) and
 * komek_last_commit_timestamp_seconds.  Each handle is NULL when @p m is
 * NULL or the series is refused.
 */
void km_obs_batch(struct km_metrics *m, const char *help,
                  struct km_metric **batch, struct km_metric **commit,
                  struct km_metric **last_commit);

/**
 * @brief A batch committed now: batch observes now - batch_start_ms,
 * commit now - commit_start_ms (both monotonic, km_now_ms), last_commit
 * the wall clock.  Every handle NULL-able.
 */
void km_obs_batch_committed(struct km_metric *batch, struct km_metric *commit,
                            struct km_metric *last_commit,
                            int64_t batch_start_ms, int64_t commit_start_ms);

/**
 * @brief komek_pg_errors_total{kind=<km_err_name(code)>} += 1 (cold path:
 * looked up by name).  code 0 does nothing.  @p m NULL-able.
 */
void km_obs_pg_error(struct km_metrics *m, int code);

/* When the probe runs next; zero it: the first km_obs_due is true. */
struct km_obs_probe {
        int64_t next_ms;
        /* km_obs_delivery: last acknowledgement (or idle), last failure */
        int64_t progress_ms, failed_ms, last_delivered, last_failed;
};

/**
 * @brief Whether the probe is due (every KM_OBS_PERIOD_MS, the first call
 * at once); advances it.  Always 0 when @p m is NULL.
 */
int km_obs_due(struct km_obs_probe *p, struct km_metrics *m);

/**
 * @brief "broker" health: one metadata round trip on rk (any handle of
 * the program), waiting at most KM_OBS_BROKER_TIMEOUT_MS (only an absent
 * broker makes it wait).  @p m, @p rk NULL-able.
 */
void km_obs_broker(struct km_metrics *m, rd_kafka_t *rk);

/**
 * @brief "delivery" health of a producer: unhealthy when for
 * KM_OBS_STALL_MS nothing was acknowledged (delivered, the program's
 * count, unchanged) while messages waited in rk's queue or expired
 * (failed, its count of failed deliveries, grew).
 * A broker answering metadata is not enough: with fewer in-sync replicas
 * than min.insync.replicas, or a partition without a leader (two of three
 * brokers down), the producers wait, and /healthz says so.  Call it when
 * km_obs_due said so.  @p m, @p rk NULL-able.
 */
void km_obs_delivery(struct km_obs_probe *p, struct km_metrics *m,
                     rd_kafka_t *rk, int64_t delivered, int64_t failed);

/**
 * @brief "database" health: SELECT 1 on conn, which must be idle (no
 * transaction open); a connection found broken is reset (PQreset) so the
 * next check and the program's next query can succeed.  @p m NULL-able;
 * @p conn NULL: reported as not connected.
 */
void km_obs_database(struct km_metrics *m, PGconn *conn);

/**
 * @brief The usual probe from a poll loop: when due, consumer lag of
 * consumer (NULL-able), broker health through rk (NULL-able) and database
 * health through conn (NULL-able: not checked; idle).
 * @returns 1 when it ran.
 */
int km_obs_tick(struct km_obs_probe *p, struct km_metrics *m, rd_kafka_t *rk,
                rd_kafka_t *consumer, PGconn *conn);

#endif /* KM_OBS_H */
