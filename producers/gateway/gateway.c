/*
 * gateway.c - komek-gateway: Open311 GeoReport v2 over HTTP.
 *
 *   GET  /discovery(.xml|.json)          the Open311 discovery document
 *   GET  /services(.xml|.json)           the service catalogue (categories)
 *   GET  /services/{code}(.xml|.json)    a service definition
 *   POST /requests(.xml|.json)           a complaint (form or JSON body)
 *   GET  /requests(.xml|.json)           requests, with the spec's filters
 *   GET  /requests/{id}(.xml|.json)      one request
 *   GET  /servicerequestupdates(.xml|.json)  state changes (FixMyStreet)
 *   POST /servicerequestupdates(.xml|.json)  the resident's comment,
 *                                        dispute or confirmation
 *
 * POST needs an api_key (komek-keys); it answers 201 only after the broker
 * acknowledged the complaint (503 when it cannot), and a resubmission with
 * the same external_id from the same source answers the same id without
 * publishing again.  One thread per connection (libmicrohttpd); one
 * producer shared by all, its delivery reports served by a poller thread;
 * the published complaints' rows written by the recorder threads
 * (gateway_record.c), a batch per commit.
 * SIGINT/SIGTERM: stop accepting, finish the requests in progress, flush,
 * exit 0.  Exit codes: 0 stopped cleanly, 1 runtime failure (cannot
 * listen, producer), 2 usage or configuration.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "km_log.h"
#include "km_main.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"

#define GATEWAY_OFF(f) offsetof(struct gateway_conf, f)

/* struct gateway_conf and the slow-client keys (gateway_http.c) */
struct gateway_conf_x {
        struct gateway_conf gc; /* first: GATEWAY_OFF holds for it */
        int64_t per_ip_connections;
        int64_t request_deadline_ms;
};
#define GATEWAY_XOFF(f) offsetof(struct gateway_conf_x, f)
extern int64_t gateway_http_per_ip_connections;
extern int64_t gateway_http_deadline_ms;

static const struct km_conf_key gateway_keys[] = {
        {"gateway.listen", KM_CT_STR, "127.0.0.1", 0, 64, GATEWAY_OFF(listen),
         "listen", "IPv4 address to listen on"},
        {"gateway.port", KM_CT_INT, "8311", 0, 65535, GATEWAY_OFF(port), "port",
         "TCP port (0: any free one, see port_file)"},
        {"gateway.port_file", KM_CT_STR, NULL, 0, 4096, GATEWAY_OFF(port_file),
         "port-file", "write the bound port here once listening"},
        {"gateway.max_body_bytes", KM_CT_INT, "65536", 1024, 16777216,
         GATEWAY_OFF(max_body_bytes), NULL, "larger POST bodies get 413"},
        {"gateway.ack_timeout_ms", KM_CT_INT, "10000", 1000, 300000,
         GATEWAY_OFF(ack_timeout_ms), "ack-timeout-ms",
         "wait this long for the broker, then 503"},
        {"gateway.max_connections", KM_CT_INT, "256", 1, 10000,
         GATEWAY_OFF(max_connections), NULL, "concurrent connections"},
        {"gateway.per_ip_connections", KM_CT_INT, "16", 1, 10000,
         GATEWAY_XOFF(per_ip_connections), NULL,
         "concurrent connections from one address (behind a proxy: all)"},
        {"gateway.request_deadline_ms", KM_CT_INT, "10000", 500, 600000,
         GATEWAY_XOFF(request_deadline_ms), NULL,
         "receive a request's headers and body within this, else close"},
        {"gateway.pg_pool", KM_CT_INT, "16", 1, 256, GATEWAY_OFF(pg_pool), NULL,
         "PostgreSQL connections"},
        {"gateway.max_results", KM_CT_INT, "1000", 1, 100000,
         GATEWAY_OFF(max_results), NULL,
         "most requests in one GET /requests (an explicit id list is "
         "answered whole)"},
        {"gateway.connection_memory_bytes", KM_CT_INT, "524288", 32768,
         16777216, GATEWAY_OFF(connection_memory), NULL,
         "memory per connection for the request line and headers (a GET of "
         "5,000 ids is 190 kB)"},
        {"gateway.lang", KM_CT_STR, "ru", 0, 2, GATEWAY_OFF(lang), NULL,
         "service names: ru or en"},
        {"gateway.public_services", KM_CT_STR, "", 0, 4096,
         GATEWAY_OFF(public_services), NULL,
         "service codes (comma-separated) whose descriptions and photos "
         "GET /requests shows without a read_private key (default none)"},
        {"gateway.client_id_attributes", KM_CT_STR, "fixmystreet_id", 0, 1024,
         GATEWAY_OFF(client_id_attributes), NULL,
         "attributes (comma-separated) that carry the client's own id of a "
         "request: attribute[X] is the external id when external_id is "
         "not sent; GET /services/{code} publishes them as server_set"},
        {"gateway.reopen_days", KM_CT_INT, "15", 0, 365,
         GATEWAY_OFF(reopen_days), NULL,
         "days after a resolution in which POST /servicerequestupdates may "
         "dispute it (status REOPEN)"},
        {"gateway.public_url", KM_CT_STR, "", 0, 256, GATEWAY_OFF(public_url),
         NULL,
         "the URL integrations reach this gateway at, for GET /discovery "
         "(default: http:// and the request's Host)"},
        {"gateway.contact", KM_CT_STR, "", 0, 256, GATEWAY_OFF(contact), NULL,
         "who to ask about this endpoint, for GET /discovery"},
        {"gateway.vote_salt", KM_CT_STR, NULL, 0, 1024, GATEWAY_OFF(vote_salt),
         NULL,
         "HMAC key for residents' ids in POST /votes (env KOMEK_VOTE_SALT; "
         "komek-vote's vote.salt, so one resident is one voter); without "
         "it POST /votes answers 404"},
        KM_METRICS_CONF_KEYS("gateway", struct gateway_conf, metrics_address,
                             metrics_port),
        KM_OBS_PORT_FILE_KEY("gateway", struct gateway_conf, metrics_port_file),
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

/* @returns 1 if the comma-separated list names a code that is no
 * category (gateway.public_services). */
static int gateway_public_unknown(const struct km_conf *conf, const char *list)
{
        char code[128];

        for (const char *p = list; p && *p;) {
                size_t n = strcspn(p, ",");

                if (n > 0) {
                        if (n >= sizeof(code))
                                return 1;
                        memcpy(code, p, n);
                        code[n] = '\0';
                        if (km_conf_category(conf, code) == NULL)
                                return 1;
                }
                p += n;
                if (*p == ',')
                        p++;
        }
        return 0;
}

static void gateway_usage(const struct km_conf *conf)
{
        fprintf(stdout, "usage: komek-gateway [options]\n"
                        "Open311 GeoReport v2 (XML and JSON) in front of the "
                        "complaints topic.\n");
        km_conf_usage(conf, stdout);
}

/* Serves delivery reports until told to stop. */
static void *gateway_poller(void *arg)
{
        struct gateway *gw = arg;

        while (gw->polling)
                rd_kafka_poll(gw->rk, 100);
        return NULL;
}

/* @returns 1 if kafka { } (or -X) sets one of the properties. */
static int gateway_kafka_given(const struct km_conf *conf, const char *a,
                               const char *b)
{
        for (size_t i = 0; i < conf->nkafka; i++)
                if (!strcmp(conf->kafka_keys[i], a) ||
                    (b && !strcmp(conf->kafka_keys[i], b)))
                        return 1;
        return 0;
}

/* The complaints' producer.  Each POST waits for its own message, so a
 * message is sent at once (linger 1 ms) and the POSTs that arrive while a
 * produce request is at the broker go together in the next one (one
 * request in flight): at 32 concurrent POSTs the broker sees a few
 * requests, not one per POST.  kafka { } overrides both. */
static rd_kafka_t *gateway_producer(struct gateway *gw, char *err,
                                    size_t errlen)
{
        rd_kafka_conf_t *kc =
                km_kafka_conf_new(gw->conf, &gw->counts, err, errlen);
        char tmo[32], errstr[512];
        rd_kafka_t *rk;
        int linger = gateway_kafka_given(gw->conf, "linger.ms",
                                         "queue.buffering.max.ms");
        int inflight = gateway_kafka_given(
                gw->conf, "max.in.flight.requests.per.connection",
                "max.in.flight");

        if (kc == NULL)
                return NULL;
        snprintf(tmo, sizeof(tmo), "%lld", (long long)gw->gc->ack_timeout_ms);
        /* our callback: it wakes the request waiting for this message */
        rd_kafka_conf_set_dr_msg_cb(kc, gateway_dr_cb);
        if (rd_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(kc, "message.timeout.ms", tmo, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            (!linger &&
             rd_kafka_conf_set(kc, "linger.ms", "1", errstr, sizeof(errstr)) !=
                     RD_KAFKA_CONF_OK) ||
            (!inflight &&
             rd_kafka_conf_set(kc, "max.in.flight.requests.per.connection", "1",
                               errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)) {
                rd_kafka_conf_destroy(kc);
                km_err_set(err, errlen, KM_ECONFIG, "kafka: %s", errstr);
                return NULL;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (rk == NULL) {
                rd_kafka_conf_destroy(kc);
                km_err_set(err, errlen, KM_EFATAL, "producer: %s", errstr);
        }
        return rk;
}

static int gateway_run(struct gateway *gw)
{
        struct MHD_Daemon *d = NULL;
        pthread_t poller;
        char err[512];
        unsigned port;
        int rc = 1, polling = 0;

        gateway_metrics_init(gw);
        gw->rk = gateway_producer(gw, err, sizeof(err));
        if (gw->rk == NULL) {
                km_log_error("%s", err);
                gateway_metrics_destroy(gw);
                return 1;
        }
        gw->outbox_rk = km_kafka_producer_new(
                gw->conf, NULL, &gw->outbox_counts, err, sizeof(err));
        if (gw->outbox_rk == NULL) {
                km_log_error("outbox producer: %s", err);
                rd_kafka_destroy(gw->rk);
                gw->rk = NULL;
                gateway_metrics_destroy(gw);
                return 1;
        }
        gw->polling = 1;
        if (pthread_create(&poller, NULL, gateway_poller, gw) != 0) {
                km_log_error("cannot start the poller thread");
                goto cleanup;
        }
        polling = 1;
        if (gateway_record_start(gw, err, sizeof(err))) {
                km_log_error("%s", err);
                goto cleanup;
        }
        if (gateway_http_start(gw, &d, &port, err, sizeof(err))) {
                km_log_error("%s", err);
                goto cleanup;
        }
        km_log_info("listening on http://%s:%u (topic %s)", gw->gc->listen,
                    port, gw->conf->topic_complaints);
        if ((rc = gateway_metrics_serve(gw, err, sizeof(err)))) {
                km_log_error("%s", err);
                rc = rc == KM_ECONFIG ? 2 : 1;
                goto cleanup;
        }
        rc = 1;
        while (!km_sig_stop && !gw->counts.fatal) {
                struct timespec ts = {0, 200 * 1000000L};

                /* the main thread waits for a signal and probes the broker
                 * and the database for /healthz every few seconds */
                gateway_metrics_probe(gw);
                nanosleep(&ts, NULL);
        }
        rc = gw->counts.fatal ? 1 : 0;
        if (gw->counts.fatal)
                km_log_error("producer: %s", gw->counts.fatal_reason);
cleanup:
        if (d)
                MHD_stop_daemon(d); /* waits for requests in progress */
        gateway_record_stop(gw);    /* their rows are written */
        if (km_kafka_flush(gw->rk, (int)gw->gc->ack_timeout_ms, err,
                           sizeof(err)))
                km_log_warn("flush: %s", err);
        if (polling) {
                gw->polling = 0;
                pthread_join(poller, NULL);
        }
        km_log_info("stopped: %lld requests, %lld created, %lld "
                    "resubmissions, %lld errors; %lld delivered, %lld failed",
                    (long long)gw->requests, (long long)gw->created,
                    (long long)gw->replayed, (long long)gw->errors,
                    (long long)gw->counts.delivered,
                    (long long)gw->counts.failed);
        rd_kafka_destroy(gw->rk);
        gw->rk = NULL;
        /* what it could not send stays in task_outbox: the task sink
         * relays it */
        if (km_kafka_flush(gw->outbox_rk, 5000, err, sizeof(err)))
                km_log_warn("outbox flush: %s", err);
        rd_kafka_destroy(gw->outbox_rk);
        gw->outbox_rk = NULL;
        gateway_metrics_destroy(gw); /* the request threads are gone */
        return rc;
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct gateway_conf_x gcx;
        struct gateway_conf *gcp = &gcx.gc;
        struct gateway gw;
        int rc;

        memset(&gcx, 0, sizeof(gcx));
        memset(&gw, 0, sizeof(gw));
        if (km_main_conf(&conf, "komek-gateway", gateway_keys, &gcx, argc, argv,
                         gateway_usage, 0, &rc))
                return rc;
        if ((strcmp(gcp->lang, "ru") && strcmp(gcp->lang, "en")) ||
            gateway_public_unknown(&conf, gcp->public_services) ||
            strspn(gcp->client_id_attributes,
                   "abcdefghijklmnopqrstuvwxyz0123456789_,") !=
                    strlen(gcp->client_id_attributes)) {
                fprintf(stderr, "komek-gateway: gateway.lang not ru/en or "
                                "gateway.public_services names an unknown "
                                "service, or gateway.client_id_attributes "
                                "is not a list of [a-z0-9_] names\n");
                km_conf_destroy(&conf);
                return 2;
        }
        if (getenv("KOMEK_VOTE_SALT") && *getenv("KOMEK_VOTE_SALT")) {
                free(gcp->vote_salt);
                gcp->vote_salt = km_xstrdup(getenv("KOMEK_VOTE_SALT"));
        }
        if (gcp->vote_salt && *gcp->vote_salt && strlen(gcp->vote_salt) < 16) {
                fprintf(stderr, "komek-gateway: gateway.vote_salt (or "
                                "KOMEK_VOTE_SALT) must be at least 16 "
                                "bytes\n");
                km_conf_destroy(&conf);
                return 2;
        }
        km_main_start(&conf, "komek-gateway", 0);
        gw.conf = &conf;
        gw.gc = gcp;
        gateway_http_per_ip_connections = gcx.per_ip_connections;
        gateway_http_deadline_ms = gcx.request_deadline_ms;
        km_pgpool_init(&gw.pool, "komek-gateway", conf.pg_conninfo, NULL,
                       (int)gcp->pg_pool);
        if (conf.pg_read_conninfo && *conf.pg_read_conninfo) /* a standby */
                km_pgpool_init(&gw.rpool, "komek-gateway",
                               km_pg_read_conninfo(&conf), NULL,
                               (int)gcp->pg_pool);
        pthread_mutex_init(&gw.lock, NULL);
        pthread_mutex_init(&gw.ack_lock, NULL);
        pthread_mutex_init(&gw.outbox_lock, NULL);
        pthread_condattr_init(&gw.mono);
        pthread_condattr_setclock(&gw.mono, CLOCK_MONOTONIC);
        rc = gateway_run(&gw);
        gateway_pool_destroy(&gw);
        pthread_condattr_destroy(&gw.mono);
        pthread_mutex_destroy(&gw.ack_lock);
        pthread_mutex_destroy(&gw.lock);
        pthread_mutex_destroy(&gw.outbox_lock);
        km_conf_destroy(&conf);
        return rc;
}
