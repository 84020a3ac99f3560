/*
 * directory_csv.c - a strict RFC 4180 reader: comma-separated, fields
 * optionally in double quotes with "" for a quote, LF or CRLF line ends, an
 * optional UTF-8 byte order mark.  Every row must have the header's column
 * count; every field must be valid UTF-8 without control characters.
 *
 * SECURITY: the files come from an operator but are still checked: sizes
 * are bounded (64 MiB per file, 4 KiB per field), errors name the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "km_utf8.h"
#include "km_util.h"

#define DIRECTORY_CSV_MAX (64L * 1024 * 1024)
#define DIRECTORY_FIELD_MAX 4096

static char *directory_slurp(const char *path, size_t *len, char *err,
                             size_t errlen)
{
        FILE *fp = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (fp == NULL) {
                km_err_set(err, errlen, KM_EINPUT, "%s: cannot open", path);
                return NULL;
        }
        if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
            fseek(fp, 0, SEEK_SET) != 0) {
                km_err_set(err, errlen, KM_EINPUT, "%s: cannot read", path);
                goto out;
        }
        if (n > DIRECTORY_CSV_MAX) {
                km_err_set(err, errlen, KM_EINPUT, "%s: larger than %ld bytes",
                           path, DIRECTORY_CSV_MAX);
                goto out;
        }
        buf = km_xmalloc((size_t)n + 1);
        if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
                km_err_set(err, errlen, KM_EINPUT, "%s: short read", path);
                free(buf);
                buf = NULL;
                goto out;
        }
        buf[n] = '\0';
        *len = (size_t)n;
out:
        fclose(fp);
        return buf;
}

static void directory_csv_push(struct directory_csv *csv, char **fields,
                               size_t nf, size_t line, size_t *cap)
{
        if (csv->nrows == *cap) {
                *cap = *cap ? *cap * 2 : 256;
                csv->rows = km_xrealloc(csv->rows, *cap * sizeof(char **));
                csv->lines = km_xrealloc(csv->lines, *cap * sizeof(size_t));
        }
        (void)nf;
        csv->rows[csv->nrows] = fields;
        csv->lines[csv->nrows] = line;
        csv->nrows++;
}

static void directory_fields_free(char **f, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(f[i]);
        free(f);
}

int directory_csv_read(const char *path, struct directory_csv *csv,
                       char *err, size_t errlen)
{
        size_t len = 0, i = 0, line = 1, cap = 0, nf = 0, fcap = 0;
        char *buf, **fields = NULL, field[DIRECTORY_FIELD_MAX + 1];
        int r = 0;

        memset(csv, 0, sizeof(*csv));
        csv->path = km_xstrdup(path);
        buf = directory_slurp(path, &len, err, errlen);
        if (buf == NULL)
                return KM_EINPUT;
        if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
                i = 3;
        while (i < len) {
                size_t fl = 0, start_line = line;
                int quoted = 0, end_row = 0;

                if (buf[i] == '"') {
                        quoted = 1;
                        i++;
                }
                for (;;) {
                        char c;

                        if (i >= len) {
                                if (quoted) {
                                        r = km_err_set(err, errlen, KM_EINPUT,
                                                       "%s:%zu: unterminated "
                                                       "quote",
                                                       path, start_line);
                                        goto fail;
                                }
                                end_row = 1;
                                break;
                        }
                        c = buf[i];
                        if (quoted && c == '"') {
                                if (i + 1 < len && buf[i + 1] == '"') {
                                        i += 2;
                                        if (fl < DIRECTORY_FIELD_MAX)
                                                field[fl++] = '"';
                                        continue;
                                }
                                quoted = 0;
                                i++;
                                if (i < len && buf[i] != ',' && buf[i] != '\n' &&
                                    buf[i] != '\r') {
                                        r = km_err_set(err, errlen, KM_EINPUT,
                                                       "%s:%zu: text after a "
                                                       "closing quote",
                                                       path, line);
                                        goto fail;
                                }
                                continue;
                        }
                        if (!quoted && c == ',') {
                                i++;
                                break;
                        }
                        if (!quoted && (c == '\n' || c == '\r')) {
                                if (c == '\r' && i + 1 < len &&
                                    buf[i + 1] == '\n')
                                        i++;
                                i++;
                                line++;
                                end_row = 1;
                                break;
                        }
                        if (c == '\n')
                                line++;
                        if (fl >= DIRECTORY_FIELD_MAX) {
                                r = km_err_set(err, errlen, KM_EINPUT,
                                               "%s:%zu: field longer than %d "
                                               "bytes",
                                               path, line, DIRECTORY_FIELD_MAX);
                                goto fail;
                        }
                        field[fl++] = c;
                        i++;
                }
                field[fl] = '\0';
                if (!km_utf8_valid(field, fl, NULL) || memchr(field, 0, fl) ||
                    km_utf8_has_ctrl(field) || strpbrk(field, "\r\n\t")) {
                        r = km_err_set(err, errlen, KM_EINPUT,
                                       "%s:%zu: invalid UTF-8 or control "
                                       "characters",
                                       path, start_line);
                        goto fail;
                }
                if (nf == fcap) {
                        fcap = fcap ? fcap * 2 : 16;
                        fields = km_xrealloc(fields, fcap * sizeof(char *));
                }
                fields[nf++] = km_xstrndup(field, fl);
                if (end_row || i >= len) {
                        /* skip empty lines */
                        if (nf == 1 && fields[0][0] == '\0') {
                                directory_fields_free(fields, nf);
                        } else if (csv->nrows > 0 && nf != csv->ncols) {
                                r = km_err_set(err, errlen, KM_EINPUT,
                                               "%s:%zu: %zu fields, the header "
                                               "has %zu",
                                               path, start_line, nf, csv->ncols);
                                directory_fields_free(fields, nf);
                                fields = NULL;
                                goto fail;
                        } else {
                                if (csv->nrows == 0)
                                        csv->ncols = nf;
                                directory_csv_push(csv, fields, nf,
                                                   start_line, &cap);
                        }
                        fields = NULL;
                        nf = fcap = 0;
                }
        }
        if (fields) {
                directory_fields_free(fields, nf);
                fields = NULL;
        }
        if (csv->nrows == 0)
                r = km_err_set(err, errlen, KM_EINPUT, "%s: no header", path);
fail:
        if (fields)
                directory_fields_free(fields, nf);
        free(buf);
        return r;
}

int directory_csv_col(const struct directory_csv *csv, const char *name)
{
        if (csv->nrows == 0)
                return -1;
        for (size_t j = 0; j < csv->ncols; j++)
                if (strcmp(csv->rows[0][j], name) == 0)
                        return (int)j;
        return -1;
}

void directory_csv_free(struct directory_csv *csv)
{
        for (size_t i = 0; i < csv->nrows; i++)
                directory_fields_free(csv->rows[i], csv->ncols);
        free(csv->rows);
        free(csv->lines);
        free(csv->path);
        memset(csv, 0, sizeof(*csv));
}
