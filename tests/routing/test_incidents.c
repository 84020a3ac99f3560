/*
 * test_incidents.c - incidents (issue 16 part 3, docs/incidents.md)
 * against the real broker and database: dispatch messages as the router
 * writes them, produced to the test's topic, written by real task sinks.
 *
 * The input: a heating outage across five buildings of one street of
 * ksk-a (ten complaints in 90 minutes), three heating complaints from one
 * building of another street, three from three street-less buildings of
 * one grid cell, and unrelated complaints around them: another category
 * in an outage building, a building of the outage street at another KSK,
 * a late complaint after a gap over the window, two buildings of one
 * street (one short of three), a street-less building in another cell,
 * and three complaints of one street three hours apart.
 *   - exactly three incidents: street (the ten), building (the three),
 *     cell (the three), with the id of docs/incidents.md, nothing else;
 *   - the same input again, one sink of two killed (SIGKILL) and another
 *     started: the same incidents; the same input in reverse order and
 *     on other partitions, into a second schema through one sink: the
 *     same incidents, id for id;
 *   - `komek-inbox list` shows the open incidents first, each with its
 *     tasks; `resolve-incident` with one note resolves each of the ten:
 *     each its own task_outbox row and exactly one task-events message
 *     (with the incident_id) per task on the topic; the incident is then
 *     resolved, the two others still open; again: nothing more;
 *   - komek-escalator's systemic cases of those buildings carry the
 *     incident_id of the incident their complaints belong to, in the row
 *     and on the escalations topic; other kinds carry null.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_kafka.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "rt.h"

#define NPART 6
#define MAXC 64

static struct rt t, t2;

struct cpl {
        char id[40];
        const char *org, *building, *category, *at;
};
static struct cpl cpls[MAXC];
static int ncpl;

static void add(const char *org, const char *building, const char *category,
                const char *at)
{
        struct cpl *c = &cpls[ncpl];

        snprintf(c->id, sizeof(c->id), "%08x-0000-4000-8000-%012x", 0x1cdu,
                 (unsigned)ncpl);
        c->org = org;
        c->building = building;
        c->category = category;
        c->at = at;
        ncpl++;
}

/* The input: see the file's comment. */
static void input(void)
{
        static const char *const outage[5] = {"b-1", "b-2", "b-3", "b-4",
                                              "b-5"};
        static char at[10][24];

        ncpl = 0;
        for (int k = 0; k < 10; k++) { /* outage: b-1..b-5, 9 minutes apart */
                snprintf(at[k], sizeof(at[k]), "2026-03-01T%02d:%02d:00Z",
                         10 + k * 9 / 60, k * 9 % 60);
                add("ksk-a", outage[k % 5], "heating", at[k]);
        }
        /* one building, another street: a building incident */
        add("ksk-a", "b-6", "heating", "2026-03-01T10:00:00Z");
        add("ksk-a", "b-6", "heating", "2026-03-01T10:20:00Z");
        add("ksk-a", "b-6", "heating", "2026-03-01T10:40:00Z");
        /* a grid cell of street-less buildings */
        add("ksk-a", "b-10", "heating", "2026-03-01T12:00:00Z");
        add("ksk-a", "b-11", "heating", "2026-03-01T12:30:00Z");
        add("ksk-a", "b-12", "heating", "2026-03-01T13:00:00Z");
        /* unrelated */
        add("ksk-a", "b-2", "water", "2026-03-01T10:30:00Z");
        add("ksk-b", "b-8", "heating", "2026-03-01T10:05:00Z");
        add("ksk-a", "b-1", "heating", "2026-03-01T14:00:00Z");  /* > 2 h gap */
        add("ksk-a", "b-7", "heating", "2026-03-01T11:00:00Z");  /* 2 bldgs */
        add("ksk-a", "b-13", "heating", "2026-03-01T12:15:00Z"); /* far cell */
        add("ksk-a", "b-1", "heating", "2026-03-02T10:00:00Z");
        add("ksk-a", "b-2", "heating", "2026-03-02T13:00:00Z");
        add("ksk-a", "b-3", "heating", "2026-03-02T16:00:00Z");
}

static char *dispatch_msg(const struct cpl *c)
{
        json_t *o = json_pack(
                "{s:i,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,"
                "s:{s:s,s:{s:s},s:{s:s,s:s}}}",
                "schema_version", 1, "complaint_id", c->id, "attempt", 1,
                "org_id", c->org, "org_kind", "ksk", "building_id", c->building,
                "district", "almaly", "category", c->category, "received_at",
                c->at, "routed_at", c->at, "due_at", "2026-03-04T10:00:00Z",
                "route_reason", "building", "complaint", "description",
                "холодно", "address", "text", "Абая", "contact", "name",
                "Aigerim", "phone", "+77010000000");
        char *s = json_dumps(o, JSON_COMPACT);

        json_decref(o);
        return s;
}

/* Every complaint, forwards (or backwards) over the partitions. */
static void produce_all(struct rt *rt, int reverse)
{
        struct km_kafka_counts counts = {0};
        char err[512];
        rd_kafka_t *rk = km_kafka_producer_new(&rt->conf, NULL, &counts, err,
                                               sizeof(err));

        if (rk == NULL)
                fail_msg("producer: %s", err);
        for (int k = 0; k < ncpl; k++) {
                int i = reverse ? ncpl - 1 - k : k;
                char *msg = dispatch_msg(&cpls[i]);

                if (km_kafka_produce(rk, rt->dispatch,
                                     (i + (reverse ? 3 : 0)) % NPART, "k", msg,
                                     strlen(msg), &counts, 30000, err,
                                     sizeof(err)))
                        fail_msg("produce: %s", err);
                free(msg);
        }
        if (km_kafka_flush(rk, 60000, err, sizeof(err)))
                fail_msg("flush: %s", err);
        assert_int_equal(counts.delivered, ncpl);
        rd_kafka_destroy(rk);
}

/* Organisations and buildings: streets Абая (b-1..b-5 ksk-a, b-8
 * ksk-b) and Сатпаева (b-6, b-7); b-10..b-12 street-less in one 500 m
 * cell, b-13 in another. */
static void directory(struct rt *rt)
{
        char err[512];

        if (km_pg_exec(rt->conn,
                       "INSERT INTO organisations (id, kind, name) VALUES "
                       "('ksk-a', 'ksk', 'КСК А'), ('ksk-b', 'ksk', 'КСК Б')",
                       0, NULL, NULL, err, sizeof(err)) ||
            km_pg_exec(
                    rt->conn,
                    "INSERT INTO buildings (id, district, street, house, "
                    "apartments, ksk_id, lat, long, street_key, house_key) "
                    "SELECT 'b-' || i, 'almaly', CASE WHEN i <= 5 OR i = 8 THEN "
                    "'улица Абая' WHEN i IN (6, 7) THEN 'улица Сатпаева' ELSE "
                    "'мкр Самал' END, i::text, 40, CASE WHEN i = 8 THEN 'ksk-b' "
                    "ELSE 'ksk-a' END, CASE WHEN i = 13 THEN 43.30 ELSE "
                    "43.2371 END + i * 0.0001, 76.9450, CASE WHEN i <= 5 OR i = "
                    "8 THEN 'abai' WHEN i IN (6, 7) THEN 'satpaev' ELSE '' END, "
                    "i::text FROM generate_series(1, 13) i",
                    0, NULL, NULL, err, sizeof(err)))
                fail_msg("directory: %s", err);
}

static int start_sink(struct rt *rt, const char *group)
{
        char g[260];
        const char *extra[] = {"--set", g,
                               "--set", "tasksink.batch_ms=50",
                               "--set", "tasksink.relay_age_ms=500",
                               "--set", "tasksink.relay_ms=200",
                               NULL};
        int pid;

        snprintf(g, sizeof(g), "tasksink.group=%s", group);
        pid = rt_spawn(rt, "tasksink", extra, NULL, 0);
        assert_true(pid > 0);
        return pid;
}

/* "scope scope_key complaint,complaint,...|" per incident, ordered, with
 * ids (with_id) or without. */
static char *incident_text(struct rt *rt, int with_id)
{
        char err[512];
        const char *p[1] = {with_id ? "t" : "f"};
        PGresult *res = NULL;
        char *s;

        if (km_pg_exec(rt->conn,
                       "SELECT coalesce(string_agg(x, '|' ORDER BY x), '') "
                       "FROM (SELECT CASE WHEN $1::bool THEN incident_id || "
                       "' ' ELSE '' END || org_id || ' ' || category || ' ' "
                       "|| scope || ' ' || scope_key || ' ' || "
                       "string_agg(complaint_id::text, ',' ORDER BY "
                       "complaint_id) AS x FROM incident_tasks GROUP BY "
                       "incident_id, org_id, category, scope, scope_key) i",
                       1, p, &res, err, sizeof(err)))
                fail_msg("incidents: %s", err);
        s = km_xstrdup(PQgetvalue(res, 0, 0));
        PQclear(res);
        return s;
}

/* The ids of cpls[lo, hi), comma-separated, into buf. */
static void id_list(int lo, int hi, char *buf, size_t len)
{
        buf[0] = '\0';
        for (int i = lo; i < hi; i++)
                snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
                         i > lo ? "," : "", cpls[i].id);
}

/* What the input must give, from the input alone (the ids are in input
 * order, which sorts as their text); cellkey: the cell's key as the view
 * names it. */
static char *expected(const char *cellkey)
{
        char street[1024], bld[256], cell[256];

        id_list(0, 10, street, sizeof(street));
        id_list(10, 13, bld, sizeof(bld));
        id_list(13, 16, cell, sizeof(cell));
        return km_xasprintf("ksk-a heating building b-6 %s|ksk-a heating "
                            "cell %s %s|ksk-a heating street "
                            "street:almaly:abai %s",
                            bld, cellkey, cell, street);
}

/* A single text value of a query (fails the test on none). */
static void q1(struct rt *rt, const char *sql, char *buf, size_t len)
{
        char err[512];
        PGresult *res = NULL;

        if (km_pg_exec(rt->conn, sql, 0, NULL, &res, err, sizeof(err)) ||
            PQntuples(res) != 1)
                fail_msg("%s: %s", sql, err);
        snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
}

static int esc_collect(const rd_kafka_message_t *rkm, void *opaque)
{
        int *linked = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *kind = json_string_value(json_object_get(o, "kind"));

        /* a systemic case names its incident; the other kinds null */
        if (kind && !strcmp(kind, "systemic") &&
            json_is_string(json_object_get(o, "incident_id")))
                (*linked)++;
        else if (kind && strcmp(kind, "systemic") &&
                 !json_is_null(json_object_get(o, "incident_id")))
                (*linked) -= 1000;
        json_decref(o);
        return 0;
}

/* komek-escalator on the analytics facts of these tasks (as
 * komek-analytics would write them; dispatch and task-events as empty
 * topics, so the reference time is now): b-1, b-2 and b-3 reach three
 * heating complaints (two of the outage's and a later one: the outage's
 * incident), b-6 its three (the building's incident). */
static void escalations(void)
{
        char set[200], empty1[160], empty2[160], esc[160], name[160];
        char d[220], e[220], x[220];
        const char *args[] = {"--set",
                              set,
                              "--once",
                              "--set",
                              d,
                              "--set",
                              e,
                              "--set",
                              x,
                              "--set",
                              "escalator.systemic_count=3",
                              "--set",
                              "escalator.systemic_window_hours=168",
                              "--name",
                              name,
                              NULL};
        char sql[700];
        int linked = 0;

        assert_int_equal(km_test_topic(&t.conf, empty1, sizeof(empty1),
                                       "incidents-d0", 1),
                         0);
        assert_int_equal(km_test_topic(&t.conf, empty2, sizeof(empty2),
                                       "incidents-e0", 1),
                         0);
        assert_int_equal(
                km_test_topic(&t.conf, esc, sizeof(esc), "incidents-esc", 1),
                0);
        snprintf(set, sizeof(set), "escalator.analytics_group=%s-an", t.schema);
        snprintf(d, sizeof(d), "topics.dispatch=%s", empty1);
        snprintf(e, sizeof(e), "topics.task_events=%s", empty2);
        snprintf(x, sizeof(x), "topics.escalations=%s", esc);
        km_test_name(name, sizeof(name), "esc");
        assert_int_equal(rt_count(&t,
                                  "WITH i AS (INSERT INTO an_tasks "
                                  "(complaint_id, attempt, org_id, org_kind, "
                                  "building_id, district, category, "
                                  "route_reason, received_at, day, routed_at, "
                                  "due_at, channel) SELECT complaint_id, 1, "
                                  "org_id, org_kind, building_id, district, "
                                  "category, route_reason, received_at, "
                                  "received_at::date, routed_at, due_at, "
                                  "'unknown' FROM tasks RETURNING 1) SELECT "
                                  "count(*) FROM i"),
                         ncpl);
        assert_int_equal(rt_run(&t, "escalator", args, NULL), 0);
        snprintf(sql, sizeof(sql),
                 "SELECT string_agg(e.building_id || '=' || coalesce(i.scope, "
                 "'none'), ' ' ORDER BY e.building_id) FROM escalations e "
                 "LEFT JOIN incidents i USING (incident_id) WHERE e.kind = "
                 "'systemic'");
        {
                char got[200];

                q1(&t, sql, got, sizeof(got));
                assert_string_equal(got, "b-1=street b-2=street b-3=street "
                                         "b-6=building");
        }
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM escalations WHERE "
                                      "kind <> 'systemic' AND incident_id IS "
                                      "NOT NULL"),
                         0);
        /* the escalator has exited (0): its topic's end is final, one
         * message per escalation, read to it (no settle time) */
        assert_int_equal(km_test_read_to_end(&t.conf, esc, "read_committed",
                                             60000, esc_collect, &linked),
                         rt_count(&t, "SELECT count(*) FROM escalations"));
        assert_int_equal(linked, 4);
}

static void test_incidents(void **state)
{
        char g1[200], g2[200], *want, *got, *got2, *ids, *ids2;
        char sql[600], cellkey[96];
        int s1, s2, s3, s4;

        (void)state;
        input();
        directory(&t);
        directory(&t2);
        snprintf(g1, sizeof(g1), "%s-sink", t.schema);
        snprintf(g2, sizeof(g2), "%s-sink", t2.schema);

        /* two sinks in one group */
        s1 = start_sink(&t, g1);
        s2 = start_sink(&t, g1);
        produce_all(&t, 0);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM tasks");
        assert_int_equal(rt_wait_count(&t, sql, ncpl, 90000), ncpl);

        got = incident_text(&t, 0);
        printf("incidents: %s\n", got);
        /* the cell's key as the view computes it (docs/incidents.md) */
        snprintf(sql, sizeof(sql),
                 "SELECT scope_key FROM incident_tasks WHERE complaint_id = "
                 "'%s'",
                 cpls[13].id);
        q1(&t, sql, cellkey, sizeof(cellkey));
        assert_memory_equal(cellkey, "cell:", 5);
        want = expected(cellkey);
        assert_string_equal(got, want);
        /* the id: docs/incidents.md's formula, from the first task */
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM (SELECT DISTINCT "
                                      "incident_id FROM incident_tasks) i"),
                         3);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM incidents WHERE incident_id = "
                 "overlay(overlay(md5('komek-incident' || E'\\n' || "
                 "'ksk-a|heating|street:almaly:abai|%s') placing '3' from 13) "
                 "placing '8' from 17)::uuid AND tasks = 10 AND buildings = 5 "
                 "AND status = 'open' AND label = 'улица Абая (almaly)'",
                 cpls[0].id);
        assert_int_equal(rt_count(&t, sql), 1);
        ids = incident_text(&t, 1);

        /* the same input again; one sink killed, another started */
        km_test_wait(s2, SIGKILL, 10000);
        s3 = start_sink(&t, g1);
        produce_all(&t, 0);
        /* both copies consumed: the sinks' offsets (in PostgreSQL) */
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                 "WHERE consumer = '%s' AND topic = '%s'",
                 g1, t.dispatch);
        assert_int_equal(rt_wait_count(&t, sql, 2 * ncpl, 90000), 2 * ncpl);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks"), ncpl);
        got2 = incident_text(&t, 1);
        assert_string_equal(got2, ids);
        free(got2);

        /* reversed, other partitions, one sink, another schema */
        s4 = start_sink(&t2, g2);
        produce_all(&t2, 1);
        assert_int_equal(
                rt_wait_count(&t2, "SELECT count(*) FROM tasks", ncpl, 90000),
                ncpl);
        ids2 = incident_text(&t2, 1);
        assert_string_equal(ids2, ids);
        free(ids2);
        assert_int_equal(km_test_wait(s4, SIGTERM, 30000), 0);

        /* the inbox: incidents first, each with its tasks */
        {
                const char *args[] = {"--org=ksk-a", "list", NULL};
                char *out = NULL, *inc, *list;

                assert_int_equal(rt_run(&t, "inbox", args, &out), 0);
                printf("%s", out);
                assert_memory_equal(out, "3 open incident(s)", 18);
                inc = strstr(out, "incident ");
                list = strstr(out, "inbox of ksk-a");
                assert_non_null(inc);
                assert_non_null(list);
                assert_true(inc < list);
                for (int i = 0; i < 16; i++) {
                        char *at = strstr(out, cpls[i].id);

                        assert_non_null(at);
                        assert_true(at < list);
                }
                free(out);
        }

        /* resolve the street incident with one note */
        {
                char id[40], *out = NULL;
                const char *args[] = {
                        "--org=ksk-a", "resolve-incident",   id,
                        "--note",      "котельная запущена", NULL};
                const char *other[] = {
                        "--org=ksk-b", "resolve-incident", id, "--note", "x",
                        NULL};
                long n;

                q1(&t,
                   "SELECT incident_id FROM incidents WHERE scope = "
                   "'street'",
                   id, sizeof(id));
                /* another organisation's: refused, nothing changed */
                assert_int_equal(rt_run(&t, "inbox", other, NULL), 1);
                assert_int_equal(rt_run(&t, "inbox", args, &out), 0);
                printf("%s", out);
                assert_non_null(strstr(out, "10 task(s) resolved"));
                free(out);
                snprintf(sql, sizeof(sql),
                         "SELECT count(*) FROM tasks t JOIN incident_tasks it "
                         "USING (complaint_id) WHERE it.incident_id = '%s' AND "
                         "t.status = 'resolved' AND t.status_note = "
                         "'котельная запущена'",
                         id);
                assert_int_equal(rt_count(&t, sql), 10);
                snprintf(sql, sizeof(sql),
                         "SELECT count(*) FROM task_outbox WHERE event = "
                         "'resolved' AND topic = 'task_events' AND "
                         "payload::json->>'incident_id' = '%s'",
                         id);
                assert_int_equal(rt_count(&t, sql), 10);
                assert_int_equal(rt_count(&t, "SELECT count(DISTINCT "
                                              "complaint_id) FROM task_outbox"),
                                 10);
                /* one message per task on task-events, committed */
                n = rt_committed_to_end(&t, t.events, 60000);
                assert_int_equal(n, 10);
                assert_int_equal(rt_wait_count(&t,
                                               "SELECT count(*) FROM "
                                               "task_outbox WHERE "
                                               "published_at IS NULL",
                                               0, 30000),
                                 0);
                assert_int_equal(rt_count(&t, "SELECT count(*) FROM incidents "
                                              "WHERE status = 'open'"),
                                 2);
                /* again: nothing open, nothing more */
                assert_int_equal(rt_run(&t, "inbox", args, &out), 0);
                assert_non_null(strstr(out, "0 task(s) resolved"));
                free(out);
                assert_int_equal(rt_count(&t, "SELECT count(*) FROM "
                                              "task_outbox"),
                                 10);
        }
        escalations();
        free(ids);
        free(got);
        free(want);
        assert_int_equal(km_test_wait(s1, SIGTERM, 30000), 0);
        assert_int_equal(km_test_wait(s3, SIGTERM, 30000), 0);
}

static int setup(void **state)
{
        (void)state;
        return rt_setup(&t, "incidents") || rt_setup(&t2, "incidents2") ? -1
                                                                        : 0;
}

static int teardown(void **state)
{
        (void)state;
        rt_teardown(&t);
        rt_teardown(&t2);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_incidents),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
