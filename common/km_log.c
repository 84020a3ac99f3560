/*
 * km_log.c - see km_log.h.  Process-wide settings are written once at
 * start by km_log_init, before any thread exists.
 */
#include "km_log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "km_utf8.h"

static const char *km_log_prog = "komek";
static enum km_log_level km_log_min = KM_LOG_INFO;
static int km_log_json;

static const char *const km_log_names[] = {"debug", "info", "warn", "error"};

void km_log_init(const char *prog, enum km_log_level level, int json)
{
        km_log_prog = prog;
        km_log_min = level;
        km_log_json = json;
}

int km_log_level_parse(const char *s, enum km_log_level *out)
{
        for (int i = 0; i < 4; i++) {
                if (strcmp(s, km_log_names[i]) == 0) {
                        *out = (enum km_log_level)i;
                        return 0;
                }
        }
        return -1;
}

/* Make msg printable on one line and valid UTF-8 (jansson refuses invalid
 * UTF-8, and truncation can cut a character): control characters become
 * spaces, invalid bytes '?'. */
static void km_log_clean(char *msg)
{
        size_t len = strlen(msg), i = 0, n;

        while (i < len) {
                unsigned char c = (unsigned char)msg[i];

                n = c < 0x80                 ? 1
                    : c >= 0xc2 && c <= 0xdf ? 2
                    : c >= 0xe0 && c <= 0xef ? 3
                    : c >= 0xf0 && c <= 0xf4 ? 4
                                             : 0;
                if (n == 1) {
                        if (c < 0x20 || c == 0x7f)
                                msg[i] = ' ';
                        i++;
                } else if (n > 1 && i + n <= len &&
                           km_utf8_valid(msg + i, n, NULL)) {
                        i += n;
                } else {
                        msg[i++] = '?';
                }
        }
}

static void km_log_v(enum km_log_level level, const char *event,
                     const char *fmt, va_list ap)
{
        char msg[2048], ts[40];
        struct timeval tv;
        struct tm tm;

        if (level < km_log_min)
                return;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        km_log_clean(msg);
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03dZ",
                 (int)(tv.tv_usec / 1000));
        if (km_log_json) {
                /* {time, level, program, pid, event, msg}; jansson escapes */
                json_t *o =
                        json_pack("{s:s,s:s,s:s,s:i,s:s,s:s}", "time", ts,
                                  "level", km_log_names[level], "program",
                                  km_log_prog, "pid", (int)getpid(), "event",
                                  event ? event : "log", "msg", msg);
                char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;

                if (line)
                        fprintf(stderr, "%s\n", line);
                free(line);
                json_decref(o);
        } else if (event) {
                fprintf(stderr, "%s %s[%d] %s: %s: %s\n", ts, km_log_prog,
                        (int)getpid(), km_log_names[level], event, msg);
        } else {
                fprintf(stderr, "%s %s[%d] %s: %s\n", ts, km_log_prog,
                        (int)getpid(), km_log_names[level], msg);
        }
}

void km_log(enum km_log_level level, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        km_log_v(level, NULL, fmt, ap);
        va_end(ap);
}

void km_log_event(enum km_log_level level, const char *event, const char *fmt,
                  ...)
{
        va_list ap;

        va_start(ap, fmt);
        km_log_v(level, event, fmt, ap);
        va_end(ap);
}
