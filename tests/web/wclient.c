/*
 * wclient.c - see wclient.h.
 */
#include "wclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_client.h"
#include "km_util.h"

static void wc_jar_set(struct wc_jar *jar, const char *line)
{
        char name[64], value[256];
        const char *eq = strchr(line, '='), *semi;
        size_t n;
        int del, i;

        if (eq == NULL || (size_t)(eq - line) >= sizeof(name))
                return;
        memcpy(name, line, (size_t)(eq - line));
        name[eq - line] = '\0';
        semi = strchr(eq, ';');
        n = semi ? (size_t)(semi - eq - 1) : strcspn(eq + 1, "\r\n");
        if (n >= sizeof(value))
                return;
        memcpy(value, eq + 1, n);
        value[n] = '\0';
        del = strstr(line, "Max-Age=0;") != NULL || value[0] == '\0';
        for (i = 0; i < jar->n && strcmp(jar->name[i], name); i++)
                ;
        if (del) {
                if (i < jar->n) {
                        jar->n--;
                        memmove(jar->name[i], jar->name[i + 1],
                                (size_t)(jar->n - i) * sizeof(jar->name[0]));
                        memmove(jar->value[i], jar->value[i + 1],
                                (size_t)(jar->n - i) * sizeof(jar->value[0]));
                }
                return;
        }
        if (i == jar->n) {
                if (jar->n == WC_MAX_COOKIES)
                        return;
                jar->n++;
        }
        snprintf(jar->name[i], sizeof(jar->name[i]), "%s", name);
        snprintf(jar->value[i], sizeof(jar->value[i]), "%s", value);
}

const char *wc_source;

const char *wc_cookie(const struct wc_jar *jar, const char *name)
{
        for (int i = 0; i < jar->n; i++)
                if (strcmp(jar->name[i], name) == 0)
                        return jar->value[i];
        return NULL;
}

int wc_do(int port, const char *method, const char *path, const char *body,
          struct wc_jar *jar, const char *extra, struct wc_resp *r)
{
        char cookie[2048] = "", host[32], *headers;
        struct http_resp resp;
        int rc;

        memset(r, 0, sizeof(*r));
        for (int i = 0; jar && i < jar->n; i++) {
                size_t l = strlen(cookie);

                snprintf(cookie + l, sizeof(cookie) - l, "%s%s=%s",
                         i ? "; " : "Cookie: ", jar->name[i], jar->value[i]);
        }
        if (cookie[0])
                strcat(cookie, "\r\n");
        snprintf(host, sizeof(host), "127.0.0.1:%d", port);
        headers = km_xasprintf("%s%s%s", cookie, extra ? extra : "",
                               body ? "Content-Type: application/"
                                      "x-www-form-urlencoded\r\n"
                                    : "");
        {
                struct http_req q = {.method = method,
                                     .path = path,
                                     .host = host,
                                     .headers = headers,
                                     .body = body,
                                     .blen = body ? strlen(body) : 0,
                                     .source = wc_source,
                                     .timeout_s = 30};

                rc = http_send(port, &q, &resp);
        }
        free(headers);
        if (rc != 0)
                return -1;
        r->status = resp.status;
        /* each header line ends in \r\n here (wc_header's lines) */
        r->headers = km_xasprintf("%s\r\n", resp.headers);
        r->body = resp.body;
        r->len = resp.len;
        resp.body = NULL;
        http_resp_free(&resp);
        if (jar)
                for (char *l = r->headers; l && *l;) {
                        char *end = strstr(l, "\r\n");

                        if (strncasecmp(l, "Set-Cookie: ", 12) == 0) {
                                char line[512];

                                snprintf(line, sizeof(line), "%.*s;",
                                         (int)(end - l - 12), l + 12);
                                wc_jar_set(jar, line);
                        }
                        l = end ? end + 2 : NULL;
                }
        return 0;
}

void wc_free(struct wc_resp *r)
{
        free(r->headers);
        free(r->body);
        memset(r, 0, sizeof(*r));
}

char *wc_header(const struct wc_resp *r, const char *name, char *buf,
                size_t len)
{
        size_t n = strlen(name);

        for (const char *l = r->headers; l && *l;) {
                const char *end = strstr(l, "\r\n");

                if (end == NULL)
                        break;
                if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
                        const char *v = l + n + 1;

                        while (*v == ' ')
                                v++;
                        snprintf(buf, len, "%.*s", (int)(end - v), v);
                        return buf;
                }
                l = end + 2;
        }
        return NULL;
}

char *wc_set_cookies(const struct wc_resp *r, char *buf, size_t len)
{
        buf[0] = '\0';
        for (const char *l = r->headers; l && *l;) {
                const char *end = strstr(l, "\r\n");
                size_t have = strlen(buf);

                if (end == NULL)
                        break;
                if (strncasecmp(l, "Set-Cookie: ", 12) == 0)
                        snprintf(buf + have, len - have, "%.*s\n",
                                 (int)(end - l - 12), l + 12);
                l = end + 2;
        }
        return buf;
}

int wc_input(const char *html, const char *name, char *buf, size_t len)
{
        char pat[96];
        const char *p, *v, *q;

        snprintf(pat, sizeof(pat), "name=\"%s\" value=\"", name);
        if ((p = strstr(html, pat)) == NULL)
                return -1;
        v = p + strlen(pat);
        if ((q = strchr(v, '"')) == NULL)
                return -1;
        snprintf(buf, len, "%.*s", (int)(q - v), v);
        return 0;
}

char *wc_urlenc(const char *s, char *buf, size_t len)
{
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *)s;
             *p && n + 4 < len; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
                    *p == '.')
                        buf[n++] = (char)*p;
                else
                        n += (size_t)snprintf(buf + n, len - n, "%%%02X", *p);
        }
        buf[n] = '\0';
        return buf;
}
