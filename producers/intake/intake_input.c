/*
 * intake_input.c - read JSON Lines and CSV into records.
 *
 * SECURITY: input is untrusted bytes.  Lines are read with getline (any
 * length, NUL bytes kept and left to the model to reject); a UTF-8 BOM at
 * the start of a file is dropped; CRLF and LF line ends are both accepted
 * and not part of the record.  A CSV record may span lines inside quotes;
 * its line number is the one it starts on.  An unterminated quote at the
 * end of the input dead-letters the rest as one record (invalid_csv).
 * Reading stops early on SIGINT/SIGTERM (what was read is still
 * published) or when intake_publish.c says the broker is gone
 * (in->stopped).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "km_complaint.h"
#include "km_csv.h"
#include "km_log.h"
#include "km_sig.h"
#include "km_utf8.h"
#include "km_util.h"

/* Drop the line end; @returns the new length. */
static size_t intake_chomp(const char *buf, size_t len)
{
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        if (len > 0 && buf[len - 1] == '\r')
                len--;
        return len;
}

static int intake_blank(const char *buf, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' &&
                    buf[i] != '\n')
                        return 0;
        return 1;
}

/* Before the next read: when the records read so far wait in a partial
 * batch and the next read would block (nothing complete in stdio's buffer,
 * nothing to read on the descriptor: a pipe or terminal gone quiet), hand
 * the batch on now rather than after INTAKE_LINGER_MS or never.  A regular
 * file is never idle (no poll per read: its end flushes). */
static void intake_idle_flush(struct intake *in, FILE *fp)
{
#ifdef __GLIBC__
        struct pollfd pfd;
        size_t avail;

        if (!intake_pending(in) || in->input_file)
                return;
        avail = (size_t)(fp->_IO_read_end - fp->_IO_read_ptr);
        if (avail > 0 && memchr(fp->_IO_read_ptr, '\n', avail) != NULL)
                return;
        pfd.fd = fileno(fp);
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) == 0)
                intake_flush(in);
#else
        (void)in, (void)fp; /* INTAKE_LINGER_MS alone */
#endif
}

static int intake_check_stop(struct intake *in, FILE *fp, const char *name,
                             int64_t line)
{
        if (km_sig_stop && !in->stopped)
                intake_stop(in, "stopped by signal", name, line, 0);
        if (!in->stopped)
                intake_idle_flush(in, fp);
        return in->stopped;
}

int intake_jsonl(struct intake *in, FILE *fp, const char *name)
{
        char *buf = NULL, *p;
        size_t cap = 0, len;
        ssize_t n;
        int64_t line = 0;

        while (!intake_check_stop(in, fp, name, line + 1) &&
               (n = getline(&buf, &cap, fp)) >= 0) {
                line++;
                p = buf;
                len = intake_chomp(buf, (size_t)n);
                if (line == 1 && len >= 3 &&
                    memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
                        p += 3;
                        len -= 3;
                }
                if (intake_blank(p, len)) {
                        in->blank++;
                        continue;
                }
                intake_record(in, p, len, NULL, name, line);
        }
        free(buf);
        if (ferror(fp) && !(errno == EINTR && km_sig_stop)) {
                km_log_error("%s: read error after line %lld", name,
                             (long long)line);
                return KM_EFATAL;
        }
        return 0;
}

/* Append bytes to a growing record buffer. */
static void intake_append(char **rec, size_t *len, size_t *cap, const char *p,
                          size_t n)
{
        if (*len + n + 1 > *cap) {
                *cap = (*len + n + 1) * 2;
                *rec = km_xrealloc(*rec, *cap);
        }
        memcpy(*rec + *len, p, n);
        *len += n;
        (*rec)[*len] = '\0';
}

/* The header: names, unique, UTF-8.  @returns the count or KM_EINPUT
 * with err. */
static int intake_csv_header(const char *p, size_t len, char ***header,
                             char **block, char *err, size_t errlen)
{
        int n;

        if (!km_utf8_valid(p, len, NULL))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "header is not UTF-8");
        n = km_csv_split(p, len, header, block, err, errlen);
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++) {
                if ((*header)[i][0] == '\0')
                        return km_err_set(err, errlen, KM_EINPUT,
                                          "header column %d is empty", i + 1);
                for (int j = 0; j < i; j++)
                        if (strcmp((*header)[i], (*header)[j]) == 0)
                                return km_err_set(err, errlen, KM_EINPUT,
                                                  "header repeats column %s",
                                                  (*header)[i]);
        }
        return n;
}

/* One complete CSV record (line end dropped). */
static void intake_csv_record(struct intake *in, char **header, int nh,
                              const char *rec, size_t len, const char *name,
                              int64_t line)
{
        char **row = NULL, *block = NULL, err[256], detail[300];
        size_t bad = 0;
        int n;

        if (!km_utf8_valid(rec, len, &bad)) {
                snprintf(detail, sizeof(detail), "invalid UTF-8 at byte %zu",
                         bad);
                intake_reject(in, "invalid_utf8", detail, rec, len, name, line);
                return;
        }
        if (memchr(rec, '\0', len)) {
                intake_reject(in, "invalid_csv", "NUL byte in record", rec, len,
                              name, line);
                return;
        }
        n = km_csv_split(rec, len, &row, &block, err, sizeof(err));
        if (n < 0) {
                intake_reject(in, "invalid_csv", err, rec, len, name, line);
                return;
        }
        if (n != nh) {
                snprintf(detail, sizeof(detail),
                         "record has %d fields, the header %d", n, nh);
                intake_reject(in, "invalid_csv", detail, rec, len, name, line);
        } else {
                intake_record(in, rec, len, intake_csv_object(header, row, n),
                              name, line);
        }
        free(row);
        free(block);
}

int intake_csv(struct intake *in, FILE *fp, const char *name, char *err,
               size_t errlen)
{
        char *buf = NULL, *rec = NULL, **header = NULL, *hblock = NULL;
        size_t cap = 0, rlen = 0, rcap = 0, len;
        ssize_t n;
        int64_t line = 0, start = 0;
        int nh = -1, quoted = 0, r = 0;

        while (!intake_check_stop(in, fp, name, line + 1) &&
               (n = getline(&buf, &cap, fp)) >= 0) {
                const char *p = buf;

                line++;
                len = (size_t)n;
                if (line == 1 && len >= 3 &&
                    memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
                        p += 3;
                        len -= 3;
                }
                if (!quoted) {
                        rlen = 0;
                        start = line;
                        if (intake_blank(p, len)) {
                                in->blank++;
                                continue;
                        }
                }
                intake_append(&rec, &rlen, &rcap, p, len);
                quoted = km_csv_quote_state(p, len, quoted);
                if (quoted == 2)
                        continue; /* the record goes on on the next line */
                quoted = 0;
                rlen = intake_chomp(rec, rlen);
                if (nh < 0) {
                        nh = intake_csv_header(rec, rlen, &header, &hblock, err,
                                               errlen);
                        if (nh < 0) {
                                r = nh;
                                break;
                        }
                        continue;
                }
                intake_csv_record(in, header, nh, rec, rlen, name, start);
        }
        if (r == 0 && quoted && !in->stopped) {
                if (nh < 0) {
                        r = km_err_set(err, errlen, KM_EINPUT,
                                       "header has an unterminated quote");
                } else {
                        intake_reject(in, "invalid_csv",
                                      "unterminated quote at the end of the "
                                      "input",
                                      rec, rlen, name, start);
                }
        }
        if (r == 0 && ferror(fp) && !(errno == EINTR && km_sig_stop))
                r = km_err_set(err, errlen, KM_EFATAL,
                               "read error after line %lld", (long long)line);
        if (r == 0 && nh < 0 && !in->stopped)
                r = km_err_set(err, errlen, KM_EINPUT, "no header row");
        free(header);
        free(hblock);
        free(rec);
        free(buf);
        return r;
}
