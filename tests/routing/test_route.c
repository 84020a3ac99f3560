/*
 * test_route.c - the directory and the routing rules against a real
 * PostgreSQL schema: komek-directory import (report, idempotence, a
 * change bumps the version, an invalid reference imports nothing); the
 * routing table (each category kind, each address spelling, unknown
 * building and missing organisation -> triage); and every valid
 * complaint of a generated set routed to the building truth.csv names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "km_complaint.h"
#include "km_dir.h"
#include "km_route.h"
#include "km_util.h"
#include "rt.h"

static struct rt t;

static void write_file(const char *dir, const char *name, const char *text)
{
        char path[512];
        FILE *fp;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

static const char orgs_csv[] =
        "id,kind,name,district,phone\n"
        "ksk-1,ksk,\"КСК «Береке»\",Есиль,+7 (7172) 11-11-11\n"
        "ksk-2,ksk,\"ОСИ \"\"Жулдыз\"\", Алматы\",Алматы,\n"
        "lift-1,lift_operator,ТОО «Лифт Сервис Астана»,,\n"
        "util-1,utility,АО «Астана-РЭК»,,\n"
        "triage,triage,Диспетчерская 109,,\n";
static const char blds_csv[] =
        "id,district,street,house,apartments,ksk_id,lift_operator_id,lat,long\n"
        "b-1,Есиль,улица Кенесары,12,80,ksk-1,lift-1,51.1600,71.4300\n"
        "b-2,Есиль,проспект Абая,5,40,ksk-1,,51.1700,71.4400\n"
        "b-3,Алматы,улица Манаса,17А,60,ksk-2,lift-1,,\n"
        "b-4,Алматы,улица Валиханова,3,20,,,,\n"
        "b-5,Сарыарка,проспект Сарыарка,9,90,ksk-2,lift-1,51.2000,71.4000\n";

static struct km_dir *load_dir(void)
{
        struct km_dir *dir = NULL;
        char err[512];

        if (km_dir_load(t.conn, &dir, err, sizeof(err)))
                fail_msg("load: %s", err);
        return dir;
}

static void test_import(void **state)
{
        char *out = NULL, dir2[600];
        const char *args[] = {"import", t.datadir, NULL};
        const char *bad[] = {"import", dir2, NULL};

        (void)state;
        mkdir(t.datadir, 0755);
        write_file(t.datadir, "organisations.csv", orgs_csv);
        write_file(t.datadir, "buildings.csv", blds_csv);
        assert_int_equal(rt_run(&t, "directory", args, &out), 0);
        assert_non_null(
                strstr(out, "organisations: 5 in file, 4 added, 1 changed"));
        assert_non_null(strstr(out, "buildings: 5 in file, 5 added"));
        assert_non_null(strstr(out, "directory version 1 (changed)"));
        free(out);
        /* the same files again: nothing changes, the version stays */
        assert_int_equal(rt_run(&t, "directory", args, &out), 0);
        assert_non_null(strstr(
                out,
                "5 unchanged, 0 retired\nbuildings: 5 in file, 0 added, 0 changed, 5 unchanged"));
        assert_non_null(strstr(out, "directory version 1 (unchanged)"));
        free(out);
        assert_int_equal(
                rt_count(&t, "SELECT count(*) FROM buildings WHERE "
                             "street_key = 'kenesar' AND house_key = '12'"),
                1);
        /* a wrong reference: nothing imported, exit 1 */
        snprintf(dir2, sizeof(dir2), "%s/bad", t.datadir);
        mkdir(dir2, 0755);
        write_file(dir2, "organisations.csv", orgs_csv);
        write_file(
                dir2, "buildings.csv",
                "id,district,street,house,apartments,ksk_id,lift_operator_id,lat,long\n"
                "b-9,Есиль,улица Кенесары,14,10,lift-1,,,\n"
                "b-10,Есиль,улица Кенесары,16,10,ksk-404,,,\n");
        assert_int_equal(rt_run(&t, "directory", bad, NULL), 1);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM buildings"), 5);
        assert_int_equal(rt_count(&t, "SELECT version FROM directory_version"),
                         1);
}

struct case_row {
        const char *json_addr; /* "address":{...} and extra members */
        const char *category;
        const char *want_org, *want_building, *want_reason;
};

static const struct case_row cases[] = {
        /* each category kind */
        {"\"address\":{\"text\":\"x\"},\"building_id\":\"b-1\"", "heating",
         "ksk-1", "b-1", "building_id"},
        {"\"address\":{\"text\":\"x\"},\"building_id\":\"b-1\"", "lift",
         "lift-1", "b-1", "building_id"},
        {"\"address\":{\"text\":\"x\"},\"building_id\":\"b-2\"", "lift",
         "triage", "b-2", "no_organisation"},
        {"\"address\":{\"text\":\"x\"},\"building_id\":\"b-4\"", "water_supply",
         "triage", "b-4", "no_organisation"},
        {"\"address\":{\"text\":\"x\"},\"building_id\":\"b-3\"", "gas", "ksk-2",
         "b-3", "building_id"},
        /* address spellings */
        {"\"address\":{\"district\":\"Есиль\",\"street\":\"улица Кенесары\",\"house\":\"12\"}",
         "roof", "ksk-1", "b-1", "address"},
        {"\"address\":{\"street\":\"ул. Кенесары\",\"house\":\"д. 12\",\"apartment\":\"4\"}",
         "roof", "ksk-1", "b-1", "address"},
        {"\"address\":{\"text\":\"г. Астана, ул. Кенесары, д. 12, кв. 45\"}",
         "electricity", "ksk-1", "b-1", "address"},
        {"\"address\":{\"text\":\"ul. Kenesary 12\"}", "lift", "lift-1", "b-1",
         "address"},
        {"\"address\":{\"text\":\"КЕНЕСАРЫ КӨШЕСІ, 12 ҮЙ\"}", "heating",
         "ksk-1", "b-1", "address"},
        {"\"address\":{\"text\":\"pr. Abaya d. 5\"}", "heating", "ksk-1", "b-2",
         "address"},
        {"\"address\":{\"text\":\"пр-т  Абая ,5\"}", "heating", "ksk-1", "b-2",
         "address"},
        {"\"address\":{\"text\":\"Манас көшесі 17 а\"}", "sanitation", "ksk-2",
         "b-3", "address"},
        {"\"address\":{\"text\":\"Уәлиханов көшесі, 3\"}", "other", "triage",
         "b-4", "no_organisation"},
        {"\"address\":{\"text\":\"Сарыарка р-н, пр. Сарыарқа 9-16\"}",
         "common_areas", "ksk-2", "b-5", "address"},
        /* unknown building id falls back to the address */
        {"\"address\":{\"text\":\"ул. Кенесары 12\"},\"building_id\":\"b-404\"",
         "heating", "ksk-1", "b-1", "address"},
        /* location only */
        {"\"address\":{\"text\":\"у магазина\"},\"lat\":51.20001,\"long\":71.40002",
         "heating", "ksk-2", "b-5", "location"},
        /* unknown */
        {"\"address\":{\"text\":\"ул. Садовая, 1\"}", "heating", "triage", NULL,
         "unknown_building"},
        {"\"address\":{\"text\":\"ул. Кенесары, 99\"}", "heating", "triage",
         NULL, "unknown_building"},
        {"\"address\":{\"text\":\"x\"},\"building_id\":\"b-404\"", "lift",
         "triage", NULL, "unknown_building"},
};

static void test_table(void **state)
{
        struct km_dir *dir;
        int bad = 0;

        (void)state;
        dir = load_dir();
        assert_int_equal(km_dir_version(dir), 1);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *js = km_xasprintf(
                        "{\"source\":\"test\",\"external_id\":\"c%zu\","
                        "\"received_at\":\"2026-03-01T10:00:00Z\",\"category\":"
                        "\"%s\",\"description\":\"d\",%s}",
                        i, cases[i].category, cases[i].json_addr);
                char reason[KM_REASON_LEN], err[256];
                struct km_complaint *c = NULL;
                struct km_route r;

                if (km_complaint_parse(js, strlen(js), &t.conf, KM_CPL_INTAKE,
                                       km_wall_s(), &c, reason, err,
                                       sizeof(err)))
                        fail_msg("case %zu: %s: %s", i, reason, err);
                km_route_complaint(dir, &t.conf, c, &r);
                if (strcmp(r.org->id, cases[i].want_org) ||
                    strcmp(r.reason, cases[i].want_reason) ||
                    (cases[i].want_building == NULL) != (r.building == NULL) ||
                    (r.building &&
                     strcmp(r.building->id, cases[i].want_building))) {
                        printf("case %zu (%s): got %s/%s/%s, want %s/%s/%s\n",
                               i, cases[i].json_addr, r.org->id,
                               r.building ? r.building->id : "-", r.reason,
                               cases[i].want_org,
                               cases[i].want_building ? cases[i].want_building
                                                      : "-",
                               cases[i].want_reason);
                        bad++;
                }
                if (i == 0) { /* due = received + SLA (heating 24 h) */
                        assert_int_equal(r.due_at - c->received_at, 24 * 3600);
                        assert_string_equal(r.district, "Есиль");
                }
                km_complaint_destroy(c);
                free(js);
        }
        km_dir_destroy(dir);
        assert_int_equal(bad, 0);
}

/* Every valid complaint of a generated set resolves to truth's building,
 * and carries truth's district: the building's, or for an unknown building
 * the one its structured address names, spelt as the generator spelt it
 * (so every spelling komek-gen writes must canonicalise). */
static void test_truth(void **state)
{
        char path[600], *line = NULL, tline[512];
        size_t cap = 0;
        ssize_t len;
        FILE *fp, *tf;
        struct km_dir *dir;
        int lineno = 0, valid = 0, bad = 0, unknown = 0, baddist = 0;

        (void)state;
        /* RT_GEN_ARGS: try other data sets by hand */
        assert_int_equal(
                rt_gen(&t, getenv("RT_GEN_ARGS")
                                   ? getenv("RT_GEN_ARGS")
                                   : "--seed 7 --buildings 2000 --ksks "
                                     "100 --complaints 3000 --days 300"),
                0);
        assert_int_equal(rt_import(&t, NULL), 0);
        dir = load_dir();
        if (getenv("RT_GEN_ARGS") == NULL)
                assert_int_equal(km_dir_nbuildings(dir), 2000);
        snprintf(path, sizeof(path), "%s/complaints.jsonl", t.datadir);
        fp = fopen(path, "r");
        snprintf(path, sizeof(path), "%s/truth.csv", t.datadir);
        tf = fopen(path, "r");
        assert_non_null(fp);
        assert_non_null(tf);
        assert_non_null(fgets(tline, sizeof(tline), tf)); /* header */
        while ((len = getline(&line, &cap, fp)) > 0) {
                char reason[KM_REASON_LEN], err[256], *f[8], *save = NULL;
                struct km_complaint *c = NULL;
                struct km_route r;
                int nf = 0;

                lineno++;
                assert_non_null(fgets(tline, sizeof(tline), tf));
                tline[strcspn(tline, "\n")] = '\0';
                /* line,external_id,source,valid,reason,building_id,category,
                 * district */
                for (char *p = tline, *q; nf < 8; p = q + 1) {
                        q = strchr(p, ',');
                        f[nf++] = p;
                        if (q == NULL)
                                break;
                        *q = '\0';
                }
                (void)save;
                assert_int_equal(nf, 8);
                assert_int_equal(atoi(f[0]), lineno);
                if (km_complaint_parse(line, (size_t)len, &t.conf,
                                       KM_CPL_INTAKE, km_wall_s(), &c, reason,
                                       err, sizeof(err))) {
                        if (f[3][0] == '1')
                                fail_msg("line %d valid in truth: %s", lineno,
                                         err);
                        continue;
                }
                valid++;
                km_route_complaint(dir, &t.conf, c, &r);
                if (f[5][0] == '\0')
                        unknown++;
                if ((f[5][0] == '\0') != (r.building == NULL) ||
                    (r.building && strcmp(r.building->id, f[5]) != 0)) {
                        if (bad < 25) {
                                json_t *a = json_object_get(c->root, "address");
                                char *as = json_dumps(a, JSON_COMPACT);

                                printf("line %d: got %s, want %s: %s\n", lineno,
                                       r.building ? r.building->id : "-",
                                       f[5][0] ? f[5] : "-", as);
                                free(as);
                        }
                        bad++;
                }
                if (strcmp(r.district ? r.district : "", f[7]) != 0) {
                        if (baddist < 25)
                                printf("line %d: district %s, want %s (%s)\n",
                                       lineno, r.district ? r.district : "-",
                                       f[7][0] ? f[7] : "-",
                                       c->district ? c->district : "none");
                        baddist++;
                }
                km_complaint_destroy(c);
        }
        printf("%d valid complaints, %d with an unknown address, %d routed "
               "to the wrong building, %d with another district\n",
               valid, unknown, bad, baddist);
        free(line);
        fclose(fp);
        fclose(tf);
        km_dir_destroy(dir);
        assert_true(valid > 2900);
        assert_int_equal(bad, 0);
        assert_int_equal(baddist, 0);
}

static int setup(void **state)
{
        (void)state;
        return rt_setup(&t, "route");
}

static int teardown(void **state)
{
        (void)state;
        rt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_import),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_truth),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
