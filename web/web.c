/*
 * web.c - komek-web: the KSK and lift-operator staff's inbox and the
 * analysts' dashboard in the browser (docs/web.md).
 *
 *   komek-web [--port 8380] [--set web.cookie_secure=false]   serve
 *   komek-web users add|list|disable|enable|passwd|unlock ...  logins
 *
 * A program of its own, not part of komek-gateway: the gateway is the
 * city integrations' API with API keys; this serves people, with
 * passwords, cookies and CSRF tokens: another security surface, another
 * process, another database role.
 *
 * A pool of web.threads HTTP threads (libmicrohttpd, epoll).  SIGINT/SIGTERM: stop
 * accepting, finish the requests in progress, publish what is queued,
 * exit 0.  Exit codes: 0 stopped cleanly (or a users command done), 1
 * runtime failure (cannot listen, database; users: refused), 2 usage or
 * configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_log.h"
#include "km_main.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"
#include "web.h"

#define WEB_OFF(f) offsetof(struct web_conf, f)

/* struct web_conf and the slow-client keys (web_http.c) */
struct web_conf_x {
        struct web_conf wc; /* first: WEB_OFF holds for it */
        int64_t per_ip_connections;
        int64_t request_deadline_ms;
};
#define WEB_XOFF(f) offsetof(struct web_conf_x, f)
extern int64_t web_http_per_ip_connections;
extern int64_t web_http_deadline_ms;

const struct km_conf_key web_keys[] = {
        {"web.listen", KM_CT_STR, "127.0.0.1", 0, 64, WEB_OFF(listen), "listen",
         "IPv4 address to listen on"},
        {"web.port", KM_CT_INT, "8380", 0, 65535, WEB_OFF(port), "port",
         "TCP port (0: any free one, see port_file)"},
        {"web.port_file", KM_CT_STR, NULL, 0, 4096, WEB_OFF(port_file),
         "port-file", "write the bound port here once listening"},
        {"web.max_connections", KM_CT_INT, "256", 1, 10000,
         WEB_OFF(max_connections), NULL, "concurrent connections"},
        {"web.per_ip_connections", KM_CT_INT, "16", 1, 10000,
         WEB_XOFF(per_ip_connections), NULL,
         "concurrent connections from one address (behind a proxy: all)"},
        {"web.request_deadline_ms", KM_CT_INT, "10000", 500, 600000,
         WEB_XOFF(request_deadline_ms), NULL,
         "receive a request's headers and body within this, else close"},
        {"web.threads", KM_CT_INT, "8", 1, 256, WEB_OFF(threads), NULL,
         "HTTP worker threads (each serves many connections)"},
        {"web.max_body_bytes", KM_CT_INT, "16384", 1024, 1048576,
         WEB_OFF(max_body_bytes), NULL, "larger form bodies get 413"},
        {"web.pg_pool", KM_CT_INT, "8", 1, 256, WEB_OFF(pg_pool), NULL,
         "PostgreSQL connections of the staff pages and sign-in"},
        {"web.analyst_pool", KM_CT_INT, "4", 1, 256, WEB_OFF(analyst_pool),
         NULL, "PostgreSQL connections of the dashboard"},
        {"web.analyst_role", KM_CT_STR, "komek_analyst", 0, 63,
         WEB_OFF(analyst_role), NULL,
         "role the dashboard's connections SET ROLE to (\"\": none)"},
        {"web.analyst_conninfo", KM_CT_STR, NULL, 0, 4096,
         WEB_OFF(analyst_conninfo), NULL,
         "libpq conninfo of the dashboard (default: pg.read_conninfo, a "
         "standby, else pg.conninfo)"},
        {"web.cookie_secure", KM_CT_BOOL, "true", 0, 0, WEB_OFF(cookie_secure),
         "cookie-secure",
         "Secure __Host- cookies and HSTS (false only for http on loopback)"},
        {"web.session_max_s", KM_CT_INT, "43200", 60, 2592000,
         WEB_OFF(session_max_s), NULL,
         "a session ends this long after sign-in"},
        {"web.session_idle_s", KM_CT_INT, "3600", 60, 2592000,
         WEB_OFF(session_idle_s), NULL, "or this long after its last request"},
        {"web.session_cache_ms", KM_CT_INT, "2000", 0, 60000,
         WEB_OFF(session_cache_ms), NULL,
         "a checked session is trusted this long (a session ended by "
         "another process lives on at most this long here)"},
        {"web.sessions_per_user", KM_CT_INT, "10", 1, 1000,
         WEB_OFF(sessions_per_user), NULL,
         "sessions of one login at once (a new sign-in ends the oldest)"},
        {"web.login_max_failures", KM_CT_INT, "5", 1, 1000,
         WEB_OFF(login_max_failures), NULL,
         "failed sign-ins of one login from one address before each "
         "further try waits (login_delay_s, doubling)"},
        {"web.login_ip_max_failures", KM_CT_INT, "50", 1, 100000,
         WEB_OFF(login_ip_max_failures), NULL,
         "failed sign-ins from one address, over all logins, before its "
         "tries wait the same way"},
        {"web.login_window_s", KM_CT_INT, "3600", 1, 604800,
         WEB_OFF(login_window_s), NULL,
         "a pair's or address's failures are forgotten this long after the "
         "last"},
        {"web.login_delay_s", KM_CT_INT, "1", 1, 86400, WEB_OFF(login_delay_s),
         NULL, "the first delay past the limit; each failure doubles it"},
        {"web.login_delay_max_s", KM_CT_INT, "900", 1, 86400,
         WEB_OFF(login_delay_max_s), NULL, "the longest delay"},
        {"web.login_lock_failures", KM_CT_INT, "100", 1, 1000000,
         WEB_OFF(login_lock_failures), NULL,
         "failed sign-ins of one login from any address that lock it "
         "(komek-web users unlock)"},
        {"web.login_lock_window_s", KM_CT_INT, "3600", 1, 604800,
         WEB_OFF(login_lock_window_s), NULL,
         "the login's failures count within this window"},
        {"web.login_lock_s", KM_CT_INT, "3600", 1, 604800,
         WEB_OFF(login_lock_s), NULL, "a login's lock lasts this long"},
        {"web.trusted_proxy", KM_CT_STR, NULL, 0, 1024, WEB_OFF(trusted_proxy),
         NULL,
         "addresses (comma-separated) of the reverse proxy whose "
         "proxy_header names the client; unset: the peer is the client"},
        {"web.proxy_header", KM_CT_STR, "X-Forwarded-For", 1, 64,
         WEB_OFF(proxy_header), NULL,
         "the trusted proxy's client-address header (its rightmost address "
         "is used)"},
        {"web.pbkdf2_iterations", KM_CT_INT, "200000", 200000, 10000000,
         WEB_OFF(pbkdf2_iterations), NULL,
         "PBKDF2-HMAC-SHA256 iterations of new password hashes"},
        {"web.lang", KM_CT_STR, "ru", 0, 2, WEB_OFF(lang), NULL,
         "default language: ru or en (?lang= and a cookie choose)"},
        {"web.utc_offset_hours", KM_CT_INT, "5", -12, 14,
         WEB_OFF(utc_offset_hours), NULL, "local time of the staff pages"},
        {"web.page_size", KM_CT_INT, "50", 5, 1000, WEB_OFF(page_size), NULL,
         "inbox rows per page"},
        {"web.chart_weeks", KM_CT_INT, "12", 2, 104, WEB_OFF(chart_weeks), NULL,
         "weeks in the dashboard's charts"},
        {"web.rating_rows", KM_CT_INT, "15", 1, 1000, WEB_OFF(rating_rows),
         NULL, "best and worst KSKs shown (the CSV has all)"},
        {"web.cache_s", KM_CT_INT, "60", 0, 86400, WEB_OFF(cache_s), NULL,
         "dashboard figures are at most this old"},
        {"web.live_cache_s", KM_CT_INT, "5", 0, 3600, WEB_OFF(live_cache_s),
         NULL, "the dashboard's \"now\" is at most this old"},
        {"web.publish", KM_CT_BOOL, "true", 0, 0, WEB_OFF(publish), NULL,
         "publish a change's task-events at once (else komek-tasksink relays)"},
        KM_METRICS_CONF_KEYS("web", struct web_conf, metrics_address,
                             metrics_port),
        {"web.org", KM_CT_STR, NULL, 0, 64, WEB_OFF(org), "org",
         "users add: the staff's organisation id"},
        {"web.analyst", KM_CT_BOOL, "false", 0, 0, WEB_OFF(analyst), "analyst",
         "users add: an analyst (dashboard) login"},
        {"web.password_stdin", KM_CT_BOOL, "false", 0, 0,
         WEB_OFF(password_stdin), "password-stdin",
         "users add/passwd: read the password from standard input"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void web_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-web [options]              serve the inbox and "
                "the dashboard\n"
                "       komek-web users add LOGIN --org ORG [--password-stdin]\n"
                "       komek-web users add LOGIN --analyst [--password-stdin]\n"
                "       komek-web users list\n"
                "       komek-web users disable|enable LOGIN\n"
                "       komek-web users passwd LOGIN [--password-stdin]\n"
                "       komek-web users unlock LOGIN\n"
                "Without --password-stdin a random password is printed once.\n"
                "exit: 0 ok, 1 failure or refused, 2 usage\n");
        km_conf_usage(conf, stdout);
}

static int web_run(struct web *w)
{
        const struct web_conf *wc = w->wc;
        struct MHD_Daemon *d = NULL;
        char err[512];
        unsigned port;
        int64_t gc_ms = 0;
        int rc = 1;

        if (wc->metrics_port &&
            km_metrics_start(w->metrics, wc->metrics_address,
                             (int)wc->metrics_port, NULL, NULL, err,
                             sizeof(err))) {
                km_log_error("metrics: %s", err);
                return 1;
        }
        if (wc->publish &&
            (w->pub = web_pub_start(w->conf, err, sizeof(err))) == NULL) {
                km_log_error("publisher: %s", err);
                return 1;
        }
        if (web_http_start(w, &d, &port, err, sizeof(err))) {
                km_log_error("%s", err);
                goto cleanup;
        }
        km_log_info("listening on http://%s:%u (cookies %s)", wc->listen, port,
                    wc->cookie_secure ? "Secure"
                                      : "NOT Secure: http only on "
                                        "loopback");
        while (!km_sig_stop) {
                struct timespec ts = {0, 200 * 1000000L};

                if (km_now_ms() - gc_ms > 60000) {
                        web_sessions_gc(w);
                        gc_ms = km_now_ms();
                }
                nanosleep(&ts, NULL); /* the main thread waits for a signal */
        }
        rc = 0;
cleanup:
        if (d)
                MHD_stop_daemon(d); /* waits for requests in progress */
        web_pub_stop(w->pub);
        w->pub = NULL;
        km_log_info("stopped: %lld requests, %lld failed (5xx)",
                    (long long)w->requests, (long long)w->errors);
        return rc;
}

static int web_serve(const struct km_conf *conf, const struct web_conf *wc)
{
        struct web w;
        int rc;

        memset(&w, 0, sizeof(w));
        w.conf = conf;
        w.wc = wc;
        pthread_mutex_init(&w.mu, NULL);
        pthread_mutex_init(&w.dir_mu, NULL);
        km_pgpool_init(&w.staff, "komek-web-staff", conf->pg_conninfo, NULL,
                       (int)wc->pg_pool);
        km_pgpool_init(&w.analyst, "komek-web-analyst",
                       wc->analyst_conninfo ? wc->analyst_conninfo
                                            : km_pg_read_conninfo(conf),
                       wc->analyst_role, (int)wc->analyst_pool);
        w.cache = web_cache_new(&w);
        w.scache = web_scache_new();
        w.metrics = wc->metrics_port ? km_metrics_new("komek-web") : NULL;
        w.m_logins[0] = km_metrics_counter(w.metrics, "komek_web_logins_total",
                                           "{outcome=\"ok\"}", "sign-ins");
        w.m_logins[1] = km_metrics_counter(w.metrics, "komek_web_logins_total",
                                           "{outcome=\"failed\"}", NULL);
        w.m_logins[2] = km_metrics_counter(w.metrics, "komek_web_logins_total",
                                           "{outcome=\"locked\"}", NULL);
        w.m_changes = km_metrics_counter(w.metrics, "komek_web_changes_total",
                                         NULL, "task changes made");
        rc = web_run(&w);
        km_metrics_destroy(w.metrics);
        web_cache_destroy(w.cache);
        web_scache_destroy(w.scache);
        km_pgpool_destroy(&w.analyst);
        km_pgpool_destroy(&w.staff);
        km_dir_destroy(w.dir);
        pthread_mutex_destroy(&w.dir_mu);
        pthread_mutex_destroy(&w.mu);
        return rc;
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct web_conf_x wcx;
        struct web_conf *wcp = &wcx.wc;
        char err[512];
        int users, rc;

        memset(&wcx, 0, sizeof(wcx));
        /* arguments: only "users ..." (checked below) */
        if (km_main_conf(&conf, "komek-web", web_keys, &wcx, argc, argv,
                         web_usage, KM_MAIN_ARGS, &rc))
                return rc;
        users = conf.nargs > 0 && strcmp(conf.args[0], "users") == 0;
        if ((conf.nargs && !users) ||
            (strcmp(wcp->lang, "ru") && strcmp(wcp->lang, "en")) ||
            !web_proxy_list_valid(wcp->trusted_proxy)) {
                fprintf(stderr, "komek-web: unexpected argument, "
                                "web.lang not ru/en or "
                                "web.trusted_proxy not a list of "
                                "addresses; see --help\n");
                km_conf_destroy(&conf);
                return 2;
        }
        /* users: a CLI, quiet unless asked */
        km_main_start(&conf, "komek-web", users ? KM_MAIN_QUIET : 0);
        if (users) {
                rc = web_users_main(&conf, wcp, err, sizeof(err));
                if (rc)
                        fprintf(stderr, "komek-web: %s%s\n",
                                rc == KM_EINPUT ? "refused: " : "", err);
                rc = rc == 0 ? 0 : rc == KM_ECONFIG ? 2 : 1;
        } else {
                web_http_per_ip_connections = wcx.per_ip_connections;
                web_http_deadline_ms = wcx.request_deadline_ms;
                rc = web_serve(&conf, wcp);
        }
        km_conf_destroy(&conf);
        return rc;
}
