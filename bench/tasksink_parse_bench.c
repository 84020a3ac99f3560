/*
 * tasksink_parse_bench.c - komek-tasksink's reading of dispatch messages,
 * the one-pass scanner against its jansson reference, on the same
 * messages in one process (bench/tasksink.sh; not a test).
 * usage: tasksink_parse_bench FILE.jsonl scan|ref|both [ROUNDS]
 *   scan, ref: one reader, ROUNDS passes (for callgrind: instructions per
 *   message are the total over the messages read); both: the two
 *   alternated, ROUNDS rounds each, CPU µs per message of each and the
 *   ratio.  Every message must get the same verdict from both.
 * Prints lines "bench: <key> <value> <unit>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_util.h"
#include "../workers/tasksink/tasksink.h"

static double cpu_s(void)
{
        struct timespec t;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One pass over the messages; @returns how many were valid. */
static size_t bench_pass(const struct km_conf *conf, char **msg, size_t *len,
                         size_t n, int ref, struct tasksink_msg *m)
{
        char err[256];
        size_t ok = 0;

        for (size_t i = 0; i < n; i++)
                if (tasksink_msg_read(conf, msg[i], len[i], ref, m, err,
                                      sizeof(err)) == 0)
                        ok++;
        return ok;
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct tasksink_msg m;
        char err[256], *line = NULL, **msg = NULL, *av[] = {"bench", NULL};
        size_t *len = NULL, n = 0, cap = 0, lcap = 0, ok[2] = {0, 0};
        double t[2] = {0, 0};
        int rounds = argc > 3 ? atoi(argv[3]) : 1;
        ssize_t got;
        FILE *fp;

        if (argc < 3 || (fp = fopen(argv[1], "rb")) == NULL) {
                fprintf(stderr,
                        "usage: tasksink_parse_bench FILE scan|ref|both [ROUNDS]\n");
                return 2;
        }
        unsetenv("KOMEK_CONFIG");
        if (km_conf_main(&conf, "bench", NULL, NULL, 1, av, err, sizeof(err))) {
                fprintf(stderr, "%s\n", err);
                return 2;
        }
        while ((got = getline(&line, &lcap, fp)) > 0) {
                if (n == cap) {
                        cap = cap ? cap * 2 : 1024;
                        msg = km_xrealloc(msg, cap * sizeof(*msg));
                        len = km_xrealloc(len, cap * sizeof(*len));
                }
                len[n] = (size_t)got - (line[got - 1] == '\n');
                msg[n] = km_xmalloc(len[n] + 1);
                memcpy(msg[n], line, len[n]);
                n++;
        }
        fclose(fp);
        memset(&m, 0, sizeof(m));
        for (int r = 0; r < rounds; r++)
                for (int ref = 0; ref < 2; ref++) {
                        double t0;

                        if ((ref && !strcmp(argv[2], "scan")) ||
                            (!ref && !strcmp(argv[2], "ref")))
                                continue;
                        t0 = cpu_s();
                        ok[ref] = bench_pass(&conf, msg, len, n, ref, &m);
                        t[ref] += cpu_s() - t0;
                }
        printf("bench: tasksink_parse.messages %zu msg\n", n);
        if (strcmp(argv[2], "ref"))
                printf("bench: tasksink_parse.scan_us %.3f us/msg (%zu valid)\n",
                       t[0] * 1e6 / ((double)n * rounds), ok[0]);
        if (strcmp(argv[2], "scan"))
                printf("bench: tasksink_parse.jansson_us %.3f us/msg (%zu valid)\n",
                       t[1] * 1e6 / ((double)n * rounds), ok[1]);
        if (!strcmp(argv[2], "both")) {
                printf("bench: tasksink_parse.ratio %.2f x\n", t[1] / t[0]);
                if (ok[0] != ok[1]) {
                        fprintf(stderr, "verdicts differ: %zu vs %zu valid\n",
                                ok[0], ok[1]);
                        return 1;
                }
        }
        tasksink_msg_free(&m);
        for (size_t i = 0; i < n; i++)
                free(msg[i]);
        free(msg);
        free(len);
        free(line);
        km_conf_destroy(&conf);
        return 0;
}
