/*
 * http_client.h - the tests' one HTTP/1.1 client over POSIX sockets (one
 * request per connection to 127.0.0.1): http_send, with http_do for the
 * gateway's and the metrics servers' tests and tests/web/wclient.c (a
 * cookie jar on top) for komek-web's; and a small XML reader that turns
 * the gateway's answers back into jansson values.
 */
#ifndef HTTP_CLIENT_H
#define HTTP_CLIENT_H

#include <jansson.h>
#include <stddef.h>

struct http_resp {
        int status;
        char *headers; /* raw header block */
        char *body;    /* NUL-terminated */
        size_t len;
};

/* One request.  Every pointer but method and path NULL-able. */
struct http_req {
        const char *method, *path;
        const char *host;    /* the Host header; NULL: 127.0.0.1 */
        const char *headers; /* extra header lines, each ending in \r\n */
        const char *body;    /* NULL: no body and no Content-Length */
        size_t blen;
        const char *source; /* the local address to connect from */
        int timeout_s;      /* each read; 0: none */
};

/** @brief Send q to 127.0.0.1:port and read the answer to its end.  A
 *  body the server cuts short is not an error (its answer is read).
 *  @returns 0 (resp filled: headers without the blank line, body with a
 *  NUL after len bytes) or -1 (no connection, not an HTTP answer). */
int http_send(int port, const struct http_req *q, struct http_resp *resp);

/** @brief One request to 127.0.0.1:port with Content-Length (0 without a
 *  body).  ctype and body NULL-able.
 *  @returns 0 or -1 (connection failed). */
int http_do(int port, const char *method, const char *path, const char *ctype,
            const char *body, size_t blen, struct http_resp *resp);

void http_resp_free(struct http_resp *resp);

/**
 * @brief Parse an XML answer of the gateway: <root><item><field>text
 * </field>...</item>...</root> into an array of objects of strings (an
 * empty element is ""), or a root element with fields into one object.
 * Entities &amp; &lt; &gt; &quot; &apos; &#N; are decoded.
 * @returns a new reference or NULL when it is not well formed.
 */
json_t *http_xml_parse(const char *xml, char *root, size_t rootlen);

/** @brief Compare a JSON answer with its parsed XML twin: every value's
 *  text equal (numbers by value, null as "").  @returns 1 if equal. */
int http_same(const json_t *json, const json_t *xml);

#endif
