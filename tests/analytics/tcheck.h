/*
 * tcheck.h - cmocka checks of the analytics tables and views against
 * expect.c's recomputation (every failure says got X, want Y).
 */
#ifndef TCHECK_H
#define TCHECK_H

#include <libpq-fe.h>

#include "expect.h"
#include "fx.h"

void tc_init(PGconn *conn);
void tc_pause_ms(int ms);
/* lines of the file log containing s (-1: cannot be read) */
int tc_log_lines(const char *log, const char *s);
PGresult *tc_query(const char *sql);
void tc_check_facts(const struct fx_data *d);
void tc_check_weekly(const struct fx_data *d);
void tc_check_ytd(const struct fx_data *d);
void tc_check_channels(const struct fx_data *d);
void tc_check_districts(const struct fx_data *d);
void tc_check_orgs(const struct fx_data *d, int64_t now);
void tc_check_rating(const struct fx_data *d, int64_t now,
                     const struct ex_rating_params *p);
void tc_check_no_pii(void);
void tc_check_dlq(struct fx_env *env, int bad);
long tc_fingerprint(void);
long tc_terminate_sessions(const char *group);
long tc_check_escalations(const struct fx_data *d, int64_t now,
                          const struct ex_esc_params *p);
long tc_check_escalation_topic(struct fx_env *env);
/* every escalation_id on the escalations topic, read (read_committed) to
 * its end, sorted (strcmp); free with tc_ids_free */
struct tc_ids {
        char **ids;
        size_t n;
};
void tc_escalation_ids(struct fx_env *env, struct tc_ids *s);
void tc_ids_free(struct tc_ids *s);

#endif /* TCHECK_H */
