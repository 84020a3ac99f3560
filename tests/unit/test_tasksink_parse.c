/*
 * test_tasksink_parse.c - komek-tasksink's two readers of a dispatch
 * message (tasksink_parse.c): the one-pass scanner (km_json_scan, the hot
 * path) and jansson (the reference), over the same inputs: an edge table,
 * generated valid messages (escapes, Unicode, members in any order,
 * optional members absent or null, address as text or parts, numbers in
 * every form), the fuzz and hostile complaint corpora (as the whole
 * message and as its complaint) and mutations of valid messages
 * (truncations, one byte replaced, one byte inserted).  Each must give the
 * same verdict and reason and, when valid, the same fields, byte for byte.
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
                         why, rs, es, rj, ej, len,
                         (int)(len > 600 ? 600 : len), buf ? buf : "");
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
        "Нет горячей воды", "line\\none\\ttab \\\"quoted\\\" back\\\\slash",
        "\\u0416\\u0430\\u0440\\u0430 \\ud83d\\ude00 \\/slash",
        "Су жоқ, \xf0\x9f\x98\x80 emoji", "x",
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
                "", ",\"contact\":null",
                ",\"contact\" : { \"email\" : \"a@b.kz\" }",
        };
        size_t o;

        snprintf(cpl, sizeof(cpl),
                 "{\"schema_version\":1,\"id\":\"6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\","
                 "\"source\":\"call109\",\"received_at\":\"2026-07-16T10:00:00Z\","
                 "\"category\":\"heating\",\"description\":\"%s\",\"address\":%s%s%s}",
                 descs[v % 5], addr[(v / 5) % 5], contact[(v / 25) % 4],
                 (v / 100) % 3 == 0   ? ",\"lat\":51.1694,\"long\":7.1694e1"
                 : (v / 100) % 3 == 1 ? ",\"lat\":-0,\"long\":-0.0,\"emergency\":true,"
                                        "\"media_urls\":[\"https://x.kz/a\",[],{}]"
                                      : "");
        snprintf(mem[n++], 512, "\"schema_version\":1");
        snprintf(mem[n++], 512, "\"complaint_id\":\"6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\"");
        snprintf(mem[n++], 512, "\"attempt\":%d", v % 7 == 0 ? 1000000 : 1 + (int)(v % 3));
        snprintf(mem[n++], 512, "\"org_id\":\"ksk-%04u\"", v % 10000);
        snprintf(mem[n++], 512, "\"org_kind\":\"ksk\"");
        if (v % 3 == 0)
                snprintf(mem[n++], 512, "\"building_id\":\"b-000123\"");
        else if (v % 3 == 1)
                snprintf(mem[n++], 512, "\"building_id\":null");
        if (v % 4 == 0)
                snprintf(mem[n++], 512, "\"district\":\"\\u0415\\u0441\\u0438\\u043b\\u044c\"");
        else if (v % 4 == 1)
                snprintf(mem[n++], 512, "\"district\":null");
        else if (v % 4 == 2)
                snprintf(mem[n++], 512, "\"district\":\"Нура\"");
        snprintf(mem[n++], 512, "\"category\":\"heating\"");
        snprintf(mem[n++], 512, "\"received_at\":\"2026-07-16T10:00:00Z\"");
        snprintf(mem[n++], 512, "\"routed_at\":\"2026-07-16T10:00:00.123456Z\"");
        snprintf(mem[n++], 512, "\"due_at\":\"2026-07-17T10:00:00Z\"");
        snprintf(mem[n++], 512, "\"route_reason\":\"%s\"",
                 v % 2 ? "building_id" : "rerouted:not_ours");
        snprintf(mem[n++], 512, "\"complaint\":@");
        if (v % 5 == 0)
                snprintf(mem[n++], 512, "\"extra\":{\"a\":[1,2.5,-3e-2,true,false,null,\"s\"]}");
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

                o += (size_t)snprintf(out + o, cap - o, "%s", i ? (v % 8 ? "," : " ,\n ") : "");
                if (strcmp(m, "\"complaint\":@") == 0)
                        o += (size_t)snprintf(out + o, cap - o, "\"complaint\":%s", cpl);
                else
                        o += (size_t)snprintf(out + o, cap - o, "%s", m);
        }
        snprintf(out + o, cap - o, "}%s", v % 6 == 0 ? " \n" : "");
}

static void mutate_all(const char *buf, size_t len, unsigned stride)
{
        static const unsigned char bytes[] = {
                '"', '\\', '{', '}', '[', ']', ',', ':', '0', '9', 'e', '-',
                '.', 'n', 'u', ' ', '\n', 0x00, 0x1f, 0x7f, 0x80, 0xc0, 0xed,
                0xf4, 0xff};
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

#define ENV_HEAD "{\"complaint_id\":\"6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\"," \
        "\"attempt\":1,\"org_id\":\"ksk-1\",\"org_kind\":\"ksk\",\"category\":\"gas\"," \
        "\"route_reason\":\"address\",\"received_at\":\"2026-07-16T10:00:00Z\"," \
        "\"routed_at\":\"2026-07-16T10:00:00Z\",\"due_at\":\"2026-07-16T14:00:00Z\","

static void test_edges(void **state)
{
        static const struct {
                const char *in;
                int want; /* 0 valid, -1 invalid, 2 either (same verdict) */
        } rows[] = {
                {"", -1}, {"{}", -1}, {"[]", -1}, {"null", -1}, {"{", -1},
                {"\xef\xbb\xbf{}", -1}, {"{\"a\":1,}", -1}, {"{\"a\" 1}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"}} ", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"}}x", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"}}{}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":null}}", -1},
                {ENV_HEAD "\"complaint\":{}}", -1},
                {ENV_HEAD "\"complaint\":[]}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"description\":\"e\"}}", -1},
                {ENV_HEAD "\"attempt\":2,\"complaint\":{\"description\":\"d\"}}", -1},
                {ENV_HEAD "\"attemp\\u0074\":2,\"complaint\":{\"description\":\"d\"}}", -1},
                {ENV_HEAD "\"x\\u0041\":2,\"complaint\":{\"description\":\"d\"}}", 0},
                {ENV_HEAD "\"complaint\":{\"descr\\u0069ption\":\"d\"}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"x\":{\"a\":1,\"a\":2}}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"x\":[{\"a\":1,\"b\":[{\"c\":1,\"c\":1}]}]}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"a\\u0000b\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\ud800\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\udc00x\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\ud800\\u0041\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\uD83D\\uDE00\"}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\x\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\\u12\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\t\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\x7f\"}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xc0\x80\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xed\xa0\x80\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xf4\x90\x80\x80\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xe0\x9f\xbf\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xf0\x8f\xbf\xbf\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xf4\x8f\xbf\xbf\"}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"\xe2\x82\"}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":9223372036854775807}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":9223372036854775808}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":-9223372036854775808}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":-9223372036854775809}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":100000000000000000000}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":1e400}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":-1E+400}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":1e-400}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":01}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":-}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":1.}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":.5}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":1e}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":-0.0e-0}}", 0},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":tru}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":nulll}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":True}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":[1 2]}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\",\"n\":[1,]}}", -1},
                {ENV_HEAD "\"complaint\":{\"description\":\"d\"},\"attempt\":1.0}", -1},
                {"{\"complaint_id\":\"6f1c2f4e-6d0b-5a8e-9b1f-0c7d2f4a9e11\",\"attempt\":0}", -1},
                {"{\"a\":\"\\u0061\",\"\\u0061\":1}", -1},
                {"{\"a\":1,\"\\u0061\":1}", -1},
        };
        static const char nul[] = ENV_HEAD "\"complaint\":{\"description\":\"d\"}\0}";
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
        for (int depth = 60; depth <= 3000; depth = depth < 80 ? depth + 5 : depth * 3) {
                o = (size_t)snprintf(big, sizeof(big), "%s\"complaint\":{\"description\":\"d\",\"x\":",
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
                o = (size_t)snprintf(big, sizeof(big), "%s\"complaint\":{\"description\":\"d\"",
                                     ENV_HEAD);
                for (int k = 0; k < 100; k++)
                        o += (size_t)snprintf(big + o, sizeof(big) - o, ",\"m%d\":%d", k, k);
                o += (size_t)snprintf(big + o, sizeof(big) - o, "%s}}",
                                      dup ? ",\"m3\":0" : "");
                assert_int_equal(check_str(big) == 0, !dup);
        }
        /* the longest description the model accepts: 4,000 x U+1F600 */
        o = (size_t)snprintf(big, sizeof(big), "%s\"complaint\":{\"description\":\"", ENV_HEAD);
        for (int k = 0; k < 4000; k++)
                o += (size_t)snprintf(big + o, sizeof(big) - o, "\xf0\x9f\x98\x80");
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
                for (char *p = buf, *l; (l = memchr(p, '\n', (size_t)(buf + len - p)));
                     p = l + 1)
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
        static const char in[] = ENV_HEAD "\"district\":null,\"complaint\":{"
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
        assert_int_equal(tasksink_row_parse(&ts, &rkm, &row, err, sizeof(err)), 0);
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
                cmocka_unit_test(test_summary),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
