/*
 * km_test_metrics.c - see km_test_metrics.h.
 */
#include "km_test_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "http_client.h"
#include "km_util.h"

static void km_test_metrics_nap(int ms)
{
        struct timespec ts = {0, ms * 1000000L};

        nanosleep(&ts, NULL); /* between polls against a deadline */
}

int km_test_metrics_port(const char *pf, int pid, int timeout_ms)
{
        int64_t deadline = km_now_ms() + timeout_ms;
        int port = 0, st;

        for (;;) {
                FILE *fp = fopen(pf, "r");

                if (fp) {
                        if (fscanf(fp, "%d", &port) != 1)
                                port = 0;
                        fclose(fp);
                }
                if (port > 0)
                        return port;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        fprintf(stderr,
                                "pid %d exited (0x%x) before writing "
                                "%s\n",
                                pid, st, pf);
                        return 0;
                }
                if (km_now_ms() >= deadline)
                        return 0;
                km_test_metrics_nap(50);
        }
}

double km_test_metric(int port, const char *series)
{
        struct http_resp r;
        size_t n = strlen(series);
        double v = -1;
        char *p;

        if (http_do(port, "GET", "/metrics", NULL, NULL, 0, &r) != 0)
                return -1;
        for (p = r.body; p && (p = strstr(p, series)) != NULL; p += n)
                if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
                        v = strtod(p + n + 1, NULL);
                        break;
                }
        http_resp_free(&r);
        return v;
}

double km_test_wait_metric(int port, const char *series, double want,
                           int timeout_ms)
{
        int64_t deadline = km_now_ms() + timeout_ms;
        double v;

        while ((v = km_test_metric(port, series)) != want &&
               km_now_ms() < deadline)
                km_test_metrics_nap(100);
        return v;
}

double km_test_metric_sum(int port, const char *prefix)
{
        struct http_resp r;
        size_t n = strlen(prefix);
        double sum = -1;

        if (http_do(port, "GET", "/metrics", NULL, NULL, 0, &r) != 0)
                return -1;
        for (char *p = r.body; p && (p = strstr(p, prefix)) != NULL; p += n)
                if (p == r.body || p[-1] == '\n') {
                        char *sp = strchr(p, ' ');

                        if (sp)
                                sum = (sum < 0 ? 0 : sum) +
                                      strtod(sp + 1, NULL);
                }
        http_resp_free(&r);
        return sum;
}
