/*
 * test_time.c - km_time: day number <-> date round trip over 1900-2200
 * against a plain day-by-day count, known dates, ISO week text and its
 * parse (the week of 2024-12-30 is 2025-W01, 2020 has a W53).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "km_time.h"

static int leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void test_round_trip(void **state)
{
        static const int mdays[] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
        int64_t z = km_days_from_civil(1900, 1, 1);

        (void)state;
        assert_int_equal(km_days_from_civil(1970, 1, 1), 0);
        assert_int_equal(km_days_from_civil(2026, 1, 1), 20454);
        assert_int_equal(km_days_from_civil(1969, 12, 31), -1);
        for (int y = 1900; y < 2200; y++) {
                for (int m = 1; m <= 12; m++) {
                        int n = mdays[m - 1] + (m == 2 && leap(y));

                        for (int d = 1; d <= n; d++, z++) {
                                int y2, m2, d2;

                                assert_int_equal(
                                        km_days_from_civil(y, (unsigned)m,
                                                           (unsigned)d),
                                        z);
                                km_civil_from_days(z, &y2, &m2, &d2);
                                if (y2 != y || m2 != m || d2 != d)
                                        fail_msg("%d-%d-%d: got %d-%d-%d", y, m,
                                                 d, y2, m2, d2);
                        }
                }
        }
}

static void test_fmt(void **state)
{
        char buf[16];

        (void)state;
        km_time_day_fmt(km_days_from_civil(2024, 2, 29), buf, sizeof(buf));
        assert_string_equal(buf, "2024-02-29");
        km_time_day_fmt(-1, buf, sizeof(buf));
        assert_string_equal(buf, "1969-12-31");
}

static void test_weeks(void **state)
{
        static const struct {
                int y, m, d;
                const char *want;
        } rows[] = {
                {2025, 7, 14, "2025-W29"},  {2024, 12, 30, "2025-W01"},
                {2021, 1, 4, "2021-W01"},   {2020, 12, 28, "2020-W53"},
                {2026, 11, 23, "2026-W48"},
        };
        static const char *const bad[] = {
                "2025-W00", "2025-W54", "1999-W10", "2101-W01",
                "2025-W1x", "2025-29",  "",         "2025-W29 ",
        };
        int64_t monday;

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                char buf[16];
                int64_t z = km_days_from_civil(rows[i].y, (unsigned)rows[i].m,
                                               (unsigned)rows[i].d);

                km_time_week_fmt(z, buf, sizeof(buf));
                assert_string_equal(buf, rows[i].want);
                assert_int_equal(km_time_week_parse(rows[i].want, &monday), 0);
                assert_int_equal(monday, z);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (km_time_week_parse(bad[i], &monday) != KM_EINPUT)
                        fail_msg("%s: parsed", bad[i]);
        assert_int_equal(km_time_week_parse(NULL, &monday), KM_EINPUT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_fmt),
                cmocka_unit_test(test_weeks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
