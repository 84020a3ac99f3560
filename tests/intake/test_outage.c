/*
 * test_outage.c - "a broker stopped mid-run loses nothing", without
 * stopping the shared broker (other engineers' tests use it).
 *
 * komek-intake runs in its own network namespace (unshare CLONE_NEWNET, as
 * root), where 127.0.0.1:<broker port> is a proxy that relays every
 * connection through a Unix socket (file system sockets cross network
 * namespaces) to this test process, which relays it on to the real broker.
 * The broker's advertised address is the same inside the namespace, so
 * every connection librdkafka makes goes through the relay.  The relay
 * here "stops the broker": it cuts every connection and refuses new ones
 * for a few seconds, then lets them through again.
 *   - mid-run: after the first 400 kB went towards the broker (small
 *     batches, so part of the input is acknowledged before the cut);
 *   - at start: before anything went through.
 * Each outage is observed, not assumed: mid-run, the cut closed live
 * connections; at start, the relay stays down until komek-intake's
 * connection attempts were refused at least twice (a first try and a
 * retry) with no byte through, and only then comes back.
 * Then the topic must hold every record exactly once (the idempotent
 * producer retries what was cut) and komek-intake must exit 0 with
 * "not delivered 0".  If network namespaces are not available the tests
 * are skipped (and say so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "km_test.h"
#include "km_util.h"

#define RELAY_MAX 256

static struct km_conf conf;
static char tmpdir[128];
static int broker_port;

/* One relay: accept on lfd, dial the other side, copy both ways. */
struct relay {
        int lfd;
        int (*dial)(struct relay *);
        char unix_path[108];
        pthread_mutex_t lock;
        int fds[RELAY_MAX];
        int nfds;
        volatile int down;         /* cut and refuse while set */
        volatile int64_t up_bytes; /* relayed towards the broker */
        int64_t trip_bytes;        /* go down once past this (-1: never) */
        int down_ms;
        volatile int tripped;
        volatile int refused; /* connections refused while down */
        volatile int cut;     /* live connections the outage cut */
        volatile int stop;
};

struct pump {
        struct relay *r;
        int from, to, upstream;
};

static void relay_add(struct relay *r, int fd)
{
        pthread_mutex_lock(&r->lock);
        if (r->nfds < RELAY_MAX)
                r->fds[r->nfds++] = fd;
        pthread_mutex_unlock(&r->lock);
}

/* Cut every relayed connection.  @returns how many (pairs count twice). */
static int relay_cut(struct relay *r)
{
        int n;

        pthread_mutex_lock(&r->lock);
        for (int i = 0; i < r->nfds; i++)
                shutdown(r->fds[i], SHUT_RDWR);
        n = r->nfds;
        r->nfds = 0;
        pthread_mutex_unlock(&r->lock);
        return n;
}

static void *relay_pump(void *arg)
{
        struct pump *p = arg;
        char buf[65536];
        ssize_t n;

        while ((n = read(p->from, buf, sizeof(buf))) > 0) {
                ssize_t off = 0;

                while (off < n) {
                        ssize_t w = write(p->to, buf + off, (size_t)(n - off));

                        if (w <= 0)
                                goto out;
                        off += w;
                }
                if (p->upstream)
                        p->r->up_bytes += n;
        }
out:
        shutdown(p->from, SHUT_RDWR);
        shutdown(p->to, SHUT_RDWR);
        free(p);
        return NULL;
}

static void relay_pair(struct relay *r, int a, int b)
{
        pthread_t t;
        struct pump *up = km_xcalloc(1, sizeof(*up));
        struct pump *down = km_xcalloc(1, sizeof(*down));

        relay_add(r, a);
        relay_add(r, b);
        *up = (struct pump){r, a, b, 1};
        *down = (struct pump){r, b, a, 0};
        pthread_create(&t, NULL, relay_pump, up);
        pthread_detach(t);
        pthread_create(&t, NULL, relay_pump, down);
        pthread_detach(t);
}

static int dial_broker(struct relay *r)
{
        struct sockaddr_in sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        (void)r;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)broker_port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static int dial_unix(struct relay *r)
{
        struct sockaddr_un su;
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);

        memset(&su, 0, sizeof(su));
        su.sun_family = AF_UNIX;
        snprintf(su.sun_path, sizeof(su.sun_path), "%s", r->unix_path);
        if (connect(fd, (struct sockaddr *)&su, sizeof(su)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* The accept loop (own thread in the test, main loop in the namespace). */
static void *relay_run(void *arg)
{
        struct relay *r = arg;

        while (!r->stop) {
                int a = accept(r->lfd, NULL, NULL), b;

                if (a < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (r->down) {
                        r->refused++;
                        close(a); /* the broker is "stopped" */
                        continue;
                }
                if ((b = r->dial(r)) < 0) {
                        close(a);
                        continue;
                }
                relay_pair(r, a, b);
        }
        return NULL;
}

/* Watches the bytes and plays the outage once. */
static void *relay_chaos(void *arg)
{
        struct relay *r = arg;

        while (!r->stop && !r->tripped) {
                struct timespec ts = {0, 5 * 1000000L};

                if (r->up_bytes >= r->trip_bytes) {
                        r->down = 1;
                        r->cut = relay_cut(r);
                        r->tripped = 1;
                        ts.tv_sec = r->down_ms / 1000;
                        ts.tv_nsec = (r->down_ms % 1000) * 1000000L;
                        nanosleep(&ts, NULL); /* the outage lasts this long */
                        relay_cut(r);
                        r->down = 0;
                        break;
                }
                nanosleep(&ts, NULL); /* polling the byte count */
        }
        return NULL;
}

/* In the new namespace: loopback up, listen on the broker's port. */
static int ns_setup(void)
{
        struct ifreq ifr;
        struct sockaddr_in sa;
        int s, one = 1;

        if (unshare(CLONE_NEWNET) != 0)
                return -1;
        s = socket(AF_INET, SOCK_DGRAM, 0);
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                return -1;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                return -1;
        close(s);
        s = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)broker_port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(s, 64) < 0)
                return -1;
        return s;
}

/* Child: namespace, inner relay, komek-intake.  Exits with intake's
 * status, 100 when the namespace could not be made. */
static void child(const char *unix_path, char *const argv[], const char *log)
{
        static struct relay inner;
        pthread_t t;
        int lfd = ns_setup(), pid, st;

        if (lfd < 0)
                _exit(100);
        memset(&inner, 0, sizeof(inner));
        pthread_mutex_init(&inner.lock, NULL);
        inner.lfd = lfd;
        inner.dial = dial_unix;
        inner.trip_bytes = -1;
        snprintf(inner.unix_path, sizeof(inner.unix_path), "%s", unix_path);
        pid = km_test_spawn(argv, NULL, log);
        pthread_create(&t, NULL, relay_run, &inner);
        if (pid < 0 || waitpid(pid, &st, 0) != pid)
                _exit(101);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 102);
}

struct ids {
        json_t *seen;
        int dups;
};

static int collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct ids *s = opaque;
        json_t *v = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(v, "id"));

        if (id && json_object_get(s->seen, id))
                s->dups++;
        else if (id)
                json_object_set_new(s->seen, id, json_true());
        json_decref(v);
        return 0;
}

static void outage(int64_t trip_bytes, const char *what)
{
        struct relay outer;
        struct sockaddr_un su;
        char topic[160], dlq[160], path[300], log[300], cfg[300], sock[200];
        char tset[200], dset[200], bro[64];
        char *bin, *argv[16];
        struct ids ids = {json_object(), 0};
        pthread_t tr, tc;
        int pid, st, n = 3000, got;
        int64_t through_while_down = -1;
        FILE *fp;

        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), what, 3),
                         0);
        assert_int_equal(km_test_topic(&conf, dlq, sizeof(dlq), "odlq", 1), 0);
        snprintf(path, sizeof(path), "%s/%s.jsonl", tmpdir, what);
        snprintf(log, sizeof(log), "%s/%s.log", tmpdir, what);
        snprintf(sock, sizeof(sock), "%s/%s.sock", tmpdir, what);
        fp = fopen(path, "w");
        assert_non_null(fp);
        for (int i = 0; i < n; i++)
                fprintf(fp,
                        "{\"source\":\"call109\",\"external_id\":\"%s-%d\","
                        "\"received_at\":\"2025-03-01T10:00:00Z\","
                        "\"category\":\"heating\",\"description\":\"Нет "
                        "отопления, в квартире 14 градусов, дети болеют. "
                        "Просим срочно принять меры.\",\"address\":{"
                        "\"street\":\"улица Кенесары\",\"house\":\"%d\"},"
                        "\"building_id\":\"b-%06d\"}\n",
                        what, i, i % 200 + 1, i % 200);
        fclose(fp);

        memset(&outer, 0, sizeof(outer));
        pthread_mutex_init(&outer.lock, NULL);
        outer.dial = dial_broker;
        outer.trip_bytes = trip_bytes;
        outer.down_ms = 3000;
        outer.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        memset(&su, 0, sizeof(su));
        su.sun_family = AF_UNIX;
        snprintf(su.sun_path, sizeof(su.sun_path), "%s", sock);
        assert_int_equal(bind(outer.lfd, (struct sockaddr *)&su, sizeof(su)),
                         0);
        assert_int_equal(listen(outer.lfd, 64), 0);
        if (trip_bytes <= 0) { /* away from the start */
                outer.down = 1;
        }

        bin = km_xasprintf("%s/komek-intake", getenv("KOMEK_BIN"));
        snprintf(cfg, sizeof(cfg), "%s/deploy/komek.conf",
                 getenv("KOMEK_ROOT"));
        snprintf(tset, sizeof(tset), "topics.complaints=%s", topic);
        snprintf(dset, sizeof(dset), "topics.dlq=%s", dlq);
        snprintf(bro, sizeof(bro), "--brokers=127.0.0.1:%d", broker_port);
        argv[0] = bin;
        argv[1] = "--config";
        argv[2] = cfg;
        argv[3] = "--set";
        argv[4] = tset;
        argv[5] = "--set";
        argv[6] = dset;
        argv[7] = bro;
        argv[8] = "--delivery-timeout-ms=30000";
        argv[9] = "--threads=1";
        argv[10] = "-X"; /* small requests: some are acknowledged before */
        argv[11] = "batch.size=16384";
        argv[12] = path;
        argv[13] = NULL;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) /* before this process has threads */
                child(sock, argv, log);
        free(bin);
        pthread_create(&tr, NULL, relay_run, &outer);
        if (trip_bytes > 0) {
                pthread_create(&tc, NULL, relay_chaos, &outer);
        } else {
                /* the broker is away until komek-intake has tried it and
                 * been refused twice (first try, retry), 60 s at most */
                int64_t deadline = km_now_ms() + 60000;

                while (outer.refused < 2 && km_now_ms() < deadline) {
                        struct timespec ts = {0, 20 * 1000000L};

                        nanosleep(&ts, NULL); /* polling the refusals */
                }
                through_while_down = outer.up_bytes;
                outer.tripped = outer.refused >= 2;
                outer.down = 0;
        }
        assert_true(waitpid(pid, &st, 0) == pid);
        outer.stop = 1;
        if (trip_bytes > 0)
                pthread_join(tc, NULL);
        shutdown(outer.lfd, SHUT_RDWR);
        close(outer.lfd);
        relay_cut(&outer);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 100) {
                json_decref(ids.seen);
                skip(); /* no network namespaces here */
        }
        {
                char *out = km_xcalloc(1, 8192);
                FILE *lf = fopen(log, "r");
                size_t len = lf ? fread(out, 1, 8191, lf) : 0;

                if (lf)
                        fclose(lf);
                out[len] = '\0';
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
                    !strstr(out, "not delivered 0"))
                        fail_msg("komek-intake: status %d: %s", st, out);
                free(out);
        }
        /* the outage happened, and komek-intake met it */
        printf("%s: outage %s; %d connection(s) cut, %d refused while "
               "down\n",
               what, outer.tripped ? "played" : "NOT played", outer.cut / 2,
               outer.refused);
        assert_true(outer.tripped);
        if (trip_bytes > 0) {
                assert_true(outer.cut > 0); /* live connections were cut */
        } else {
                assert_true(outer.refused >= 2);
                assert_int_equal(through_while_down, 0); /* nothing before */
        }
        /* komek-intake has exited with nothing undelivered: the topic's
         * end is final, read to it (no settle time) */
        got = (int)km_test_read_to_end(&conf, topic, "read_committed", 60000,
                                       collect, &ids);
        if (got != n || ids.dups != 0 || (int)json_object_size(ids.seen) != n)
                fail_msg("%s: %d messages, %d distinct, %d duplicates; "
                         "want %d once each",
                         what, got, (int)json_object_size(ids.seen), ids.dups,
                         n);
        json_decref(ids.seen);
        pthread_cancel(tr); /* it may be blocked in accept */
        pthread_join(tr, NULL);
}

static void test_outage_mid_run(void **state)
{
        (void)state;
        outage(400 * 1024, "mid");
}

static void test_outage_at_start(void **state)
{
        (void)state;
        outage(0, "start");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_outage_mid_run),
                cmocka_unit_test(test_outage_at_start),
        };
        char tmpl[] = "/tmp/komek-test-outage-XXXXXX";
        const char *colon;
        int r;

        signal(SIGPIPE, SIG_IGN);
        if (km_test_conf(&conf))
                return 1;
        colon = strrchr(conf.brokers, ':');
        broker_port = colon ? atoi(colon + 1) : 0;
        if (broker_port <= 0 || strchr(conf.brokers, ',') ||
            strncmp(conf.brokers, "127.0.0.1:", 10) != 0) {
                fprintf(stderr, "test_outage needs one broker on 127.0.0.1\n");
                return 1;
        }
        if (mkdtemp(tmpl) == NULL)
                return 1;
        snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        if (r == 0) {
                char *cmd = km_xasprintf("rm -rf %s", tmpdir);

                if (system(cmd) != 0)
                        r = 1;
                free(cmd);
        }
        km_conf_destroy(&conf);
        return r;
}
