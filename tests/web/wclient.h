/*
 * wclient.h - komek-web's tests' requests: tests/common/http_client.c's
 * http_send with a cookie jar (what a browser keeps: name=value from
 * Set-Cookie, removed by Max-Age=0), optional extra header lines, url-
 * encoded forms and a 30 s read timeout; and readers of the answers.
 */
#ifndef WCLIENT_H
#define WCLIENT_H

#include <stddef.h>

#define WC_MAX_COOKIES 8

struct wc_jar {
        int n;
        char name[WC_MAX_COOKIES][64];
        char value[WC_MAX_COOKIES][256];
};

struct wc_resp {
        int status;
        char *headers; /* raw header block, lines end in \r\n */
        char *body;    /* NUL-terminated */
        size_t len;
};

/**
 * @brief One request to 127.0.0.1:port.  body (url-encoded form) NULL-able;
 * jar NULL-able (no cookies sent or kept); extra NULL-able: header lines,
 * each ending in \r\n.  @returns 0 or -1 (no connection, bad answer).
 */
int wc_do(int port, const char *method, const char *path, const char *body,
          struct wc_jar *jar, const char *extra, struct wc_resp *r);

void wc_free(struct wc_resp *r);

/** @brief NULL-able: the local address wc_do connects from (another
 *  loopback address such as 127.0.0.2; NULL: the system's choice). */
extern const char *wc_source;

/** @brief The value of the first header name (case-insensitive) into buf.
 *  @returns buf or NULL. */
char *wc_header(const struct wc_resp *r, const char *name, char *buf,
                size_t len);

/** @brief Every Set-Cookie line joined by "\n" into buf. */
char *wc_set_cookies(const struct wc_resp *r, char *buf, size_t len);

/** @brief A cookie's value in the jar, or NULL. */
const char *wc_cookie(const struct wc_jar *jar, const char *name);

/** @brief The value="..." of the first input named name in an HTML page. */
int wc_input(const char *html, const char *name, char *buf, size_t len);

/** @brief Percent-encode s for a form body into buf. */
char *wc_urlenc(const char *s, char *buf, size_t len);

#endif
