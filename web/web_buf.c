/*
 * web_buf.c - text buffers with the escapes every page needs (HTML text
 * and attributes, URL query values, CSV fields) and random tokens.  The
 * url-encoded form reader is km_http_form_get (common/km_http.c).
 *
 * SECURITY: everything that comes from a request or from the database is
 * written through web_buf_esc (HTML), web_buf_url (links) or web_buf_csv
 * (CSV); web_buf_printf/puts are for the program's own markup and
 * numbers.  web_buf_csv also defuses spreadsheet formulas (OWASP "CSV
 * injection", common/km_csv.c).
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_csv.h"
#include "km_hash.h"
#include "km_utf8.h"
#include "km_util.h"
#include "web.h"

static void web_buf_grow(struct web_buf *b, size_t more)
{
        size_t want = b->len + more + 1;

        if (want <= b->cap)
                return;
        b->cap = b->cap ? b->cap : 4096;
        while (b->cap < want)
                b->cap *= 2;
        b->p = km_xrealloc(b->p, b->cap);
        b->p[b->len] = '\0'; /* a new buffer is an empty string */
}

void web_buf_printf(struct web_buf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        web_buf_grow(b, 256); /* most fit: one vsnprintf */
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n <= 0) {
                b->p[b->len] = '\0';
                return;
        }
        if ((size_t)n >= b->cap - b->len) {
                web_buf_grow(b, (size_t)n);
                va_start(ap, fmt);
                vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
                va_end(ap);
        }
        b->len += (size_t)n;
}

static void web_buf_putn(struct web_buf *b, const char *s, size_t n)
{
        web_buf_grow(b, n);
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

void web_buf_puts(struct web_buf *b, const char *s)
{
        size_t n = strlen(s);

        web_buf_grow(b, n);
        memcpy(b->p + b->len, s, n + 1);
        b->len += n;
}

/* One UTF-8 sequence of n (2-4) bytes starting at p: continuation bytes
 * (a NUL is not one), no overlong form, no surrogate, at most U+10FFFF
 * (RFC 3629, as km_utf8_valid). */
static int web_utf8_seq(const unsigned char *p, size_t n)
{
        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
        if (n == 2)
                return p[0] >= 0xC2;
        if (n == 3)
                return !(p[0] == 0xE0 && p[1] < 0xA0) &&
                       !(p[0] == 0xED && p[1] >= 0xA0);
        return p[0] <= 0xF4 && !(p[0] == 0xF0 && p[1] < 0x90) &&
               !(p[0] == 0xF4 && p[1] >= 0x90);
}

/* HTML-escape at most max_chars characters of s (0: all); an ellipsis
 * marks a cut.  Invalid UTF-8 bytes become U+FFFD, control characters a
 * space (newlines stay). */
void web_buf_esc_n(struct web_buf *b, const char *s, size_t max_chars)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "");
        size_t chars = 0;

        web_buf_grow(b, 0);
        while (*p) {
                unsigned c = *p;
                size_t n = c < 0x80         ? 1
                           : (c >> 5) == 6  ? 2
                           : (c >> 4) == 14 ? 3
                           : (c >> 3) == 30 ? 4
                                            : 0;

                const unsigned char *q = p;
                size_t room = max_chars ? max_chars - chars : (size_t)-1;

                if (max_chars && chars == max_chars) {
                        web_buf_puts(b, "\xe2\x80\xa6");
                        return;
                }
                /* a run of characters that stay as they are: one copy */
                while (room > 0) {
                        unsigned d = *q;
                        size_t m = d < 0x80         ? 1
                                   : (d >> 5) == 6  ? 2
                                   : (d >> 4) == 14 ? 3
                                   : (d >> 3) == 30 ? 4
                                                    : 0;

                        if (m == 1 &&
                            (d < 0x20 || d == 0x7f || d == '&' || d == '<' ||
                             d == '>' || d == '"' || d == '\''))
                                break;
                        if (m == 0 || (m > 1 && !web_utf8_seq(q, m)))
                                break;
                        q += m;
                        room--;
                }
                if (q > p) {
                        chars += max_chars ? max_chars - chars - room : 0;
                        web_buf_putn(b, (const char *)p, (size_t)(q - p));
                        p = q;
                        continue;
                }
                chars++;
                if (n == 0 || (n > 1 && !web_utf8_seq(p, n))) {
                        web_buf_puts(b, "\xef\xbf\xbd");
                        p++;
                        continue;
                }
                if (n > 1) {
                        web_buf_putn(b, (const char *)p, n);
                        p += n;
                        continue;
                }
                switch (c) {
                case '&':
                        web_buf_putn(b, "&amp;", 5);
                        break;
                case '<':
                        web_buf_putn(b, "&lt;", 4);
                        break;
                case '>':
                        web_buf_putn(b, "&gt;", 4);
                        break;
                case '"':
                        web_buf_putn(b, "&quot;", 6);
                        break;
                case '\'':
                        web_buf_putn(b, "&#39;", 5);
                        break;
                default: {
                        char ch = c < 0x20 && c != '\n' ? ' '
                                  : c == 0x7f           ? ' '
                                                        : (char)c;

                        web_buf_putn(b, &ch, 1);
                }
                }
                p++;
        }
}

void web_buf_esc(struct web_buf *b, const char *s)
{
        web_buf_esc_n(b, s, 0);
}

/* Percent-encode for a query value: only unreserved characters stay. */
void web_buf_url(struct web_buf *b, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
                    *p == '.' || *p == '~')
                        web_buf_putn(b, (const char *)p, 1);
                else
                        web_buf_putn(b, e, 3);
        }
}

/* One CSV cell: quoting and the formula defence are km_csv_cell's
 * (common/km_csv.c, shared with komek-report). */
void web_buf_csv(struct web_buf *b, const char *s)
{
        size_t n = km_csv_cell(s, NULL, 0);

        web_buf_grow(b, n);
        km_csv_cell(s, b->p + b->len, n + 1);
        b->len += n;
}

void web_buf_free(struct web_buf *b)
{
        free(b->p);
        b->p = NULL;
        b->len = b->cap = 0;
}

/* 32 random bytes (OpenSSL's CSPRNG) as 64 lower-case hex digits. */
int web_hex_token(char *out, size_t outlen)
{
        unsigned char r[WEB_TOKEN_HEX / 2];

        if (outlen < WEB_TOKEN_HEX + 1 || RAND_bytes(r, sizeof(r)) != 1)
                return KM_EFATAL;
        km_hash_hex(r, sizeof(r), out);
        return 0;
}
