/*
 * wclient.c - see wclient.h.
 */
#include "wclient.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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
        struct sockaddr_in sa;
        struct timeval tv = {30, 0};
        size_t blen = body ? strlen(body) : 0, cap = 65536, len = 0, hl;
        char *req, *buf, cookie[2048] = "", *sep;
        int fd, n;

        memset(r, 0, sizeof(*r));
        for (int i = 0; jar && i < jar->n; i++) {
                size_t l = strlen(cookie);

                snprintf(cookie + l, sizeof(cookie) - l, "%s%s=%s",
                         i ? "; " : "Cookie: ", jar->name[i], jar->value[i]);
        }
        if (cookie[0])
                strcat(cookie, "\r\n");
        req = malloc(blen + 4096);
        n = snprintf(req, 4096,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Connection: close\r\n%s%s",
                     method, path, port, cookie, extra ? extra : "");
        if (body)
                n += snprintf(req + n, 4096 - (size_t)n,
                              "Content-Type: application/x-www-form-urlencoded"
                              "\r\nContent-Length: %zu\r\n",
                              blen);
        n += snprintf(req + n, 4096 - (size_t)n, "\r\n");
        if (body)
                memcpy(req + n, body, blen);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((unsigned short)port);
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (fd >= 0 && wc_source) { /* another loopback address */
                struct sockaddr_in src;

                memset(&src, 0, sizeof(src));
                src.sin_family = AF_INET;
                inet_pton(AF_INET, wc_source, &src.sin_addr);
                if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
                        close(fd);
                        fd = -1;
                }
        }
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            write(fd, req, (size_t)n + blen) != (ssize_t)((size_t)n + blen)) {
                if (fd >= 0)
                        close(fd);
                free(req);
                return -1;
        }
        free(req);
        buf = malloc(cap);
        for (;;) {
                ssize_t got;

                if (len + 4096 > cap)
                        buf = realloc(buf, cap *= 2);
                got = read(fd, buf + len, cap - len - 1);
                if (got <= 0)
                        break;
                len += (size_t)got;
        }
        close(fd);
        buf[len] = '\0';
        sep = strstr(buf, "\r\n\r\n");
        if (sep == NULL || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
                free(buf);
                return -1;
        }
        hl = (size_t)(sep - buf) + 2;
        r->headers = strndup(buf, hl);
        r->len = len - hl - 2;
        r->body = malloc(r->len + 1);
        memcpy(r->body, sep + 4, r->len);
        r->body[r->len] = '\0';
        free(buf);
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

        for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < len;
             p++) {
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
