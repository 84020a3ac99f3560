/*
 * km_csv.c - see km_csv.h.
 */
#include "km_csv.h"

#include <stdlib.h>
#include <string.h>

#include "km_err.h"
#include "km_util.h"

/* 1 if s is a plain decimal number ("-5", "-5.5"): a spreadsheet reads it
 * as that number, never as a formula. */
static int km_csv_number(const char *s)
{
        int digits = 0, dot = 0;

        for (s += *s == '-'; *s; s++) {
                if (*s >= '0' && *s <= '9')
                        digits++;
                else if (*s == '.' && !dot && digits)
                        dot = 1;
                else
                        return 0;
        }
        return digits > 0 && s[-1] != '.';
}

int km_csv_formula(const char *s)
{
        if (s == NULL)
                return 0;
        return s[0] == '=' || s[0] == '+' || s[0] == '@' || s[0] == '\t' ||
               s[0] == '\r' || (s[0] == '-' && !km_csv_number(s));
}

size_t km_csv_cell(const char *s, char *out, size_t outlen)
{
        int formula, quote;
        size_t n = 0;

#define KM_CSV_PUT(ch)                                                         \
        do {                                                                   \
                if (n + 1 < outlen)                                            \
                        out[n] = (ch);                                         \
                n++;                                                           \
        } while (0)

        if (s == NULL)
                s = "";
        formula = km_csv_formula(s);
        quote = formula || strpbrk(s, ",\"\r\n") != NULL;
        if (quote)
                KM_CSV_PUT('"');
        if (formula)
                KM_CSV_PUT('\'');
        for (const char *p = s; *p; p++) {
                if (*p == '"' && quote)
                        KM_CSV_PUT('"');
                KM_CSV_PUT(*p);
        }
        if (quote)
                KM_CSV_PUT('"');
#undef KM_CSV_PUT
        if (outlen > 0)
                out[n < outlen ? n : outlen - 1] = '\0';
        return n;
}

/* ---- reading ------------------------------------------------------------ */

/* States: 0 start of a field, 1 in an unquoted field, 2 in a quoted
 * field, 3 just after a quote inside a quoted field (closing or the first
 * of ""). A line end outside quotes ends the record. */
int km_csv_quote_state(const char *buf, size_t len, int state)
{
        for (size_t i = 0; i < len; i++) {
                char c = buf[i];

                switch (state) {
                case 0:
                        state = c == '"' ? 2 : c == ',' ? 0 : 1;
                        break;
                case 1:
                        if (c == ',')
                                state = 0;
                        break;
                case 2:
                        if (c == '"')
                                state = 3;
                        break;
                default:
                        state = c == '"' ? 2 : c == ',' ? 0 : 1;
                        break;
                }
                if ((c == '\n' || c == '\r') && state != 2)
                        state = 0;
        }
        return state;
}

int km_csv_split(const char *rec, size_t len, char ***fields, char **block,
                 char *err, size_t errlen)
{
        char *out = km_xmalloc(len + 1), *w = out;
        char **f = NULL;
        size_t i = 0;
        int n = 0, cap = 0;

        for (;;) {
                if (n == cap) {
                        cap = cap ? cap * 2 : 32;
                        f = km_xrealloc(f, (size_t)cap * sizeof(char *));
                }
                f[n++] = w;
                if (i < len && rec[i] == '"') {
                        i++;
                        for (;;) {
                                if (i >= len) {
                                        km_err_set(err, errlen, KM_EINPUT,
                                                   "field %d: unterminated "
                                                   "quote",
                                                   n);
                                        goto fail;
                                }
                                if (rec[i] == '"') {
                                        if (i + 1 < len && rec[i + 1] == '"') {
                                                *w++ = '"';
                                                i += 2;
                                                continue;
                                        }
                                        i++;
                                        break;
                                }
                                *w++ = rec[i++];
                        }
                        if (i < len && rec[i] != ',') {
                                km_err_set(err, errlen, KM_EINPUT,
                                           "field %d: text after the closing "
                                           "quote",
                                           n);
                                goto fail;
                        }
                } else {
                        while (i < len && rec[i] != ',') {
                                if (rec[i] == '"') {
                                        km_err_set(err, errlen, KM_EINPUT,
                                                   "field %d: quote inside an "
                                                   "unquoted field",
                                                   n);
                                        goto fail;
                                }
                                *w++ = rec[i++];
                        }
                }
                *w++ = '\0';
                if (i >= len)
                        break;
                i++; /* the comma */
        }
        *fields = f;
        *block = out;
        return n;
fail:
        free(f);
        free(out);
        *fields = NULL;
        *block = NULL;
        return KM_EINPUT;
}
