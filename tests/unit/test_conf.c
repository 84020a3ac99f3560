/*
 * test_conf.c - configuration: defaults, file, environment and flags in
 * that order; every kind of bad configuration gives one line naming file,
 * line and key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "km_conf.h"

struct prog_conf {
        int64_t batch_size;
        double ratio;
        int dry_run;
        char *name;
};

static const struct km_conf_key prog_keys[] = {
        {"router.batch_size", KM_CT_INT, "500", 1, 100000,
         offsetof(struct prog_conf, batch_size), "batch-size", "batch"},
        {"router.ratio", KM_CT_DOUBLE, "0.5", 0, 1,
         offsetof(struct prog_conf, ratio), NULL, "ratio"},
        {"router.dry_run", KM_CT_BOOL, "false", 0, 0,
         offsetof(struct prog_conf, dry_run), "dry-run", "dry"},
        {"router.name", KM_CT_STR, "r1", 0, 8, offsetof(struct prog_conf, name),
         "name", "name"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static char path[64];

static void write_conf(const char *text)
{
        FILE *fp;

        snprintf(path, sizeof(path), "/tmp/komek-test-%d.conf", (int)getpid());
        fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

/* Load text with extra flags; returns the code and fills err. */
static int load(const char *text, const char *flag, struct km_conf *conf,
                struct prog_conf *pc, char *err, size_t errlen)
{
        char *argv[6] = {"komek-router", "--config", path, NULL, NULL, NULL};
        int argc = 3;

        if (flag)
                argv[argc++] = (char *)flag;
        write_conf(text);
        memset(pc, 0, sizeof(*pc));
        return km_conf_main(conf, "router", prog_keys, pc, argc, argv, err,
                            errlen);
}

static void test_defaults_file_flags(void **state)
{
        struct km_conf conf;
        struct prog_conf pc;
        char err[256] = "";

        (void)state;
        assert_int_equal(load("router = { batch_size = 10; ratio = 1; };\n"
                              "kafka = { linger_ms = 7; };\n",
                              "--batch-size=20", &conf, &pc, err, sizeof(err)),
                         0);
        assert_int_equal(pc.batch_size, 20); /* flag beats file */
        assert_true(pc.ratio == 1.0);        /* file beats default */
        assert_string_equal(pc.name, "r1");  /* default */
        assert_int_equal(conf.ncategories, 9);
        assert_int_equal(conf.nkafka, 1);
        assert_string_equal(conf.kafka_keys[0], "linger.ms");
        assert_string_equal(conf.kafka_vals[0], "7");
        km_conf_destroy(&conf);
        free(pc.name);
}

static void test_env_between_file_and_flags(void **state)
{
        struct km_conf conf;
        struct prog_conf pc;
        char err[256] = "";

        (void)state;
        setenv("KOMEK_BROKERS", "10.9.9.9:1", 1);
        assert_int_equal(load("kafka = { bootstrap_servers = \"f:1\"; };\n",
                              NULL, &conf, &pc, err, sizeof(err)),
                         0);
        assert_string_equal(conf.brokers, "10.9.9.9:1");
        km_conf_destroy(&conf);
        free(pc.name);
        assert_int_equal(load("kafka = { bootstrap_servers = \"f:1\"; };\n",
                              "--brokers=flag:2", &conf, &pc, err, sizeof(err)),
                         0);
        assert_string_equal(conf.brokers, "flag:2");
        km_conf_destroy(&conf);
        free(pc.name);
        unsetenv("KOMEK_BROKERS");
}

static void test_bad_configs(void **state)
{
        static const struct {
                const char *text, *flag, *want; /* want: err suffix */
        } rows[] = {
                {"router = { batch_size = 0; };\n", NULL,
                 ":1: router.batch_size: 0 < 1"},
                {"\n\nrouter = {\n  batch_size = 999999;\n};\n", NULL,
                 ":4: router.batch_size: 999999 > 100000"},
                {"router = { batch_size = \"x\"; };\n", NULL,
                 ":1: router.batch_size: expected an integer"},
                {"router = { bogus = 1; };\n", NULL,
                 ":1: router.bogus: unknown key"},
                {"nonsense = { a = 1; };\n", NULL,
                 ":1: nonsense: unknown group"},
                {"router = { name = \"much-too-long\"; };\n", NULL,
                 ":1: router.name: longer than 8 bytes"},
                {"router = { dry_run = 1; };\n", NULL,
                 ":1: router.dry_run: expected true or false"},
                {"router = { ratio = 2.5; };\n", NULL,
                 ":1: router.ratio: 2.5 not in [0, 1]"},
                {"router = { batch_size = ; };\n", NULL, ":1: syntax error"},
                {"", "--batch-size=0",
                 "--batch-size: router.batch_size: 0 < 1"},
                {"", "--frobnicate",
                 "--frobnicate: unknown option (see --help)"},
                {"", "--set=x", "--set=x: unknown option (see --help)"},
                {"categories = ( { code = \"x\"; } );\n", NULL,
                 ":1: categories.[0]: needs code, kind (strings) and "
                 "sla_hours (int)"},
                {"log = { level = \"loud\"; };\n", NULL,
                 "log.level: \"loud\" is not one of debug, info, warn, error"},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct km_conf conf;
                struct prog_conf pc;
                char err[256] = "";
                int r = load(rows[i].text, rows[i].flag, &conf, &pc, err,
                             sizeof(err));
                size_t el = strlen(err), wl = strlen(rows[i].want);

                if (r != KM_ECONFIG || el < wl ||
                    strcmp(err + el - wl, rows[i].want) != 0)
                        fail_msg("row %zu: got %d \"%s\", want KM_ECONFIG "
                                 "\"...%s\"",
                                 i, r, err, rows[i].want);
                if (strchr(err, '\n'))
                        fail_msg("row %zu: error spans lines", i);
                km_conf_destroy(&conf);
                free(pc.name);
        }
}

/* router.pg_user replaces the conninfo's user, from the file, the
 * environment or the built-in default, key=value or URI; a password for another user,
 * a bad role name and a bad conninfo are refused. */
static void test_pg_user(void **state)
{
        static const struct {
                const char *text, *env, *want; /* want: conninfo or the
                                                * error's end */
                int r;
        } rows[] = {
                {"pg = { conninfo = \"host=h dbname=d user=komek\"; };\n"
                 "router = { pg_user = \"komek_router_app\"; };\n",
                 NULL, "dbname='d' host='h' user='komek_router_app'", 0},
                /* the environment's conninfo gets it too */
                {"router = { pg_user = \"komek_router_app\"; };\n",
                 "host=e port=7 options='-csearch_path=s1' user=komek",
                 "host='e' port='7' options='-csearch_path=s1' "
                 "user='komek_router_app'",
                 0},
                {"router = { pg_user = \"komek_router_app\"; };\n",
                 "postgresql://komek@u:5/d",
                 "dbname='d' host='u' port='5' user='komek_router_app'", 0},
                /* empty: the conninfo as it is */
                {"pg = { conninfo = \"host=h user=komek\"; };\n", NULL,
                 "host=h user=komek", 0},
                /* a value with a quote and a backslash stays one value */
                {"pg = { conninfo = \"host=h application_name='a\\\\'b'\"; };\n"
                 "router = { pg_user = \"r\"; };\n",
                 NULL, "host='h' application_name='a\\'b' user='r'", 0},
                {"pg = { conninfo = \"host=h user=komek password=pw\"; };\n"
                 "router = { pg_user = \"komek_router_app\"; };\n",
                 NULL,
                 "pg.conninfo holds a password, but router.pg_user logs in "
                 "as komek_router_app: give each role's password in a "
                 "passfile (docs/operations.md)",
                 KM_ECONFIG},
                {"router = { pg_user = \"Komek\"; };\n", NULL,
                 "router.pg_user: \"Komek\" is not a role name (a-z, 0-9, _)",
                 KM_ECONFIG},
                {"pg = { conninfo = \"host\"; };\n"
                 "router = { pg_user = \"r\"; };\n",
                 NULL,
                 "pg.conninfo: missing \"=\" after \"host\" in "
                 "connection info string",
                 KM_ECONFIG},
                {"router = { pg_user = 1; };\n", NULL,
                 ":1: router.pg_user: expected a string", KM_ECONFIG},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct km_conf conf;
                struct prog_conf pc;
                char err[256] = "";
                int r;

                if (rows[i].env)
                        setenv("KOMEK_PG_CONNINFO", rows[i].env, 1);
                r = load(rows[i].text, NULL, &conf, &pc, err, sizeof(err));
                unsetenv("KOMEK_PG_CONNINFO");
                if (r != rows[i].r)
                        fail_msg("row %zu: got %d \"%s\"", i, r, err);
                if (r == 0 && strcmp(conf.pg_conninfo, rows[i].want) != 0)
                        fail_msg("row %zu: conninfo \"%s\", want \"%s\"", i,
                                 conf.pg_conninfo, rows[i].want);
                if (r) {
                        size_t el = strlen(err), wl = strlen(rows[i].want);

                        if (el < wl || strcmp(err + el - wl, rows[i].want))
                                fail_msg("row %zu: \"%s\", want \"...%s\"", i,
                                         err, rows[i].want);
                }
                km_conf_destroy(&conf);
                free(pc.name);
        }
}

static void test_missing_file(void **state)
{
        struct km_conf conf;
        struct prog_conf pc;
        char err[256] = "";
        char *argv[] = {"komek-router", "--config", "/nonexistent/k.conf",
                        NULL};

        (void)state;
        memset(&pc, 0, sizeof(pc));
        assert_int_equal(km_conf_main(&conf, "router", prog_keys, &pc, 3, argv,
                                      err, sizeof(err)),
                         KM_ECONFIG);
        assert_string_equal(err, "/nonexistent/k.conf: cannot read: No such "
                                 "file or directory");
        km_conf_destroy(&conf);
        free(pc.name);
}

static void test_example_config_loads(void **state)
{
        struct km_conf conf;
        struct prog_conf pc;
        char err[256] = "";
        const char *root = getenv("KOMEK_ROOT");
        char p[512];
        char *argv[] = {"komek-router", "--config", p, NULL};

        (void)state;
        snprintf(p, sizeof(p), "%s/deploy/komek.conf", root ? root : ".");
        memset(&pc, 0, sizeof(pc));
        /* as a program of its own: the file's program groups are skipped
         * (each program validates its own group; tests/ops checks them) */
        if (km_conf_main(&conf, "test", prog_keys, &pc, 3, argv, err,
                         sizeof(err)))
                fail_msg("deploy/komek.conf: %s", err);
        assert_non_null(km_conf_category(&conf, "lift"));
        assert_string_equal(km_conf_category(&conf, "lift")->kind,
                            "lift_operator");
        km_conf_destroy(&conf);
        free(pc.name);
}

static int teardown(void **state)
{
        (void)state;
        unlink(path);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_file_flags),
                cmocka_unit_test(test_env_between_file_and_flags),
                cmocka_unit_test(test_bad_configs),
                cmocka_unit_test(test_pg_user),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_example_config_loads),
        };

        unsetenv("KOMEK_CONFIG");
        unsetenv("KOMEK_BROKERS");
        unsetenv("KOMEK_PG_CONNINFO");
        return cmocka_run_group_tests(tests, NULL, teardown);
}
