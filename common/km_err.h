/*
 * km_err.h - the one error convention of komek (STYLE.md).
 *
 * A call that can fail returns int: 0 or a negative KM_E* code, and writes
 * one line into the caller's (char *err, size_t errlen) buffer, as
 * librdkafka's errstr contract does.  The code tells the caller what to do
 * with the item at hand:
 *   KM_EINPUT  the input is bad: dead-letter it with err as the reason.
 *   KM_ERETRY  a transient failure: abort the batch and retry it.
 *   KM_EFATAL  cannot go on: stop cleanly, exit 1.
 */
#ifndef KM_ERR_H
#define KM_ERR_H

#include <stddef.h>

#define KM_OK 0
#define KM_EINPUT (-1)
#define KM_ERETRY (-2)
#define KM_EFATAL (-3)
#define KM_ECONFIG (-4) /* configuration or usage error: exit 2 */

#define KM_MUSTCHECK __attribute__((warn_unused_result))
#define KM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/** @brief Write a formatted one-line message into err (NULL-able).
 *  @returns code, so callers can `return km_err_set(err, len, KM_EINPUT, ...)`. */
int km_err_set(char *err, size_t errlen, int code, const char *fmt, ...)
        KM_PRINTF(4, 5);

/** @brief Name of a KM_E* code ("input", "retry", "fatal", "config", "ok"). */
const char *km_err_name(int code);

#endif /* KM_ERR_H */
