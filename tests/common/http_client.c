/*
 * http_client.c - see http_client.h.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "km_util.h"

int http_send(int port, const struct http_req *q, struct http_resp *resp)
{
        struct sockaddr_in sa;
        struct timeval tv = {q->timeout_s, 0};
        char *req, *buf = NULL, *sep;
        size_t len = 0, cap = 0;
        ssize_t n;
        int fd;

        memset(resp, 0, sizeof(*resp));
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
                return -1;
        if (q->timeout_s > 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (q->source) { /* another loopback address */
                memset(&sa, 0, sizeof(sa));
                sa.sin_family = AF_INET;
                if (inet_pton(AF_INET, q->source, &sa.sin_addr) != 1 ||
                    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
                        close(fd);
                        return -1;
                }
        }
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        if (q->body)
                req = km_xasprintf("%s %s HTTP/1.1\r\nHost: %s\r\n"
                                   "Connection: close\r\n%sContent-Length: "
                                   "%zu\r\n\r\n",
                                   q->method, q->path,
                                   q->host ? q->host : "127.0.0.1",
                                   q->headers ? q->headers : "", q->blen);
        else
                req = km_xasprintf("%s %s HTTP/1.1\r\nHost: %s\r\n"
                                   "Connection: close\r\n%s\r\n",
                                   q->method, q->path,
                                   q->host ? q->host : "127.0.0.1",
                                   q->headers ? q->headers : "");
        /* a refused body may be cut short by the server: ignore errors */
        if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
                free(req);
                close(fd);
                return -1;
        }
        free(req);
        if (q->body && q->blen)
                (void)send(fd, q->body, q->blen, MSG_NOSIGNAL);
        for (;;) {
                if (len + 4096 + 1 > cap) {
                        cap = (len + 4096 + 1) * 2;
                        buf = km_xrealloc(buf, cap);
                }
                n = recv(fd, buf + len, cap - len - 1, 0);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (buf == NULL)
                return -1;
        buf[len] = '\0';
        sep = strstr(buf, "\r\n\r\n");
        if (sep == NULL || sscanf(buf, "HTTP/1.%*d %d", &resp->status) != 1) {
                free(buf);
                return -1;
        }
        resp->headers = km_xstrndup(buf, (size_t)(sep - buf));
        resp->len = len - (size_t)(sep + 4 - buf);
        resp->body = km_xmalloc(resp->len + 1);
        memcpy(resp->body, sep + 4, resp->len + 1); /* with buf's NUL */
        free(buf);
        return 0;
}

int http_do(int port, const char *method, const char *path, const char *ctype,
            const char *body, size_t blen, struct http_resp *resp)
{
        char *headers =
                ctype ? km_xasprintf("Content-Type: %s\r\n", ctype) : NULL;
        struct http_req q = {.method = method,
                             .path = path,
                             .headers = headers,
                             .body = body ? body : "",
                             .blen = body ? blen : 0};
        int r = http_send(port, &q, resp);

        free(headers);
        return r;
}

void http_resp_free(struct http_resp *resp)
{
        free(resp->headers);
        free(resp->body);
        memset(resp, 0, sizeof(*resp));
}

/* ---- XML reader ---------------------------------------------------- */

struct xr {
        const char *p;
        int bad;
};

static void xr_ws(struct xr *x)
{
        while (*x->p == ' ' || *x->p == '\n' || *x->p == '\r' || *x->p == '\t')
                x->p++;
}

static int xr_name(struct xr *x, char *name, size_t len)
{
        size_t n = 0;

        while ((*x->p >= 'a' && *x->p <= 'z') || *x->p == '_' ||
               (*x->p >= 'A' && *x->p <= 'Z') ||
               (*x->p >= '0' && *x->p <= '9')) {
                if (n + 1 < len)
                        name[n++] = *x->p;
                x->p++;
        }
        name[n] = '\0';
        return n > 0 ? 0 : -1;
}

/* Text up to '<', entities decoded. */
static char *xr_text(struct xr *x)
{
        size_t cap = 64, n = 0;
        char *out = km_xmalloc(cap);

        while (*x->p && *x->p != '<') {
                char c = *x->p++;
                char ent[12];
                unsigned long cp;

                if (c == '&') {
                        size_t k = 0;

                        while (*x->p && *x->p != ';' && k + 1 < sizeof(ent))
                                ent[k++] = *x->p++;
                        ent[k] = '\0';
                        if (*x->p != ';') {
                                x->bad = 1;
                                break;
                        }
                        x->p++;
                        if (!strcmp(ent, "amp"))
                                c = '&';
                        else if (!strcmp(ent, "lt"))
                                c = '<';
                        else if (!strcmp(ent, "gt"))
                                c = '>';
                        else if (!strcmp(ent, "quot"))
                                c = '"';
                        else if (!strcmp(ent, "apos"))
                                c = '\'';
                        else if (ent[0] == '#' &&
                                 (cp = strtoul(ent + 1, NULL, 10)) < 128)
                                c = (char)cp;
                        else
                                x->bad = 1;
                }
                if (n + 2 > cap)
                        out = km_xrealloc(out, cap *= 2);
                out[n++] = c;
        }
        out[n] = '\0';
        return out;
}

/* One element: returns a string (leaf) or an object/array (children). */
static json_t *xr_elem(struct xr *x, char *name, size_t nlen)
{
        char close[128], child[128];
        json_t *kids = NULL, *v;
        int as_array = 0;

        xr_ws(x);
        if (*x->p != '<' || (x->p++, xr_name(x, name, nlen)) != 0) {
                x->bad = 1;
                return NULL;
        }
        if (x->p[0] == '/' && x->p[1] == '>') {
                x->p += 2;
                return json_string("");
        }
        if (*x->p++ != '>') {
                x->bad = 1;
                return NULL;
        }
        {
                const char *save = x->p;

                xr_ws(x);
                if (*x->p != '<' || x->p[1] == '/')
                        x->p = save; /* text (or empty): read it verbatim */
        }
        if (*x->p != '<' || x->p[1] == '/') {
                char *t = xr_text(x);

                /* whitespace only: an empty list such as <services>\n</services> */
                v = json_string(t[strspn(t, " \n\r\t")] ? t : "");
                free(t);
        } else {
                /* a list of strings: <formats><format>a</format>... (the
                 * item named as the list without its "s") */
                json_t *list = json_array();
                int same = 1;
                size_t nl = strlen(name);

                while (!x->bad) {
                        xr_ws(x);
                        if (x->p[0] == '<' && x->p[1] == '/')
                                break;
                        v = xr_elem(x, child, sizeof(child));
                        if (v == NULL)
                                break;
                        if (kids == NULL) {
                                as_array =
                                        json_is_object(v) || json_is_array(v);
                                kids = as_array ? json_array() : json_object();
                        }
                        if (strlen(child) + 1 != nl || name[nl - 1] != 's' ||
                            strncmp(child, name, nl - 1))
                                same = 0;
                        if (!as_array)
                                json_array_append(list, v);
                        if (as_array)
                                json_array_append_new(kids, v);
                        else
                                json_object_set_new(kids, child, v);
                }
                if (!as_array && same && json_array_size(list)) {
                        json_decref(kids);
                        kids = json_incref(list);
                }
                json_decref(list);
                v = kids;
        }
        if (x->p[0] != '<' || x->p[1] != '/') {
                x->bad = 1;
                json_decref(v);
                return NULL;
        }
        x->p += 2;
        xr_name(x, close, sizeof(close));
        if (strcmp(close, name) != 0 || *x->p != '>') {
                x->bad = 1;
                json_decref(v);
                return NULL;
        }
        x->p++;
        return v;
}

json_t *http_xml_parse(const char *xml, char *root, size_t rootlen)
{
        struct xr x = {xml, 0};
        json_t *v;

        if (strncmp(x.p, "<?xml", 5) == 0) {
                x.p = strstr(x.p, "?>");
                if (x.p == NULL)
                        return NULL;
                x.p += 2;
        }
        v = xr_elem(&x, root, rootlen);
        xr_ws(&x);
        if (x.bad || *x.p != '\0') {
                json_decref(v);
                return NULL;
        }
        return v;
}

int http_same(const json_t *json, const json_t *xml)
{
        size_t i;
        const char *key, *s;
        json_t *v;
        char num[64];

        switch (json_typeof(json)) {
        case JSON_ARRAY:
                if (json_array_size(json) == 0)
                        return json_is_string(xml) && !*json_string_value(xml);
                if (!json_is_array(xml) ||
                    json_array_size(xml) != json_array_size(json))
                        return 0;
                json_array_foreach ((json_t *)json, i, v)
                        if (!http_same(v, json_array_get(xml, i)))
                                return 0;
                return 1;
        case JSON_OBJECT:
                if (!json_is_object(xml) ||
                    json_object_size(xml) != json_object_size(json))
                        return 0;
                json_object_foreach ((json_t *)json, key, v)
                        if (!http_same(v, json_object_get(xml, key)))
                                return 0;
                return 1;
        default:
                break;
        }
        if (!json_is_string(xml))
                return 0;
        s = json_string_value(xml);
        switch (json_typeof(json)) {
        case JSON_STRING:
                return strcmp(s, json_string_value(json)) == 0;
        case JSON_INTEGER:
                snprintf(num, sizeof(num), "%lld",
                         (long long)json_integer_value(json));
                return strcmp(s, num) == 0;
        case JSON_REAL:
                return fabs(strtod(s, NULL) - json_real_value(json)) < 1e-9;
        case JSON_TRUE:
                return strcmp(s, "true") == 0;
        case JSON_FALSE:
                return strcmp(s, "false") == 0;
        case JSON_NULL:
                return *s == '\0';
        default:
                return 0;
        }
}
