/*
 * test_pg.c - PostgreSQL helpers against the real server: parameters carry
 * hostile text verbatim, errors map onto KM_E*, consumer offsets round-trip
 * inside a transaction (and vanish with a rollback), and komek-admin
 * migrate applied twice changes nothing the second time.  Each test works
 * in its own schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

static struct km_conf conf;
static PGconn *conn;
static char schema[128];

static void exec_ok(const char *sql, int n, const char *const *params)
{
        char err[512];

        if (km_pg_exec(conn, sql, n, params, NULL, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
}

static void test_params_verbatim(void **state)
{
        static const char *const rows[] = {
                "'; DROP TABLE consumer_offsets; --",
                "%s%s%n%x",
                "Нет воды \"кв. 5\" \\ $1",
                "",
        };
        char err[512];

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                PGresult *res = NULL;
                const char *p[1] = {rows[i]};

                assert_int_equal(km_pg_exec(conn, "SELECT $1::text", 1, p, &res,
                                            err, sizeof(err)),
                                 0);
                assert_string_equal(PQgetvalue(res, 0, 0), rows[i]);
                PQclear(res);
        }
}

static void test_error_mapping(void **state)
{
        char err[512];
        const char *p[1] = {"x"};

        (void)state;
        exec_ok("CREATE TABLE u (k text PRIMARY KEY)", 0, NULL);
        exec_ok("INSERT INTO u VALUES ($1)", 1, p);
        assert_int_equal(km_pg_exec(conn, "INSERT INTO u VALUES ($1)", 1, p,
                                    NULL, err, sizeof(err)),
                         KM_EINPUT);
        assert_non_null(strstr(err, "23505"));
        assert_int_equal(km_pg_exec(conn, "SELEC nonsense", 0, NULL, NULL, err,
                                    sizeof(err)),
                         KM_EFATAL);
        assert_int_equal(
                km_pg_exec(conn, "SELECT 1/0", 0, NULL, NULL, err, sizeof(err)),
                KM_EINPUT);
}

static void test_offsets_txn(void **state)
{
        char err[512];
        rd_kafka_topic_partition_list_t *parts;

        (void)state;
        exec_ok("CREATE TABLE consumer_offsets (consumer text, topic text, "
                "partition int, next_offset bigint, updated_at timestamptz, "
                "PRIMARY KEY (consumer, topic, partition))",
                0, NULL);
        assert_int_equal(km_pg_begin(conn, err, sizeof(err)), 0);
        assert_int_equal(
                km_pg_offset_store(conn, "c1", "t", 2, 42, err, sizeof(err)),
                0);
        assert_int_equal(km_pg_commit(conn, err, sizeof(err)), 0);
        assert_int_equal(km_pg_begin(conn, err, sizeof(err)), 0);
        assert_int_equal(
                km_pg_offset_store(conn, "c1", "t", 2, 99, err, sizeof(err)),
                0);
        km_pg_rollback(conn); /* a batch that failed: the offset stays 42 */
        parts = rd_kafka_topic_partition_list_new(2);
        rd_kafka_topic_partition_list_add(parts, "t", 2);
        rd_kafka_topic_partition_list_add(parts, "t", 3);
        assert_int_equal(
                km_pg_offsets_load(conn, "c1", parts, err, sizeof(err)), 0);
        assert_int_equal(parts->elems[0].offset, 42);
        assert_int_equal(parts->elems[1].offset, RD_KAFKA_OFFSET_BEGINNING);
        rd_kafka_topic_partition_list_destroy(parts);
}

static int run_migrate(const char *sch, char *out, size_t outlen)
{
        const char *bin = getenv("KOMEK_BIN"), *root = getenv("KOMEK_ROOT");
        char *cmd = km_xasprintf(
                "KOMEK_PG_CONNINFO=\"%s options='-csearch_path=%s'\" %s/komek-admin "
                "--config %s/deploy/komek.conf --sql-dir %s/deploy/sql migrate 2>&1",
                km_test_pg_conninfo(&conf), sch, bin ? bin : "bin",
                root ? root : ".", root ? root : ".");
        FILE *fp = popen(cmd, "r");
        size_t n = 0;
        int st;

        free(cmd);
        if (fp == NULL)
                return -1;
        n = fread(out, 1, outlen - 1, fp);
        out[n] = '\0';
        st = pclose(fp);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_migrate_twice(void **state)
{
        char out[8192], err[512], sch[128];
        PGresult *res = NULL;
        int rc;
        char *q;
        const char *p[1];

        (void)state;
        km_test_name(sch, sizeof(sch), "mig");
        for (char *c = sch; *c; c++)
                if (*c == '-')
                        *c = '_';
        q = km_xasprintf("CREATE SCHEMA %s", sch); /* name made by the test */
        exec_ok(q, 0, NULL);
        free(q);
        rc = run_migrate(sch, out, sizeof(out));
        if (rc != 0)
                fail_msg("first migrate exit %d: %s", rc, out);
        assert_non_null(strstr(out, "applied 001_foundation.sql"));
        p[0] = sch;
        assert_int_equal(
                km_pg_exec(
                        conn,
                        "SELECT (SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema = $1), "
                        "(SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema = $1 AND table_name = "
                        "'schema_migrations')",
                        1, p, &res, err, sizeof(err)),
                0);
        {
                char *tables = km_xstrdup(PQgetvalue(res, 0, 0));

                assert_string_equal(PQgetvalue(res, 0, 1), "1");
                PQclear(res);
                rc = run_migrate(sch, out, sizeof(out));
                if (rc != 0)
                        fail_msg("second migrate exit %d: %s", rc, out);
                assert_non_null(strstr(out, "migrate: 0 applied"));
                assert_null(strstr(out, "applied 0"));
                assert_int_equal(
                        km_pg_exec(
                                conn,
                                "SELECT count(*) FROM information_schema.tables "
                                "WHERE table_schema = $1",
                                1, p, &res, err, sizeof(err)),
                        0);
                assert_string_equal(PQgetvalue(res, 0, 0), tables);
                PQclear(res);
                free(tables);
        }
        q = km_xasprintf("SELECT count(*) FROM %s.categories", sch);
        assert_int_equal(km_pg_exec(conn, q, 0, NULL, &res, err, sizeof(err)),
                         0);
        assert_string_equal(PQgetvalue(res, 0, 0), "9");
        PQclear(res);
        free(q);
        q = km_xasprintf("DROP SCHEMA %s CASCADE", sch);
        exec_ok(q, 0, NULL);
        free(q);
}

static int setup(void **state)
{
        char err[512], *q;
        PGresult *r;

        (void)state;
        if (km_test_conf(&conf))
                return -1;
        conn = km_pg_connect(km_test_pg_conninfo(&conf), "test_pg", 30, err,
                             sizeof(err));
        if (conn == NULL) {
                fprintf(stderr, "connect: %s\n", err);
                return -1;
        }
        km_test_name(schema, sizeof(schema), "pg");
        for (char *c = schema; *c; c++)
                if (*c == '-')
                        *c = '_';
        q = km_xasprintf("CREATE SCHEMA %s; SET search_path = %s", schema,
                         schema);
        r = PQexec(conn, q);
        free(q);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "schema: %s\n", PQresultErrorMessage(r));
                PQclear(r);
                return -1;
        }
        PQclear(r);
        return 0;
}

static int teardown(void **state)
{
        char *q = km_xasprintf("DROP SCHEMA IF EXISTS %s CASCADE", schema);
        PGresult *r = PQexec(conn, q);

        (void)state;
        PQclear(r);
        free(q);
        PQfinish(conn);
        km_conf_destroy(&conf);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_params_verbatim),
                cmocka_unit_test(test_error_mapping),
                cmocka_unit_test(test_offsets_txn),
                cmocka_unit_test(test_migrate_twice),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
