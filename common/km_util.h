/*
 * km_util.h - allocation that cannot fail (out of memory is fatal, as
 * Postfix mymalloc), clocks and small string helpers.
 */
#ifndef KM_UTIL_H
#define KM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** @brief malloc that aborts the process on out of memory. */
void *km_xmalloc(size_t n);
/** @brief calloc that aborts on out of memory. */
void *km_xcalloc(size_t nmemb, size_t n);
/** @brief realloc that aborts on out of memory. @p p NULL-able. */
void *km_xrealloc(void *p, size_t n);
/** @brief strdup that aborts on out of memory. @p s NULL-able (returns NULL). */
char *km_xstrdup(const char *s);
/** @brief strndup that aborts on out of memory. */
char *km_xstrndup(const char *s, size_t n);
/** @brief asprintf that aborts on out of memory. */
char *km_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** @brief Monotonic clock in milliseconds (for deadlines). */
int64_t km_now_ms(void);
/** @brief Wall clock, seconds since the epoch. */
int64_t km_wall_s(void);

/** @brief Format t (epoch seconds) as RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ".
 *  @p buf must hold 21 bytes. */
void km_fmt_rfc3339(int64_t t, char *buf, size_t len);

/** @brief Parse an RFC 3339 timestamp (Z or +hh:mm, optional fraction).
 *  @returns 0 and *out (epoch seconds, UTC), or -1. */
int km_parse_rfc3339(const char *s, int64_t *out);

#endif /* KM_UTIL_H */
