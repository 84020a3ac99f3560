/*
 * wt.h - the fixture of komek-web's tests (tests/web/): a small generated
 * city routed by the real komek-router and komek-tasksink into a fresh
 * schema (tests/routing/rt.c), analytics facts derived from those tasks
 * (as komek-analytics would count them), logins made with
 * `komek-web users add`, and komek-web itself on a free port.
 */
#ifndef WT_H
#define WT_H

#include "../routing/rt.h"

struct wt {
        struct rt rt;
        int web_pid, port;
        char weblog[512];        /* komek-web's log */
        char org[64], other[64]; /* the busiest KSK and another one */
        char week[16];           /* ISO week of the latest data */
};

/** @brief Schema, topics, komek-gen (complaints over the last `days`
 *  days), directory, routing into tasks.  @returns 0 or -1. */
int wt_setup(struct wt *t, const char *what, int complaints, int days);

/** @brief Analytics facts and aggregates from the tasks (some resolved,
 *  votes, escalations), as komek-analytics and komek-escalator would
 *  write them.  @returns 0 or -1. */
int wt_analytics(struct wt *t);

/** @brief komek-web users add login (org NULL: analyst) with password.
 *  @returns the exit status. */
int wt_user(struct wt *t, const char *login, const char *org,
            const char *password);

/** @brief Run `komek-web users ARGS...` (NULL-terminated); output to out
 *  (NULL-able).  @returns the exit status. */
int wt_users(struct wt *t, char **out, ...);

/** @brief Start komek-web on a free port with extra arguments
 *  (NULL-terminated, NULL-able).  @returns 0 or -1. */
int wt_web_start(struct wt *t, const char *const *extra);

/** @brief Stop komek-web with SIGTERM.  @returns its exit status. */
int wt_web_stop(struct wt *t);

/** @brief One-value query with one optional text parameter into buf. */
int wt_q(struct wt *t, const char *sql, const char *arg, char *buf, size_t len);
long wt_qn(struct wt *t, const char *sql, const char *arg);

void wt_teardown(struct wt *t);

#endif
