/*
 * fuzz_csv.c - libFuzzer target for komek-intake's readers
 * (producers/intake/intake_input.c and intake_csv.c): any bytes as a CSV
 * file and as a JSON Lines file, through the real reading loops, with the
 * publishing side (intake_record / intake_reject) replaced by checks:
 *   - every record handed on is within the input, and a CSV row's object
 *     goes through the common model (km_complaint_from_json) without a
 *     crash; a rejection has a reason, a one-line detail and a dead letter
 *     that is valid JSON;
 *   - a record the splitter accepts, written back as RFC 4180 (every field
 *     quoted) and split again, gives the same fields.
 * Sources: FUZZ_SRCS_csv in tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../producers/intake/intake.h"
#include "km_complaint.h"
#include "km_csv.h"
#include "km_util.h"

static struct km_conf conf;
static int ready;
static const uint8_t *cur;
static size_t cur_len;

static void fuzz_init(void)
{
        char err[256];
        char *argv[] = {"fuzz", NULL};

        unsetenv("KOMEK_CONFIG");
        if (km_conf_main(&conf, "test", NULL, NULL, 1, argv, err, sizeof(err)))
                abort();
        ready = 1;
}

static void fuzz_dlq(const char *reason, const char *detail, const char *buf,
                     size_t len)
{
        char *d;
        json_t *o;

        if (reason == NULL || reason[0] == '\0' || detail == NULL ||
            strchr(detail, '\n') != NULL)
                abort();
        d = km_dlq_build(reason, detail, buf, len, NULL);
        o = json_loads(d, 0, NULL);
        if (o == NULL)
                abort();
        json_decref(o);
        free(d);
}

/* The record must lie within what was read (the reader may drop a BOM
 * and line ends, and joins a quoted record's lines as they were). */
static void fuzz_within(const char *buf, size_t len)
{
        if (len > cur_len)
                abort();
        if (len > 0 && memmem(cur, cur_len, buf, len) == NULL)
                abort();
}

void intake_reject(struct intake *in, const char *reason, const char *detail,
                   const char *buf, size_t len, const char *file, int64_t line)
{
        (void)in;
        (void)file;
        if (line < 1)
                abort();
        fuzz_within(buf, len);
        fuzz_dlq(reason, detail, buf, len);
}

void intake_record(struct intake *in, const char *buf, size_t len, json_t *obj,
                   const char *file, int64_t line)
{
        struct km_complaint *c = NULL;
        char reason[KM_REASON_LEN] = "", err[512] = "";
        int r;

        (void)in;
        (void)file;
        if (line < 1)
                abort();
        fuzz_within(buf, len);
        if (obj) {
                r = km_complaint_from_json(obj, &conf, KM_CPL_INTAKE,
                                           1784196000, &c, reason, err,
                                           sizeof(err));
                json_decref(obj);
        } else {
                r = km_complaint_parse(buf, len, &conf, KM_CPL_INTAKE,
                                       1784196000, &c, reason, err,
                                       sizeof(err));
        }
        if (r == 0) {
                free(km_complaint_dumps(c, 0));
                km_complaint_destroy(c);
        } else if (r != KM_EINPUT || c != NULL) {
                abort();
        } else {
                fuzz_dlq(reason, err, buf, len);
        }
}

/* The rest of the publishing side intake_input.c calls: nothing is ever
 * pending here (each record is checked as it is read). */
int intake_pending(const struct intake *in)
{
        (void)in;
        return 0;
}

void intake_flush(struct intake *in)
{
        (void)in;
}

void intake_stop(struct intake *in, const char *why, const char *file,
                 int64_t line, int halt)
{
        (void)why, (void)file, (void)line, (void)halt;
        in->stopped = 1;
}

/* Split, write back fully quoted, split again: the same fields. */
static void fuzz_split_roundtrip(const char *rec, size_t len)
{
        char **f = NULL, **g = NULL, *blk = NULL, *blk2 = NULL, err[256];
        int n, m;
        size_t cap = 3 * len + 16, w = 0;
        char *out;

        n = km_csv_split(rec, len, &f, &blk, err, sizeof(err));
        if (n < 0)
                return;
        if (n < 1)
                abort();
        out = km_xmalloc(cap);
        for (int i = 0; i < n; i++) {
                if (i)
                        out[w++] = ',';
                out[w++] = '"';
                for (const char *p = f[i]; *p; p++) {
                        if (*p == '"')
                                out[w++] = '"';
                        out[w++] = *p;
                }
                out[w++] = '"';
        }
        m = km_csv_split(out, w, &g, &blk2, err, sizeof(err));
        if (m != n)
                abort();
        for (int i = 0; i < n; i++)
                if (strcmp(f[i], g[i]) != 0)
                        abort();
        free(out);
        free(f);
        free(g);
        free(blk);
        free(blk2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct intake in;
        struct intake_conf ic = {0};
        char err[256];
        FILE *fp;

        if (!ready)
                fuzz_init();
        cur = data;
        cur_len = size;
        memset(&in, 0, sizeof(in));
        in.conf = &conf;
        in.ic = &ic;
        if (size > 0) {
                fp = fmemopen((void *)data, size, "r");
                if (fp == NULL)
                        abort();
                err[0] = '\0';
                if (intake_csv(&in, fp, "fuzz.csv", err, sizeof(err)) != 0 &&
                    (err[0] == '\0' || strchr(err, '\n') != NULL))
                        abort();
                fclose(fp);
                fp = fmemopen((void *)data, size, "r");
                if (fp == NULL)
                        abort();
                if (intake_jsonl(&in, fp, "fuzz.jsonl") != 0)
                        abort();
                fclose(fp);
        }
        /* the splitter alone, on the first line */
        {
                const char *nl = memchr(data, '\n', size);

                fuzz_split_roundtrip((const char *)data,
                                     nl ? (size_t)(nl - (const char *)data)
                                        : size);
        }
        return 0;
}
