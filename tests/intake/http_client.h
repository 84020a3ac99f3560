/*
 * http_client.h - a tiny HTTP/1.1 client over POSIX sockets for the
 * gateway's tests (one request per connection), and a small XML reader
 * that turns the gateway's answers back into jansson values.
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

/** @brief One request to 127.0.0.1:port.  ctype and body NULL-able.
 *  @returns 0 or -1 (connection failed). */
int http_do(int port, const char *method, const char *path,
            const char *ctype, const char *body, size_t blen,
            struct http_resp *resp);

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
