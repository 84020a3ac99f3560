/*
 * km_util.c - see km_util.h.
 */
#include "km_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_time.h"

static void km_oom(size_t n)
{
        /* The one place common/ writes to stderr and exits: out of memory
         * is not an error a caller can handle (Postfix mymalloc). */
        fprintf(stderr, "komek: out of memory (%zu bytes)\n", n);
        abort();
}

void *km_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);

        if (p == NULL)
                km_oom(n);
        return p;
}

void *km_xcalloc(size_t nmemb, size_t n)
{
        void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);

        if (p == NULL)
                km_oom(nmemb * n);
        return p;
}

void *km_xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n ? n : 1);

        if (q == NULL)
                km_oom(n);
        return q;
}

char *km_xstrdup(const char *s)
{
        if (s == NULL)
                return NULL;
        return km_xstrndup(s, strlen(s));
}

char *km_xstrndup(const char *s, size_t n)
{
        char *p = km_xmalloc(n + 1);

        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

char *km_xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *p = NULL;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0)
                km_oom(0);
        return p;
}

int64_t km_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t km_wall_s(void)
{
        return (int64_t)time(NULL);
}

static char *km_fmt_2(char *p, int v)
{
        *p++ = (char)('0' + v / 10);
        *p++ = (char)('0' + v % 10);
        return p;
}

void km_fmt_rfc3339(int64_t t, char *buf, size_t len)
{
        time_t tt = (time_t)t;
        struct tm tm;
        char *p = buf;
        int y;

        gmtime_r(&tt, &tm);
        y = tm.tm_year + 1900;
        if (len < 21 || y < 1000 || y > 9999) { /* as strftime has it */
                strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
                return;
        }
        /* strftime's, digit by digit (strftime cost a seventh of a
         * dispatch message) */
        p = km_fmt_2(p, y / 100);
        p = km_fmt_2(p, y % 100);
        *p++ = '-';
        p = km_fmt_2(p, tm.tm_mon + 1);
        *p++ = '-';
        p = km_fmt_2(p, tm.tm_mday);
        *p++ = 'T';
        p = km_fmt_2(p, tm.tm_hour);
        *p++ = ':';
        p = km_fmt_2(p, tm.tm_min);
        *p++ = ':';
        p = km_fmt_2(p, tm.tm_sec);
        *p++ = 'Z';
        *p = '\0';
}

static int km_digits(const char *s, int n, int *out)
{
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return 0;
}

int km_parse_rfc3339(const char *s, int64_t *out)
{
        static const int mdays[] = {31, 29, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
        int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
        const char *p;
        int64_t t;

        if (strlen(s) < 20)
                return -1;
        if (km_digits(s, 4, &y) || s[4] != '-' || km_digits(s + 5, 2, &mo) ||
            s[7] != '-' || km_digits(s + 8, 2, &d) ||
            (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
            km_digits(s + 11, 2, &h) || s[13] != ':' ||
            km_digits(s + 14, 2, &mi) || s[16] != ':' ||
            km_digits(s + 17, 2, &sec))
                return -1;
        if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
            mi > 59 || sec > 60)
                return -1;
        if (mo == 2 && d == 29 &&
            !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
                return -1;
        p = s + 19;
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -1;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                sign = *p == '+' ? 1 : -1;
                if (km_digits(p + 1, 2, &oh) || p[3] != ':' ||
                    km_digits(p + 4, 2, &om) || oh > 23 || om > 59)
                        return -1;
                p += 6;
        } else {
                return -1;
        }
        if (*p != '\0')
                return -1;
        t = km_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
            h * 3600 + mi * 60 + sec;
        t -= sign * (oh * 3600 + om * 60);
        if (sec == 60) {
                /* A leap second can only be 23:59:60 UTC (after the offset
                 * is applied): t is then 00:00:00 of the next UTC day.
                 * Anywhere else second 60 is invalid. Clamp to 23:59:59. */
                if (((t % 86400) + 86400) % 86400 != 0)
                        return -1;
                t -= 1;
        }
        *out = t;
        return 0;
}
