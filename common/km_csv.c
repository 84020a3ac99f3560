/*
 * km_csv.c - see km_csv.h.
 */
#include "km_csv.h"

#include <string.h>

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

#define KM_CSV_PUT(ch)                                                       \
        do {                                                                 \
                if (n + 1 < outlen)                                          \
                        out[n] = (ch);                                       \
                n++;                                                         \
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
