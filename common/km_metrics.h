/*
 * km_metrics.h - Prometheus text metrics and a health check, served by
 * libmicrohttpd on a configurable address and port (/metrics, /healthz).
 *
 * A program makes one registry (km_metrics_new), gets handles for its
 * series once at start (km_metrics_counter/gauge/histogram) and updates
 * them on the hot path with one relaxed atomic operation each
 * (km_metric_add/set/observe).  Registration takes a mutex; the HTTP
 * server answers from its own thread and renders under the same mutex,
 * reading the values atomically.  Series are never removed before
 * km_metrics_destroy, so a handle stays valid for the registry's life.
 *
 * Everything is NULL-safe: a NULL registry (metrics disabled) hands out
 * NULL handles and updating a NULL handle does nothing, so a program can
 * run with metrics off without an `if` at every call site.
 *
 * Labels are given in exposition syntax, braces included, exactly as they
 * will be printed: `{topic="complaints",outcome="dlq"}` (NULL or "" for
 * none).  Build them from values with km_metrics_labels, which escapes.
 * Malformed names or labels, a name reused with another type, or more
 * than KM_METRICS_MAX_SERIES series in one family give a NULL handle and
 * count in komek_metrics_rejected_total (never a crash, never unbounded
 * memory: never put a complaint id or free text in a label).
 *
 * Nothing here prints or exits (STYLE.md).
 */
#ifndef KM_METRICS_H
#define KM_METRICS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"

/* Metric names every komek program uses for the same thing (docs/operations.md). */
#define KM_METRIC_MESSAGES                                                     \
        "komek_messages_total" /* counter {topic,outcome[,reason]} */
#define KM_METRIC_BATCH_SECONDS "komek_batch_seconds" /* histogram */
#define KM_METRIC_CONSUMER_LAG                                                 \
        "komek_consumer_lag" /* gauge {topic,partition} */
#define KM_METRIC_TXN_ABORTS "komek_transaction_aborts_total" /* counter */
#define KM_METRIC_PG_ERRORS "komek_pg_errors_total" /* counter {kind} */
#define KM_METRIC_LAST_COMMIT "komek_last_commit_timestamp_seconds" /* gauge */

#define KM_METRICS_MAX_SERIES 1000 /* per family */
#define KM_METRICS_PORT_ANY                                                    \
        (-1) /* km_metrics_start: an ephemeral port (tests) */

/* Latency buckets in seconds, 1 ms .. 30 s (KM_METRICS_LATENCY_N bounds). */
#define KM_METRICS_LATENCY_N 14
extern const double km_metrics_latency_buckets[KM_METRICS_LATENCY_N];

struct km_metrics;
struct km_metric; /* one series: a counter, gauge or histogram */

/*
 * Health callback, called from the HTTP thread on each /healthz: returns 0
 * when healthy, else non-zero with one line in why ("database: connection
 * refused").  It must be thread-safe: read flags the main loop keeps, do
 * not touch a PGconn the main loop uses.
 */
typedef int(km_metrics_health_cb)(void *opaque, char *why, size_t whylen);

/**
 * @brief A new registry for program prog ("komek-router"); it holds one
 * series komek_info{program="<prog>"} 1.
 */
struct km_metrics *km_metrics_new(const char *prog);

/**
 * @brief Start serving /metrics and /healthz on address:port.
 * @param address "127.0.0.1", "::1" or another literal IP (no host names)
 * @param port 0: disabled (returns 0, serves nothing); KM_METRICS_PORT_ANY:
 *        an ephemeral port, see km_metrics_port
 * @param health_cb NULL-able: then only km_metrics_health_set parts count
 * @param opaque NULL-able, handed to health_cb
 * @returns 0, KM_ECONFIG (bad address or port), KM_EFATAL (cannot bind).
 */
int km_metrics_start(struct km_metrics *m, const char *address, int port,
                     km_metrics_health_cb *health_cb, void *opaque, char *err,
                     size_t errlen) KM_MUSTCHECK;

/** @brief The port being served, 0 if not serving. @p m NULL-able. */
int km_metrics_port(const struct km_metrics *m);

/** @brief Stop the server and free everything.  @p m NULL-able. */
void km_metrics_destroy(struct km_metrics *m);

/**
 * @brief Record the state of one part ("broker", "database") for /healthz:
 * ok non-zero, or why (NULL-able) says what fails.  Thread-safe; a part
 * never set does not count.  @p m NULL-able.
 */
void km_metrics_health_set(struct km_metrics *m, const char *part, int ok,
                           const char *why);

/**
 * @brief The handle of a counter, gauge or histogram series, registering
 * it on first use.  @p labels NULL-able, @p help NULL-able (first
 * registration of the family wins).  A histogram family keeps the bounds
 * of its first registration: strictly increasing, finite, at most 64.
 * @returns the handle, or NULL (m NULL or rejected, see above).
 */
struct km_metric *km_metrics_counter(struct km_metrics *m, const char *name,
                                     const char *labels, const char *help);
struct km_metric *km_metrics_gauge(struct km_metrics *m, const char *name,
                                   const char *labels, const char *help);
struct km_metric *km_metrics_histogram(struct km_metrics *m, const char *name,
                                       const char *labels, const char *help,
                                       const double *bounds, int nbounds);

/** @brief Counter += v (v >= 0; a negative v is ignored).  @p c NULL-able. */
void km_metric_add(struct km_metric *c, int64_t v);
/** @brief Gauge = v.  @p g NULL-able. */
void km_metric_set(struct km_metric *g, double v);
/** @brief Gauge += v (may be negative).  @p g NULL-able. */
void km_metric_gauge_add(struct km_metric *g, double v);
/** @brief Histogram: count v in its bucket.  @p h NULL-able. */
void km_metric_observe(struct km_metric *h, double v);
/** @brief Current value of a counter or gauge (tests).  @p x NULL-able: 0. */
double km_metric_value(const struct km_metric *x);

/**
 * @brief Convenience for cold paths: look the counter up (mutex, hash) and
 * add v.  On hot paths keep the handle from km_metrics_counter instead.
 */
void km_metrics_counter_add(struct km_metrics *m, const char *name,
                            const char *labels, int64_t v);

/**
 * @brief Build a label set from NULL-terminated name, value pairs:
 * km_metrics_labels(buf, len, "topic", t, "outcome", "dlq", NULL) ->
 * {topic="...",outcome="dlq"}, escaping \, " and newline in values.
 * @returns buf, or NULL (buf holds "") when it is too small or a name is
 * not a valid label name; km_metrics_counter(m, name, NULL-labels...) would
 * then register the unlabelled series, so check the result.
 */
char *km_metrics_labels(char *buf, size_t len, ...) __attribute__((sentinel));

/**
 * @brief Render the exposition text (what /metrics serves).
 * @returns a malloc'd NUL-terminated string the caller frees.
 */
char *km_metrics_render(struct km_metrics *m);

/**
 * @brief Consumer lag: one gauge komek_consumer_lag{topic,partition} for
 * each partition assigned to consumer rk, lag = cached high watermark -
 * position (no broker round trip; call it once per poll loop or every few
 * seconds); partitions no longer assigned are dropped from /metrics.
 * @returns 0 or KM_ERETRY when the assignment cannot be read.
 */
int km_metrics_kafka_lag(struct km_metrics *m, rd_kafka_t *rk, char *err,
                         size_t errlen);

/*
 * Two rows for a program's km_conf_key table: "<group>.metrics_address"
 * (default 127.0.0.1) and "<group>.metrics_port" (default 0 = off; -1 =
 * KM_METRICS_PORT_ANY, with a port file: km_obs.h).
 *   KM_METRICS_CONF_KEYS("router", struct router_conf, metrics_address,
 *                        metrics_port),
 * metrics_address is a char *, metrics_port an int64_t.
 */
#define KM_METRICS_CONF_KEYS(group, type, addr_field, port_field)                          \
        {group ".metrics_address",                                                         \
         KM_CT_STR,                                                                        \
         "127.0.0.1",                                                                      \
         0,                                                                                \
         64,                                                                               \
         offsetof(type, addr_field),                                                       \
         "metrics-address",                                                                \
         "address of the /metrics and /healthz server (loopback)"},                        \
        {                                                                                  \
                group ".metrics_port", KM_CT_INT, "0", -1, 65535,                          \
                        offsetof(type, port_field), "metrics-port",                        \
                        "port of the /metrics and /healthz server; 0 = off, -1 = any free" \
        }

#endif /* KM_METRICS_H */
