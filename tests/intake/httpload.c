/*
 * httpload.c - a small HTTP load client for bench/intake.sh: C connections
 * (threads), each on one keep-alive connection, send N requests in all to
 * 127.0.0.1:PORT and print requests/s and latency percentiles.
 *
 *   komek-httpload PORT CONCURRENCY TOTAL API_KEY   (POST /requests.json,
 *                                                   unique external ids)
 *   komek-httpload PORT CONCURRENCY TOTAL - PATH    (GET PATH)
 *
 * Output, one line: "requests N ok N errors N seconds S rps R p50_ms A
 * p99_ms B".  Not a test: bench/intake.sh runs it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, per_thread;
static const char *api_key, *get_path;

struct worker {
        int id;
        int ok, errors;
        double *lat_ms;
        int n;
};

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int dial(void)
{
        struct sockaddr_in sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return fd;
}

/* Send one request, read one response (Content-Length framed).
 * @returns the status or -1. */
static int roundtrip(int fd, const char *req, size_t len)
{
        static __thread char *buf;
        static __thread size_t cap;
        size_t got = 0, need = 0;
        char *hdr_end, *cl;
        int have_hdr = 0;
        int status = -1;

        if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
                return -1;
        for (;;) {
                ssize_t n;

                if (got + 65536 + 1 > cap) {
                        cap = (got + 65536 + 1) * 2;
                        buf = realloc(buf, cap);
                        if (buf == NULL)
                                return -1;
                }
                n = recv(fd, buf + got, cap - 1 - got, 0);
                if (n <= 0)
                        return -1;
                got += (size_t)n;
                buf[got] = '\0';
                if (!have_hdr && (hdr_end = strstr(buf, "\r\n\r\n"))) {
                        have_hdr = 1;
                        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
                                return -1;
                        cl = strcasestr(buf, "\r\nContent-Length:");
                        need = (size_t)(hdr_end + 4 - buf) +
                               (cl ? strtoul(cl + 17, NULL, 10) : 0);
                }
                if (have_hdr && got >= need)
                        return status;
        }
}

static void *run(void *arg)
{
        struct worker *w = arg;
        int fd = dial();
        char req[2048], body[1024];

        for (int i = 0; i < per_thread; i++) {
                double t0;
                size_t len;
                int st;

                if (get_path) {
                        len = (size_t)snprintf(req, sizeof(req),
                                               "GET %s HTTP/1.1\r\nHost: x\r\n"
                                               "\r\n",
                                               get_path);
                } else {
                        int blen = snprintf(
                                body, sizeof(body),
                                "api_key=%s&service_code=heating&description="
                                "%%D0%%9D%%D0%%B5%%D1%%82+%%D0%%BE%%D1%%82%%D0"
                                "%%BE%%D0%%BF%%D0%%BB%%D0%%B5%%D0%%BD%%D0%%B8%%D1"
                                "%%8F&address_string=%%D1%%83%%D0%%BB.+%%D0%%9A"
                                "%%D0%%B5%%D0%%BD%%D0%%B5%%D1%%81%%D0%%B0%%D1%%80"
                                "%%D1%%8B+%d&external_id=bench-%d-%d-%d-%ld",
                                api_key, i % 300 + 1, (int)getpid(), w->id, i,
                                (long)time(NULL));

                        len = (size_t)snprintf(
                                req, sizeof(req),
                                "POST /requests.json HTTP/1.1\r\nHost: x\r\n"
                                "Content-Type: application/x-www-form-urlencoded"
                                "\r\nContent-Length: %d\r\n\r\n%s",
                                blen, body);
                }
                t0 = now_ms();
                st = fd < 0 ? -1 : roundtrip(fd, req, len);
                if (st < 0) { /* reconnect once per failure */
                        if (fd >= 0)
                                close(fd);
                        fd = dial();
                }
                w->lat_ms[w->n++] = now_ms() - t0;
                if (st == 200 || st == 201)
                        w->ok++;
                else
                        w->errors++;
        }
        if (fd >= 0)
                close(fd);
        return NULL;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        int conc, total, ok = 0, errors = 0, n = 0;
        struct worker *w;
        pthread_t *tid;
        double t0, secs, *all;

        if (argc < 5) {
                fprintf(stderr, "usage: komek-httpload PORT CONCURRENCY TOTAL "
                                "API_KEY|- [PATH]\n");
                return 2;
        }
        port = atoi(argv[1]);
        conc = atoi(argv[2]);
        total = atoi(argv[3]);
        api_key = argv[4];
        get_path = strcmp(api_key, "-") == 0
                           ? (argc > 5 ? argv[5] : "/services.json")
                           : NULL;
        if (conc < 1 || total < conc)
                return 2;
        per_thread = total / conc;
        w = calloc((size_t)conc, sizeof(*w));
        tid = calloc((size_t)conc, sizeof(*tid));
        all = calloc((size_t)(per_thread * conc), sizeof(double));
        if (w == NULL || tid == NULL || all == NULL)
                return 1;
        t0 = now_ms();
        for (int i = 0; i < conc; i++) {
                w[i].id = i;
                w[i].lat_ms = all + (size_t)i * (size_t)per_thread;
                pthread_create(&tid[i], NULL, run, &w[i]);
        }
        for (int i = 0; i < conc; i++) {
                pthread_join(tid[i], NULL);
                ok += w[i].ok;
                errors += w[i].errors;
                n += w[i].n;
        }
        secs = (now_ms() - t0) / 1000.0;
        qsort(all, (size_t)n, sizeof(double), cmp);
        printf("requests %d ok %d errors %d seconds %.2f rps %.0f p50_ms %.2f "
               "p99_ms %.2f\n",
               n, ok, errors, secs, (double)n / secs, all[n / 2],
               all[(size_t)((double)n * 0.99)]);
        free(all);
        free(tid);
        free(w);
        return errors ? 1 : 0;
}
