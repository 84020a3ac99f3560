/*
 * gateway.h - komek-gateway: Open311 GeoReport v2 over HTTP
 * (libmicrohttpd, one thread per connection).
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"
#include "km_http.h"
#include "km_kafka.h"
#include "km_metrics.h"
#include "km_obs.h"
#include "km_pgpool.h"

struct gateway_conf {
        char *listen;    /* IPv4 address to bind */
        int64_t port;    /* 0: any free port (see port_file) */
        char *port_file; /* written with the bound port; NULL-able */
        int64_t max_body_bytes;
        int64_t ack_timeout_ms; /* broker acknowledgement, else 503 */
        int64_t max_connections;
        int64_t pg_pool;
        int64_t max_results;       /* GET /requests */
        int64_t connection_memory; /* libmicrohttpd's pool per connection */
        char *lang;                /* service names: ru or en */
        char *public_services; /* NULL-able: codes whose descriptions are public */
        char *client_id_attributes; /* attribute[X] that is the external id */
        int64_t reopen_days;        /* a resolution may be disputed this long */
        char *public_url;           /* NULL-able: discovery's url (else Host) */
        char *contact;              /* NULL-able: discovery's contact line */
        char *vote_salt;            /* NULL-able: POST /votes off without it */
        char *metrics_address;      /* /metrics and /healthz */
        int64_t metrics_port;       /* 0: off, -1: any free port */
        char *metrics_port_file; /* NULL-able: the bound port is written here */
};

/* Routes as metric labels: a bounded set, never the path itself. */
enum gateway_route {
        GATEWAY_R_SERVICES,
        GATEWAY_R_SERVICE,
        GATEWAY_R_REQUESTS,
        GATEWAY_R_REQUEST,
        GATEWAY_R_OTHER,
        GATEWAY_NROUTES
};

/* Metrics (docs/operations.md); reg NULL: off. */
struct gateway_metrics {
        struct km_metrics *reg;
        struct km_metric *latency[GATEWAY_NROUTES];
        struct km_metric *out, *duplicate, *last_commit;
        struct km_obs_probe probe;
        PGconn *probe_conn; /* the main thread's, for the database check */
};

/* What one POST waits for: the delivery report of its complaint.  Shared
 * by the request thread and the delivery callback; the last to let go
 * frees it.  Every field under gw->ack_lock; the callback wakes only this
 * request (its own condition), not every request waiting. */
struct gateway_ack {
        pthread_cond_t cond; /* CLOCK_MONOTONIC (gw->mono) */
        int done;
        rd_kafka_resp_err_t err;
        int refs;
};

/* The recorder of published complaints' rows (gateway_record.c): the
 * POSTs waiting for their row's commit, in order, under lock. */
struct gateway_rec;
#define GATEWAY_RECORDERS 2 /* one writes while the other's batch fills */
struct gateway_recorder {
        pthread_mutex_t lock;
        pthread_cond_t cond; /* rows for a recorder, or stop */
        struct gateway_rec *head, **tail;
        int stop, running;
        pthread_t thread[GATEWAY_RECORDERS];
};

struct gateway_bucket {
        int64_t key_id;
        double tokens;
        int64_t at_ms;
};

struct gateway {
        struct km_kafka_counts counts; /* first: the producer's opaque */
        const struct km_conf *conf;
        const struct gateway_conf *gc;
        rd_kafka_t *rk;
        pthread_mutex_t lock;     /* buckets, request counts */
        pthread_mutex_t ack_lock; /* acks and counts.delivered/failed */
        pthread_condattr_t mono;  /* conditions on CLOCK_MONOTONIC */
        struct km_pgpool pool;
        struct km_pgpool rpool; /* pg.read_conninfo's; zeroed: none */
        struct gateway_bucket *buckets;
        size_t nbuckets;
        int64_t requests, created, replayed, errors;
        volatile int polling; /* the poller thread runs while set */
        /* the outbox rows of a resident's update (km_outbox_publish): a
         * producer of its own, so its counts are its messages only; one
         * publisher at a time (outbox_lock) */
        rd_kafka_t *outbox_rk;
        struct km_kafka_counts outbox_counts;
        pthread_mutex_t outbox_lock;
        struct gateway_metrics m;
        struct gateway_recorder rec;
};

/* An HTTP answer before rendering. */
struct gateway_reply {
        unsigned status;
        json_t *body;     /* array of objects (or one object) */
        const char *root; /* XML element names: services / service */
        const char *item;
        int retry_after; /* seconds, 0: none */
};

/* gateway_http.c */
/* Listen (gateway.listen, .port, the limits) and write gateway.port_file.
 * @returns 0 and *d and *port, or KM_ECONFIG / KM_EFATAL with err. */
int gateway_http_start(struct gateway *gw, struct MHD_Daemon **d,
                       unsigned *port, char *err, size_t errlen) KM_MUSTCHECK;
void gateway_error(struct gateway_reply *rep, unsigned status, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

/* gateway_out.c */
char *gateway_render_json(const json_t *body);
char *gateway_render_xml(const json_t *body, const char *root,
                         const char *item);

/* SQL: a timestamp column as RFC 3339 UTC */
#define GW_TS(col)                                                             \
        "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* What an update says: the staff's note for a read_private key (priv),
 * else only that it was accepted (ack) or re-routed (rer). */
#define GW_UPDATE_DESC(priv, ack, rer)                                         \
        "CASE WHEN " priv "::boolean AND event = 'rejected' THEN " rer         \
        "::text || coalesce(': ' || note, '') WHEN " priv "::boolean THEN "    \
        "coalesce(note, CASE WHEN event = 'acknowledged' THEN " ack            \
        "::text END) WHEN event = 'acknowledged' THEN " ack "::text WHEN "     \
        "event = 'rejected' THEN " rer "::text END"

/* Who posts: the API key's row (api_keys). */
struct gateway_caller {
        int64_t key_id;
        int64_t rate; /* requests per minute */
        char source[80];
        char channel[24]; /* api_keys.channel, "" when none */
};

/* gateway_post.c */
/* The prologue of every POST (requests and updates): the fields, the
 * api_key (the field, else query_key), check (NULL-able: the body's own
 * rules, before any database work), the key (403 when unknown or revoked,
 * 503 when the database is away) and its rate limit (429).  @returns the
 * fields (json_decref them) with *who filled, or NULL with rep set.
 * check @returns 0, or KM_EINPUT with rep set. */
json_t *gateway_post_admit(struct gateway *gw, const char *ctype,
                           const char *body, size_t len, const char *query_key,
                           int (*check)(json_t *f, struct gateway_reply *rep),
                           struct gateway_caller *who,
                           struct gateway_reply *rep) KM_MUSTCHECK;
/* A form or JSON body as an object of field -> string (a repeated
 * media_url: an array).  @returns it, or NULL with rep set (400/415). */
json_t *gateway_fields(const char *ctype, const char *body, size_t len,
                       struct gateway_reply *rep) KM_MUSTCHECK;
/* The field's non-empty string value or NULL. */
const char *gateway_str(json_t *f, const char *k);
void gateway_post(struct gateway *gw, const char *ctype, const char *body,
                  size_t len, const char *query_key, struct gateway_reply *rep);
/* Produce payload (copied) to topic and wait for the broker's
 * acknowledgement (gateway.ack_timeout_ms).  @returns 0 or KM_ERETRY
 * with err. */
int gateway_produce_wait(struct gateway *gw, const char *topic, const char *key,
                         const char *payload, char *err,
                         size_t errlen) KM_MUSTCHECK;
void gateway_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);

/* gateway_record.c */
/* gateway_requests' columns a POST gives (gateway_record's p[]): id,
 * source, external_id, api_key_id, service_code, description, address,
 * building_id, lat, long, media_url, requested_at. */
#define GATEWAY_REC_NPARAMS 12
/* Start the recorder thread.  @returns 0 or KM_EFATAL with err. */
int gateway_record_start(struct gateway *gw, char *err,
                         size_t errlen) KM_MUSTCHECK;
/* Write what is queued, then stop it (after the HTTP daemon stopped). */
void gateway_record_stop(struct gateway *gw);
/* The row p[GATEWAY_REC_NPARAMS] of a published complaint, published_at
 * now, committed (with the rows of the POSTs acknowledged meanwhile) when
 * it returns.  @returns 0 or the database's KM_E* with err. */
int gateway_record(struct gateway *gw, const char *const *p, char *err,
                   size_t errlen) KM_MUSTCHECK;

/* gateway_update.c */
/* "IN_PROGRESS" ... for a task event (FixMyStreet's extended statuses) */
const char *gateway_update_status(const char *event);
void gateway_update_post(struct gateway *gw, const char *ctype,
                         const char *body, size_t len, const char *query_key,
                         struct gateway_reply *rep);
void gateway_updates(struct gateway *gw, const char *const *q,
                     const char *api_key, struct gateway_reply *rep);

/* gateway_vote.c */
void gateway_vote_post(struct gateway *gw, const char *ctype, const char *body,
                       size_t len, const char *query_key,
                       struct gateway_reply *rep);

/* gateway_discovery.c */
/* host NULL-able: the request's Host header */
void gateway_discovery(struct gateway *gw, const char *host,
                       struct gateway_reply *rep);

/* gateway_get.c */
void gateway_services(struct gateway *gw, struct gateway_reply *rep);
void gateway_service(struct gateway *gw, const char *code,
                     struct gateway_reply *rep);
/* api_key NULL-able: none (the public view, docs/intake.md) */
void gateway_requests(struct gateway *gw, const char *const *q,
                      const char *api_key, struct gateway_reply *rep);
/* ext: extensions=true (each request's notes) */
void gateway_request(struct gateway *gw, const char *id, const char *api_key,
                     int ext, struct gateway_reply *rep);

/* The key of a GET (key NULL-able: the public view).  @returns 0 with
 * *priv (the read_private scope), or with rep set KM_EINPUT (403 unknown
 * or revoked key, 429 over its rate) or the database's error (503). */
int gateway_get_key(struct gateway *gw, struct km_pgslot *slot, const char *key,
                    int *priv, struct gateway_reply *rep) KM_MUSTCHECK;
/* o[k] = the value at (row, col), or null. */
void gateway_set_opt(json_t *o, const char *k, PGresult *res, int row, int col);
/* What an acknowledgement and a re-route say, in gateway.lang. */
const char *gateway_note_ack(const struct gateway *gw);
const char *gateway_note_reroute(const struct gateway *gw);

/* gateway_metrics.c */
void gateway_metrics_init(struct gateway *gw);
/* @returns 0 or km_obs_serve's KM_ECONFIG / KM_EFATAL with err. */
int gateway_metrics_serve(struct gateway *gw, char *err,
                          size_t errlen) KM_MUSTCHECK;
void gateway_metrics_probe(struct gateway *gw);
int64_t gateway_metrics_now_us(void);
void gateway_metrics_request(struct gateway *gw, const char *path,
                             const char *method, unsigned status,
                             int64_t t0_us);
void gateway_metrics_destroy(struct gateway *gw);

/* gateway_db.c */
/* A connection for GET /requests and the updates feed: pg.read_conninfo
 * (a standby) when set, else what gateway_pg_get gives. */
struct km_pgslot *gateway_pg_get_read(struct gateway *gw, char *err,
                                      size_t errlen) KM_MUSTCHECK;
/* A connection of pg.conninfo's pool (km_pgpool_get): NULL with err. */
struct km_pgslot *gateway_pg_get(struct gateway *gw, char *err,
                                 size_t errlen) KM_MUSTCHECK;
int gateway_pg_has_tasks(struct km_pgslot *slot);
/* The key's row from the cache, else from the database (a pool connection
 * taken only then).  @returns 0, KM_EINPUT for an unknown or revoked key,
 * or the database's error (KM_ERETRY...). */
int gateway_key_admit(struct gateway *gw, const char *key,
                      struct gateway_caller *who, char *err,
                      size_t errlen) KM_MUSTCHECK;
/* The key's id, source, channel (api_keys.channel, migration 094) and rate
 * limit: the cache, else a query on conn. */
int gateway_key_lookup(PGconn *conn, const char *key, int64_t *id, char *source,
                       size_t slen, char *channel, size_t clen, int64_t *rate,
                       char *err, size_t errlen) KM_MUSTCHECK;
/* The key's id, rate limit and whether it has scope, from the database.
 * @returns 0, KM_EINPUT for an unknown or revoked key, or the database's
 * error. */
int gateway_key_read(PGconn *conn, const char *key, const char *scope,
                     int64_t *id, int64_t *rate, int *has_scope, char *err,
                     size_t errlen) KM_MUSTCHECK;
/* @returns 1 and one token taken, or 0: over the key's rate. */
int gateway_rate_take(struct gateway *gw, int64_t key_id, int64_t per_min);
void gateway_pool_destroy(struct gateway *gw);

#endif /* GATEWAY_H */
