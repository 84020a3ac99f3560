/*
 * directory_csv.c - a strict RFC 4180 reader (km_csv_split's, as
 * komek-intake's): comma-separated, fields optionally in double quotes
 * with "" for a quote, no quote inside an unquoted field, LF, CRLF or CR
 * line ends, an optional UTF-8 byte order mark.  Every row must have the header's column
 * count; every field must be valid UTF-8 without control characters.
 *
 * SECURITY: the files come from an operator but are still checked: sizes
 * are bounded (64 MiB per file, 4 KiB per field), errors name the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "km_csv.h"
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

/* Frame the record that starts at buf[*i] (km_csv_quote_state: a line end
 * outside quotes ends it), split it into csv's next row and check it.
 * *line is the record's first line on entry, the next record's on return.
 * @returns 0 or KM_EINPUT with "path:line: ..." in err. */
static int directory_csv_row(struct directory_csv *csv, const char *buf,
                             size_t len, size_t *i, size_t *line, size_t *cap,
                             char *err, size_t errlen)
{
        size_t start = *i, end = *i, start_line = *line;
        char **f = NULL, *block = NULL, detail[256];
        int state = 0, n, r = 0;

        while (end < len &&
               !((buf[end] == '\n' || buf[end] == '\r') && state != 2)) {
                if (buf[end] == '\n')
                        (*line)++;
                state = km_csv_quote_state(buf + end, 1, state);
                end++;
        }
        *i = end;
        if (end < len) { /* LF, CRLF or CR */
                *i += buf[end] == '\r' && end + 1 < len && buf[end + 1] == '\n'
                              ? 2
                              : 1;
                (*line)++;
        }
        if (state == 2)
                return km_err_set(err, errlen, KM_EINPUT,
                                  "%s:%zu: unterminated quote", csv->path,
                                  start_line);
        if (memchr(buf + start, '\0', end - start))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "%s:%zu: invalid UTF-8 or control "
                                  "characters",
                                  csv->path, start_line);
        n = km_csv_split(buf + start, end - start, &f, &block, detail,
                         sizeof(detail));
        if (n < 0)
                return km_err_set(err, errlen, KM_EINPUT, "%s:%zu: %s",
                                  csv->path, start_line, detail);
        for (int j = 0; j < n; j++) {
                size_t fl = strlen(f[j]);

                if (fl > DIRECTORY_FIELD_MAX) {
                        r = km_err_set(err, errlen, KM_EINPUT,
                                       "%s:%zu: field longer than %d bytes",
                                       csv->path, start_line,
                                       DIRECTORY_FIELD_MAX);
                        goto cleanup;
                }
                if (!km_utf8_valid(f[j], fl, NULL) || km_utf8_has_ctrl(f[j]) ||
                    strpbrk(f[j], "\r\n\t")) {
                        r = km_err_set(err, errlen, KM_EINPUT,
                                       "%s:%zu: invalid UTF-8 or control "
                                       "characters",
                                       csv->path, start_line);
                        goto cleanup;
                }
        }
        if (n == 1 && f[0][0] == '\0') /* skip empty lines */
                goto cleanup;
        if (csv->nrows > 0 && (size_t)n != csv->ncols) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "%s:%zu: %d fields, the header has %zu",
                               csv->path, start_line, n, csv->ncols);
                goto cleanup;
        }
        if (csv->nrows == *cap) {
                *cap = *cap ? *cap * 2 : 256;
                csv->rows = km_xrealloc(csv->rows, *cap * sizeof(char **));
                csv->blocks = km_xrealloc(csv->blocks, *cap * sizeof(char *));
                csv->lines = km_xrealloc(csv->lines, *cap * sizeof(size_t));
        }
        if (csv->nrows == 0)
                csv->ncols = (size_t)n;
        csv->rows[csv->nrows] = f;
        csv->blocks[csv->nrows] = block;
        csv->lines[csv->nrows] = start_line;
        csv->nrows++;
        f = NULL;
        block = NULL;
cleanup:
        free(f);
        free(block);
        return r;
}

int directory_csv_read(const char *path, struct directory_csv *csv, char *err,
                       size_t errlen)
{
        size_t len = 0, i = 0, line = 1, cap = 0;
        char *buf;
        int r = 0;

        memset(csv, 0, sizeof(*csv));
        csv->path = km_xstrdup(path);
        buf = directory_slurp(path, &len, err, errlen);
        if (buf == NULL)
                return KM_EINPUT;
        if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
                i = 3;
        while (r == 0 && i < len)
                r = directory_csv_row(csv, buf, len, &i, &line, &cap, err,
                                      errlen);
        if (r == 0 && csv->nrows == 0)
                r = km_err_set(err, errlen, KM_EINPUT, "%s: no header", path);
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
        for (size_t i = 0; i < csv->nrows; i++) {
                free(csv->rows[i]);
                free(csv->blocks[i]);
        }
        free(csv->rows);
        free(csv->blocks);
        free(csv->lines);
        free(csv->path);
        memset(csv, 0, sizeof(*csv));
}
