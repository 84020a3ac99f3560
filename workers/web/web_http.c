/*
 * web_http.c - libmicrohttpd glue: read the form body (bounded), find the
 * session, route, send the page with the security headers, log one line.
 *
 *   GET  /                         -> /inbox, /dashboard or /login
 *   GET  /login, POST /login       sign in
 *   POST /logout                   sign out
 *   GET  /inbox                    staff: their organisation's open tasks
 *   GET  /tasks/{id}               staff: one task with its history
 *   POST /tasks/{id}/ack|resolve|reject   staff: a change (km_task_apply)
 *   GET  /incidents/{id}           staff: one incident with its tasks
 *   POST /incidents/{id}/resolve   staff: resolve each of its open tasks
 *   GET  /dashboard                analysts: the week
 *   GET  /dashboard/{table}.csv    analysts: a table of the dashboard
 *   GET  /static/web.css           the stylesheet
 *
 * Threads: a pool of web.threads (see web_http_start).
 *
 * SECURITY: the URL, query, cookies and body are untrusted.  Bodies are
 * limited to web.max_body_bytes (413); only url-encoded forms are read.
 * Every POST but the sign-in needs the session's CSRF token, and a POST
 * whose Origin header names another host is refused.  Every answer has
 * Content-Security-Policy (default-src 'self', no inline script or style),
 * X-Frame-Options DENY, nosniff, no referrer, and pages are not cached.
 * The log holds the method, the path (ids, no query) and the status.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "km_id.h"
#include "km_http_slow.h"
#include "km_log.h"
#include "km_util.h"
#include "web.h"

struct web_req {
        char *body;
        size_t len;
        int too_large;
};

const char *web_arg(struct web_ctx *c, const char *name)
{
        return MHD_lookup_connection_value(c->mc, MHD_GET_ARGUMENT_KIND, name);
}

void web_redirect(struct web_ctx *c, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(c->location, sizeof(c->location), fmt, ap);
        va_end(ap);
        c->status = 303;
        web_buf_free(&c->out);
}

const char *web_cookie_name(const struct web *w, const char *base, char *buf,
                            size_t len)
{
        snprintf(buf, len, "%s%s", w->wc->cookie_secure ? "__Host-" : "",
                 base);
        return buf;
}

/* Queue a Set-Cookie; max_age 0 deletes it.  value is ours (hex, "ru"). */
void web_cookie(struct web_ctx *c, const char *name, const char *value,
                int64_t max_age)
{
        if (c->ncookies >= (int)(sizeof(c->cookies) / sizeof(c->cookies[0])))
                return;
        snprintf(c->cookies[c->ncookies++], sizeof(c->cookies[0]),
                 "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
                 name, value, (long long)max_age,
                 c->w->wc->cookie_secure ? "; Secure" : "");
}

static void web_lang(struct web_ctx *c)
{
        const char *q = web_arg(c, "lang");
        const char *k = MHD_lookup_connection_value(c->mc, MHD_COOKIE_KIND,
                                                    "km_lang");

        c->lang = strcmp(c->w->wc->lang, "en") == 0 ? "en" : "ru";
        if (k && (!strcmp(k, "ru") || !strcmp(k, "en")))
                c->lang = k[0] == 'r' ? "ru" : "en";
        if (q && (!strcmp(q, "ru") || !strcmp(q, "en"))) {
                c->lang = q[0] == 'r' ? "ru" : "en";
                web_cookie(c, "km_lang", c->lang, 365 * 86400);
        }
}

/* The address in s[0..n) (blanks trimmed), canonical, into out.
 * @returns 0, or -1 if it is no IPv4 or IPv6 address. */
static int web_addr_canon(const char *s, size_t n, char *out, size_t outlen)
{
        unsigned char bin[16];
        char buf[64];

        while (n && (*s == ' ' || *s == '\t'))
                s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                n--;
        if (n == 0 || n >= sizeof(buf))
                return -1;
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET, buf, bin) == 1)
                return inet_ntop(AF_INET, bin, out, (socklen_t)outlen) ? 0 : -1;
        if (inet_pton(AF_INET6, buf, bin) == 1)
                return inet_ntop(AF_INET6, bin, out, (socklen_t)outlen) ? 0
                                                                        : -1;
        return -1;
}

/* @returns 1 if ip (canonical) is in the comma-separated list, 0 if not,
 * -1 if an entry is no address (a list with one is refused at start). */
static int web_proxy_has(const char *list, const char *ip)
{
        char a[64];
        int found = 0;

        for (const char *p = list; p && *p;) {
                const char *e = strchr(p, ',');
                size_t n = e ? (size_t)(e - p) : strlen(p);

                if (web_addr_canon(p, n, a, sizeof(a)))
                        return -1;
                if (ip && strcmp(a, ip) == 0)
                        found = 1;
                p = e ? e + 1 : NULL;
        }
        return found;
}

int web_proxy_list_valid(const char *list)
{
        return list == NULL || *list == '\0' || web_proxy_has(list, NULL) == 0;
}

struct web_hdr_last {
        const char *name, *value;
};

static enum MHD_Result web_hdr_last_cb(void *cls, enum MHD_ValueKind kind,
                                       const char *key, const char *value)
{
        struct web_hdr_last *h = cls;

        (void)kind;
        if (key && value && strcasecmp(key, h->name) == 0)
                h->value = value;
        return MHD_YES;
}

/* The client's address: the peer's; but when the peer is the trusted
 * proxy (web.trusted_proxy), the rightmost address of the last
 * web.proxy_header line, which that proxy wrote (what a client sent
 * before it stands further left).  SECURITY: a header from any other
 * peer is ignored, so a client cannot choose its throttle key. */
static void web_client_ip(struct web_ctx *c)
{
        const struct web_conf *wc = c->w->wc;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        struct web_hdr_last h = {wc->proxy_header, NULL};
        const char *r;
        char a[64];

        snprintf(c->ip, sizeof(c->ip), "unknown");
        if (sa && sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
                          c->ip, sizeof(c->ip));
        else if (sa && sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6,
                          &((const struct sockaddr_in6 *)sa)->sin6_addr, c->ip,
                          sizeof(c->ip));
        if (wc->trusted_proxy == NULL || wc->proxy_header == NULL ||
            web_proxy_has(wc->trusted_proxy, c->ip) != 1)
                return;
        MHD_get_connection_values(c->mc, MHD_HEADER_KIND, web_hdr_last_cb, &h);
        if (h.value == NULL)
                return;
        r = strrchr(h.value, ',');
        r = r ? r + 1 : h.value;
        if (web_addr_canon(r, strlen(r), a, sizeof(a)) == 0)
                snprintf(c->ip, sizeof(c->ip), "%s", a);
}

/* A POST from a page of another site (Origin names another host). */
static int web_cross_origin(struct web_ctx *c)
{
        const char *origin = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND,
                                                         "Origin");
        const char *host = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_HOST);
        const char *o;

        if (origin == NULL)
                return 0;
        if (host == NULL)
                return 1;
        o = strstr(origin, "://");
        return o == NULL || strcmp(o + 3, host) != 0;
}

static int web_is(const char *m, const char *a)
{
        return strcmp(m, a) == 0;
}

/* /tasks/{uuid}[/{action}] -> id and action ("" for none). */
static int web_task_path(const char *path, char *id, const char **action)
{
        const char *p = path + 7;

        if (strlen(p) < 36)
                return 0;
        memcpy(id, p, 36);
        id[36] = '\0';
        if (!km_id_valid(id))
                return 0;
        p += 36;
        if (*p == '\0') {
                *action = "";
                return 1;
        }
        if (*p != '/')
                return 0;
        *action = p + 1;
        return web_is(*action, "ack") || web_is(*action, "resolve") ||
               web_is(*action, "reject");
}

static void web_route(struct web_ctx *c)
{
        const char *path = c->path, *action = "";
        int get = web_is(c->method, "GET") || web_is(c->method, "HEAD");
        int post = web_is(c->method, "POST");
        char id[40];
        int s;

        if (web_is(path, "/static/web.css")) {
                c->route = "static";
                if (!get) {
                        web_page_error(c, 405, M_METHOD, NULL);
                        return;
                }
                c->ctype = "text/css; charset=utf-8";
                c->cacheable = 1;
                web_buf_puts(&c->out, web_css);
                return;
        }
        if (!get && !post) {
                c->route = "other";
                web_page_error(c, 405, M_METHOD, NULL);
                return;
        }
        s = web_session_load(c);
        if (s < 0) {
                c->route = "other";
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                return;
        }
        if (post && web_cross_origin(c)) {
                c->route = "other";
                web_page_error(c, 403, M_CSRF, NULL);
                return;
        }
        if (web_is(path, "/login")) {
                c->route = "login";
                if (post)
                        web_login_post(c);
                else
                        web_login_get(c);
                return;
        }
        c->route = web_is(path, "/") ? "root"
                   : web_is(path, "/logout") ? "logout"
                   : web_is(path, "/inbox") ? "inbox"
                   : strncmp(path, "/tasks/", 7) == 0 ? (post ? "change"
                                                                : "task")
                   : strncmp(path, "/incidents/", 11) == 0
                       ? (post ? "change" : "incident")
                   : web_is(path, "/dashboard") ? "dashboard"
                   : strncmp(path, "/dashboard/", 11) == 0 ? "csv"
                                                          : "other";
        if (web_is(c->route, "other")) {
                web_page_error(c, 404, M_NOT_FOUND, NULL);
                return;
        }
        if (!c->has_session) {
                web_redirect(c, "/login");
                return;
        }
        if (post && !web_csrf_ok(c)) {
                km_log_warn("%s %s: CSRF token missing or wrong (%s)",
                            c->method, path, c->s.login);
                web_page_error(c, 403, M_CSRF, NULL);
                return;
        }
        if (web_is(c->route, "logout")) {
                if (post)
                        web_logout(c);
                else
                        web_page_error(c, 405, M_METHOD, NULL);
                return;
        }
        if (post != web_is(c->route, "change")) {
                web_page_error(c, 405, M_METHOD, NULL);
                return;
        }
        if (web_is(c->route, "root")) {
                web_redirect(c, web_is(c->s.role, "staff") ? "/inbox"
                                                           : "/dashboard");
                return;
        }
        if (web_is(c->route, "inbox") || web_is(c->route, "task") ||
            web_is(c->route, "change") || web_is(c->route, "incident")) {
                if (!web_is(c->s.role, "staff"))
                        web_page_error(c, 403, M_FORBIDDEN, NULL);
                else if (web_is(c->route, "inbox"))
                        web_inbox(c);
                else if (strncmp(path, "/incidents/", 11) == 0) {
                        if (!web_incident_route(c, path, post))
                                web_page_error(c, 404, M_NOT_FOUND, NULL);
                }
                else if (!web_task_path(path, id, &action) ||
                         (post != (action[0] != '\0')))
                        web_page_error(c, 404, M_NOT_FOUND, NULL);
                else if (post)
                        web_task_change(c, id, action);
                else
                        web_task(c, id);
                return;
        }
        if (!web_is(c->s.role, "analyst")) {
                web_page_error(c, 403, M_FORBIDDEN, NULL);
                return;
        }
        if (web_is(c->route, "dashboard")) {
                web_dashboard(c);
        } else {
                size_t n = strlen(path + 11);
                char table[32];

                if (n < 5 || n > 30 || strcmp(path + 11 + n - 4, ".csv")) {
                        web_page_error(c, 404, M_NOT_FOUND, NULL);
                        return;
                }
                snprintf(table, sizeof(table), "%.*s", (int)(n - 4), path + 11);
                web_dashboard_csv(c, table);
        }
}

static enum MHD_Result web_send(struct web_ctx *c)
{
        struct MHD_Response *resp;
        enum MHD_Result ret;
        size_t len = c->out.len;
        char *text = c->out.p;

        c->out.p = NULL;
        resp = MHD_create_response_from_buffer(len, text ? text : (char *)"",
                                               text ? MHD_RESPMEM_MUST_FREE
                                                    : MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                c->ctype ? c->ctype
                                         : "text/html; charset=utf-8");
        MHD_add_response_header(
            resp, "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'none'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        /* not no-referrer: with it a browser sends "Origin: null" on form
         * posts (Fetch spec), which web_cross_origin refuses */
        MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
        MHD_add_response_header(resp, "Cross-Origin-Opener-Policy",
                                "same-origin");
        MHD_add_response_header(resp, "Permissions-Policy",
                                "camera=(), microphone=(), geolocation=()");
        if (c->w->wc->cookie_secure)
                MHD_add_response_header(resp, "Strict-Transport-Security",
                                        "max-age=31536000");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                c->cacheable ? "public, max-age=3600"
                                             : "no-store");
        if (c->location[0])
                MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
                                        c->location);
        if (c->disposition[0])
                MHD_add_response_header(resp, "Content-Disposition",
                                        c->disposition);
        if (c->retry_after[0])
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
                                        c->retry_after);
        if (c->status == 405)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                        "GET, HEAD, POST");
        for (int i = 0; i < c->ncookies; i++)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE,
                                        c->cookies[i]);
        ret = MHD_queue_response(c->mc, c->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void web_count(struct web_ctx *c, int64_t t0)
{
        struct web *w = c->w;
        char labels[96], path[96], st[8];

        pthread_mutex_lock(&w->mu);
        w->requests++;
        if (c->status >= 500)
                w->errors++;
        pthread_mutex_unlock(&w->mu);
        snprintf(st, sizeof(st), "%u", c->status);
        if (km_metrics_labels(labels, sizeof(labels), "route", c->route,
                              "status", st, NULL))
                km_metrics_counter_add(w->metrics, "komek_web_requests_total",
                                       labels, 1);
        if (km_metrics_labels(labels, sizeof(labels), "route", c->route, NULL))
                km_metric_observe(
                    km_metrics_histogram(w->metrics,
                                         "komek_web_request_seconds", labels,
                                         "time to answer a request",
                                         km_metrics_latency_buckets,
                                         KM_METRICS_LATENCY_N),
                    (double)(km_now_ms() - t0) / 1000.0);
        snprintf(path, sizeof(path), "%s", c->path);
        for (char *p = path; *p; p++) /* no control bytes in the log */
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        km_log_debug("%s %s %u %lld ms", c->method, path, c->status,
                     (long long)(km_now_ms() - t0));
}

/* Slow clients: common/km_http_slow.c. */

static enum MHD_Result web_handler(void *cls, struct MHD_Connection *mc,
                                   const char *url, const char *method,
                                   const char *version,
                                   const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
        struct web *w = cls;
        struct web_req *req = *con_cls;
        struct web_ctx c;
        int64_t t0 = km_now_ms();
        enum MHD_Result ret;

        (void)version;
        /* the first call (headers in), each body chunk and the last call
         * (all in) must come within the request's deadline */
        if (km_http_slow_gate(mc, req != NULL && *upload_data_size == 0))
                return MHD_NO;
        if (req == NULL) {
                req = km_xcalloc(1, sizeof(*req));
                *con_cls = req;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;

                if (!req->too_large &&
                    req->len + n > (size_t)w->wc->max_body_bytes) {
                        req->too_large = 1;
                        free(req->body);
                        req->body = NULL;
                        req->len = 0;
                }
                if (!req->too_large) {
                        req->body = km_xrealloc(req->body, req->len + n + 1);
                        memcpy(req->body + req->len, upload_data, n);
                        req->len += n;
                        req->body[req->len] = '\0';
                }
                *upload_data_size = 0;
                return MHD_YES;
        }
        memset(&c, 0, sizeof(c));
        c.w = w;
        c.mc = mc;
        c.method = method;
        c.path = url;
        c.body = req->body ? req->body : "";
        c.blen = req->len;
        c.status = 200;
        c.route = "other";
        web_lang(&c);
        web_client_ip(&c);
        if (req->too_large)
                web_page_error(&c, 413, M_TOO_LARGE, NULL);
        else
                web_route(&c);
        ret = web_send(&c);
        web_count(&c, t0);
        web_buf_free(&c.out);
        return ret;
}

static void web_completed(void *cls, struct MHD_Connection *mc,
                          void **con_cls, enum MHD_RequestTerminationCode toe)
{
        struct web_req *req = *con_cls;

        (void)cls;
        (void)toe;
        km_http_slow_request_done(mc);
        if (req) {
                free(req->body);
                free(req);
                *con_cls = NULL;
        }
}

/* Set by web.c from web.per_ip_connections and web.request_deadline_ms
 * before web_http_start. */
int64_t web_http_per_ip_connections = 16;
int64_t web_http_deadline_ms = 10000;

struct MHD_Daemon *web_http_start(struct web *w, char *err, size_t errlen)
{
        struct sockaddr_in sa;
        struct MHD_Daemon *d;
        /* idle limit between bytes; the request deadline is the sweeper's */
        unsigned idle_s = 30;

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)w->wc->port);
        if (inet_pton(AF_INET, w->wc->listen, &sa.sin_addr) != 1) {
                km_err_set(err, errlen, KM_ECONFIG,
                           "web.listen: \"%s\" is not an IPv4 address",
                           w->wc->listen);
                return NULL;
        }
        /* A pool of web.threads threads, each with its epoll set of
         * connections: a page needs a millisecond of CPU and at most one
         * query, and a few threads share 2 cores more fairly than one
         * thread per connection (the tail latency of bench/web.sh).  A
         * handler blocks its thread while it waits for PostgreSQL or
         * hashes a password. */
        km_http_slow_deadline_ms = web_http_deadline_ms;
        km_http_slow_start_sweeper();
        d = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
            (uint16_t)w->wc->port, NULL, NULL, web_handler, w,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)w->wc->threads,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)w->wc->max_connections,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned)web_http_per_ip_connections,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)idle_s,
            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
            MHD_OPTION_NOTIFY_COMPLETED, web_completed, w,
            MHD_OPTION_NOTIFY_CONNECTION, km_http_slow_notify, NULL,
            MHD_OPTION_END);
        if (d == NULL)
                km_err_set(err, errlen, KM_EFATAL, "cannot listen on %s:%lld",
                           w->wc->listen, (long long)w->wc->port);
        return d;
}
