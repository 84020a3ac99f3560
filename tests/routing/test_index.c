/*
 * test_index.c - the directory's indexes give the scans' answers
 * (common/km_dir.c): a generated city imported into a test schema, then
 * many addresses and points through km_dir_match and km_dir_match_scan,
 * km_dir_near and km_dir_near_scan, each pair required to name the same
 * building (or none).  The inputs: every generated complaint's address
 * and location; for each building its address as given, misspelt (a
 * letter dropped, doubled, swapped, replaced), cut to its last word,
 * with the district appended, as one string, with another house, with
 * another street's name; its point, moved up to 150 m, and points out of
 * the city, on the date line and near a pole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_complaint.h"
#include "km_dir.h"
#include "km_util.h"
#include "rt.h"

static struct rt t;

struct tally {
        long match, match_hit, near, near_hit, bad;
        double t_index, t_scan; /* seconds in each */
};

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *bid(const struct km_dir_building *b)
{
        return b ? b->id : "-";
}

static void check_match(const struct km_dir *dir, struct tally *ty,
                        const char *district, const char *street,
                        const char *house, const char *text)
{
        const struct km_dir_building *a, *b;
        double t0 = now_s(), t1, t2;

        a = km_dir_match(dir, district, street, house, text);
        t1 = now_s();
        b = km_dir_match_scan(dir, district, street, house, text);
        t2 = now_s();
        ty->t_index += t1 - t0;
        ty->t_scan += t2 - t1;
        ty->match++;
        if (a)
                ty->match_hit++;
        if (a != b) {
                if (ty->bad < 20)
                        printf("match(%s | %s | %s | %s): got %s, want %s\n",
                               district ? district : "-", street ? street : "-",
                               house ? house : "-", text ? text : "-", bid(a),
                               bid(b));
                ty->bad++;
        }
}

static void check_near(const struct km_dir *dir, struct tally *ty, double lat,
                       double lon)
{
        const struct km_dir_building *a, *b;
        double t0 = now_s(), t1, t2;

        a = km_dir_near(dir, lat, lon);
        t1 = now_s();
        b = km_dir_near_scan(dir, lat, lon);
        t2 = now_s();
        ty->t_index += t1 - t0;
        ty->t_scan += t2 - t1;
        ty->near++;
        if (a)
                ty->near_hit++;
        if (a != b) {
                if (ty->bad < 20)
                        printf("near(%.7f, %.7f): got %s, want %s\n", lat, lon,
                               bid(a), bid(b));
                ty->bad++;
        }
}

/* A UTF-8 string's characters: start offsets, at most max. */
static int chars(const char *s, int *at, int max)
{
        int n = 0;

        for (int i = 0; s[i] && n < max; i++)
                if (((unsigned char)s[i] & 0xc0) != 0x80)
                        at[n++] = i;
        return n;
}

/* s with one character changed (kind 0 drop, 1 double, 2 swap with the
 * next, 3 replace by a Cyrillic letter) at character k. */
static void misspell(const char *s, int kind, unsigned k, char *out,
                     size_t outlen)
{
        static const char *const letters[] = {"а", "о", "е", "и", "ы",
                                              "к", "н", "р", "с", "т"};
        int at[256], n = chars(s, at, 256), i, e, e2;
        size_t len = strlen(s);

        if (n < 2) {
                snprintf(out, outlen, "%s", s);
                return;
        }
        i = (int)(k % (unsigned)(n - 1));
        e = at[i + 1];
        e2 = i + 2 < n ? at[i + 2] : (int)len;
        switch (kind) {
        case 0:
                snprintf(out, outlen, "%.*s%s", at[i], s, s + e);
                break;
        case 1:
                snprintf(out, outlen, "%.*s%.*s%s", e, s, e - at[i], s + at[i],
                         s + e);
                break;
        case 2:
                snprintf(out, outlen, "%.*s%.*s%.*s%s", at[i], s, e2 - e, s + e,
                         e - at[i], s + at[i], s + e2);
                break;
        default:
                snprintf(out, outlen, "%.*s%s%s", at[i], s, letters[k % 10],
                         s + e);
                break;
        }
}

/* Every generated complaint's address and point. */
static void feed_complaints(const struct km_dir *dir, struct tally *ty)
{
        char path[600], *line = NULL;
        size_t cap = 0;
        ssize_t len;
        FILE *fp;

        snprintf(path, sizeof(path), "%s/complaints.jsonl", t.datadir);
        fp = fopen(path, "r");
        assert_non_null(fp);
        while ((len = getline(&line, &cap, fp)) > 0) {
                char reason[KM_REASON_LEN], err[256];
                struct km_complaint *c = NULL;

                if (km_complaint_parse(line, (size_t)len, &t.conf,
                                       KM_CPL_INTAKE, km_wall_s(), &c, reason,
                                       err, sizeof(err)))
                        continue;
                check_match(dir, ty, c->district, c->street, c->house,
                            c->address_text);
                if (c->has_geo)
                        check_near(dir, ty, c->lat, c->lon);
                km_complaint_destroy(c);
        }
        free(line);
        fclose(fp);
}

/* Each building's address, spelt in the ways above, and its point. */
static void feed_buildings(const struct km_dir *dir, struct tally *ty)
{
        PGresult *res = PQexec(t.conn, "SELECT district, street, house, "
                                       "lat, long FROM buildings ORDER BY id");
        unsigned seed = 12345;
        int n;

        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        n = PQntuples(res);
        assert_true(n > 1000);
        for (int i = 0; i < n; i++) {
                const char *d = PQgetvalue(res, i, 0);
                const char *s = PQgetvalue(res, i, 1);
                const char *h = PQgetvalue(res, i, 2);
                const char *other = PQgetvalue(res, (i * 7 + 3) % n, 1);
                const char *last = strrchr(s, ' ');
                char buf[512], h2[64];

                check_match(dir, ty, d, s, h, NULL);
                check_match(dir, ty, NULL, s, h, NULL);
                for (int kind = 0; kind < 4; kind++) {
                        seed = seed * 1103515245u + 12345u;
                        misspell(s, kind, seed >> 8, buf, sizeof(buf));
                        check_match(dir, ty, NULL, buf, h, NULL);
                        check_match(dir, ty, d, buf, h, NULL);
                }
                check_match(dir, ty, NULL, last ? last + 1 : s, h, NULL);
                snprintf(buf, sizeof(buf), "%s %s", last ? last + 1 : s, d);
                check_match(dir, ty, NULL, buf, h, NULL);
                snprintf(buf, sizeof(buf), "г. Астана, %s, д. %s, кв. 4", s, h);
                check_match(dir, ty, NULL, NULL, NULL, buf);
                misspell(s, (int)(seed % 4), seed >> 12, h2, sizeof(h2));
                snprintf(buf, sizeof(buf), "район %s, %s %s", d, h2, h);
                check_match(dir, ty, NULL, NULL, NULL, buf);
                snprintf(h2, sizeof(h2), "%d", atoi(h) + 1);
                check_match(dir, ty, NULL, s, h2, NULL);
                snprintf(h2, sizeof(h2), "%sб", h);
                check_match(dir, ty, NULL, s, h2, NULL);
                check_match(dir, ty, NULL, other, h, NULL);
                if (!PQgetisnull(res, i, 3) && !PQgetisnull(res, i, 4)) {
                        double lat = strtod(PQgetvalue(res, i, 3), NULL);
                        double lon = strtod(PQgetvalue(res, i, 4), NULL);

                        check_near(dir, ty, lat, lon);
                        for (int k = 0; k < 4; k++) {
                                double dy, dx;

                                /* up to ~150 m each way */
                                seed = seed * 1103515245u + 12345u;
                                dy = ((double)(seed >> 16 & 0xffff) / 65535.0 -
                                      0.5) *
                                     0.0027;
                                seed = seed * 1103515245u + 12345u;
                                dx = ((double)(seed >> 16 & 0xffff) / 65535.0 -
                                      0.5) *
                                     0.0043;
                                check_near(dir, ty, lat + dy, lon + dx);
                        }
                        check_near(dir, ty, lat + 1.0, lon);
                        check_near(dir, ty, -lat, lon - 180.0);
                }
        }
        PQclear(res);
        check_near(dir, ty, 89.9999, 71.4);
        check_near(dir, ty, 90.0, 71.4);
        check_near(dir, ty, 0.0, 180.0);
        check_near(dir, ty, 0.0, -180.0);
        check_near(dir, ty, 51.1, 71.4);
        check_match(dir, ty, NULL, "", "12", NULL);
        check_match(dir, ty, NULL, "улица", "12", NULL);
        check_match(dir, ty, "Есиль", "Есиль", "1", NULL);
}

static void test_index(void **state)
{
        struct km_dir *dir = NULL;
        struct tally ty;
        char err[512];

        (void)state;
        memset(&ty, 0, sizeof(ty));
        assert_int_equal(
                rt_gen(&t, getenv("RT_GEN_ARGS")
                                   ? getenv("RT_GEN_ARGS")
                                   : "--seed 11 --buildings 3000 --ksks "
                                     "100 --complaints 4000 --days 300"),
                0);
        assert_int_equal(rt_import(&t, NULL), 0);
        if (km_dir_load(t.conn, &dir, err, sizeof(err)))
                fail_msg("load: %s", err);
        feed_complaints(dir, &ty);
        feed_buildings(dir, &ty);
        printf("%ld addresses (%ld matched), %ld points (%ld matched), %ld "
               "different; index %.3f s, scan %.3f s\n",
               ty.match, ty.match_hit, ty.near, ty.near_hit, ty.bad, ty.t_index,
               ty.t_scan);
        km_dir_destroy(dir);
        assert_int_equal(ty.bad, 0);
        /* the inputs reach both answers */
        assert_true(ty.match_hit > ty.match / 3);
        assert_true(ty.match_hit < ty.match);
        assert_true(ty.near_hit > ty.near / 4);
        assert_true(ty.near_hit < ty.near);
}

static int setup(void **state)
{
        (void)state;
        return rt_setup(&t, "index");
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
                cmocka_unit_test(test_index),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
