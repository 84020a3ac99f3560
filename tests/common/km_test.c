/*
 * km_test.c - see km_test.h.
 */
#include "km_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <libpq-fe.h>
#include "km_pg.h"

#include "km_kafka.h"
#include "km_util.h"

int km_test_conf(struct km_conf *conf)
{
        char err[512];
        char *argv[] = {"komek-test", NULL};

        if (km_conf_main(conf, "test", NULL, NULL, 1, argv, err, sizeof(err))) {
                fprintf(stderr, "test config: %s\n", err);
                return -1;
        }
        return 0;
}

void km_test_name(char *buf, size_t len, const char *what)
{
        static int n;

        snprintf(buf, len, "komek-test-%s-%d-%d-%lld", what, (int)getpid(), n++,
                 (long long)time(NULL));
}

int km_test_topic(const struct km_conf *conf, char *buf, size_t len,
                  const char *what, int partitions)
{
        char err[512];

        km_test_name(buf, len, what);
        if (km_kafka_topic_create(conf, buf, partitions, 30000, err,
                                  sizeof(err))) {
                fprintf(stderr, "create topic %s: %s\n", buf, err);
                return -1;
        }
        return 0;
}

int km_test_read_topic(const struct km_conf *conf, const char *topic,
                       const char *isolation, int want, int deadline_ms,
                       int settle_ms, km_test_msg_cb *cb, void *opaque)
{
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *parts;
        char err[512];
        int64_t deadline = km_now_ms() + deadline_ms, settle_end = -1;
        int got = 0, np;

        kc = km_kafka_conf_new(conf, NULL, err, sizeof(err));
        if (kc == NULL)
                return -1;
        rd_kafka_conf_set(kc, "group.id", "komek-test-reader", NULL, 0);
        rd_kafka_conf_set(kc, "isolation.level", isolation, NULL, 0);
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        if (rk == NULL)
                return -1;
        rd_kafka_poll_set_consumer(rk);
        np = km_kafka_partitions(rk, topic, 10000);
        parts = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
        for (int p = 0; p < np; p++)
                rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        while (km_now_ms() < deadline &&
               (settle_end < 0 || km_now_ms() < settle_end)) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);

                if (rkm == NULL)
                        continue;
                if (rkm->err == 0) {
                        got++;
                        if (cb && cb(rkm, opaque)) {
                                rd_kafka_message_destroy(rkm);
                                break;
                        }
                        if (got >= want && settle_end < 0)
                                settle_end = km_now_ms() + settle_ms;
                }
                rd_kafka_message_destroy(rkm);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return got;
}

long km_test_read_to_end(const struct km_conf *conf, const char *topic,
                         const char *isolation, int deadline_ms,
                         km_test_msg_cb *cb, void *opaque)
{
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *parts;
        char err[512];
        int64_t deadline = km_now_ms() + deadline_ms;
        int np, ends = 0, *ended = NULL;
        long got = 0;

        kc = km_kafka_conf_new(conf, NULL, err, sizeof(err));
        if (kc == NULL)
                return -1;
        rd_kafka_conf_set(kc, "group.id", "komek-test-end-reader", NULL, 0);
        rd_kafka_conf_set(kc, "isolation.level", isolation, NULL, 0);
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(kc, "enable.partition.eof", "true", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        if (rk == NULL)
                return -1;
        rd_kafka_poll_set_consumer(rk);
        np = km_kafka_partitions(rk, topic, 10000);
        if (np <= 0) {
                got = -1;
                goto out;
        }
        ended = km_xcalloc((size_t)np, sizeof(int));
        parts = rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
                rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        while (ends < np && km_now_ms() < deadline) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);

                if (rkm == NULL)
                        continue;
                if (rkm->err == 0) {
                        got++;
                        if (cb)
                                cb(rkm, opaque);
                } else if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                           rkm->partition >= 0 && rkm->partition < np &&
                           !ended[rkm->partition]) {
                        ended[rkm->partition] = 1;
                        ends++;
                }
                rd_kafka_message_destroy(rkm);
        }
        if (ends < np) {
                fprintf(stderr,
                        "%s: the end of %d of %d partitions not "
                        "reached\n",
                        topic, np - ends, np);
                got = -1;
        }
out:
        free(ended);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return got;
}

const char *km_test_pg_conninfo(const struct km_conf *conf)
{
        const char *s = getenv("KOMEK_PG_TEST_CONNINFO");

        return s && *s ? s : conf->pg_conninfo;
}

int km_test_pg_schema(const struct km_conf *conf, char *schema, size_t slen,
                      char *conninfo, size_t clen)
{
        const char *bin = getenv("KOMEK_BIN"), *root = getenv("KOMEK_ROOT");
        char err[512], *q, *cmd;
        PGconn *conn;
        PGresult *r;
        int st;

        km_test_name(schema, slen, "db");
        for (char *c = schema; *c; c++)
                if (*c == '-')
                        *c = '_';
        conn = km_pg_connect(km_test_pg_conninfo(conf), "komek-test", 30, err,
                             sizeof(err));
        if (conn == NULL) {
                fprintf(stderr, "connect: %s\n", err);
                return -1;
        }
        q = km_xasprintf("CREATE SCHEMA %s", schema); /* test-made name */
        r = PQexec(conn, q);
        free(q);
        st = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (st)
                fprintf(stderr, "create schema: %s\n", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(conn);
        if (st)
                return -1;
        snprintf(conninfo, clen, "%s options='-csearch_path=%s'",
                 km_test_pg_conninfo(conf), schema);
        cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-admin --config "
                           "%s/deploy/komek.conf --sql-dir %s/deploy/sql "
                           "--log-level warn migrate",
                           conninfo, bin ? bin : "bin", root ? root : ".",
                           root ? root : ".");
        st = system(cmd);
        free(cmd);
        if (st != 0) {
                fprintf(stderr, "migrate into %s failed (%d)\n", schema, st);
                return -1;
        }
        return 0;
}

void km_test_pg_schema_drop(const struct km_conf *conf, const char *schema)
{
        char err[512], *q;
        PGconn *conn = km_pg_connect(km_test_pg_conninfo(conf), "komek-test",
                                     10, err, sizeof(err));
        PGresult *r;

        if (conn == NULL)
                return;
        q = km_xasprintf("DROP SCHEMA IF EXISTS %s CASCADE", schema);
        r = PQexec(conn, q);
        PQclear(r);
        free(q);
        PQfinish(conn);
}

int km_test_spawn(char *const argv[], char *const env[], const char *logfile)
{
        pid_t pid = fork();

        if (pid < 0)
                return -1;
        if (pid == 0) {
                if (logfile) {
                        int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND,
                                      0644);

                        if (fd >= 0) {
                                dup2(fd, 1);
                                dup2(fd, 2);
                                close(fd);
                        }
                }
                for (int i = 0; env && env[i]; i++)
                        putenv(env[i]);
                execv(argv[0], argv);
                _exit(127);
        }
        return (int)pid;
}

int km_test_wait(int pid, int sig, int timeout_ms)
{
        int64_t deadline = km_now_ms() + timeout_ms;
        int st;

        if (sig)
                kill(pid, sig);
        while (km_now_ms() < deadline) {
                pid_t r = waitpid(pid, &st, WNOHANG);

                if (r == pid)
                        return WIFEXITED(st)     ? WEXITSTATUS(st)
                               : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
                                                 : -1;
                if (r < 0)
                        return -1;
                /* waiting for a child process: poll its state */
                {
                        struct timespec ts = {0, 20 * 1000000L};

                        nanosleep(&ts, NULL);
                }
        }
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
}
