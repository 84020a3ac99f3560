/*
 * wtest.h - shared by test_web.c and test_web_pages.c: the fixture, the
 * passwords of its logins, HTTP helpers on the running komek-web (port
 * t.port) and the tests of test_web_pages.c.
 */
#ifndef WTEST_H
#define WTEST_H

#include "wclient.h"
#include "wt.h"

#define PW_A "correct horse battery A"
#define PW_B "correct horse battery B"
#define PW_N "analyst password 123"

extern struct wt t; /* staff.a: t.org, staff.b: t.other, analyst1 */

/** @brief One request; fails the test when there is no answer. */
int w_req(struct wc_jar *jar, const char *method, const char *path,
          const char *body, const char *extra, struct wc_resp *r);
/** @brief GET; @returns the status. */
int w_get(struct wc_jar *jar, const char *path);
/** @brief A fresh jar, GET /login, POST; @returns the POST's status. */
int w_login(struct wc_jar *jar, const char *user, const char *pw);
/** @brief The session's CSRF token from a page. */
void w_csrf_of(struct wc_jar *jar, const char *path, char *tok, size_t len);
/** @brief POST a form; @returns the status. */
int w_post(struct wc_jar *jar, const char *path, const char *body,
           const char *extra);
/** @brief The number in id="name">N< of a page (fails when missing). */
long w_number(const char *html, const char *id);
/** @brief Run a statement on the fixture (fails on error). */
void w_sql(const char *sql, const char *arg);

/* test_web_pages.c */
void test_inbox_list(void **state);
void test_access_control(void **state);
void test_changes_exactly_once(void **state);
void test_escaping(void **state);
void test_dashboard(void **state);
void test_web_reopened(void **state);
void test_web_undelivered(void **state);
void test_web_handed_over(void **state);

/* test_web_incident.c */
void test_web_incident(void **state);
void test_web_incident_cache(void **state);
void test_web_pg_jit(void **state);

#endif
