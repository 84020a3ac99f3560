/*
 * expect.h - the analytics figures recomputed from the test's own model
 * of the published input (fx.h), in C, without SQL: what the views and
 * escalations must show.
 */
#ifndef EXPECT_H
#define EXPECT_H

#include <stddef.h>
#include <stdint.h>

#include "fx.h"

int64_t ex_days(int y, int m, int dd);
int64_t ex_month_start(int64_t day);
/* percentile_cont(f) of v[0..n) (sorted in place); NAN when n == 0 */
double ex_pct(double *v, size_t n, double f);
/* round half away from zero to `places` decimals, as numeric round() */
double ex_round(double x, int places);

/* The current (last) task of a complaint. */
const struct fx_task *ex_current(const struct fx_cpl *c);
/* SLA breached as of now: not rejected, not resolved by due, due < now */
int ex_breached(const struct fx_task *t, int64_t now);

struct ex_org {
        char id[24];
        long complaints, breaches, rejected, open, overdue, apartments;
        double ack_med, ack_p90, res_med, res_p90; /* NAN: none */
};
size_t ex_org_stats(const struct fx_data *d, int64_t now, struct ex_org **out);

struct ex_rating {
        int64_t month; /* days of the first of the month */
        char ksk[24];
        long complaints, votes, apartments;
        double per100, res_med, breach_rate, repeat_rate, avg_vote; /* NAN */
        double disputed_rate; /* NAN without resolutions */
        int rated;
        const char *reason; /* NULL when rated */
        double s[6], score; /* ..., votes, disputed */
};
struct ex_rating_params {
        double w[6]; /* complaints, resolution, sla, repeat, votes,
                      * disputed */
        long min_complaints, min_votes;
        int repeat_days;
};
size_t ex_rating(const struct fx_data *d, int64_t now,
                 const struct ex_rating_params *p, struct ex_rating **out);

enum { EX_SLA, EX_SYSTEMIC, EX_INEFFICIENT };
struct ex_esc {
        int kind;
        char subject[200]; /* sla: complaint id; systemic: building|category|
                            * trigger time; inefficient: ksk|YYYY-MM */
};
struct ex_esc_params {
        int systemic_count, window_hours;
        double factor;
        long min_apartments, min_complaints;
        int months; /* inefficient: months judged together */
};
size_t ex_escalations(const struct fx_data *d, int64_t now,
                      const struct ex_esc_params *p, struct ex_esc **out);

#endif /* EXPECT_H */
