/*
 * km_log.c - see km_log.h.  Process-wide settings are written once at
 * start by km_log_init, before any thread exists.
 */
#include "km_log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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

void km_log(enum km_log_level level, const char *fmt, ...)
{
        char msg[2048], ts[40];
        struct timeval tv;
        struct tm tm;
        va_list ap;

        if (level < km_log_min)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        for (char *p = msg; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        if (km_log_json) {
                json_t *o = json_pack("{s:s+,s:s,s:s,s:i,s:s}", "time", ts,
                                      "Z", "level", km_log_names[level],
                                      "program", km_log_prog, "pid",
                                      (int)getpid(), "msg", msg);
                char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;

                if (line)
                        fprintf(stderr, "%s\n", line);
                free(line);
                json_decref(o);
        } else {
                fprintf(stderr, "%s.%03dZ %s[%d] %s: %s\n", ts,
                        (int)(tv.tv_usec / 1000), km_log_prog, (int)getpid(),
                        km_log_names[level], msg);
        }
}
