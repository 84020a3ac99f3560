/*
 * bench/ops_metrics.c - km_metrics hot-path costs (bench/ops.sh builds and
 * runs it): counter add on a handle, alone and from two threads on one
 * series, histogram observe, add by name (mutex + hash), rendering about
 * 1,000 series, and a /metrics scrape over loopback HTTP.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "km_metrics.h"
#include "km_util.h"

#define N 20000000

static struct km_metric *c, *h;

static void *adds(void *arg)
{
        (void)arg;
        for (int i = 0; i < N; i++)
                km_metric_add(c, 1);
        return NULL;
}

static double scrape_ms(int port, int n)
{
        struct sockaddr_in sin;
        char buf[65536];
        int64_t t = km_now_ms();

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
        for (int i = 0; i < n; i++) {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                const char *req = "GET /metrics HTTP/1.0\r\n\r\n";

                if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
                        return -1;
                if (write(fd, req, strlen(req)) < 0)
                        return -1;
                while (read(fd, buf, sizeof(buf)) > 0)
                        ;
                close(fd);
        }
        return (double)(km_now_ms() - t) / n;
}

int main(void)
{
        struct km_metrics *m = km_metrics_new("komek-bench");
        pthread_t a, b;
        char labels[64], err[256];
        int64_t t;
        size_t len = 0;

        c = km_metrics_counter(m, "komek_bench_total", "{a=\"b\"}", NULL);
        h = km_metrics_histogram(m, "komek_bench_seconds", NULL, NULL,
                                 km_metrics_latency_buckets,
                                 KM_METRICS_LATENCY_N);
        t = km_now_ms();
        adds(NULL);
        printf("counter add, 1 thread:               %6.1f ns\n",
               (double)(km_now_ms() - t) * 1e6 / N);
        t = km_now_ms();
        pthread_create(&a, NULL, adds, NULL);
        pthread_create(&b, NULL, adds, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        printf("counter add, 2 threads, one series:  %6.1f ns\n",
               (double)(km_now_ms() - t) * 1e6 / (2.0 * N));
        t = km_now_ms();
        for (int i = 0; i < N / 4; i++)
                km_metric_observe(h, 0.003);
        printf("histogram observe (14 buckets):      %6.1f ns\n",
               (double)(km_now_ms() - t) * 1e6 / (N / 4));
        t = km_now_ms();
        for (int i = 0; i < 1000000; i++)
                km_metrics_counter_add(m, "komek_bench_total", "{a=\"b\"}", 1);
        printf("counter add by name (lookup):        %6.1f ns\n",
               (double)(km_now_ms() - t) * 1e6 / 1000000);
        for (int i = 0; i < 990; i++) {
                snprintf(labels, sizeof(labels), "{partition=\"%d\"}", i);
                km_metric_set(
                        km_metrics_gauge(m, "komek_bench_gauge", labels, NULL),
                        i);
        }
        t = km_now_ms();
        for (int i = 0; i < 200; i++) {
                char *s = km_metrics_render(m);

                len = strlen(s);
                free(s);
        }
        printf("render ~1,000 series (%zu bytes):  %6.3f ms\n", len,
               (double)(km_now_ms() - t) / 200.0);
        if (km_metrics_start(m, "127.0.0.1", KM_METRICS_PORT_ANY, NULL, NULL,
                             err, sizeof(err)) == 0)
                printf("GET /metrics over loopback:          %6.3f ms\n",
                       scrape_ms(km_metrics_port(m), 200));
        km_metrics_destroy(m);
        return 0;
}
