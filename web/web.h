/*
 * web.h - komek-web: the organisations' staff inbox and the analysts'
 * dashboard in the browser (docs/web.md), and `komek-web users` to manage
 * their logins.
 *
 * One process, libmicrohttpd with a pool of worker threads; two small
 * PostgreSQL pools (staff: the normal role; dashboard: SET ROLE
 * komek_analyst); one publisher thread that sends the outbox rows of a
 * change right after its commit (km_outbox, as komek-inbox does).
 */
#ifndef WEB_H
#define WEB_H

#include <libpq-fe.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_dir.h"
#include "km_err.h"
#include "km_metrics.h"
#include "km_pgpool.h"

#define WEB_TOKEN_HEX 64 /* 32 random bytes as hex: session id, CSRF token */
#define WEB_LOGIN_MAX 64
#define WEB_PASSWORD_MIN 10
#define WEB_PASSWORD_MAX 256

struct web_conf {
        char *listen;
        int64_t port;
        char *port_file;
        int64_t max_connections;
        int64_t threads; /* HTTP worker threads */
        int64_t max_body_bytes;
        int64_t pg_pool;        /* staff connections */
        int64_t analyst_pool;   /* dashboard connections */
        char *analyst_role;     /* SET ROLE on dashboard connections */
        char *analyst_conninfo; /* NULL-able: pg.conninfo */
        int cookie_secure; /* Secure cookies (off only for http on loopback) */
        int64_t session_max_s;    /* absolute session lifetime */
        int64_t session_idle_s;   /* idle timeout */
        int64_t session_cache_ms; /* a validated session is trusted this long */
        int64_t sessions_per_user;     /* more: the oldest is ended */
        int64_t login_max_failures;    /* per (login, address), then delays */
        int64_t login_ip_max_failures; /* per address, then delays */
        int64_t login_window_s;        /* failures forgotten after this quiet */
        int64_t login_delay_s;         /* the first delay, doubling */
        int64_t login_delay_max_s;     /* the longest delay */
        int64_t login_lock_failures;   /* per login from anywhere: locked */
        int64_t login_lock_window_s;   /*   counted within this */
        int64_t login_lock_s;          /*   for this long */
        char *trusted_proxy;           /* NULL-able: the proxy's addresses */
        char *proxy_header;            /* its client-address header */
        int64_t pbkdf2_iterations;
        char *lang;               /* default UI language: ru or en */
        int64_t utc_offset_hours; /* staff pages' local time */
        int64_t page_size;        /* inbox rows per page */
        int64_t chart_weeks;
        int64_t rating_rows;  /* best and worst KSKs shown */
        int64_t cache_s;      /* dashboard figures cache */
        int64_t live_cache_s; /* "now" panel cache */
        int publish;          /* publish the outbox right after a change */
        char *metrics_address;
        int64_t metrics_port;
        /* users CLI */
        char *org;
        int analyst;
        int password_stdin;
};

struct web_pub;    /* web_pub.c */
struct web_scache; /* web_scache.c */
struct web_cache;  /* web_cache.c */

struct web {
        const struct km_conf *conf;
        const struct web_conf *wc;
        struct km_pgpool staff, analyst; /* km_pgpool.c */
        struct web_pub *pub;
        struct web_cache *cache;
        struct web_scache *scache;
        struct km_metrics *metrics;
        struct km_metric *m_logins[3]; /* ok, failed, locked */
        struct km_metric *m_changes;
        pthread_mutex_t dir_mu; /* the directory, loaded for rejects */
        struct km_dir *dir;
        pthread_mutex_t mu; /* counters */
        int64_t requests, errors;
};

/* A growing text buffer (pages, CSV). */
struct web_buf {
        char *p;
        size_t len, cap;
};

/* The logged-in user of a request. */
struct web_session {
        char id_hash[WEB_TOKEN_HEX + 1];
        char login[WEB_LOGIN_MAX + 1];
        char role[16]; /* staff, analyst */
        char org[64];
        char org_name[256];
        char csrf[WEB_TOKEN_HEX + 1];
};

/* One request being answered. */
struct web_ctx {
        struct web *w;
        struct MHD_Connection *mc;
        const char *method;
        const char *path;
        const char *body; /* url-encoded form, NUL-terminated ("" if none) */
        size_t blen;
        const char *lang; /* "ru" or "en" */
        char ip[64];
        int has_session;
        struct web_session s;
        /* the answer */
        unsigned status;
        struct web_buf out;
        const char *ctype;
        char location[512];
        char cookies[4][320];
        int ncookies;
        char disposition[128];
        char retry_after[24]; /* 429: Retry-After seconds ("" none) */
        int cacheable;        /* static: may be cached */
        const char *route;    /* metrics label */
};

/* Message ids of the UI strings (web_i18n.c). */
enum web_msg {
        M_TITLE,
        M_LOGIN,
        M_LOGIN_NAME,
        M_PASSWORD,
        M_LOGIN_BUTTON,
        M_LOGOUT,
        M_BAD_LOGIN,
        M_LOCKED,
        M_FORM_EXPIRED,
        M_INBOX,
        M_DASHBOARD,
        M_OPEN_TASKS,
        M_OVERDUE,
        M_DUE,
        M_CATEGORY,
        M_ADDRESS,
        M_STATUS,
        M_RECEIVED,
        M_DESCRIPTION,
        M_NO_TASKS,
        M_TASK,
        M_HISTORY,
        M_CONTACT,
        M_ACK,
        M_RESOLVE,
        M_REJECT,
        M_NOTE,
        M_REASON,
        M_CORRECT_CATEGORY,
        M_CORRECT_BUILDING,
        M_NONE,
        M_BACK,
        M_DONE_ACK,
        M_DONE_RESOLVE,
        M_DONE_REJECT,
        M_REFUSED,
        M_NOT_FOUND,
        M_FORBIDDEN,
        M_CSRF,
        M_UNAVAILABLE,
        M_TIMES_LOCAL,
        M_PAGE,
        M_NEXT,
        M_PREV,
        M_WEEK,
        M_THIS_WEEK,
        M_PREV_WEEK,
        M_CHANGE,
        M_SINCE_JAN,
        M_DISTRICT,
        M_ALL,
        M_FILTER,
        M_BY_CATEGORY,
        M_BY_DISTRICT,
        M_ESCALATIONS,
        M_RATING,
        M_UNRATED,
        M_NOW,
        M_OPEN,
        M_RESOLVED_WEEK,
        M_COMPLAINTS,
        M_CSV,
        M_KIND,
        M_ORG,
        M_BUILDING,
        M_WHEN,
        M_EVIDENCE,
        M_RANK,
        M_SCORE,
        M_PER100,
        M_RESOLVE_MEDIAN,
        M_SLA_RATE,
        M_REPEAT_RATE,
        M_VOTES,
        M_AVG_VOTE,
        M_UNRATED_REASON,
        M_NO_DATA,
        M_WEEKS_CHART,
        M_ROUTED_NOTE,
        M_RATING_MONTH,
        M_TOTAL,
        M_UNMATCHED,
        M_ATTEMPT,
        M_NO_ESCALATIONS,
        M_COMPONENTS,
        M_BEST,
        M_WORST,
        M_TOO_LARGE,
        M_METHOD,
        M_EMERGENCY,
        M_ROUTED_TO,
        M_SHOWN_OF,
        M_NAME,
        M_PHONE,
        M_EMAIL,
        M_NOTE_HINT,
        M_PARTIAL,
        M_RESIDENT,
        M_DISPUTED,
        M_UNDELIVERED,
        M_UNDELIVERED_HINT,
        M_CHANNEL,
        M_TARGET,
        M_TRIES,
        M_LAST_ERROR,
        M_HANDED_OVER,
        M_HANDED_OVER_HINT,
        M_HANDOVER_NOTE,
        M_BAD_FORM,
        M_COUNT
};

/* web.c */
extern const struct km_conf_key web_keys[];

/* web_http.c */
/* Listen (web.listen, .port, the limits) and write web.port_file.
 * @returns 0 and *d and *port, or KM_ECONFIG / KM_EFATAL with err. */
int web_http_start(struct web *w, struct MHD_Daemon **d, unsigned *port,
                   char *err, size_t errlen) KM_MUSTCHECK;
const char *web_arg(struct web_ctx *c, const char *name);
void web_redirect(struct web_ctx *c, const char *fmt, ...) KM_PRINTF(2, 3);
void web_cookie(struct web_ctx *c, const char *name, const char *value,
                int64_t max_age);
const char *web_cookie_name(const struct web *w, const char *base, char *buf,
                            size_t len);
/* 1 if list (comma-separated, NULL-able) holds addresses only */
int web_proxy_list_valid(const char *list) KM_MUSTCHECK;

/* web_buf.c */
void web_buf_printf(struct web_buf *b, const char *fmt, ...) KM_PRINTF(2, 3);
void web_buf_puts(struct web_buf *b, const char *s);
void web_buf_esc(struct web_buf *b, const char *s);
void web_buf_esc_n(struct web_buf *b, const char *s, size_t max_chars);
void web_buf_url(struct web_buf *b, const char *s);
void web_buf_csv(struct web_buf *b, const char *s);
void web_buf_free(struct web_buf *b);
/* 32 random bytes as hex into out.  @returns 0 or KM_EFATAL. */
int web_hex_token(char *out, size_t outlen) KM_MUSTCHECK;

/* web_i18n.c */
const char *web_t(const struct web_ctx *c, enum web_msg m);
const char *web_status_name(const struct web_ctx *c, const char *status);
const char *web_category_name(const struct web_ctx *c, const char *code);
const char *web_kind_name(const struct web_ctx *c, const char *kind);

/* web_page.c */
void web_page_begin(struct web_ctx *c, const char *title);
void web_page_end(struct web_ctx *c);
void web_page_error(struct web_ctx *c, unsigned status, enum web_msg m,
                    const char *detail);
void web_page_login(struct web_ctx *c, unsigned status, enum web_msg msg);
void web_csrf_field(struct web_ctx *c);
extern const char web_css[];

/* web_db.c */
/**
 * @brief km_pgpool_get_conn, and the connection has jit = off (see
 * web_db.c).  Give it back with km_pgpool_put_conn.
 * @returns the connection, or NULL with err (KM_ERETRY or KM_EFATAL).
 */
PGconn *web_pg_get(struct km_pgpool *p, char *err, size_t errlen) KM_MUSTCHECK;
int web_pg_prepared(PGconn *conn, const char *name, const char *sql,
                    int nparams, const char *const *params, PGresult **res,
                    char *err, size_t errlen) KM_MUSTCHECK;

/* web_auth.c */
/* @returns 0, KM_EINPUT (length) or KM_EFATAL (OpenSSL), with err. */
int web_password_hash(const char *pw, int64_t iterations, char *out,
                      size_t outlen, char *err, size_t errlen) KM_MUSTCHECK;
/* @returns 1 if pw matches stored (never for a malformed stored value) */
int web_password_verify(const char *pw, const char *stored) KM_MUSTCHECK;
void web_login_post(struct web_ctx *c);
void web_login_get(struct web_ctx *c);
void web_logout(struct web_ctx *c);
/* @returns 1 with c->s, 0 without a valid session, KM_ERETRY or
 * KM_EFATAL when the database cannot say (the caller answers 503). */
int web_session_load(struct web_ctx *c) KM_MUSTCHECK;
/* @returns 1 if the POST's csrf field is the session's token */
int web_csrf_ok(struct web_ctx *c) KM_MUSTCHECK;
void web_sessions_gc(struct web *w);

/* web_scache.c */
struct web_scache *web_scache_new(void);
void web_scache_destroy(struct web_scache *c);
/* @returns 1 and *s when a fresh entry for s->id_hash is there, else 0 */
int web_scache_get(struct web_scache *c, int64_t ttl_ms,
                   struct web_session *s) KM_MUSTCHECK;
void web_scache_put(struct web_scache *c, const struct web_session *s,
                    int64_t expires_s);
void web_scache_drop(struct web_scache *c, const char *id_hash);

/* web_users.c */
/* @returns 0 or KM_E* with err (KM_ECONFIG: usage, exit 2). */
int web_users_main(const struct km_conf *conf, const struct web_conf *wc,
                   char *err, size_t errlen) KM_MUSTCHECK;

/* web_inbox.c */
void web_inbox(struct web_ctx *c);
void web_task(struct web_ctx *c, const char *id);
void web_task_change(struct web_ctx *c, const char *id, const char *action);

/* web_pub.c */
/* @returns the publisher, or NULL with err. */
struct web_pub *web_pub_start(const struct km_conf *conf, char *err,
                              size_t errlen) KM_MUSTCHECK;
void web_pub_enqueue(struct web_pub *p, const char *complaint_id);
void web_pub_stop(struct web_pub *p);
struct km_task_change;
struct km_task_result;
/* @returns 0 or km_task_apply's (or the directory's) KM_E* with err. */
int web_pub_reject(struct web *w, PGconn *conn, const struct km_task_change *ch,
                   struct km_task_result *res, char *err,
                   size_t errlen) KM_MUSTCHECK;

/* web_cache.c */
struct web_cache *web_cache_new(struct web *w);
void web_cache_destroy(struct web_cache *c);
/* @returns a shared result (web_cache_release it), or NULL with err. */
PGresult *web_cache_query(struct web *w, const char *key, int ttl_s,
                          const char *sql, int nparams,
                          const char *const *params, char *err,
                          size_t errlen) KM_MUSTCHECK;
void web_cache_release(struct web *w, PGresult *res);

/* web_incident.c */
void web_inbox_incidents(struct web_ctx *c, PGconn *conn);
/* @returns 1 when path is an incident's (answered), 0 if not (404). */
int web_incident_route(struct web_ctx *c, const char *path,
                       int post) KM_MUSTCHECK;
void web_dash_incidents(struct web_ctx *c, const char *category);

/* web_dash.c: the dashboard's week and filters, and its queries */
enum web_dq {
        DQ_WEEK,
        DQ_DISTRICTS,
        DQ_CAT,
        DQ_DIST,
        DQ_SCAT,
        DQ_SDIST,
        DQ_ESC,
        DQ_RATING,
        DQ_LIVE,
        DQ_N
};
struct web_dash {
        int64_t monday;       /* days since 1970-01-01 */
        char week[16];        /* the Monday, YYYY-MM-DD */
        char label[16];       /* 2025-W29 */
        const char *district; /* NULL: all */
        const char *category; /* NULL: all */
        char weeks[8];        /* chart weeks */
        int64_t latest;       /* the latest day with data, -1: none */
        PGresult *res[DQ_N];
};
/* @returns 0, or KM_ERETRY when the database cannot say which week. */
int web_dash_init(struct web_ctx *c, struct web_dash *d) KM_MUSTCHECK;
/* @returns the query's result (kept in d, freed by web_dash_free), or
 * NULL (logged). */
PGresult *web_dash_q(struct web_ctx *c, struct web_dash *d,
                     enum web_dq q) KM_MUSTCHECK;
void web_dash_free(struct web_ctx *c, struct web_dash *d);
void web_dash_qs(const struct web_dash *d, struct web_buf *b, int64_t monday);
void web_dashboard(struct web_ctx *c);

/* web_csv.c */
void web_dashboard_csv(struct web_ctx *c, const char *table);

/* web_svg.c */
struct web_series {
        int nweeks;
        const char *const *weeks; /* labels, nweeks */
        int nkeys;
        const char *const *keys; /* legend labels, nkeys */
        const double *v;         /* nkeys x nweeks, v[k * nweeks + i] */
};
void web_svg_stacked(struct web_buf *b, const char *title,
                     const struct web_series *s);

#endif /* WEB_H */
