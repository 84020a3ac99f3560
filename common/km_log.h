/*
 * km_log.h - one line per event on stderr (stdout is for data).
 *
 * Context first (program, topic/partition/offset, complaint id), as
 * PgBouncer's slog_* do.  Optional JSON lines for log shippers.  Callers
 * must never pass a resident's name, phone or free text.
 */
#ifndef KM_LOG_H
#define KM_LOG_H

#include "km_err.h"

enum km_log_level {
        KM_LOG_DEBUG = 0,
        KM_LOG_INFO = 1,
        KM_LOG_WARN = 2,
        KM_LOG_ERROR = 3,
};

/** @brief Set the program name, level and format for this process. */
void km_log_init(const char *prog, enum km_log_level level, int json);

/** @brief Parse "debug|info|warn|error". @returns 0 or -1. */
int km_log_level_parse(const char *s, enum km_log_level *out);

/** @brief Emit one event at level.  With json, one object per line:
 *  {"time":"...Z","level":..,"program":..,"pid":..,"event":"log","msg":..};
 *  control characters become spaces, invalid UTF-8 bytes '?'. */
void km_log(enum km_log_level level, const char *fmt, ...) KM_PRINTF(2, 3);

/** @brief The same with a machine-readable event name ("batch_committed",
 *  "kafka_auth_failed") in the "event" field (text: "level: event: msg"). */
void km_log_event(enum km_log_level level, const char *event, const char *fmt,
                  ...) KM_PRINTF(3, 4);

#define km_log_debug(...) km_log(KM_LOG_DEBUG, __VA_ARGS__)
#define km_log_info(...) km_log(KM_LOG_INFO, __VA_ARGS__)
#define km_log_warn(...) km_log(KM_LOG_WARN, __VA_ARGS__)
#define km_log_error(...) km_log(KM_LOG_ERROR, __VA_ARGS__)

#endif /* KM_LOG_H */
