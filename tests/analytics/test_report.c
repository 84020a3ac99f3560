/*
 * test_report.c - komek-report against golden files (Postfix .in/.ref
 * style): a fixed small city (tests/analytics/fixture/, a komek-gen seed
 * 11 snapshot with descriptions shortened) goes through komek-analytics
 * and komek-escalator, then the report for 2025-W19 in every format is
 * compared byte for byte with tests/analytics/golden/.  The HTML is then
 * rendered by headless Chromium (Debian's chromium) to a PNG, and its DOM
 * must hold the two SVG charts with their bars and the rating table.
 *
 * KOMEK_UPDATE_GOLDEN=1 rewrites the golden files instead (review the
 * diff before committing them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

static struct fx_env env;
static struct fx_data d;
static char tmp[64];
static const char *root;

static int setup(void **state)
{
        static const int parts[FX_NTOPICS] = {2, 2, 1, 1, 1, 1};
        char dir[512], group[128], name[128], set[200], set2[200];
        const char *an[] = {"--set", set, "--log-level", "warn", NULL};
        const char *es[] = {"--set", set2,          "--once", "--name",
                            name,    "--log-level", "warn",   NULL};
        int pid;

        (void)state;
        root = getenv("KOMEK_ROOT") ? getenv("KOMEK_ROOT") : ".";
        snprintf(tmp, sizeof(tmp), "/tmp/komek-report-XXXXXX");
        if (mkdtemp(tmp) == NULL || fx_env_init(&env, parts))
                return -1;
        snprintf(dir, sizeof(dir), "%s/tests/analytics/fixture", root);
        snprintf(d.dir, sizeof(d.dir), "%s", dir);
        if (fx_load(&d, &env.conf, d.dir) || fx_load_directory(&env, &d) ||
            fx_publish(&env, &d, 0, (int)d.nm))
                return -1;
        km_test_name(group, sizeof(group), "rp-group");
        km_test_name(name, sizeof(name), "rp-esc");
        snprintf(set, sizeof(set), "analytics.group=%s", group);
        snprintf(set2, sizeof(set2), "escalator.analytics_group=%s", group);
        pid = fx_spawn(&env, "analytics", an,
                       ".run/test-logs/test_report.an.log");
        if (pid < 0 || fx_caught_up(&env, group, 60000) ||
            km_test_wait(pid, SIGTERM, 20000) != 0)
                return -1;
        pid = fx_spawn(&env, "escalator", es,
                       ".run/test-logs/test_report.esc.log");
        return pid > 0 && km_test_wait(pid, 0, 60000) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        fx_data_destroy(&d);
        fx_env_destroy(&env);
        fx_run("rm -rf %s", tmp);
        return 0;
}

/* Run komek-report with args into tmp/name. */
static void report(const char *args, const char *name)
{
        const char *bin = getenv("KOMEK_BIN");

        assert_int_equal(fx_run("KOMEK_PG_CONNINFO=\"%s\" %s/komek-report "
                                "--config %s/deploy/komek.conf --week 2025-W19 "
                                "%s --out %s/%s",
                                env.conninfo, bin ? bin : "bin", root, args,
                                tmp, name),
                         0);
}

static void golden(const char *name)
{
        if (getenv("KOMEK_UPDATE_GOLDEN")) {
                assert_int_equal(fx_run("mkdir -p %s/tests/analytics/golden && "
                                        "cp %s/%s %s/tests/analytics/golden/%s",
                                        root, tmp, name, root, name),
                                 0);
                return;
        }
        if (fx_run("diff -u %s/tests/analytics/golden/%s %s/%s >&2", root, name,
                   tmp, name))
                fail_msg("%s differs from tests/analytics/golden/%s (see the "
                         "diff above; KOMEK_UPDATE_GOLDEN=1 rewrites it)",
                         name, name);
}

static void test_text(void **state)
{
        (void)state;
        report("--format text --lang both", "report.txt");
        golden("report.txt");
        report("--format text --lang en", "report.en.txt");
        golden("report.en.txt");
}

static void test_json(void **state)
{
        (void)state;
        report("--format json", "report.json");
        golden("report.json");
}

static void test_csv(void **state)
{
        (void)state;
        report("--format csv", "report.csv");
        golden("report.csv");
}

/* A directory name a spreadsheet would run (issue 19): defused in the
 * CSV by common/km_csv.c, as in komek-web's. */
static void test_csv_formula_defused(void **state)
{
        static const char *const upd =
                "UPDATE organisations SET name = $1 WHERE id = 'ksk-0003'";
        const char *hostile[1] = {"=HYPERLINK(\"http://x.example\",\"x\")"};
        const char *orig[1] = {"КСК «Достык»"};
        char err[512], path[128], line[512];
        int found = 0;
        FILE *fp;

        (void)state;
        assert_int_equal(
                km_pg_exec(env.conn, upd, 1, hostile, NULL, err, sizeof(err)),
                0);
        report("--format csv", "report.hostile.csv");
        assert_int_equal(
                km_pg_exec(env.conn, upd, 1, orig, NULL, err, sizeof(err)), 0);
        snprintf(path, sizeof(path), "%s/report.hostile.csv", tmp);
        fp = fopen(path, "r");
        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp))
                if (strncmp(line, "rating,ksk-0003,", 16) == 0) {
                        found = 1;
                        if (strncmp(line + 16,
                                    "\"'=HYPERLINK(\"\"http://x.example\"\","
                                    "\"\"x\"\")\",",
                                    42) != 0)
                                fail_msg("got %s, want the name defused", line);
                }
        fclose(fp);
        assert_true(found);
}

static long count_of(const char *buf, const char *what)
{
        long n = 0;

        for (const char *p = buf; (p = strstr(p, what)) != NULL; p++)
                n++;
        return n;
}

/* The HTML: golden, self-contained, and rendered by Chromium with both
 * charts and the rating table in the DOM. */
static void test_html_chromium(void **state)
{
        char path[256], *dom = NULL;
        size_t len = 0;
        FILE *fp;
        unsigned char sig[8];
        long bars;

        (void)state;
        report("--format html --lang both", "report.html");
        golden("report.html");
        snprintf(path, sizeof(path), "%s/report.html", tmp);
        assert_int_equal(
                fx_run("grep -Eq '(src|href)=\"?(https?:)?//' %s", path),
                256); /* nothing loaded from anywhere */
        if (fx_run("command -v chromium >/dev/null"))
                fail_msg(
                        "chromium is not installed (deploy/deps.sh installs it)");
        assert_int_equal(
                fx_run("cd %s && timeout 120 chromium --headless --no-sandbox "
                       "--disable-gpu --disable-quic --no-first-run "
                       "--disable-background-networking --disable-component-update "
                       "--disable-sync --user-data-dir=%s/profile "
                       "--screenshot=%s/report.png --window-size=1280,2000 "
                       "file://%s >/dev/null 2>&1",
                       tmp, tmp, tmp, path),
                0);
        assert_int_equal(
                fx_run("cd %s && timeout 120 chromium --headless --no-sandbox "
                       "--disable-gpu --disable-quic --no-first-run "
                       "--disable-background-networking --disable-component-update "
                       "--disable-sync --user-data-dir=%s/profile --dump-dom "
                       "file://%s >%s/dom.html 2>/dev/null",
                       tmp, tmp, path, tmp),
                0);
        snprintf(path, sizeof(path), "%s/report.png", tmp);
        fp = fopen(path, "rb");
        assert_non_null(fp);
        assert_int_equal(fread(sig, 1, 8, fp), 8);
        assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
        fseek(fp, 0, SEEK_END);
        assert_true(ftell(fp) > 20000); /* a page with charts, not a blank */
        fclose(fp);
        snprintf(path, sizeof(path), "%s/dom.html", tmp);
        fp = fopen(path, "rb");
        assert_non_null(fp);
        fseek(fp, 0, SEEK_END);
        len = (size_t)ftell(fp);
        fseek(fp, 0, SEEK_SET);
        dom = km_xmalloc(len + 1);
        assert_int_equal(fread(dom, 1, len, fp), len);
        dom[len] = '\0';
        fclose(fp);
        assert_non_null(dom);
        assert_non_null(strstr(dom, "<svg id=\"chart-weekly\""));
        assert_non_null(strstr(dom, "<svg id=\"chart-wow\""));
        assert_non_null(strstr(dom, "<table id=\"rating\""));
        bars = count_of(dom, "class=\"bar\"");
        print_message("rendered: %ld bars, %ld rated rows\n", bars,
                      count_of(dom, "<tr class=\"rated\""));
        assert_true(bars > 20);
        assert_true(count_of(dom, "<tr class=\"rated\"") > 0);
        free(dom);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_text),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_csv),
                cmocka_unit_test(test_csv_formula_defused),
                cmocka_unit_test(test_html_chromium),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
