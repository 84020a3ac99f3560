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
 * The pages are the table web_routes: path, route name per method, who
 * may use it, handler.  Threads: a pool of web.threads (see
 * web_http_start).
 *
 * SECURITY: the URL, query, cookies and body are untrusted.  Bodies are
 * limited to web.max_body_bytes (413); only url-encoded forms are read,
 * and a body that is not one exactly (a bad or truncated percent escape,
 * %00, bytes that are not UTF-8) is refused with 400.
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
#include <time.h>

#include "km_id.h"
#include "km_http.h"
#include "km_log.h"
#include "km_util.h"
#include "web.h"

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
        snprintf(buf, len, "%s%s", w->wc->cookie_secure ? "__Host-" : "", base);
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
        const char *k =
                MHD_lookup_connection_value(c->mc, MHD_COOKIE_KIND, "km_lang");

        c->lang = strcmp(c->w->wc->lang, "en") == 0 ? "en" : "ru";
        if (k && (!strcmp(k, "ru") || !strcmp(k, "en")))
                c->lang = k[0] == 'r' ? "ru" : "en";
        if (q && (!strcmp(q, "ru") || !strcmp(q, "en"))) {
                c->lang = q[0] == 'r' ? "ru" : "en";
                web_cookie(c, "km_lang", c->lang, 365 * 86400);
        }
}

/* The address in s[0..n) (blanks trimmed), canonical, into out.
 * @returns 0, or KM_EINPUT if it is no IPv4 or IPv6 address. */
static int web_addr_canon(const char *s, size_t n, char *out, size_t outlen)
{
        unsigned char bin[16];
        char buf[64];

        while (n && (*s == ' ' || *s == '\t'))
                s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                n--;
        if (n == 0 || n >= sizeof(buf))
                return KM_EINPUT;
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (inet_pton(AF_INET, buf, bin) == 1)
                return inet_ntop(AF_INET, bin, out, (socklen_t)outlen)
                               ? 0
                               : KM_EINPUT;
        if (inet_pton(AF_INET6, buf, bin) == 1)
                return inet_ntop(AF_INET6, bin, out, (socklen_t)outlen)
                               ? 0
                               : KM_EINPUT;
        return KM_EINPUT;
}

/* @returns 1 if ip (canonical) is in the comma-separated list, 0 if not,
 * KM_EINPUT if an entry is no address (a list with one is refused at
 * start). */
static int web_proxy_has(const char *list, const char *ip)
{
        char a[64];
        int found = 0;

        for (const char *p = list; p && *p;) {
                const char *e = strchr(p, ',');
                size_t n = e ? (size_t)(e - p) : strlen(p);

                if (web_addr_canon(p, n, a, sizeof(a)))
                        return KM_EINPUT;
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
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
                c->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
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
        const char *origin =
                MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Origin");
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

/* ---- the routes -------------------------------------------------------- */

/* Who may use a route: anybody (the sign-in), any signed-in user, or
 * one role only. */
enum web_who { WEB_ANYONE, WEB_SIGNED_IN, WEB_STAFF, WEB_ANALYST };

/* A route's handler: rest is the path after the route's prefix. */
typedef void web_page_fn(struct web_ctx *c, const char *rest, int post);

static void web_rt_login(struct web_ctx *c, const char *rest, int post)
{
        (void)rest;
        if (post)
                web_login_post(c);
        else
                web_login_get(c);
}

static void web_rt_root(struct web_ctx *c, const char *rest, int post)
{
        (void)rest;
        (void)post;
        web_redirect(c, web_is(c->s.role, "staff") ? "/inbox" : "/dashboard");
}

static void web_rt_logout(struct web_ctx *c, const char *rest, int post)
{
        (void)rest;
        (void)post;
        web_logout(c);
}

static void web_rt_inbox(struct web_ctx *c, const char *rest, int post)
{
        (void)rest;
        (void)post;
        web_inbox(c);
}

/* GET /tasks/{id}, POST /tasks/{id}/{action} */
static void web_rt_task(struct web_ctx *c, const char *rest, int post)
{
        const char *action = "";
        char id[40];

        (void)rest;
        if (!web_task_path(c->path, id, &action) || post != (action[0] != '\0'))
                web_page_error(c, 404, M_NOT_FOUND, NULL);
        else if (post)
                web_task_change(c, id, action);
        else
                web_task(c, id);
}

static void web_rt_incident(struct web_ctx *c, const char *rest, int post)
{
        (void)rest;
        if (!web_incident_route(c, c->path, post))
                web_page_error(c, 404, M_NOT_FOUND, NULL);
}

static void web_rt_dashboard(struct web_ctx *c, const char *rest, int post)
{
        (void)rest;
        (void)post;
        web_dashboard(c);
}

/* GET /dashboard/{table}.csv */
static void web_rt_csv(struct web_ctx *c, const char *rest, int post)
{
        size_t n = strlen(rest);
        char table[32];

        (void)post;
        if (n < 5 || n > 30 || strcmp(rest + n - 4, ".csv")) {
                web_page_error(c, 404, M_NOT_FOUND, NULL);
                return;
        }
        snprintf(table, sizeof(table), "%.*s", (int)(n - 4), rest);
        web_dashboard_csv(c, table);
}

/* The pages, first match wins: a path equal to .path, or (.prefix)
 * starting with it.  .get and .post name the route (the log and the
 * metrics' label) for each method; NULL: the method is refused (405). */
static const struct web_rt {
        const char *path;
        int prefix;
        const char *get, *post;
        enum web_who who;
        web_page_fn *fn;
} web_routes[] = {
        {"/login", 0, "login", "login", WEB_ANYONE, web_rt_login},
        {"/", 0, "root", NULL, WEB_SIGNED_IN, web_rt_root},
        {"/logout", 0, NULL, "logout", WEB_SIGNED_IN, web_rt_logout},
        {"/inbox", 0, "inbox", NULL, WEB_STAFF, web_rt_inbox},
        {"/tasks/", 1, "task", "change", WEB_STAFF, web_rt_task},
        {"/incidents/", 1, "incident", "change", WEB_STAFF, web_rt_incident},
        {"/dashboard", 0, "dashboard", NULL, WEB_ANALYST, web_rt_dashboard},
        {"/dashboard/", 1, "csv", NULL, WEB_ANALYST, web_rt_csv},
};

static const struct web_rt *web_rt_find(const char *path)
{
        for (size_t i = 0; i < sizeof(web_routes) / sizeof(web_routes[0]);
             i++) {
                const struct web_rt *r = &web_routes[i];

                if (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0
                              : web_is(path, r->path))
                        return r;
        }
        return NULL;
}

/* In this order: the stylesheet (no session); the method (GET, HEAD or
 * POST); the session; a POST from another origin (403); the route (404);
 * no session: to /login; a POST without the session's CSRF token (403);
 * the method of the route (405); the role (403); the page. */
static void web_route(struct web_ctx *c)
{
        const char *path = c->path;
        int get = web_is(c->method, "GET") || web_is(c->method, "HEAD");
        int post = web_is(c->method, "POST");
        const struct web_rt *r;
        const char *name;

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
        c->route = "other";
        if (!get && !post) {
                web_page_error(c, 405, M_METHOD, NULL);
                return;
        }
        if (web_session_load(c) < 0) {
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                return;
        }
        if (post && web_cross_origin(c)) {
                web_page_error(c, 403, M_CSRF, NULL);
                return;
        }
        r = web_rt_find(path);
        if (r == NULL) {
                web_page_error(c, 404, M_NOT_FOUND, NULL);
                return;
        }
        name = post ? r->post : r->get;
        c->route = name ? name : post ? r->get : r->post;
        if (r->who != WEB_ANYONE) {
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
        }
        if (name == NULL) {
                web_page_error(c, 405, M_METHOD, NULL);
                return;
        }
        if ((r->who == WEB_STAFF && !web_is(c->s.role, "staff")) ||
            (r->who == WEB_ANALYST && !web_is(c->s.role, "analyst"))) {
                web_page_error(c, 403, M_FORBIDDEN, NULL);
                return;
        }
        r->fn(c, path + strlen(r->path), post);
}

static enum MHD_Result web_send(struct web_ctx *c)
{
        struct MHD_Response *resp;
        size_t len = c->out.len;
        char *text = c->out.p;

        c->out.p = NULL;
        resp = km_http_response(
                text, len, c->ctype ? c->ctype : "text/html; charset=utf-8",
                c->cacheable ? "public, max-age=3600" : "no-store",
                KM_HTTP_PAGE | (c->w->wc->cookie_secure ? KM_HTTP_HSTS : 0));
        if (resp == NULL)
                return MHD_NO;
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
        return km_http_queue(c->mc, c->status, resp);
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
                                             "komek_web_request_seconds",
                                             labels, "time to answer a request",
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

static enum MHD_Result web_handler(void *cls, struct MHD_Connection *mc,
                                   const char *url, const char *method,
                                   const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
        struct web *w = cls;
        struct km_http_req *req;
        struct web_ctx c;
        int64_t t0 = km_now_ms();
        enum MHD_Result ret;
        char why[200];

        (void)version;
        switch (km_http_body(mc, con_cls, upload_data, upload_data_size,
                             (size_t)w->wc->max_body_bytes, 0, &req)) {
        case KM_HTTP_CLOSE:
                return MHD_NO;
        case KM_HTTP_MORE:
        case KM_HTTP_TOO_LARGE: /* not asked for: read and discarded */
                return MHD_YES;
        case KM_HTTP_READY:
                break;
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
        /* the one strict form decoder (common/km_http.c): a body it
         * cannot decode exactly is refused, not read field by field */
        else if (km_http_form_parse(c.body, c.blen, NULL, NULL, why,
                                    sizeof(why)))
                web_page_error(&c, 400, M_BAD_FORM, why);
        else
                web_route(&c);
        ret = web_send(&c);
        web_count(&c, t0);
        web_buf_free(&c.out);
        return ret;
}

/* Set by web.c from web.per_ip_connections and web.request_deadline_ms
 * before web_http_start. */
int64_t web_http_per_ip_connections = 16;
int64_t web_http_deadline_ms = 10000;

int web_http_start(struct web *w, struct MHD_Daemon **d, unsigned *port,
                   char *err, size_t errlen)
{
        /* A pool of web.threads threads, each with its epoll set of
         * connections: a page needs a millisecond of CPU and at most one
         * query, and a few threads share 2 cores more fairly than one
         * thread per connection (the tail latency of bench/web.sh).  A
         * handler blocks its thread while it waits for PostgreSQL or
         * hashes a password.  Idle limit between bytes 30 s; the request
         * deadline is km_http_slow's. */
        struct km_http_conf hc = {
                .what = "web.listen",
                .listen = w->wc->listen,
                .port = w->wc->port,
                .port_file = w->wc->port_file,
                .max_connections = w->wc->max_connections,
                .per_ip_connections = web_http_per_ip_connections,
                .idle_s = 30,
                .deadline_ms = web_http_deadline_ms,
                .backlog = 1024,
                .threads = w->wc->threads,
        };

        return km_http_start(&hc, web_handler, w, d, port, err, errlen);
}
