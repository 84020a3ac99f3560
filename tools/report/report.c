/*
 * report.c - komek-report: the weekly summary of the analytics tables for
 * one ISO week (default: the last complete one, in the city's local time)
 * in the shape of the city's bulletin: since 1 January, this week and the
 * change against the week before, top categories, districts, channels,
 * worst KSKs, escalations opened, the KSK rating.
 *
 *   komek-report [--week 2025-W29] [--format text|json|csv|html]
 *                [--lang ru|en|both] [--out FILE]
 *
 * Read-only.  Exit: 0 ok, 1 runtime failure, 2 usage or config error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_log.h"
#include "km_main.h"
#include "km_pg.h"
#include "km_time.h"
#include "km_util.h"
#include "report.h"

#define RP_OFF(f) offsetof(struct report_conf, f)

static const struct km_conf_key report_keys[] = {
        {"report.week", KM_CT_STR, NULL, 0, 16, RP_OFF(week), "week",
         "ISO week, e.g. 2025-W29 (default: the last complete week)"},
        {"report.format", KM_CT_STR, "text", 1, 8, RP_OFF(format), "format",
         "text, json, csv or html"},
        {"report.lang", KM_CT_STR, "both", 1, 8, RP_OFF(lang), "lang",
         "ru, en or both (text and html)"},
        {"report.out", KM_CT_STR, NULL, 0, 4096, RP_OFF(out), "out",
         "write to this file instead of stdout"},
        {"report.top", KM_CT_INT, "5", 1, 100, RP_OFF(top), "top",
         "rows in the worst-KSK list"},
        {"report.worst_min_complaints", KM_CT_INT, "3", 1, 100000,
         RP_OFF(worst_min_complaints), NULL,
         "a KSK needs this many complaints in the week to be listed as worst"},
        {"report.chart_weeks", KM_CT_INT, "52", 2, 520, RP_OFF(chart_weeks),
         NULL, "weeks shown in the HTML charts"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void report_usage(const struct km_conf *conf)
{
        fprintf(stdout, "usage: komek-report [--week YYYY-Www] [--format "
                        "text|json|csv|html]\n"
                        "                    [--lang ru|en|both] [--out FILE]\n"
                        "  The weekly summary of the analytics tables.\n");
        km_conf_usage(conf, stdout);
}

/* The Monday of the last complete ISO week in local time. */
static int report_default_week(PGconn *conn, int64_t *monday, char *err,
                               size_t errlen)
{
        PGresult *res = NULL;
        int64_t off, today;
        int r = km_pg_exec(conn, "SELECT utc_offset_hours FROM an_params", 0,
                           NULL, &res, err, errlen);

        if (r)
                return r;
        off = (int64_t)atof(PQgetvalue(res, 0, 0));
        PQclear(res);
        today = (km_wall_s() + off * 3600) / 86400;
        *monday = today - (((today + 3) % 7) + 7) % 7 - 7;
        return 0;
}

static int report_run(const struct km_conf *conf, const struct report_conf *rc,
                      char *err, size_t errlen)
{
        PGconn *conn = NULL;
        FILE *fp = stdout;
        struct rp_data d;
        int64_t monday;
        int r;

        memset(&d, 0, sizeof(d));
        conn = km_pg_connect(km_pg_read_conninfo(conf), "komek-report",
                             (int)conf->pg_connect_timeout_s, err, errlen);
        if (conn == NULL)
                return KM_EFATAL;
        if (rc->week)
                r = km_time_week_parse(rc->week, &monday)
                            ? km_err_set(err, errlen, KM_ECONFIG,
                                         "--week %s: expected YYYY-Www",
                                         rc->week)
                            : 0;
        else
                r = report_default_week(conn, &monday, err, errlen);
        if (r == 0)
                r = report_load(conn, rc, monday, &d, err, errlen);
        if (r)
                goto cleanup;
        if (rc->out && strcmp(rc->out, "-")) {
                fp = fopen(rc->out, "w");
                if (fp == NULL) {
                        r = km_err_set(err, errlen, KM_EFATAL,
                                       "%s: cannot write", rc->out);
                        goto cleanup;
                }
        }
        if (!strcmp(rc->format, "json")) {
                report_json(fp, &d);
        } else if (!strcmp(rc->format, "csv")) {
                report_csv(fp, &d);
        } else if (!strcmp(rc->format, "html")) {
                report_html(fp, &d, rc->lang);
        } else {
                if (strcmp(rc->lang, "en"))
                        report_text(fp, &d, 1);
                if (!strcmp(rc->lang, "both"))
                        fputs("\n", fp);
                if (strcmp(rc->lang, "ru"))
                        report_text(fp, &d, 0);
        }
        if (fp != stdout && fclose(fp) != 0)
                r = km_err_set(err, errlen, KM_EFATAL, "%s: write failed",
                               rc->out);
        else if (fp == stdout && fflush(stdout) != 0)
                r = km_err_set(err, errlen, KM_EFATAL, "stdout: write failed");
cleanup:
        report_data_free(&d);
        PQfinish(conn);
        return r;
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct report_conf rc;
        enum km_log_level lvl = KM_LOG_INFO;
        char err[512];
        int r;

        memset(&rc, 0, sizeof(rc));
        if (km_main_conf(&conf, "komek-report", report_keys, &rc, argc, argv,
                         report_usage, KM_MAIN_ARGS, &r))
                return r;
        if (conf.nargs != 0 ||
            (strcmp(rc.format, "text") && strcmp(rc.format, "json") &&
             strcmp(rc.format, "csv") && strcmp(rc.format, "html")) ||
            (strcmp(rc.lang, "ru") && strcmp(rc.lang, "en") &&
             strcmp(rc.lang, "both"))) {
                fprintf(stderr, "komek-report: --format text|json|csv|html, "
                                "--lang ru|en|both; see --help\n");
                km_conf_destroy(&conf);
                return 2;
        }
        km_log_level_parse(conf.log_level, &lvl);
        km_log_init("komek-report", lvl, conf.log_json);
        r = report_run(&conf, &rc, err, sizeof(err));
        if (r)
                km_log_error("%s", err);
        km_conf_destroy(&conf);
        return r == 0 ? 0 : r == KM_ECONFIG ? 2 : 1;
}
