/*
 * km_metrics_int.h - internals shared by km_metrics.c (registry and
 * exposition), km_metrics_http.c (the server and /healthz) and
 * km_metrics_lag.c (consumer lag).  Not for programs: use km_metrics.h.
 *
 * Families and series are appended under m->mu and freed only by
 * km_metrics_destroy, so a handle is usable without the lock; values are
 * C11 atomics.
 */
#ifndef KM_METRICS_INT_H
#define KM_METRICS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "km_err.h"
#include "km_metrics.h"

#define KM_METRICS_HASH 256
#define KM_METRICS_MAX_BOUNDS 64
#define KM_METRICS_MAX_LABELS 16

struct MHD_Daemon;

enum km_mtype { KM_MT_COUNTER, KM_MT_GAUGE, KM_MT_HISTOGRAM };

struct km_family {
        char *name, *help;
        enum km_mtype type;
        double *bounds;
        int nbounds, nseries;
        struct km_metric *first, *last;
        struct km_family *next;
};

struct km_metric {
        struct km_family *fam;
        char *labels; /* between the braces, "" for none */
        struct km_metric *next, *hnext;
        unsigned hash;
        atomic_llong count;     /* counter */
        _Atomic double value;   /* gauge */
        atomic_int present;     /* gauge: 0 = dropped from the exposition */
        atomic_ullong *buckets; /* histogram: nbounds + 1, not cumulative */
        _Atomic double sum;
};

struct km_health {
        char *part;
        int ok;
        char why[200];
        struct km_health *next;
};

struct km_metrics {
        pthread_mutex_t mu;
        char *prog;
        struct km_family *families, *flast;
        struct km_metric *hash[KM_METRICS_HASH];
        struct km_metric *rejected;
        struct km_health *health;
        struct MHD_Daemon *daemon;
        int port;
        km_metrics_health_cb *health_cb;
        void *health_opaque;
};

/* A growable NUL-terminated text (p NULL until the first printf). */
struct km_mbuf {
        char *p;
        size_t len, cap;
};

/* km_metrics.c */
void km_mbuf_printf(struct km_mbuf *b, const char *fmt, ...) KM_PRINTF(2, 3);
/** @brief The family called name or NULL; the caller holds m->mu. */
struct km_family *km_metrics_family(struct km_metrics *m, const char *name);

/* km_metrics_http.c */
/** @brief Stop the server if it runs (joins its thread). */
void km_metrics_http_stop(struct km_metrics *m);

#endif /* KM_METRICS_INT_H */
