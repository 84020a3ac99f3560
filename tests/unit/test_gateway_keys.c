/*
 * test_gateway_keys.c - the gateway's API key lookup and its cache
 * (producers/gateway/gateway_db.c) against a real PostgreSQL schema: a
 * key made by komek-keys is found, an unknown one is not and is not
 * cached (a key added afterwards works at once), a found key is answered
 * from the cache without the database, and after komek-keys revoke the key
 * is refused within the cache's lifetime (the bound: at most that long
 * after the lookup that filled the cache).  And km_pg_exec_prepared (the
 * gateway's statements): prepared on a connection's first use, run again
 * without preparing, each connection its own, errors classified as
 * km_pg_exec's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../producers/gateway/gateway.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

void gateway_key_cache_ttl(int64_t ms); /* gateway_db.c, for tests */

static struct km_conf conf;
static char schema[128], conninfo[1024];

/* komek-keys with the test schema; @returns its first output line. */
static char *keys(const char *args)
{
        char *cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-keys "
                                 "--config %s/deploy/komek.conf "
                                 "--log-level warn %s",
                                 conninfo, getenv("KOMEK_BIN"),
                                 getenv("KOMEK_ROOT"), args);
        FILE *fp = popen(cmd, "r");
        char line[256] = "";

        free(cmd);
        assert_non_null(fp);
        if (fgets(line, sizeof(line), fp) == NULL)
                line[0] = '\0';
        line[strcspn(line, "\n")] = '\0';
        assert_int_equal(WEXITSTATUS(pclose(fp)), 0);
        return km_xstrdup(line);
}

static int lookup(PGconn *conn, const char *key, int64_t *id)
{
        char source[80], channel[24], err[256];
        int64_t rate = 0;

        return gateway_key_lookup(conn, key, id, source, sizeof(source),
                                  channel, sizeof(channel), &rate, err,
                                  sizeof(err));
}

static void test_cache(void **state)
{
        PGconn *conn, *dead;
        char *key, *later, prefix[16], args[64];
        int64_t id = 0, deadline, filled, refused;
        int r;

        (void)state;
        conn = PQconnectdb(conninfo);
        assert_int_equal(PQstatus(conn), CONNECTION_OK);
        /* a connection that cannot answer: proves a hit is not a query */
        dead = PQconnectdb("host=127.0.0.1 port=1 connect_timeout=1");
        assert_int_not_equal(PQstatus(dead), CONNECTION_OK);
        gateway_key_cache_ttl(60000);

        assert_int_equal(lookup(conn, "km_not_a_key", &id), KM_EINPUT);
        key = keys("add --source cachetest --rate 100");
        assert_true(strncmp(key, "km_", 3) == 0);
        assert_int_equal(lookup(conn, key, &id), 0);
        assert_true(id > 0);
        /* cached: answered without the database */
        assert_int_equal(lookup(dead, key, &id), 0);
        /* an unknown key is never cached: one added now works at once */
        later = keys("add --source cachetest2");
        assert_int_equal(lookup(conn, later, &id), 0);
        /* a key not yet cached needs the database */
        gateway_key_cache_ttl(60000);
        assert_int_not_equal(lookup(dead, later, &id), 0);

        /* revoked: refused once the cache's lifetime is over, never
         * later: at most the lifetime after the last lookup that filled
         * the cache (taken before the revoke), plus scheduling slack */
        gateway_key_cache_ttl(500);
        filled = km_now_ms();
        assert_int_equal(lookup(conn, key, &id), 0);
        snprintf(prefix, sizeof(prefix), "%.11s", key);
        snprintf(args, sizeof(args), "revoke %s", prefix);
        free(keys(args));
        deadline = km_now_ms() + 10000;
        while ((r = lookup(conn, key, &id)) == 0 && km_now_ms() < deadline)
                ;
        assert_int_equal(r, KM_EINPUT);
        refused = km_now_ms();
        assert_true(refused - filled <= 500 + 1000);
        /* and it stays refused: a refusal is not cached as a hit */
        assert_int_equal(lookup(conn, key, &id), KM_EINPUT);
        free(key);
        free(later);
        PQfinish(dead);
        PQfinish(conn);
}

/* The statement's name in pg_prepared_statements of conn (0 or 1). */
static int prepared_count(PGconn *conn, const char *name)
{
        const char *p[1] = {name};
        PGresult *res = NULL;
        char err[256];
        int n;

        assert_int_equal(km_pg_exec(conn,
                                    "SELECT count(*) FROM "
                                    "pg_prepared_statements WHERE name = $1",
                                    1, p, &res, err, sizeof(err)),
                         0);
        n = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
        return n;
}

static void test_prepared(void **state)
{
        const char *sql = "SELECT $1::int + 1";
        const char *two[1] = {"2"}, *bad[1] = {"x"};
        PGconn *a, *b;
        PGresult *res = NULL;
        char err[256];

        (void)state;
        a = PQconnectdb(conninfo);
        b = PQconnectdb(conninfo);
        assert_int_equal(PQstatus(a), CONNECTION_OK);
        assert_int_equal(PQstatus(b), CONNECTION_OK);
        assert_int_equal(prepared_count(a, "t_plus"), 0);
        for (int i = 0; i < 2; i++) { /* prepared, then only run */
                assert_int_equal(km_pg_exec_prepared(a, "t_plus", sql, 1, two,
                                                     &res, err, sizeof(err)),
                                 0);
                assert_string_equal(PQgetvalue(res, 0, 0), "3");
                PQclear(res);
                assert_int_equal(prepared_count(a, "t_plus"), 1);
        }
        assert_int_equal(prepared_count(b, "t_plus"), 0);
        assert_int_equal(km_pg_exec_prepared(b, "t_plus", sql, 1, two, NULL,
                                             err, sizeof(err)),
                         0);
        /* 22P02 (not an integer): the input's fault, as km_pg_exec says */
        assert_int_equal(km_pg_exec_prepared(a, "t_plus", sql, 1, bad, &res,
                                             err, sizeof(err)),
                         KM_EINPUT);
        assert_null(res);
        assert_non_null(strstr(err, "22P02"));
        /* a statement that does not prepare: its error, nothing prepared */
        assert_int_equal(km_pg_exec_prepared(a, "t_bad", "SELECT FROM nosuch",
                                             0, NULL, NULL, err, sizeof(err)),
                         KM_EFATAL);
        assert_non_null(strstr(err, "42P01"));
        assert_int_equal(prepared_count(a, "t_bad"), 0);
        PQfinish(a);
        PQfinish(b);
}

static int setup(void **state)
{
        (void)state;
        if (km_test_conf(&conf))
                return -1;
        return km_test_pg_schema(&conf, schema, sizeof(schema), conninfo,
                                 sizeof(conninfo));
}

static int teardown(void **state)
{
        (void)state;
        km_test_pg_schema_drop(&conf, schema);
        km_conf_destroy(&conf);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cache),
                cmocka_unit_test(test_prepared),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
