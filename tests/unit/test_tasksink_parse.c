/*
 * test_tasksink_parse.c - komek-tasksink's two readers of a dispatch
 * message (tasksink_parse.c): the one-pass scanner (km_json_scan, the hot
 * path) and jansson (the reference), over the same inputs: an edge table,
 * generated valid messages (escapes, Unicode, members in any order,
 * optional members absent or null, address as text or parts, numbers in
 * every form), the fuzz and hostile complaint corpora (as the whole
 * message and as its complaint) and mutations of valid messages
 * (truncations, one byte replaced, one byte inserted), random JSON values
 * as the contact and as unknown members (test_random), and valid messages
 * the scanner must leave to jansson (test_fallback: a long real, escaped
 * names, many members, deep nesting; never a dead letter).  Each must give
 * the same verdict and reason and, when valid, the same fields, byte for
 * byte.
 * And every complaint the model accepts, inside a valid envelope, is a
 * valid dispatch message (the sink accepts what the model accepts); the
 * staging line is checked against a golden one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_json.h"
#include "km_util.h"
#include "../../workers/tasksink/tasksink.h"

static struct km_conf conf;
static unsigned long checked, decided, valid_seen;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (unsigned)(rng % n);
}

static int same_span(const char *a, size_t an, const char *b, size_t bn)
{
        if ((a == NULL) != (b == NULL))
                return 0;
        return a == NULL || (an == bn && memcmp(a, b, an) == 0);
}

/* Both readers; fail with the difference.  @returns the verdict. */
static int check(const char *buf, size_t len)
{
        static struct tasksink_msg s, j;
        char es[256] = "", ej[256] = "";
        int rs = tasksink_msg_read(&conf, buf, len, 0, &s, es, sizeof(es));
        int rj = tasksink_msg_read(&conf, buf, len, 1, &j, ej, sizeof(ej));
        const char *why = NULL;

        checked++;
        if (!s.by_ref)
                decided++;
        if (rs != rj || strcmp(es, ej) != 0)
                why = "verdict";
        for (int i = 0; why == NULL && rs == 0 && i < TS_NF; i++)
                if (s.kind[i] != j.kind[i] ||
                    !same_span(s.f[i], s.n[i], j.f[i], j.n[i]))
                        why = "field";
        if (why == NULL && rs == 0 &&
            (s.attempt != j.attempt || s.attempt_kind != j.attempt_kind ||
             s.complaint_kind != j.complaint_kind ||
             !same_span(s.complaint, s.complaint_len, j.complaint,
                        j.complaint_len) ||
             !same_span(s.contact, s.contact_len, j.contact, j.contact_len)))
                why = "complaint or contact";
        if (why && getenv("TS_FAIL_FILE")) {
                FILE *fp = fopen(getenv("TS_FAIL_FILE"), "wbx");

                if (fp) {
                        fwrite(buf, 1, len, fp);
                        fclose(fp);
                }
        }
        if (why)
                fail_msg("%s differs: scanner %d \"%s\", jansson %d \"%s\"\n"
                         "input (%zu bytes): %.*s",
                         why, rs, es, rj, ej, len, (int)(len > 600 ? 600 : len),
                         buf ? buf : "");
        if (rs == 0)
                valid_seen++;
        return rs;
}

static int check_str(const char *s)
{
        return check(s, strlen(s));
}

/* --- generated valid messages ---------------------------------------- */

static const char *const descs[] = {
        "Нет горячей воды",
        "line\\none\\ttab \\\"quoted\\\" back\\\\slash",
        "\\u0416\\u0430\\u0440\\u0430 \\ud83d\\ude00 \\/slash",
        "Су жоқ, \xf0\x9f\x98\x80 emoji",
        "x",
};

static void gen(char *out, size_t cap, unsigned v)
{
        char cpl[2048], mem[16][512];
        int n = 0, order[16];
        const char *addr[] = {
                "{\"street\":\"Кенесары\",\"house\":\"12\",\"apartment\":\"4\"}",
                "{\"text\":\"Астана, ул. Достык 5\"}",
                "{\"district\":\"Есиль\",\"street\":\"\",\"house\":\"1\"}",
                "{\"text\":5,\"street\":\"Абая\"}",
                "{\"house\":\"7\\u0410\"}",
        };
        const char *contact[] = {
                ",\"contact\":{\"name\":\"Айгерим\",\"phone\":\"+77011234567\"}",
                "",
                ",\"contact\":null",
                ",\"contact\" : { \"email\" : \"a@b.kz\" }",
        };
        size_t o;

        snprintf(
                cpl, sizeof(cpl),
                "{\"schema_version\":1,\"id\":\"6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\","
                "\"source\":\"call109\",\"received_at\":\"2026-07-16T10:00:00Z\","
                "\"category\":\"heating\",\"description\":\"%s\",\"address\":%s%s%s}",
                descs[v % 5], addr[(v / 5) % 5], contact[(v / 25) % 4],
                (v / 100) % 3 == 0 ? ",\"lat\":51.1694,\"long\":7.1694e1"
                : (v / 100) % 3 == 1
                        ? ",\"lat\":-0,\"long\":-0.0,\"emergency\":true,"
                          "\"media_urls\":[\"https://x.kz/a\",[],{}]"
                        : "");
        snprintf(mem[n++], 512, "\"schema_version\":1");
        snprintf(mem[n++], 512,
                 "\"complaint_id\":\"6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\"");
        snprintf(mem[n++], 512, "\"attempt\":%d",
                 v % 7 == 0 ? 1000000 : 1 + (int)(v % 3));
        snprintf(mem[n++], 512, "\"org_id\":\"ksk-%04u\"", v % 10000);
        snprintf(mem[n++], 512, "\"org_kind\":\"ksk\"");
        if (v % 3 == 0)
                snprintf(mem[n++], 512, "\"building_id\":\"b-000123\"");
        else if (v % 3 == 1)
                snprintf(mem[n++], 512, "\"building_id\":null");
        if (v % 4 == 0)
                snprintf(
                        mem[n++], 512,
                        "\"district\":\"\\u0415\\u0441\\u0438\\u043b\\u044c\"");
        else if (v % 4 == 1)
                snprintf(mem[n++], 512, "\"district\":null");
        else if (v % 4 == 2)
                snprintf(mem[n++], 512, "\"district\":\"Нура\"");
        snprintf(mem[n++], 512, "\"category\":\"heating\"");
        snprintf(mem[n++], 512, "\"received_at\":\"2026-07-16T10:00:00Z\"");
        snprintf(mem[n++], 512,
                 "\"routed_at\":\"2026-07-16T10:00:00.123456Z\"");
        snprintf(mem[n++], 512, "\"due_at\":\"2026-07-17T10:00:00Z\"");
        snprintf(mem[n++], 512, "\"route_reason\":\"%s\"",
                 v % 2 ? "building_id" : "rerouted:not_ours");
        snprintf(mem[n++], 512, "\"complaint\":@");
        if (v % 5 == 0)
                snprintf(
                        mem[n++], 512,
                        "\"extra\":{\"a\":[1,2.5,-3e-2,true,false,null,\"s\"]}");
        for (int i = 0; i < n; i++)
                order[i] = i;
        for (int i = n - 1; v % 2 == 0 && i > 0; i--) { /* shuffled */
                int k = (int)rnd((unsigned)i + 1), t = order[i];

                order[i] = order[k];
                order[k] = t;
        }
        o = (size_t)snprintf(out, cap, "%s{", v % 6 == 0 ? " \r\n\t" : "");
        for (int i = 0; i < n; i++) {
                const char *m = mem[order[i]];

                o += (size_t)snprintf(out + o, cap - o, "%s",
                                      i ? (v % 8 ? "," : " ,\n ") : "");
                if (strcmp(m, "\"complaint\":@") == 0)
                        o += (size_t)snprintf(out + o, cap - o,
                                              "\"complaint\":%s", cpl);
                else
                        o += (size_t)snprintf(out + o, cap - o, "%s", m);
        }
        snprintf(out + o, cap - o, "}%s", v % 6 == 0 ? " \n" : "");
}

static void mutate_all(const char *buf, size_t len, unsigned stride)
{
        static const unsigned char bytes[] = {
                '"',  '\\', '{',  '}',  '[',  ']',  ',', ':',  '0',
                '9',  'e',  '-',  '.',  'n',  'u',  ' ', '\n', 0x00,
                0x1f, 0x7f, 0x80, 0xc0, 0xed, 0xf4, 0xff};
        char *m = malloc(len + 1);

        for (size_t i = 0; i <= len; i += 1 + rnd(stride)) {
                size_t b = rnd(sizeof(bytes));

                check(buf, i); /* truncated */
                if (i < len) {
                        memcpy(m, buf, len);
                        m[i] = (char)bytes[b];
                        check(m, len); /* one byte replaced */
                }
                memcpy(m, buf, i); /* one byte inserted */
                m[i] = (char)bytes[(b + 7) % sizeof(bytes)];
                memcpy(m + i + 1, buf + i, len - i);
                check(m, len + 1);
        }
        free(m);
}

static void test_generated(void **state)
{
        char buf[8192];
        unsigned long valid0 = valid_seen;

        (void)state;
        for (unsigned v = 0; v < 300; v++) {
                gen(buf, sizeof(buf), v);
                if (check_str(buf) != 0)
                        fail_msg("generated message %u invalid: %s", v, buf);
                if (v % 10 == 0)
                        mutate_all(buf, strlen(buf), 6);
        }
        assert_true(valid_seen - valid0 >= 300);
}

/* --- the edge table --------------------------------------------------- */

#define ENV_HEAD                                                                        \
        "{\"complaint_id\":\"6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\","                   \
        "\"attempt\":1,\"org_id\":\"ksk-1\",\"org_kind\":\"ksk\",\"category\":\"gas\"," \
        "\"route_reason\":\"address\",\"received_at\":\"2026-07-16T10:00:00Z\","        \
        "\"routed_at\":\"2026-07-16T10:00:00Z\",\"due_at\":\"2026-07-16T14:00:00Z\","

static void test_edges(void **state)
{
        static const struct {
                const char *in;
                int want; /* 0 valid, -1 invalid, 2 either (same verdict) */
        } rows[] = {
                {"", -1},
                {"{}", -1},
                {"[]", -1},
                {"null", -1},
                {"{", -1},
                {"\xef\xbb\xbf{}", -1},
                {"{\"a\":1,}", -1},
                {"{\"a\" 1}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"}} ", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"}}x", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"}}{}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":null}}", -1},
                {ENV_HEAD "\"complaint\":{}}", -1},
                {ENV_HEAD "\"complaint\":[]}", -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"description\":\"e\"}}",
                 -1},
                {ENV_HEAD
                 "\"attempt\":2,\"complaint\":{\"description\":\"d\"}}",
                 -1},
                {ENV_HEAD
                 "\"attemp\\u0074\":2,\"complaint\":{\"description\":\"d\"}}",
                 -1},
                {ENV_HEAD
                 "\"x\\u0041\":2,\"complaint\":{\"description\":\"d\"}}",
                 0},
                {ENV_HEAD "\"complaint\":{\"descr\\u0069ption\":\"d\"}}", 0},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"x\":{\"a\":1,\"a\":2}}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"x\":[{\"a\":1,\"b\":[{\"c\":1,\"c\":1}]}]}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"a\\u0000b\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\ud800\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\udc00x\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\ud800\\u0041\"}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\uD83D\\uDE00\"}}",
                 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\x\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\u12\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\t\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\x7f\"}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xc0\x80\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xed\xa0\x80\"}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"\xf4\x90\x80\x80\"}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xe0\x9f\xbf\"}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"\xf0\x8f\xbf\xbf\"}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"\xf4\x8f\xbf\xbf\"}}",
                 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xe2\x82\"}}", -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"n\":9223372036854775807}}",
                 0},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"n\":9223372036854775808}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"n\":-9223372036854775808}}",
                 0},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"n\":-9223372036854775809}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"n\":100000000000000000000}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":1e400}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"n\":-1E+400}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":1e-400}}",
                 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":01}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":-}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":1.}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":.5}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":1e}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\",\"n\":-0.0e-0}}",
                 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":tru}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":nulll}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":True}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":[1 2]}}",
                 -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":[1,]}}",
                 -1},
                {ENV_HEAD
                 "\"complaint\":{\"description\":\"d\"},\"attempt\":1.0}",
                 -1},
                {"{\"complaint_id\":\"6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\",\"attempt\":0}",
                 -1},
                {"{\"a\":\"\\u0061\",\"\\u0061\":1}", -1},
                {"{\"a\":1,\"\\u0061\":1}", -1},
        };
        static const char nul[] =
                ENV_HEAD "\"complaint\":{\"description\":\"d\"}\0}";
        char big[32768];
        size_t o;

        (void)state;
        assert_int_not_equal(check(nul, sizeof(nul) - 1), 0); /* a NUL byte */
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                size_t len = strlen(rows[i].in);
                int r;

                r = check(rows[i].in, len);
                if (rows[i].want != 2 && (r == 0) != (rows[i].want == 0))
                        fail_msg("row %zu: got %d, want %d: %s", i, r,
                                 rows[i].want, rows[i].in);
        }
        /* deep nesting: 70 (past the scanner's depth: jansson decides) and
         * 3,000 (past jansson's 2,048) */
        for (int depth = 60; depth <= 3000;
             depth = depth < 80 ? depth + 5 : depth * 3) {
                o = (size_t)snprintf(
                        big, sizeof(big),
                        "%s\"complaint\":{\"description\":\"d\",\"x\":",
                        ENV_HEAD);
                for (int k = 0; k < depth; k++)
                        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s",
                                              k % 2 ? "[" : "{\"k\":");
                big[o++] = '1';
                for (int k = depth - 1; k >= 0; k--)
                        big[o++] = k % 2 ? ']' : '}';
                memcpy(big + o, "}}", 3);
                check_str(big);
        }
        /* many members: past KM_JSON_MAXKEYS (jansson decides), with and
         * without a duplicate at the end */
        for (int dup = 0; dup < 2; dup++) {
                o = (size_t)snprintf(big, sizeof(big),
                                     "%s\"complaint\":{\"description\":\"d\"",
                                     ENV_HEAD);
                for (int k = 0; k < 100; k++)
                        o += (size_t)snprintf(big + o, sizeof(big) - o,
                                              ",\"m%d\":%d", k, k);
                o += (size_t)snprintf(big + o, sizeof(big) - o, "%s}}",
                                      dup ? ",\"m3\":0" : "");
                assert_int_equal(check_str(big) == 0, !dup);
        }
        /* the longest description the model accepts: 4,000 x U+1F600 */
        o = (size_t)snprintf(big, sizeof(big),
                             "%s\"complaint\":{\"description\":\"", ENV_HEAD);
        for (int k = 0; k < 4000; k++)
                o += (size_t)snprintf(big + o, sizeof(big) - o,
                                      "\xf0\x9f\x98\x80");
        snprintf(big + o, sizeof(big) - o, "\"}}");
        assert_int_equal(check_str(big), 0);
        check(NULL, 0);
}

/* --- the corpora ------------------------------------------------------ */

static char *slurp(const char *path, size_t *len)
{
        FILE *fp = fopen(path, "rb");
        char *buf;
        long n;

        if (fp == NULL)
                return NULL;
        fseek(fp, 0, SEEK_END);
        n = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        buf = km_xmalloc((size_t)n + 1);
        *len = fread(buf, 1, (size_t)n, fp);
        fclose(fp);
        return buf;
}

/* A complaint text as the whole message, and inside an envelope: when the
 * model accepts it (as the router reads it), the sink must too. */
static void check_complaint(const char *buf, size_t len)
{
        size_t cap = len + sizeof(ENV_HEAD) + 64;
        char *env = km_xmalloc(cap);
        struct km_complaint *c = NULL;
        char reason[KM_REASON_LEN], err[256];
        int n;

        check(buf, len);
        n = snprintf(env, cap, "%s\"complaint\":", ENV_HEAD);
        memcpy(env + n, buf, len);
        memcpy(env + n + len, "}", 2);
        if (km_complaint_parse(buf, len, &conf, KM_CPL_INTAKE, 1784196000, &c,
                               reason, err, sizeof(err)) == 0) {
                size_t clen;
                char *canon = km_complaint_take_canon(c, &clen);
                char *env2 = km_xmalloc(clen + sizeof(ENV_HEAD) + 64);
                int n2 = sprintf(env2, "%s\"complaint\":", ENV_HEAD);

                memcpy(env2 + n2, canon, clen);
                memcpy(env2 + n2 + clen, "}", 2);
                if (check(env2, (size_t)n2 + clen + 1) != 0)
                        fail_msg("the model accepts it, the sink does not: %s",
                                 env2);
                /* the model also took the original text */
                if (check(env, (size_t)n + len + 1) != 0)
                        fail_msg("the model accepts it, the sink does not: %s",
                                 env);
                free(canon);
                free(env2);
        } else {
                check(env, (size_t)n + len + 1);
        }
        km_complaint_destroy(c);
        free(env);
}

static unsigned check_dir(const char *dir, const char *suffix, int depth)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        unsigned n = 0;

        if (d == NULL)
                return 0;
        while ((e = readdir(d)) != NULL) {
                char path[1024];
                size_t len, sl = strlen(suffix), nl = strlen(e->d_name);
                char *buf;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                if (e->d_type == DT_DIR) {
                        if (depth > 0)
                                n += check_dir(path, suffix, depth - 1);
                        continue;
                }
                if (nl < sl || strcmp(e->d_name + nl - sl, suffix) != 0)
                        continue;
                if ((buf = slurp(path, &len)) == NULL)
                        continue;
                check_complaint(buf, len);
                for (char *p = buf, *l;
                     (l = memchr(p, '\n', (size_t)(buf + len - p))); p = l + 1)
                        check_complaint(p, (size_t)(l - p));
                free(buf);
                n++;
        }
        closedir(d);
        return n;
}

static const char *root_dir(void)
{
        const char *r = getenv("KOMEK_ROOT");

        return r ? r : ".";
}

static void test_corpora(void **state)
{
        char path[1024];

        (void)state;
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus", root_dir());
        assert_true(check_dir(path, "", 1) >= 4);
        snprintf(path, sizeof(path), "%s/tests/hostile/cases", root_dir());
        assert_true(check_dir(path, ".in", 0) >= 100);
}

/* The staging line (COPY text format): the row's fields in ts_stage's
 * order, \N for a missing one, backslash, tab, newline and CR escaped,
 * the complaint and contact as their bytes. */
static void test_line(void **state)
{
        static const char in[] =
                ENV_HEAD "\"district\":null,\"complaint\":{"
                         "\"description\":\"a\\tb\\nc\\\\d\\re\\u0416\","
                         "\"address\":{\"street\":\"S\",\"apartment\":\"4\"},"
                         "\"contact\":{\"name\":\"N\\tM\"}}}";
        static const char want[] =
                "0\t6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\t1\tksk-1\tksk\t\\N"
                "\t\\N\tgas\taddress\t2026-07-16T10:00:00Z\t2026-07-16T10:00:00Z"
                "\t2026-07-16T14:00:00Z\ta\\tb\\nc\\\\d\\re\xd0\x96\tS, кв. 4"
                "\t{\"name\":\"N\\\\tM\"}"
                "\t{\"description\":\"a\\\\tb\\\\nc\\\\\\\\d\\\\re\\\\u0416\","
                "\"address\":{\"street\":\"S\",\"apartment\":\"4\"},"
                "\"contact\":{\"name\":\"N\\\\tM\"}}\n";
        struct tasksink ts;
        struct tasksink_row row;
        rd_kafka_message_t rkm;
        char err[256];

        (void)state;
        memset(&ts, 0, sizeof(ts));
        memset(&rkm, 0, sizeof(rkm));
        ts.conf = &conf;
        rkm.payload = (void *)in;
        rkm.len = sizeof(in) - 1;
        rkm.partition = 2;
        rkm.offset = 7;
        assert_int_equal(tasksink_row_parse(&ts, &rkm, &row, err, sizeof(err)),
                         0);
        if (row.line_len != sizeof(want) - 1 ||
            memcmp(ts.copy + row.line_off, want, row.line_len) != 0)
                fail_msg("got  %.*s\nwant %s", (int)row.line_len,
                         ts.copy + row.line_off, want);
        assert_int_equal(row.rawlen, rkm.len);
        assert_memory_equal(row.raw, in, rkm.len);
        assert_int_equal(row.partition, 2);
        assert_int_equal(row.offset, 7);
        tasksink_row_free(&row);
        tasksink_msg_free(&ts.msg);
        free(ts.copy);
}

/* --- what the scanner leaves to jansson ------------------------------- */

/* Valid messages the scanner cannot decide exactly (a real of
 * KM_JSON_MAXNUM digits or more, an escaped member name, more than
 * KM_JSON_MAXKEYS members, nesting past KM_JSON_MAXDEPTH, in the envelope,
 * the complaint or its contact): jansson reads them, the verdict is
 * valid, never a dead letter.  And valid ones next to them that the
 * scanner does decide: the contact nested, escaped, null members, the
 * long long limits, a real one digit short of undecided. */
static void test_fallback(void **state)
{
        static const struct {
                const char *in; /* after ENV_HEAD; @: a long real, #: 70
                                 * members, %: 70 levels */
                int ref;        /* 1: jansson must read it */
        } rows[] = {
                {"\"complaint\":{\"description\":\"d\",\"lat\":@,\"long\":71.4}}",
                 1},
                {"\"complaint\":{\"description\":\"d\"},\"x\":@}", 1},
                {"\"complaint\":{\"description\":\"d\",\"contact\":{\"n\":@}}}",
                 1},
                {"\"\\u0063omplaint\":{\"description\":\"d\",\"contact\":{\"a\":1}}}",
                 1},
                {"\"complaint\":{\"description\":\"d\",\"addr\\u0065ss\":{\"text\":\"t\"}}}",
                 1},
                {"\"complaint\":{\"description\":\"d\",\"contact\":{\"n\\u0061me\":\"\\u0410\\ud83d\\ude00\"}}}",
                 1},
                {"\"complaint\":{\"description\":\"d\",\"contact\":{#}}}", 1},
                {"\"complaint\":{\"description\":\"d\",\"contact\":{\"x\":%}}}",
                 1},
                {"\"complaint\":{\"description\":\"d\",\"contact\":{\"name\":\"\\u0410\\u0439\\u0433\\u0435\\u0440\\u0438\\u043c \\uD83D\\uDE00\","
                 "\"phone\":null,\"email\":\"a\\/b@c.kz\",\"pref\":{\"lang\":\"kk\",\"times\":[null,{\"from\":9,\"to\":18.5}],\"sms\":false}}}}",
                 0},
                {"\"complaint\":{\"description\":\"\\ud834\\udd1e \\u00e9 \\u20ac \\u0001\",\"address\":null,\"contact\":null,"
                 "\"lat\":null,\"n\":[9223372036854775807,-9223372036854775808,1e308,-1.7976931348623157e308,4.9e-324,0.0000000000000000001]}}",
                 0},
                {"\"building_id\":null,\"district\":null,\"complaint\":{\"description\":\"d\",\"contact\":{\"a\":{\"b\":{\"c\":{\"d\":[[[\"\\u0000x\"]]]}}}}}}",
                 -1},
        };
        char big[65536];
        unsigned long checked0 = checked, decided0 = decided;
        unsigned long valid0 = valid_seen;

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                static struct tasksink_msg m;
                char e[256];
                size_t o = (size_t)snprintf(big, sizeof(big), "%s", ENV_HEAD);
                int r;

                for (const char *p = rows[i].in; *p; p++) {
                        if (*p == '@') {
                                o += (size_t)snprintf(big + o, sizeof(big) - o,
                                                      "51.");
                                for (int k = 0; k < KM_JSON_MAXNUM; k++)
                                        big[o++] = (char)('0' + k % 10);
                        } else if (*p == '#') {
                                for (int k = 0; k < 70; k++)
                                        o += (size_t)snprintf(
                                                big + o, sizeof(big) - o,
                                                "%s\"k%d\":\"\\u0416%d\"",
                                                k ? "," : "", k, k);
                        } else if (*p == '%') {
                                for (int k = 0; k < 70; k++)
                                        o += (size_t)snprintf(big + o,
                                                              sizeof(big) - o,
                                                              "{\"k\":");
                                big[o++] = '1';
                                for (int k = 0; k < 70; k++)
                                        big[o++] = '}';
                        } else {
                                big[o++] = *p;
                        }
                }
                big[o] = '\0';
                r = check(big, o);
                if (rows[i].ref >= 0 && r != 0)
                        fail_msg("row %zu: valid, got %d: %s", i, r, big);
                if (rows[i].ref < 0 && r == 0)
                        fail_msg("row %zu: invalid, got 0: %s", i, big);
                assert_int_equal(
                        tasksink_msg_read(&conf, big, o, 0, &m, e, sizeof(e)),
                        r);
                if (rows[i].ref >= 0 && m.by_ref != rows[i].ref)
                        fail_msg("row %zu: read by %s, want %s: %s", i,
                                 m.by_ref ? "jansson" : "the scanner",
                                 rows[i].ref ? "jansson" : "the scanner", big);
                tasksink_msg_free(&m);
        }
        /* chosen to be undecided: not in test_summary's share */
        checked = checked0;
        decided = decided0;
        valid_seen = valid0;
}

/* --- random JSON values ---------------------------------------------- */

struct rbuf {
        char *p;
        size_t n, cap;
};

static void rput(struct rbuf *b, const char *s, size_t n)
{
        if (b->n + n + 1 > b->cap)
                return; /* full: the text is cut, still a fine input */
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
}

static void rputs(struct rbuf *b, const char *s)
{
        rput(b, s, strlen(s));
}

/* Mostly valid JSON, now and then one wrong token (bad: 1 in bad). */
static void rvalue(struct rbuf *b, int depth, unsigned bad);

static void rstring(struct rbuf *b, unsigned bad)
{
        static const char *const pieces[] = {
                "a",
                "Z",
                " ",
                "\xd0\x96",
                "\xe2\x82\xac",
                "\xf0\x9f\x98\x80",
                "\\n",
                "\\\"",
                "\\\\",
                "\\/",
                "\\b",
                "\\f",
                "\\r",
                "\\t",
                "\\u0041",
                "\\u00e9",
                "\\u0416",
                "\\u20AC",
                "\\ud83d\\ude00",
                "\\uDBFF\\uDFFF",
                "\\u0001",
                "\\u007f",
                "\x7f",
                "k1",
                "k2",
        };
        static const char *const wrong[] = {
                "\\ud83d",          "\\ude00", "\\u0000",  "\\x",
                "\\u12G4",          "\t",      "\xc0\xaf", "\xed\xa0\x80",
                "\xf5\x80\x80\x80", "\x80",    "\xe2\x82",
        };
        unsigned n = rnd(6);

        rputs(b, "\"");
        for (unsigned i = 0; i < n; i++)
                rputs(b, bad && rnd(bad) == 0
                                 ? wrong[rnd(sizeof(wrong) / sizeof(wrong[0]))]
                                 : pieces[rnd(sizeof(pieces) /
                                              sizeof(pieces[0]))]);
        rputs(b, "\"");
}

static void rnumber(struct rbuf *b, unsigned bad)
{
        char t[256];
        size_t o = 0;
        unsigned nd = 1 + (rnd(4) == 0 ? rnd(140) : rnd(20));
        int frac = rnd(3) == 0, ex = rnd(4) == 0;

        if (bad == 0 && !frac && !ex && nd > 18)
                nd = 18; /* an integer beyond long long is invalid */
        if (rnd(3) == 0)
                t[o++] = '-';
        t[o++] = (char)('1' + rnd(9));
        for (unsigned i = 1; i < nd && o < 200; i++)
                t[o++] = (char)('0' + rnd(10));
        if (nd == 1 && rnd(4) == 0)
                t[o - 1] = '0';
        if (frac) {
                t[o++] = '.';
                for (unsigned i = 0, k = 1 + rnd(8); i < k; i++)
                        t[o++] = (char)('0' + rnd(10));
        }
        if (ex) {
                t[o++] = rnd(2) ? 'e' : 'E';
                if (rnd(2))
                        t[o++] = rnd(2) ? '+' : '-';
                o += (size_t)snprintf(t + o, sizeof(t) - o, "%u",
                                      bad && rnd(3) == 0 ? rnd(700) : rnd(30));
        }
        if (bad && rnd(bad) == 0) {
                static const char *const wrong[] = {"0", ".", "e",
                                                    "-", "x", "+"};

                o += (size_t)snprintf(t + o, sizeof(t) - o, "%s",
                                      wrong[rnd(6)]);
        }
        rput(b, t, o);
}

static void rvalue(struct rbuf *b, int depth, unsigned bad)
{
        unsigned k = rnd(depth > 4 ? 5 : 8);

        if (bad && rnd(bad * 4) == 0) {
                static const char *const wrong[] = {"tru", "nul", "'a'", "",
                                                    ",",   "}",   "]",   "01"};

                rputs(b, wrong[rnd(8)]);
                return;
        }
        switch (k) {
        case 0:
                rputs(b, "null");
                break;
        case 1:
                rputs(b, rnd(2) ? "true" : "false");
                break;
        case 2:
        case 3:
                rnumber(b, bad);
                break;
        case 4:
                rstring(b, bad);
                break;
        case 5:
        case 6: {
                unsigned n = rnd(5);

                rputs(b, rnd(4) ? "{" : " { ");
                for (unsigned i = 0; i < n; i++) {
                        if (i)
                                rputs(b, rnd(5) ? "," : " ,\n");
                        if (bad == 0) { /* unique names */
                                char name[16];

                                snprintf(name, sizeof(name), "\"m%u", i);
                                rputs(b, name);
                                rputs(b, rnd(4) ? "\"" : "\\u0041\"");
                        } else if (rnd(3)) {
                                rstring(b, bad); /* sometimes a duplicate */
                        } else {
                                rputs(b, rnd(2) ? "\"k1\"" : "\"k\\u0031\"");
                        }
                        rputs(b, rnd(4) ? ":" : " : ");
                        rvalue(b, depth + 1, bad);
                }
                rputs(b, "}");
                break;
        }
        default: {
                unsigned n = rnd(5);

                rputs(b, "[");
                for (unsigned i = 0; i < n; i++) {
                        if (i)
                                rputs(b, ",");
                        rvalue(b, depth + 1, bad);
                }
                rputs(b, "]");
        }
        }
}

/* Random values as the contact, as an unknown member of the complaint and
 * of the envelope: the two readers agree, and with no wrong token, the
 * message is valid. */
static void test_random(void **state)
{
        static char text[3][8192], out[32768];
        unsigned long valid0 = valid_seen, checked0 = checked;
        unsigned long decided0 = decided;

        (void)state;
        for (unsigned v = 0; v < 6000; v++) {
                unsigned bad = v % 3 ? 0 : 25;
                int n;

                for (int i = 0; i < 3; i++) {
                        struct rbuf b = {text[i], 0, sizeof(text[i])};

                        text[i][0] = '\0';
                        if (i == 0 && rnd(3)) {
                                /* the contact is an object (the sink
                                 * keeps its bytes) */
                                rputs(&b, "{\"name\":");
                                rstring(&b, bad);
                                rputs(&b, ",\"x\":");
                        }
                        rvalue(&b, 0, bad);
                        if (text[i][0] == '{' &&
                            strncmp(text[i], "{\"name\":", 8) == 0)
                                rputs(&b, "}");
                }
                n = snprintf(
                        out, sizeof(out),
                        "%s\"complaint\":{\"description\":\"d\",\"contact\":%s,"
                        "\"extra\":%s},\"extra\":%s}",
                        ENV_HEAD, text[0], text[1], text[2]);
                if (check(out, (size_t)n) != 0 && bad == 0)
                        fail_msg("random message %u: valid, got invalid: %s", v,
                                 out);
                if (v % 300 == 0)
                        mutate_all(out, (size_t)n, 24);
        }
        print_message("random: %lu inputs, %lu decided by the scanner, "
                      "%lu valid\n",
                      checked - checked0, decided - decided0,
                      valid_seen - valid0);
        assert_true(valid_seen - valid0 >= 4000);
        /* escaped names and long reals on purpose: not in test_summary's
         * share */
        checked = checked0;
        decided = decided0;
        valid_seen = valid0;
}

static void test_summary(void **state)
{
        (void)state;
        print_message("%lu inputs, %lu decided by the scanner, %lu valid\n",
                      checked, decided, valid_seen);
        /* the scanner decides nearly everything: jansson is the exception */
        assert_true(decided * 10 >= checked * 9);
}

static int setup(void **state)
{
        char err[256];
        char *argv[] = {"test", NULL};

        (void)state;
        unsetenv("KOMEK_CONFIG");
        return km_conf_main(&conf, "test", NULL, NULL, 1, argv, err,
                            sizeof(err));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_edges),
                cmocka_unit_test(test_generated),
                cmocka_unit_test(test_corpora),
                cmocka_unit_test(test_line),
                cmocka_unit_test(test_fallback),
                cmocka_unit_test(test_random),
                cmocka_unit_test(test_summary),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
