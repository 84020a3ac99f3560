/*
 * km_time.c - calendar days (see km_time.h).  Pure arithmetic: no clock,
 * timezone or locale is read, so every program and test gets the same
 * date for the same day number.
 */
#include "km_time.h"

#include <stdio.h>

/* Howard Hinnant's days_from_civil. */
int64_t km_days_from_civil(int64_t y, unsigned m, unsigned d)
{
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned)(y - era * 400);
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

/* Howard Hinnant's civil_from_days. */
void km_civil_from_days(int64_t z, int *y, int *m, int *d)
{
        int64_t era, doe, yoe, doy, mp;

        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = (int)(doy - (153 * mp + 2) / 5 + 1);
        *m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *y = (int)(yoe + era * 400 + (*m <= 2));
}

void km_time_day_fmt(int64_t z, char *buf, size_t len)
{
        int y, m, d;

        km_civil_from_days(z, &y, &m, &d);
        snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
}

void km_time_week_fmt(int64_t monday, char *buf, size_t len)
{
        int y, m, d;
        int64_t thu = monday + 3;

        km_civil_from_days(thu, &y, &m, &d);
        snprintf(buf, len, "%04d-W%02d", y,
                 (int)((thu - km_days_from_civil(y, 1, 1)) / 7 + 1));
}

int km_time_week_parse(const char *s, int64_t *monday)
{
        int y, w;
        char c;
        int64_t jan4, wd;

        if (s == NULL || sscanf(s, "%4d-W%2d%c", &y, &w, &c) != 2 || y < 2000 ||
            y > 2100 || w < 1 || w > 53)
                return KM_EINPUT;
        jan4 = km_days_from_civil(y, 1, 4);
        wd = ((jan4 + 3) % 7 + 7) % 7; /* 0 = Monday */
        *monday = jan4 - wd + 7 * (int64_t)(w - 1);
        return 0;
}
