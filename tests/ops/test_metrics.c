/*
 * test_metrics.c - km_metrics: the exposition text against a golden file
 * (tests/ops/test_metrics.ref), label and help escaping, rejected
 * registrations, cumulative histogram buckets, exact counts under
 * concurrent updates, librdkafka statistics -> consumer lag gauges, and
 * the HTTP server (/metrics, /healthz, 404, 405) read with a plain socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "km_metrics.h"
#include "km_util.h"

static char *read_file(const char *path)
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
        if (fread(buf, 1, (size_t)n, fp) != (size_t)n)
                n = 0;
        buf[n] = '\0';
        fclose(fp);
        return buf;
}

/* Print the first differing line: "got X, want Y". */
static void assert_text(const char *got, const char *want)
{
        if (strcmp(got, want) == 0)
                return;
        for (int line = 1;; line++) {
                size_t g = strcspn(got, "\n"), w = strcspn(want, "\n");

                if (g != w || memcmp(got, want, g) != 0) {
                        fail_msg("line %d: got '%.*s', want '%.*s'", line,
                                 (int)g, got, (int)w, want);
                }
                if (!got[g] || !want[w])
                        fail_msg("line %d: one text ends early", line);
                got += g + 1;
                want += w + 1;
        }
}

static void test_golden(void **state)
{
        static const double bounds[] = {0.25, 0.5, 1};
        struct km_metrics *m = km_metrics_new("komek-test");
        struct km_metric *h;
        char labels[256], path[4096];
        const char *root = getenv("KOMEK_ROOT");
        char *got, *want;

        (void)state;
        km_metric_add(
                km_metrics_counter(m, KM_METRIC_MESSAGES,
                                   "{topic=\"complaints\",outcome=\"in\"}",
                                   "messages by topic and outcome"),
                5);
        km_metrics_counter_add(
                m, KM_METRIC_MESSAGES,
                "{topic=\"complaints\",outcome=\"dlq\",reason=\"invalid_json\"}",
                1);
        km_metrics_counter_add(
                m, KM_METRIC_MESSAGES,
                "{topic=\"complaints\",outcome=\"dlq\",reason=\"invalid_json\"}",
                1);
        km_metric_set(km_metrics_gauge(m, KM_METRIC_LAST_COMMIT, NULL,
                                       "unix time of the last commit"),
                      1784196000);
        h = km_metrics_histogram(m, KM_METRIC_BATCH_SECONDS, NULL,
                                 "batch latency\\in seconds\nper batch", bounds,
                                 3);
        km_metric_observe(h, 0.125);
        km_metric_observe(h, 0.25); /* on a bound: counts in le="0.25" */
        km_metric_observe(h, 0.375);
        km_metric_observe(h, 2);
        km_metric_observe(km_metrics_histogram(m, KM_METRIC_BATCH_SECONDS,
                                               "{stage=\"pg\"}", NULL, bounds,
                                               3),
                          0.5);
        assert_non_null(km_metrics_labels(labels, sizeof(labels), "path",
                                          "C:\\dir \"x\"\nnext", "ok", "1",
                                          NULL));
        km_metric_set(km_metrics_gauge(m, "komek_test_escape", labels, NULL),
                      0.1);
        km_metric_set(
                km_metrics_gauge(m, "komek_test_special", "{v=\"inf\"}", NULL),
                INFINITY);
        km_metric_set(
                km_metrics_gauge(m, "komek_test_special", "{v=\"nan\"}", NULL),
                NAN);
        km_metric_set(
                km_metrics_gauge(m, "komek_test_special", "{v=\"big\"}", NULL),
                1e20);
        km_metric_gauge_add(km_metrics_gauge(m, "komek_test_special",
                                             "{v=\"third\"}", NULL),
                            1.0 / 3);

        snprintf(path, sizeof(path), "%s/tests/ops/test_metrics.ref",
                 root ? root : ".");
        want = read_file(path);
        assert_non_null(want);
        got = km_metrics_render(m);
        assert_text(got, want);
        free(got);
        free(want);
        km_metrics_destroy(m);
}

static void test_labels(void **state)
{
        static const struct {
                const char *labels;
                int ok;
        } rows[] = {
                {NULL, 1},
                {"", 1},
                {"{}", 1},
                {"{a=\"\"}", 1},
                {"{a=\"x\",b=\"y\\\"z\\\\\\n\"}", 1},
                {"{_a=\"1\"}", 1},
                {"{a=\"1\",}", 0},        /* trailing comma */
                {"{a=1}", 0},             /* unquoted */
                {"{a=\"1\"", 0},          /* no closing brace */
                {"a=\"1\"", 0},           /* no braces */
                {"{1a=\"1\"}", 0},        /* bad name */
                {"{__name__=\"x\"}", 0},  /* reserved */
                {"{a=\"x\ny\"}", 0},      /* raw newline */
                {"{a=\"x\\t\"}", 0},      /* unknown escape */
                {"{a=\"x\"b=\"y\"}", 0},  /* no comma */
                {"{a=\"1\",a=\"2\"}", 0}, /* duplicate */
                {"{a=\"unterminated}", 0},
        };
        struct km_metrics *m = km_metrics_new("t");
        struct km_metric *rej;
        char buf[64];
        int nbad = 0;

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct km_metric *c = km_metrics_counter(m, "komek_t_total",
                                                         rows[i].labels, NULL);

                if ((c != NULL) != rows[i].ok)
                        fail_msg("labels %s: got %s, want %s",
                                 rows[i].labels ? rows[i].labels : "(null)",
                                 c ? "accepted" : "rejected",
                                 rows[i].ok ? "accepted" : "rejected");
                nbad += !rows[i].ok;
        }
        /* the same series under three spellings of "no labels" */
        assert_ptr_equal(km_metrics_counter(m, "komek_t_total", NULL, NULL),
                         km_metrics_counter(m, "komek_t_total", "{}", NULL));
        /* bad metric names, a type clash, le on a histogram */
        assert_null(km_metrics_counter(m, "1bad", NULL, NULL));
        assert_null(km_metrics_counter(m, "bad-name", NULL, NULL));
        assert_null(km_metrics_gauge(m, "komek_t_total", NULL, NULL));
        assert_null(km_metrics_histogram(m, "komek_h", "{le=\"1\"}", NULL,
                                         km_metrics_latency_buckets,
                                         KM_METRICS_LATENCY_N));
        {
                const double unsorted[] = {1, 0.5};

                assert_null(km_metrics_histogram(m, "komek_h2", NULL, NULL,
                                                 unsorted, 2));
        }
        assert_non_null(km_metrics_histogram(m, "komek_h", NULL, NULL,
                                             km_metrics_latency_buckets,
                                             KM_METRICS_LATENCY_N));
        /* same family, other bounds */
        assert_null(km_metrics_histogram(m, "komek_h", "{x=\"1\"}", NULL,
                                         km_metrics_latency_buckets, 3));
        nbad += 6;
        rej = km_metrics_counter(m, "komek_metrics_rejected_total", NULL, NULL);
        assert_int_equal((int)km_metric_value(rej), nbad);

        /* the builder escapes, refuses bad names and overflow */
        assert_string_equal(
                km_metrics_labels(buf, sizeof(buf), "a", "q\"b\\n\n", NULL),
                "{a=\"q\\\"b\\\\n\\n\"}");
        assert_string_equal(km_metrics_labels(buf, sizeof(buf), NULL), "");
        assert_null(km_metrics_labels(buf, sizeof(buf), "a-b", "x", NULL));
        assert_string_equal(buf, "");
        assert_null(km_metrics_labels(buf, 8, "abc", "defgh", NULL));
        km_metrics_destroy(m);
}

static void test_series_cap_and_null(void **state)
{
        struct km_metrics *m = km_metrics_new("t");
        char labels[64], *text;
        int i;

        (void)state;
        for (i = 0; i < KM_METRICS_MAX_SERIES + 5; i++) {
                snprintf(labels, sizeof(labels), "{n=\"%d\"}", i);
                if (km_metrics_counter(m, "komek_many_total", labels, NULL) ==
                    NULL)
                        break;
        }
        assert_int_equal(i, KM_METRICS_MAX_SERIES);
        /* NULL registry and handles: no-ops */
        assert_null(km_metrics_counter(NULL, "x", NULL, NULL));
        km_metric_add(NULL, 1);
        km_metric_set(NULL, 1);
        km_metric_observe(NULL, 1);
        km_metrics_counter_add(NULL, "x", NULL, 1);
        km_metrics_health_set(NULL, "x", 0, "y");
        assert_int_equal(km_metrics_port(NULL), 0);
        text = km_metrics_render(NULL);
        assert_string_equal(text, "");
        free(text);
        km_metrics_destroy(NULL);
        km_metrics_destroy(m);
}

#define NTHREADS 8
#define NITER 50000

struct worker {
        struct km_metrics *m;
        struct km_metric *c, *g, *h;
};

static void *worker_run(void *arg)
{
        struct worker *w = arg;

        for (int i = 0; i < NITER; i++) {
                km_metric_add(w->c, 1);
                km_metric_gauge_add(w->g, 1);
                km_metric_observe(w->h, (i % 2) ? 0.001953125 : 20);
                if (i % 100 == 0) /* registration path too */
                        km_metrics_counter_add(w->m, "komek_slow_total",
                                               "{path=\"lookup\"}", 1);
        }
        return NULL;
}

static void test_concurrent(void **state)
{
        struct km_metrics *m = km_metrics_new("t");
        pthread_t th[NTHREADS];
        struct worker w;
        char *text, line[128];

        (void)state;
        w.m = m;
        w.c = km_metrics_counter(m, "komek_fast_total", NULL, NULL);
        w.g = km_metrics_gauge(m, "komek_g", NULL, NULL);
        w.h = km_metrics_histogram(m, "komek_h_seconds", NULL, NULL,
                                   km_metrics_latency_buckets,
                                   KM_METRICS_LATENCY_N);
        for (int i = 0; i < NTHREADS; i++)
                assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w),
                                 0);
        for (int i = 0; i < 20; i++) { /* render while they run */
                text = km_metrics_render(m);
                free(text);
        }
        for (int i = 0; i < NTHREADS; i++)
                pthread_join(th[i], NULL);
        assert_int_equal((long long)km_metric_value(w.c),
                         (long long)NTHREADS * NITER);
        assert_true(km_metric_value(w.g) == (double)NTHREADS * NITER);
        text = km_metrics_render(m);
        snprintf(line, sizeof(line), "komek_slow_total{path=\"lookup\"} %d\n",
                 NTHREADS * NITER / 100);
        assert_non_null(strstr(text, line));
        snprintf(line, sizeof(line),
                 "komek_h_seconds_bucket{le=\"0.0025\"} %d\n",
                 NTHREADS * NITER / 2);
        assert_non_null(strstr(text, line));
        snprintf(line, sizeof(line), "komek_h_seconds_bucket{le=\"10\"} %d\n",
                 NTHREADS * NITER / 2);
        assert_non_null(strstr(text, line));
        snprintf(line, sizeof(line), "komek_h_seconds_count %d\n",
                 NTHREADS * NITER);
        assert_non_null(strstr(text, line));
        /* 2^-9 and 20 add up exactly in a double */
        snprintf(line, sizeof(line), "komek_h_seconds_sum %.15g\n",
                 NTHREADS * NITER / 2 * 20.0 + NTHREADS * NITER / 2 / 512.0);
        assert_non_null(strstr(text, line));
        free(text);
        km_metrics_destroy(m);
}

/* GET (or another method) path over a plain socket; returns the whole
 * response (malloc'd) or NULL. */
static char *http(int port, const char *method, const char *path)
{
        struct sockaddr_in sin;
        struct timeval tv = {5, 0};
        char req[256], *buf = km_xmalloc(1 << 16);
        size_t len = 0;
        ssize_t n;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
                close(fd);
                free(buf);
                return NULL;
        }
        snprintf(req, sizeof(req),
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Content-Length: 0\r\n\r\n",
                 method, path);
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        while (len < (1 << 16) - 1 &&
               (n = read(fd, buf + len, (1 << 16) - 1 - len)) > 0)
                len += (size_t)n;
        buf[len] = '\0';
        close(fd);
        return buf;
}

static int health_flag = 1;

static int health_cb(void *opaque, char *why, size_t whylen)
{
        (void)opaque;
        if (__atomic_load_n(&health_flag, __ATOMIC_SEQ_CST))
                return 0;
        snprintf(why, whylen, "broker: no broker answered");
        return 1;
}

static void test_http(void **state)
{
        struct km_metrics *m = km_metrics_new("komek-test"), *m2;
        char err[256] = "", *r;
        int port;

        (void)state;
        /* port 0: disabled */
        assert_int_equal(km_metrics_start(m, "127.0.0.1", 0, NULL, NULL, err,
                                          sizeof(err)),
                         0);
        assert_int_equal(km_metrics_port(m), 0);
        assert_int_equal(km_metrics_start(m, "localhost", 9100, NULL, NULL, err,
                                          sizeof(err)),
                         KM_ECONFIG);
        assert_int_equal(km_metrics_start(m, "127.0.0.1", 70000, NULL, NULL,
                                          err, sizeof(err)),
                         KM_ECONFIG);
        assert_int_equal(km_metrics_start(m, "127.0.0.1", KM_METRICS_PORT_ANY,
                                          health_cb, NULL, err, sizeof(err)),
                         0);
        port = km_metrics_port(m);
        assert_true(port > 0);
        km_metrics_counter_add(m, KM_METRIC_MESSAGES,
                               "{topic=\"c\",outcome=\"in\"}", 3);

        r = http(port, "GET", "/metrics");
        assert_non_null(r);
        assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
        assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
        assert_non_null(
                strstr(r, "\r\n\r\n# HELP komek_metrics_rejected_total"));
        assert_non_null(strstr(
                r, "komek_messages_total{topic=\"c\",outcome=\"in\"} 3\n"));
        free(r);

        r = http(port, "GET", "/healthz");
        assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
        assert_non_null(strstr(r, "\r\n\r\nok\n"));
        free(r);

        km_metrics_health_set(m, "broker", 1, NULL);
        km_metrics_health_set(m, "database", 0, "connection refused");
        r = http(port, "GET", "/healthz");
        assert_true(strncmp(r, "HTTP/1.1 503", 12) == 0);
        assert_non_null(
                strstr(r, "\r\n\r\nunhealthy: database: connection refused\n"));
        free(r);

        km_metrics_health_set(m, "database", 1, NULL);
        __atomic_store_n(&health_flag, 0, __ATOMIC_SEQ_CST);
        r = http(port, "GET", "/healthz");
        assert_true(strncmp(r, "HTTP/1.1 503", 12) == 0);
        assert_non_null(strstr(r, "unhealthy: broker: no broker answered\n"));
        free(r);
        __atomic_store_n(&health_flag, 1, __ATOMIC_SEQ_CST);

        r = http(port, "GET", "/nope");
        assert_true(strncmp(r, "HTTP/1.1 404", 12) == 0);
        free(r);
        r = http(port, "POST", "/metrics");
        assert_true(strncmp(r, "HTTP/1.1 405", 12) == 0);
        assert_non_null(strstr(r, "Allow: GET, HEAD"));
        free(r);
        r = http(port, "HEAD", "/metrics");
        assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
        assert_null(strstr(r, "# TYPE"));
        free(r);

        /* the port is taken: a clear error, not a crash */
        m2 = km_metrics_new("t2");
        assert_int_equal(km_metrics_start(m2, "127.0.0.1", port, NULL, NULL,
                                          err, sizeof(err)),
                         KM_EFATAL);
        assert_non_null(strstr(err, "cannot serve on 127.0.0.1"));
        km_metrics_destroy(m2);

        km_metrics_destroy(m); /* stops the server */
        assert_null(http(port, "GET", "/metrics"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden),
                cmocka_unit_test(test_labels),
                cmocka_unit_test(test_series_cap_and_null),
                cmocka_unit_test(test_concurrent),
                cmocka_unit_test(test_http),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
