/*
 * test_browser.c - komek-web in Debian's headless chromium (tests/web/
 * browser.js with playwright-core): sign in, open an overdue task, resolve
 * it, see it leave the open list and appear in the dashboard's counts.
 * Checked here too: the task is resolved with the note, its task-events
 * message is on the topic once, the screenshots are PNG files in
 * .run/test-artifacts/web/.
 *
 * playwright-core is installed (npm ci, pinned by tests/web/package-lock.json)
 * into .run/web-node when it is not there yet; chromium comes from
 * deploy/deps.sh.  Generous deadlines: a 2-core machine shared by others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "km_test.h"
#include "km_util.h"
#include "wt.h"

#define PW_STAFF "browser staff password"
#define PW_ANALYST "browser analyst password"

static struct wt t;
static char art[512], node_dir[512];

/* playwright-core into .run/web-node, pinned; idempotent. */
static int install_playwright(void)
{
        const char *root = getenv("KOMEK_ROOT");
        char probe[600];
        char *cmd;
        struct stat st;
        int rc;

        snprintf(node_dir, sizeof(node_dir), "%s/.run/web-node", root);
        snprintf(probe, sizeof(probe),
                 "%s/node_modules/playwright-core/package.json", node_dir);
        cmd = km_xasprintf(
                "grep -q '\"version\": \"1.56.1\"' '%s' 2>/dev/null || "
                "(mkdir -p '%s' && cp '%s/tests/web/package.json' "
                "'%s/tests/web/package-lock.json' '%s/' && cd '%s' && "
                "timeout 300 npm ci --no-audit --no-fund --loglevel=error)",
                probe, node_dir, root, root, node_dir, node_dir);
        rc = system(cmd);
        free(cmd);
        if (rc != 0 || stat(probe, &st) != 0) {
                fprintf(stderr,
                        "cannot install playwright-core (npm ci in "
                        "%s)\n",
                        node_dir);
                return -1;
        }
        return 0;
}

static int is_png(const char *dir, const char *name, long *size)
{
        char path[700];
        unsigned char sig[8];
        FILE *fp;
        int ok;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if ((fp = fopen(path, "rb")) == NULL)
                return 0;
        ok = fread(sig, 1, 8, fp) == 8 &&
             memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0;
        fseek(fp, 0, SEEK_END);
        *size = ftell(fp);
        fclose(fp);
        return ok;
}

struct events {
        int n;
        char want[40];
};

static int collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct events *ev = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);

        const char *id = json_string_value(json_object_get(o, "complaint_id"));
        const char *kind = json_string_value(json_object_get(o, "event"));

        if (id && kind && !strcmp(id, ev->want) && !strcmp(kind, "resolved"))
                ev->n++;
        json_decref(o);
        return 0;
}

static void test_browser(void **state)
{
        char *cmd, out[4096] = "";
        const char *task;
        json_t *res;
        struct events ev;
        FILE *fp;
        size_t n;
        int st;
        long size;

        (void)state;
        cmd = km_xasprintf(
                "cd '%s' && WEB_URL=http://127.0.0.1:%d STAFF_LOGIN=ksk.demo "
                "STAFF_PASSWORD='" PW_STAFF "' ANALYST_LOGIN=analyst.demo "
                "ANALYST_PASSWORD='" PW_ANALYST "' ARTIFACTS='%s' "
                "NODE_PATH='%s/node_modules' CHROMIUM=/usr/bin/chromium "
                "DEADLINE_MS=${DEADLINE_MS:-90000} timeout 400 node '%s/tests/web/browser.js' "
                "2>'%s/browser.log'",
                node_dir, t.port, art, node_dir, getenv("KOMEK_ROOT"),
                t.rt.logdir);
        fp = popen(cmd, "r");
        free(cmd);
        assert_non_null(fp);
        n = fread(out, 1, sizeof(out) - 1, fp);
        out[n] = '\0';
        st = pclose(fp);
        printf("browser: %s", out);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                char log[600];

                snprintf(log, sizeof(log), "cat '%s/browser.log' >&2",
                         t.rt.logdir);
                if (system(log) != 0)
                        fprintf(stderr, "no browser log\n");
                fail_msg("browser.js failed (status %d)", st);
        }
        res = json_loads(out, 0, NULL);
        assert_non_null(res);
        task = json_string_value(json_object_get(res, "task"));
        assert_non_null(task);
        /* the page's counts moved by exactly this task */
        assert_int_equal(
                json_integer_value(json_object_get(res, "resolved_after")),
                json_integer_value(json_object_get(res, "resolved_before")) +
                        1);
        assert_int_equal(
                json_integer_value(json_object_get(res, "open_after")),
                json_integer_value(json_object_get(res, "open_before")) - 1);
        assert_int_equal(
                json_integer_value(json_object_get(res, "inbox_overdue_after")),
                json_integer_value(
                        json_object_get(res, "inbox_overdue_before")) -
                        1);
        assert_true(json_integer_value(json_object_get(res, "svg")) >= 2);
        assert_true(json_integer_value(json_object_get(res, "bars")) > 10);
        assert_true(json_is_true(json_object_get(res, "english")));
        assert_int_equal(
                json_integer_value(json_object_get(res, "csp_violations")), 0);
        /* the database and the topic agree */
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM tasks WHERE complaint_id = "
                      "$1::uuid AND status = 'resolved' AND "
                      "status_note = 'Заменили кран, вода есть "
                      "(browser test)' AND due_at < resolved_at",
                      task),
                1);
        /* the resolve's event: once the outbox has nothing unpublished
         * (a row is marked only after the broker's acknowledgement), the
         * topic's end is final; read to it, no settle time */
        assert_int_equal(rt_wait_count(&t.rt,
                                       "SELECT count(*) FROM task_outbox WHERE "
                                       "published_at IS NULL",
                                       0, 60000),
                         0);
        memset(&ev, 0, sizeof(ev));
        snprintf(ev.want, sizeof(ev.want), "%s", task);
        assert_true(km_test_read_to_end(&t.rt.conf, t.rt.events,
                                        "read_committed", 60000, collect,
                                        &ev) >= 1);
        assert_int_equal(ev.n, 1);
        /* the screenshots */
        assert_true(is_png(art, "inbox.png", &size) && size > 10000);
        assert_true(is_png(art, "task.png", &size) && size > 10000);
        assert_true(is_png(art, "dashboard.png", &size) && size > 20000);
        assert_true(is_png(art, "dashboard-en.png", &size) && size > 10000);
        json_decref(res);
}

static int setup(void **state)
{
        const char *const extra[] = {"--set", "web.live_cache_s=1", NULL};

        (void)state;
        snprintf(art, sizeof(art), "%s/.run/test-artifacts/web",
                 getenv("KOMEK_ROOT"));
        if (system("mkdir -p \"$KOMEK_ROOT/.run/test-artifacts/web\"") != 0 ||
            install_playwright())
                return -1;
        if (wt_setup(&t, "webui", 400, 60) || wt_analytics(&t))
                return -1;
        if (wt_user(&t, "ksk.demo", t.org, PW_STAFF) ||
            wt_user(&t, "analyst.demo", NULL, PW_ANALYST))
                return -1;
        return wt_web_start(&t, extra);
}

static int teardown(void **state)
{
        int st = wt_web_stop(&t);

        (void)state;
        wt_teardown(&t);
        return st == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_browser),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
