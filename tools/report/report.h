/*
 * report.h - private header of komek-report: the weekly summary of the
 * analytics tables for one ISO week, in Russian and English, as text,
 * JSON, CSV or one self-contained HTML file with inline SVG charts.
 */
#ifndef REPORT_H
#define REPORT_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#include "km_conf.h"
#include "km_err.h"

struct report_conf {
        char *week;   /* "2025-W29"; NULL: the last complete ISO week */
        char *format; /* text, json, csv, html */
        char *lang;   /* ru, en, both */
        char *out;    /* file; NULL or "-": stdout */
        int64_t top;  /* rows in the top lists */
        int64_t worst_min_complaints;
        int64_t chart_weeks;
};

struct rp_row {
        char *code, *ru, *en;
        long n, prev, ytd;
        double wow, share; /* NAN when not defined */
};

struct rp_ksk {
        char *id, *name, *district;
        long apartments, n, breaches;
        double per100;
};

struct rp_rate {
        char *id, *name, *district, *reason;
        int rated;
        long complaints, votes, rank_city, rank_district;
        double per100, res_med, breach, repeat, avg_vote, score; /* NAN */
};

struct rp_data {
        char iso_week[16];
        int64_t ws, we; /* Monday and Sunday, days since 1970-01-01 */
        int year;
        long ytd, n, prev;
        double wow;
        struct rp_row *cats, *districts, *channels;
        size_t ncats, ndistricts, nchannels;
        struct rp_ksk *worst;
        size_t nworst;
        long esc[3]; /* sla_breach, systemic, inefficient_ksk */
        size_t nweeks;
        int64_t *week_starts;
        long *series;      /* [nweeks][ncats], categories as in cats */
        long *week_totals; /* [nweeks] */
        char rating_month[8];
        struct rp_rate *rating;
        size_t nrating, nrated;
};

/* report_data.c */
int report_load(PGconn *conn, const struct report_conf *rc, int64_t monday,
                struct rp_data *d, char *err, size_t errlen) KM_MUSTCHECK;
void report_data_free(struct rp_data *d);

/* report_text.c */
const char *report_lang_pick(int ru, const char *r, const char *e);
void report_num(char *buf, size_t len, long n, int ru);
void report_dec(char *buf, size_t len, double x, int places, int ru);
void report_pct(char *buf, size_t len, double x, int ru);
void report_date(char *buf, size_t len, int64_t day, int ru);
void report_text(FILE *fp, const struct rp_data *d, int ru);
void report_json(FILE *fp, const struct rp_data *d);
void report_csv(FILE *fp, const struct rp_data *d);

/* report_html.c */
void report_html(FILE *fp, const struct rp_data *d, const char *lang);

#endif /* REPORT_H */
