/*
 * km_err.c - error buffer helper; see km_err.h for the convention.
 */
#include "km_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int km_err_set(char *err, size_t errlen, int code, const char *fmt, ...)
{
        va_list ap;
        char *nl;

        if (err == NULL || errlen == 0)
                return code;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        /* one line: a message never spans lines in the logs */
        while ((nl = strpbrk(err, "\r\n")) != NULL)
                *nl = ' ';
        return code;
}

const char *km_err_name(int code)
{
        switch (code) {
        case KM_OK:
                return "ok";
        case KM_EINPUT:
                return "input";
        case KM_ERETRY:
                return "retry";
        case KM_EFATAL:
                return "fatal";
        case KM_ECONFIG:
                return "config";
        default:
                return "unknown";
        }
}
