/*
 * km_http.h - the HTTP layer of komek's libmicrohttpd servers
 * (komek-gateway, komek-web, the /metrics server of km_metrics): start a
 * daemon with its limits and timeouts (and the slow-client deadline of
 * km_http_slow.c), write the port file, read a request body up to a size
 * limit, decode an url-encoded form strictly, and build a response with
 * the security headers.  SHA-256 hex and the constant-time comparison are
 * km_hash.h's.
 *
 * SECURITY: everything a client sends is untrusted.  A body is never held
 * past max_body bytes; the form decoder refuses what it cannot decode
 * exactly (a '%' without two hex digits, %00, bytes that are not UTF-8)
 * instead of guessing, so every program reads the same fields.
 */
#ifndef KM_HTTP_H
#define KM_HTTP_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "km_err.h"

/* km_http_conf.threads */
#define KM_HTTP_THREAD_PER_CONNECTION (-1)

/* How a server listens; the values are the program's configuration. */
struct km_http_conf {
        const char *what;      /* the error's prefix: "gateway.listen" */
        const char *listen;    /* an IPv4 address (or IPv6 with any_family) */
        int any_family;        /* also IPv6 (the metrics server) */
        int64_t port;          /* 0: any free port (see port_file) */
        const char *port_file; /* NULL-able: the bound port is written here */
        int64_t max_connections;
        int64_t per_ip_connections; /* 0: no limit */
        int64_t idle_s;             /* MHD's timeout, restarted by every byte */
        int64_t deadline_ms; /* 0: none; else km_http_slow's deadline for a
                               * request's headers and body */
        int64_t connection_memory; /* 0: MHD's default */
        int64_t backlog;           /* 0: MHD's default */
        int64_t threads;           /* KM_HTTP_THREAD_PER_CONNECTION, 0: one
                               * polling thread (poll), N: N threads each
                               * with its epoll set */
};

/**
 * @brief Start serving with handler(cls); with hc->deadline_ms the
 * slow-client sweeper too (one deadline per process), and
 * km_http_completed always (it frees a km_http_req).  Then write the
 * bound port to hc->port_file.
 * @param port NULL-able: the bound port
 * @returns 0 and *d, KM_ECONFIG (not an address), KM_EFATAL (cannot
 *          listen, cannot write the port file: the daemon is stopped).
 */
int km_http_start(const struct km_http_conf *hc,
                  MHD_AccessHandlerCallback handler, void *cls,
                  struct MHD_Daemon **d, unsigned *port, char *err,
                  size_t errlen) KM_MUSTCHECK;

/**
 * @brief Write port and a newline to path (a temporary file, then
 * rename: a reader sees all or nothing).
 * @returns 0 or KM_EFATAL.
 */
int km_http_port_write(const char *path, unsigned port, char *err,
                       size_t errlen) KM_MUSTCHECK;

/* A request being read: its body, bounded (the access handler's *con_cls,
 * freed by km_http_completed). */
struct km_http_req {
        char *body; /* NUL-terminated; NULL: none */
        size_t len;
        int too_large; /* grew past max_body: dropped, the rest discarded */
        int64_t t0_us; /* monotonic, when the request arrived */
};

/* What the access handler does after km_http_body. */
enum km_http_step {
        KM_HTTP_CLOSE,     /* past its deadline: return MHD_NO */
        KM_HTTP_MORE,      /* headers or a chunk taken: return MHD_YES */
        KM_HTTP_READY,     /* received in full: answer it */
        KM_HTTP_TOO_LARGE, /* early: Content-Length is over the limit,
                            * answer 413 now (MHD closes afterwards) */
};

/**
 * @brief The access handler's first step: the slow-client gate, the
 * request record, the body appended up to max_body bytes.
 * @param early answer KM_HTTP_TOO_LARGE at once when Content-Length says
 *        the body is too large (else it is read and discarded)
 * @returns the step, with *reqp set (also for KM_HTTP_TOO_LARGE).
 */
enum km_http_step km_http_body(struct MHD_Connection *conn, void **con_cls,
                               const char *upload_data,
                               size_t *upload_data_size, size_t max_body,
                               int early, struct km_http_req **reqp);

/** MHD_OPTION_NOTIFY_COMPLETED: frees the km_http_req, restarts the
 *  connection's request clock (km_http_slow_request_done). */
void km_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                       enum MHD_RequestTerminationCode toe);

/* A form field: 0 to go on, non-zero to stop (km_http_form_parse
 * returns it). */
typedef int km_http_field_cb(void *opaque, const char *name, const char *value);

/**
 * @brief Percent-decode s[0..n) of a form ('+' is a space), strictly.
 * @returns 0 and *out (free it), or KM_EINPUT with the reason in err: a
 *          '%' without two hex digits, %00, bytes that are not UTF-8.
 */
int km_http_unescape(const char *s, size_t n, char **out, char *err,
                     size_t errlen) KM_MUSTCHECK;

/**
 * @brief Each field of an application/x-www-form-urlencoded body, in
 * order, decoded by km_http_unescape (nothing between two '&' is no
 * field, a field without '=' has the value "").
 * @param cb NULL-able: only check the body
 * @returns 0, KM_EINPUT (err: "invalid_encoding: ..."), or what cb
 *          returned to stop.
 */
int km_http_form_parse(const char *body, size_t len, km_http_field_cb *cb,
                       void *opaque, char *err, size_t errlen) KM_MUSTCHECK;

/**
 * @brief The decoded value of the first field called name (decoded), or
 * NULL (absent, or the body is not a valid form).  Free it.
 */
char *km_http_form_get(const char *body, size_t len, const char *name);

/* km_http_response flags: what a browser page needs on top of the API's */
#define KM_HTTP_PAGE                                                           \
        1u              /* CSP (no inline script or style), frames DENY,
                         * same-origin referrer and opener, no camera... */
#define KM_HTTP_HSTS 2u /* served over TLS: Strict-Transport-Security */

/**
 * @brief A response that owns body[0..len) (NULL: empty), with
 * Content-Type, X-Content-Type-Options nosniff, Cache-Control (NULL:
 * no-store) and the headers of flags.
 * @returns it, or NULL (body freed).
 */
struct MHD_Response *km_http_response(char *body, size_t len, const char *ctype,
                                      const char *cache, unsigned flags);

/**
 * @brief Queue resp with status and release it.  @p resp NULL-able:
 * MHD_NO (the connection is closed).
 */
enum MHD_Result km_http_queue(struct MHD_Connection *conn, unsigned status,
                              struct MHD_Response *resp);

#endif /* KM_HTTP_H */
