/*
 * test_reload.c - a directory import under load (issue 20.6): while a
 * feeder publishes a generated complaint set in steps and one router
 * works through it, half of the buildings move to a new KSK
 * (komek-directory import of a changed copy of the set).  The router
 * notices the new directory_version by itself (reload_ms).  Then, by the
 * generator's truth for the old and for the new directory (rt_truth_load
 * on each copy, never the router's model):
 *   - every distinct valid complaint is exactly one task, its first
 *     dispatch (the router's decision) at the organisation of the old or
 *     of the new directory; the import is effective before every
 *     complaint (issue 17: routing by received_at), and in the end no
 *     moved building's task is left at the old KSK: the import hands the
 *     open tasks over, the sink those routed by the old directory after
 *     it (migration 116);
 *   - complaints of moved buildings went both ways (the reload came while
 *     the router worked: proved, not assumed);
 *   - consistently: in each complaints partition, in offset order, no
 *     complaint was routed by the old directory after one was routed by
 *     the new one (one router reads each partition in order and never
 *     goes back to a directory it replaced).
 *   - one Kafka transaction, one directory: on the dispatch topic a
 *     transaction's messages in a partition are consecutive offsets (one
 *     router, one producer; its commit marker takes the next offset), so
 *     no run of consecutive offsets holds both a moved building's
 *     complaint routed by the old directory and one routed by the new.
 *     The new KSK's partition is where both kinds can meet; the router
 *     reloads only between batches (router.c router_run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "rt.h"

#define GEN "--seed 23 --buildings 800 --ksks 40 --complaints 8000 --days 300"
#define STEP 200 /* valid lines per feeder step */

static struct rt t;
static struct rt_truth old_tr, new_tr;
static char newdir[300];
static int pids[4];

struct feeder {
        int valid, published, failed;
};

static void nap_ms(int ms)
{
        /* paces the feeder; every wait on an outcome polls a deadline */
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
}

static void *feed(void *arg)
{
        struct feeder *f = arg;

        for (int skip = 0; skip < f->valid; skip += STEP) {
                int n = rt_publish_range(&t, skip, STEP, NULL);

                if (n < 0) {
                        f->failed = 1;
                        break;
                }
                f->published += n;
                nap_ms(100);
        }
        return NULL;
}

static int setup(void **state)
{
        char cmd[1200], keep[256];

        (void)state;
        if (rt_setup(&t, "reload") || rt_gen(&t, GEN) || rt_import(&t, NULL) ||
            rt_truth_load(&t, &old_tr))
                return -1;
        /* the new directory: a copy of the set, every odd-numbered building
         * that has a KSK moved to ksk-new (buildings.csv has no quoted
         * fields: column 6 is ksk_id) */
        snprintf(newdir, sizeof(newdir), "%s.new", t.datadir);
        snprintf(cmd, sizeof(cmd),
                 "rm -rf '%s' && cp -r '%s' '%s' && "
                 "echo 'ksk-new,ksk,КСК «Новый»,,' >>'%s/organisations.csv' && "
                 "awk -F, -v OFS=, 'NR > 1 && substr($1, 3) %% 2 == 1 && "
                 "$6 != \"\" { $6 = \"ksk-new\" } 1' '%s/buildings.csv' "
                 ">'%s/b.tmp' && mv '%s/b.tmp' '%s/buildings.csv'",
                 newdir, t.datadir, newdir, newdir, newdir, newdir, newdir,
                 newdir);
        if (system(cmd) != 0)
                return -1;
        snprintf(keep, sizeof(keep), "%s", t.datadir);
        snprintf(t.datadir, sizeof(t.datadir), "%s", newdir);
        if (rt_truth_load(&t, &new_tr))
                return -1;
        snprintf(t.datadir, sizeof(t.datadir), "%s", keep);
        return 0;
}

static int teardown(void **state)
{
        char cmd[400];

        (void)state;
        for (int i = 0; i < 4; i++)
                if (pids[i] > 0)
                        km_test_wait(pids[i], SIGKILL, 5000);
        rt_truth_free(&old_tr);
        rt_truth_free(&new_tr);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", newdir);
        if (newdir[0] && system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", newdir);
        rt_teardown(&t);
        return 0;
}

/* a message's place, its complaint id (field idkey) and org_id if any */
struct pos {
        char id[40], org[64];
        int partition, attempt;
        int64_t offset;
};

struct posv {
        const char *idkey;
        struct pos *v;
        size_t n;
};

static int pos_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct posv *s = opaque;
        json_t *m = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(m, s->idkey));
        const char *org = json_string_value(json_object_get(m, "org_id"));
        struct pos *d;

        s->v = km_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
        d = &s->v[s->n++];
        snprintf(d->id, sizeof(d->id), "%s", id ? id : "");
        snprintf(d->org, sizeof(d->org), "%s", org ? org : "");
        d->partition = rkm->partition;
        d->offset = rkm->offset;
        d->attempt = (int)json_integer_value(json_object_get(m, "attempt"));
        json_decref(m);
        return 0;
}

static int pos_id_cmp(const void *a, const void *b)
{
        return strcmp(((const struct pos *)a)->id, ((const struct pos *)b)->id);
}

static int pos_cmp(const void *a, const void *b)
{
        const struct pos *x = a, *y = b;

        if (x->partition != y->partition)
                return x->partition - y->partition;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* 1: a moved building's complaint routed by the old directory, 2: by the
 * new, 0: neither tells (the building did not move, a resubmission, not
 * found).  res: complaint_id, source, external_id of every task, by id. */
static int which_dir(PGresult *res, const char *id, const char *org)
{
        int lo = 0, hi = PQntuples(res) - 1;

        while (lo <= hi) {
                int mid = (lo + hi) / 2,
                    c = strcmp(PQgetvalue(res, mid, 0), id);

                if (c == 0) {
                        const struct rt_truth_cpl *o, *n;

                        o = rt_truth_find(&old_tr, PQgetvalue(res, mid, 1),
                                          PQgetvalue(res, mid, 2));
                        n = rt_truth_find(&new_tr, PQgetvalue(res, mid, 1),
                                          PQgetvalue(res, mid, 2));
                        if (o == NULL || n == NULL || o->copies > 1 ||
                            strcmp(o->org, n->org) == 0)
                                return 0;
                        return strcmp(org, n->org) == 0   ? 2
                               : strcmp(org, o->org) == 0 ? 1
                                                          : 0;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid - 1;
        }
        return 0;
}

static void test_reload_under_load(void **state)
{
        struct feeder f = {(int)old_tr.valid, 0, 0};
        struct posv pv = {"id", NULL, 0}, dv = {"complaint_id", NULL, 0};
        struct posv first = {NULL, NULL, 0};
        char group[200], txn[200], rlog[512], err[512];
        const char *rargs[] = {"--set", group, "--set", txn,
                               /* long batches: the import lands in an
                                * open one (a reload inside it would mix
                                * the directories) */
                               "--set", "router.batch_size=100000", "--set",
                               "router.batch_ms=1500", "--set",
                               "router.reload_ms=200", NULL};
        char sgroup[200];
        const char *sargs[] = {"--set", sgroup, NULL};
        pthread_t th;
        PGresult *res = NULL;
        long at_import, moved_old = 0, moved_new = 0, wrong = 0, back = 0;
        long moved_total = 0, runs = 0, runs_both = 0, stranded = 0;
        int rows, lastp = -1, seen_new = 0;
        int64_t deadline;

        (void)state;
        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt", t.schema);
        snprintf(sgroup, sizeof(sgroup), "tasksink.group=%s-sink", t.schema);
        pids[0] = rt_spawn(&t, "router", rargs, rlog, sizeof(rlog));
        pids[1] = rt_spawn(&t, "tasksink", sargs, NULL, 0);
        assert_true(pids[0] > 0 && pids[1] > 0);
        for (size_t i = 0; i < old_tr.n; i++)
                moved_total +=
                        strcmp(old_tr.cpl[i].org, new_tr.cpl[i].org) != 0;
        print_message("truth: %zu distinct valid complaints, %ld of them at a "
                      "building that moves\n",
                      old_tr.n, moved_total);
        assert_true(moved_total > 100);
        assert_int_equal(pthread_create(&th, NULL, feed, &f), 0);
        /* import once a fifth is routed, while the feeder still publishes */
        deadline = km_now_ms() + 120000;
        while ((at_import = rt_count(&t, "SELECT count(*) FROM tasks")) <
                       (long)old_tr.n / 5 &&
               km_now_ms() < deadline)
                nap_ms(20);
        /* effective before every complaint of the set: the router routes
         * by the organisation responsible at received_at (issue 17), so
         * from the reload on each complaint goes by the new directory */
        {
                const char *imp[] = {"--prune", "--effective", "2000-01-01",
                                     "import",  newdir,        NULL};

                assert_int_equal(rt_run(&t, "directory", imp, NULL), 0);
        }
        deadline = km_now_ms() + 20000;
        while (rt_log_number(rlog, "directory version ") != 2 &&
               km_now_ms() < deadline)
                nap_ms(20); /* polling the router's log */
        print_message("imported at %ld tasks; the router reloaded at %ld; "
                      "published so far %d of %d lines\n",
                      at_import, rt_count(&t, "SELECT count(*) FROM tasks"),
                      f.published, f.valid);
        assert_int_equal(rt_log_number(rlog, "directory version "), 2);
        pthread_join(th, NULL);
        assert_false(f.failed);
        assert_int_equal(f.published, f.valid);
        assert_int_equal(rt_wait_count(&t, "SELECT count(*) FROM tasks",
                                       (long)old_tr.n, 120000),
                         (long)old_tr.n);
        /* each complaint's place on the complaints topic */
        assert_true(km_test_read_to_end(&t.conf, t.complaints, "read_committed",
                                        60000, pos_cb, &pv) == f.valid);
        qsort(pv.v, pv.n, sizeof(*pv.v), pos_cmp);
        /* the router's decisions: every dispatch message, and the first
         * attempts by complaint id (a handover's attempt 2 is not the
         * router's) */
        assert_true(km_test_read_to_end(&t.conf, t.dispatch, "read_committed",
                                        60000, pos_cb, &dv) >= (long)old_tr.n);
        qsort(dv.v, dv.n, sizeof(*dv.v), pos_cmp);
        first.v = km_xcalloc(dv.n ? dv.n : 1, sizeof(*first.v));
        for (size_t i = 0; i < dv.n; i++)
                if (dv.v[i].attempt == 1)
                        first.v[first.n++] = dv.v[i];
        qsort(first.v, first.n, sizeof(*first.v), pos_id_cmp);
        /* tasks the router made from the old directory after the import
         * handed the open ones over are handed over by the sink
         * (migration 116): wait until no open task is elsewhere than its
         * building's organisation; then the truth decides below */
        assert_int_equal(rt_wait_count(&t,
                                       "SELECT count(*) FROM tasks WHERE "
                                       "building_id IS NOT NULL AND status = "
                                       "'open' AND org_id IS DISTINCT FROM "
                                       "directory_responsible(building_id, "
                                       "category, received_at)",
                                       0, 60000),
                         0);
        if (km_pg_exec(t.conn,
                       "SELECT complaint_id::text, complaint->>'source', "
                       "complaint->>'external_id', org_id FROM tasks "
                       "ORDER BY complaint_id",
                       0, NULL, &res, err, sizeof(err)))
                fail_msg("tasks: %s", err);
        rows = PQntuples(res);
        assert_int_equal(rows, (int)old_tr.n);
        for (size_t i = 0; i < pv.n; i++) {
                const struct rt_truth_cpl *o = NULL, *n = NULL;
                const char *org = NULL;
                int lo = 0, hi = rows - 1;

                if (pv.v[i].partition != lastp) {
                        lastp = pv.v[i].partition;
                        seen_new = 0;
                }
                while (lo <= hi) { /* the task of this id */
                        int mid = (lo + hi) / 2,
                            c = strcmp(PQgetvalue(res, mid, 0), pv.v[i].id);

                        if (c == 0) {
                                const struct pos *d;

                                o = rt_truth_find(&old_tr,
                                                  PQgetvalue(res, mid, 1),
                                                  PQgetvalue(res, mid, 2));
                                n = rt_truth_find(&new_tr,
                                                  PQgetvalue(res, mid, 1),
                                                  PQgetvalue(res, mid, 2));
                                d = bsearch(&pv.v[i], first.v, first.n,
                                            sizeof(*first.v), pos_id_cmp);
                                org = d ? d->org : NULL;
                                /* still at the old organisation: routed
                                 * by the old directory after the import
                                 * handed the open tasks over */
                                stranded += o && n && strcmp(o->org, n->org) &&
                                            !strcmp(PQgetvalue(res, mid, 3),
                                                    o->org);
                                break;
                        }
                        if (c < 0)
                                lo = mid + 1;
                        else
                                hi = mid - 1;
                }
                if (org == NULL)
                        fail_msg("complaint %s has no task or no first "
                                 "dispatch",
                                 pv.v[i].id);
                assert_non_null(o);
                assert_non_null(n);
                if (o->copies > 1)
                        continue; /* a resubmission: which copy routed it */
                if (strcmp(org, o->org) && strcmp(org, n->org)) {
                        if (wrong++ < 5)
                                print_error("complaint %s at %s, want %s "
                                            "(old) or %s (new)\n",
                                            pv.v[i].id, org, o->org, n->org);
                        continue;
                }
                if (strcmp(o->org, n->org) == 0)
                        continue;
                if (strcmp(org, n->org) == 0) {
                        moved_new++;
                        seen_new = 1;
                } else {
                        moved_old++;
                        if (seen_new && back++ < 5)
                                print_error("partition %d offset %lld: the old "
                                            "directory after the new one\n",
                                            pv.v[i].partition,
                                            (long long)pv.v[i].offset);
                }
        }
        free(pv.v);
        free(first.v);
        /* each transaction (a run of consecutive dispatch offsets) routed
         * by one directory */
        for (size_t i = 0, j; i < dv.n; i = j) {
                int kinds = 0;

                for (j = i;
                     j < dv.n && dv.v[j].partition == dv.v[i].partition &&
                     dv.v[j].offset - dv.v[i].offset == (int64_t)(j - i);
                     j++)
                        kinds |= which_dir(res, dv.v[j].id, dv.v[j].org);
                if (getenv("RT_RELOAD_DEBUG"))
                        print_message("run p%d %lld..%lld kinds %d\n",
                                      dv.v[i].partition,
                                      (long long)dv.v[i].offset,
                                      (long long)dv.v[j - 1].offset, kinds);
                runs++;
                runs_both += (kinds & 1) && (kinds & 2);
                if (kinds == 3 && runs_both <= 5)
                        print_error("dispatch partition %d offsets %lld..%lld: "
                                    "one transaction routed by both "
                                    "directories\n",
                                    dv.v[i].partition,
                                    (long long)dv.v[i].offset,
                                    (long long)dv.v[j - 1].offset);
        }
        PQclear(res);
        free(dv.v);
        print_message("moved buildings' complaints: %ld by the old directory, "
                      "%ld by the new; elsewhere: %ld wrong; old after new "
                      "%ld; %ld transactions' runs on dispatch, %ld of them "
                      "by both directories\n",
                      moved_old, moved_new, wrong, back, runs, runs_both);
        print_message("moved buildings' tasks left at the old organisation "
                      "after the handovers: %ld\n",
                      stranded);
        assert_int_equal(wrong, 0);
        assert_int_equal(back, 0);
        assert_true(moved_old > 0 && moved_new > 0);
        assert_true(runs > 1);
        assert_int_equal(runs_both, 0);
        assert_int_equal(stranded, 0);
        assert_int_equal(km_test_wait(pids[0], SIGTERM, 30000), 0);
        assert_int_equal(km_test_wait(pids[1], SIGTERM, 30000), 0);
        pids[0] = pids[1] = 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reload_under_load),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
