/*
 * km_http.c - see km_http.h.  The limits are the programs' (gateway.*,
 * web.*, the metrics server's 16 connections and 10 s); this file only
 * hands them to libmicrohttpd, the same way for each.
 */
#include "km_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "km_http_slow.h"
#include "km_utf8.h"
#include "km_util.h"

/* ---- the daemon ------------------------------------------------------ */

int km_http_port_write(const char *path, unsigned port, char *err,
                       size_t errlen)
{
        char *tmp = km_xasprintf("%s.tmp", path);
        FILE *fp = fopen(tmp, "w");
        int ok = 0;

        if (fp) {
                fprintf(fp, "%u\n", port);
                ok = fclose(fp) == 0 && rename(tmp, path) == 0;
        }
        if (!ok)
                remove(tmp);
        free(tmp);
        return ok ? 0
                  : km_err_set(err, errlen, KM_EFATAL, "cannot write %s", path);
}

/* hc->listen:hc->port into *ss.  @returns 0 or KM_ECONFIG. */
static int km_http_addr(const struct km_http_conf *hc,
                        struct sockaddr_storage *ss, unsigned *flags, char *err,
                        size_t errlen)
{
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        const char *a = hc->listen;

        memset(ss, 0, sizeof(*ss));
        if (a && inet_pton(AF_INET, a, &sin->sin_addr) == 1) {
                sin->sin_family = AF_INET;
                sin->sin_port = htons((uint16_t)hc->port);
                return 0;
        }
        if (a && hc->any_family &&
            inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1) {
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons((uint16_t)hc->port);
                *flags |= MHD_USE_IPv6;
                return 0;
        }
        return km_err_set(err, errlen, KM_ECONFIG,
                          "%s: \"%s\" is not an IP%s address", hc->what,
                          a ? a : "(null)", hc->any_family ? "" : "v4");
}

int km_http_start(const struct km_http_conf *hc,
                  MHD_AccessHandlerCallback handler, void *cls,
                  struct MHD_Daemon **d, unsigned *port, char *err,
                  size_t errlen)
{
        struct sockaddr_storage ss;
        struct MHD_OptionItem ops[16];
        const union MHD_DaemonInfo *info;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD, bound;
        int n = 0, r;

        *d = NULL;
        if (hc->threads == KM_HTTP_THREAD_PER_CONNECTION)
                flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
        else if (hc->threads > 0)
                flags |= MHD_USE_EPOLL;
        else
                flags |= MHD_USE_POLL;
        if ((r = km_http_addr(hc, &ss, &flags, err, errlen)))
                return r;
#define KM_HTTP_OPT(o, v, p) ops[n++] = (struct MHD_OptionItem){(o), (v), (p)}
        KM_HTTP_OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
        KM_HTTP_OPT(MHD_OPTION_CONNECTION_LIMIT, (intptr_t)hc->max_connections,
                    NULL);
        KM_HTTP_OPT(MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)hc->idle_s, NULL);
        if (hc->threads > 0)
                KM_HTTP_OPT(MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)hc->threads,
                            NULL);
        if (hc->per_ip_connections > 0)
                KM_HTTP_OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (intptr_t)hc->per_ip_connections, NULL);
        if (hc->connection_memory > 0)
                KM_HTTP_OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (intptr_t)hc->connection_memory, NULL);
        if (hc->backlog > 0)
                KM_HTTP_OPT(MHD_OPTION_LISTEN_BACKLOG_SIZE,
                            (intptr_t)hc->backlog, NULL);
        KM_HTTP_OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)km_http_completed,
                    NULL);
        if (hc->deadline_ms > 0)
                KM_HTTP_OPT(MHD_OPTION_NOTIFY_CONNECTION,
                            (intptr_t)km_http_slow_notify, NULL);
        KM_HTTP_OPT(MHD_OPTION_END, 0, NULL);
#undef KM_HTTP_OPT
        if (hc->deadline_ms > 0) {
                km_http_slow_deadline_ms = hc->deadline_ms;
                km_http_slow_start_sweeper();
        }
        *d = MHD_start_daemon(flags, (uint16_t)hc->port, NULL, NULL, handler,
                              cls, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
        if (*d == NULL)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "cannot serve on %s port %lld (%s: address "
                                  "in use or not local?)",
                                  hc->listen, (long long)hc->port, hc->what);
        info = MHD_get_daemon_info(*d, MHD_DAEMON_INFO_BIND_PORT);
        bound = info ? info->port : (unsigned)hc->port;
        if (port)
                *port = bound;
        if (hc->port_file && *hc->port_file &&
            (r = km_http_port_write(hc->port_file, bound, err, errlen))) {
                MHD_stop_daemon(*d);
                *d = NULL;
                return r;
        }
        return 0;
}

/* ---- the request ----------------------------------------------------- */

static int64_t km_http_now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum km_http_step km_http_body(struct MHD_Connection *conn, void **con_cls,
                               const char *upload_data,
                               size_t *upload_data_size, size_t max_body,
                               int early, struct km_http_req **reqp)
{
        struct km_http_req *req = *con_cls;
        size_t n = *upload_data_size;

        *reqp = req;
        /* the first call (headers in), each body chunk and the last call
         * (all in) must come within the request's deadline */
        if (km_http_slow_gate(conn, req != NULL && n == 0))
                return KM_HTTP_CLOSE;
        if (req == NULL) {
                const char *cl = MHD_lookup_connection_value(
                        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

                req = km_xcalloc(1, sizeof(*req));
                req->t0_us = km_http_now_us();
                *con_cls = *reqp = req;
                if (early && cl &&
                    strtoull(cl, NULL, 10) > (unsigned long long)max_body)
                        return KM_HTTP_TOO_LARGE; /* refused unread */
                return KM_HTTP_MORE;
        }
        if (n == 0)
                return KM_HTTP_READY;
        if (!req->too_large && req->len + n > max_body) {
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
        return KM_HTTP_MORE;
}

void km_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                       enum MHD_RequestTerminationCode toe)
{
        struct km_http_req *req = *con_cls;

        (void)cls;
        (void)toe;
        km_http_slow_request_done(conn);
        if (req) {
                free(req->body);
                free(req);
                *con_cls = NULL;
        }
}

/* ---- the form -------------------------------------------------------- */

static int km_http_hexval(char c)
{
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
}

int km_http_unescape(const char *s, size_t n, char **out, char *err,
                     size_t errlen)
{
        char *o = km_xmalloc(n + 1), *w = o;
        const char *why = NULL;

        for (size_t i = 0; i < n && why == NULL; i++) {
                int hi, lo;

                if (s[i] == '+') {
                        *w++ = ' ';
                } else if (s[i] == '%') {
                        if (i + 2 >= n || (hi = km_http_hexval(s[i + 1])) < 0 ||
                            (lo = km_http_hexval(s[i + 2])) < 0)
                                why = "a '%' not followed by two hex digits";
                        else if (hi == 0 && lo == 0)
                                why = "%00 (a NUL byte)";
                        else
                                *w++ = (char)(hi * 16 + lo);
                        i += 2;
                } else if (s[i] == '\0') {
                        why = "a NUL byte";
                } else {
                        *w++ = s[i];
                }
        }
        *w = '\0';
        if (why == NULL && !km_utf8_valid(o, (size_t)(w - o), NULL))
                why = "not UTF-8";
        if (why) {
                free(o);
                *out = NULL;
                return km_err_set(err, errlen, KM_EINPUT,
                                  "invalid_encoding: a form field is not "
                                  "valid percent-encoded UTF-8 (%s)",
                                  why);
        }
        *out = o;
        return 0;
}

int km_http_form_parse(const char *body, size_t len, km_http_field_cb *cb,
                       void *opaque, char *err, size_t errlen)
{
        size_t i = 0;

        while (i < len) {
                size_t end = i, eq;
                char *k = NULL, *v = NULL;
                int r;

                while (end < len && body[end] != '&')
                        end++;
                for (eq = i; eq < end && body[eq] != '='; eq++)
                        ;
                if (end > i) {
                        r = km_http_unescape(body + i, eq - i, &k, err, errlen);
                        if (r == 0)
                                r = km_http_unescape(
                                        body + (eq < end ? eq + 1 : end),
                                        eq < end ? end - eq - 1 : 0, &v, err,
                                        errlen);
                        if (r == 0 && cb)
                                r = cb(opaque, k, v);
                        free(k);
                        free(v);
                        if (r)
                                return r;
                }
                i = end + 1;
        }
        return 0;
}

struct km_http_find {
        const char *name;
        char *value;
};

static int km_http_find_cb(void *opaque, const char *name, const char *value)
{
        struct km_http_find *f = opaque;

        if (f->value == NULL && strcmp(name, f->name) == 0)
                f->value = km_xstrdup(value);
        return 0;
}

char *km_http_form_get(const char *body, size_t len, const char *name)
{
        struct km_http_find f = {name, NULL};

        if (km_http_form_parse(body, len, km_http_find_cb, &f, NULL, 0)) {
                free(f.value);
                return NULL;
        }
        return f.value;
}

/* ---- the response ---------------------------------------------------- */

struct MHD_Response *km_http_response(char *body, size_t len, const char *ctype,
                                      const char *cache, unsigned flags)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(
                body ? len : 0, body ? body : (char *)"",
                body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);

        if (resp == NULL) {
                free(body);
                return NULL;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        /* every answer (issue 19): no content sniffing, and no cache keeps
         * a request's status, an error or a page */
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                cache ? cache : "no-store");
        if (flags & KM_HTTP_PAGE) {
                MHD_add_response_header(
                        resp, "Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; style-src "
                        "'self'; script-src 'none'; object-src 'none'; base-uri "
                        "'none'; form-action 'self'; frame-ancestors 'none'");
                MHD_add_response_header(resp, "X-Frame-Options", "DENY");
                /* not no-referrer: with it a browser sends "Origin: null"
                 * on form posts (Fetch spec), which a same-origin check
                 * refuses */
                MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
                MHD_add_response_header(resp, "Cross-Origin-Opener-Policy",
                                        "same-origin");
                MHD_add_response_header(
                        resp, "Permissions-Policy",
                        "camera=(), microphone=(), geolocation=()");
        }
        if (flags & KM_HTTP_HSTS)
                MHD_add_response_header(resp, "Strict-Transport-Security",
                                        "max-age=31536000");
        return resp;
}

enum MHD_Result km_http_queue(struct MHD_Connection *conn, unsigned status,
                              struct MHD_Response *resp)
{
        enum MHD_Result r;

        if (resp == NULL)
                return MHD_NO;
        r = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return r;
}
