/*
 * km_time.h - calendar days: a day number (days since 1970-01-01, proleptic
 * Gregorian, no timezone or locale) to a date and back, the text of a day
 * and of an ISO week.  Howard Hinnant's algorithms, exact for every int64_t
 * day a komek program meets.  Clocks and RFC 3339 times are in km_util.h.
 */
#ifndef KM_TIME_H
#define KM_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "km_err.h"

/** @brief Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t km_days_from_civil(int64_t y, unsigned m, unsigned d);

/** @brief The date of day z: *y, *m (1-12), *d (1-31). */
void km_civil_from_days(int64_t z, int *y, int *m, int *d);

/** @brief Day z as "YYYY-MM-DD" into buf (11 bytes), as snprintf. */
void km_time_day_fmt(int64_t z, char *buf, size_t len);

/** @brief The ISO week of a Monday as "2025-W29" into buf (9 bytes); the
 *  ISO year is the year of the week's Thursday. */
void km_time_week_fmt(int64_t monday, char *buf, size_t len);

/**
 * @brief Parse "YYYY-Www" (years 2000-2100, weeks 1-53, nothing after).
 * @p s NULL-able (an error).
 * @returns 0 and *monday (the day number of the week's Monday), or
 * KM_EINPUT.
 */
KM_MUSTCHECK
int km_time_week_parse(const char *s, int64_t *monday);

#endif /* KM_TIME_H */
