/*
 * inbox_play.c - `komek-inbox play FILE`: a simulation, for the demo and
 * tests, never for a city's database (refused unless inbox.simulation is
 * true).  It replays what staff did - komek-gen's activity.jsonl, one
 * action per line in time order - through the same checked state changes
 * as `ack`, `resolve` and `reject` (km_task_apply: row, task-events
 * message and re-route in one transaction), each at its recorded time, so
 * response and resolution times, SLA breaches and re-routes are the
 * generated organisations' own.
 *
 * A line: {"source", "external_id", "org", "action": "ack" | "resolve" |
 * "reject", "at": RFC 3339, "note"}.  The complaint id is derived from
 * (source, external_id) as komek-intake derives it.  An action still in
 * the future, or whose task is not in that organisation's inbox (the
 * router sent it elsewhere, e.g. to triage for an address it could not
 * match), is counted, not applied; so is one the task's state refuses.
 * Then the outbox is published (what fails here, komek-tasksink relays).
 * Prints one line: "play: N applied, N future, N elsewhere, N refused".
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inbox.h"
#include "km_dir.h"
#include "km_id.h"
#include "km_kafka.h"
#include "km_log.h"
#include "km_outbox.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_task.h"
#include "km_util.h"

static int inbox_play_line(PGconn *conn, const struct km_conf *conf,
                           const struct km_dir *dir, json_t *o, long *counts,
                           char *err, size_t errlen)
{
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *ext = json_string_value(json_object_get(o, "external_id"));
        const char *act = json_string_value(json_object_get(o, "action"));
        const char *at = json_string_value(json_object_get(o, "at"));
        struct km_task_change ch;
        struct km_task_result res;
        char id[KM_ID_LEN + 1];
        int r;

        memset(&ch, 0, sizeof(ch));
        ch.org_id = json_string_value(json_object_get(o, "org"));
        ch.note = json_string_value(json_object_get(o, "note"));
        if (!src || !ext || !act || !at || !ch.org_id ||
            km_parse_rfc3339(at, &ch.at))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "needs source, external_id, org, action "
                                  "and an RFC 3339 at");
        if (!strcmp(act, "ack"))
                ch.action = KM_TASK_ACK;
        else if (!strcmp(act, "resolve"))
                ch.action = KM_TASK_RESOLVE;
        else if (!strcmp(act, "reject"))
                ch.action = KM_TASK_REJECT;
        else
                return km_err_set(err, errlen, KM_EINPUT,
                                  "action %.20s: ack, resolve or reject", act);
        if (ch.at > km_wall_s()) {
                counts[1]++;
                return 0;
        }
        km_id_derive(src, ext, id);
        ch.complaint_id = id;
        r = km_task_apply(conn, conf, dir, &ch, &res, err, errlen);
        if (r == 0)
                counts[0]++;
        else if (r == KM_EINPUT && strncmp(err, "no task", 7) == 0)
                counts[2]++;
        else if (r == KM_EINPUT)
                counts[3]++;
        else
                return r;
        return 0;
}

int inbox_play(PGconn *conn, const struct km_conf *conf,
               const struct inbox_conf *ic, const char *path, char *err,
               size_t errlen)
{
        long counts[4] = {0}, lineno = 0;
        struct km_dir *dir = NULL;
        struct km_kafka_counts kc = {0};
        rd_kafka_t *rk = NULL;
        FILE *fp = NULL;
        char *line = NULL;
        size_t cap = 0;
        int r = 0, n;

        if (!ic->simulation)
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "play is a simulation (it backdates "
                                  "changes): set inbox.simulation = true, "
                                  "never on a city's database");
        fp = fopen(path, "r");
        if (fp == NULL)
                return km_err_set(err, errlen, KM_EFATAL, "%s: cannot open",
                                  path);
        if ((r = km_dir_load(conn, &dir, err, errlen)))
                goto cleanup;
        /* a simulation: its commits need not wait for the WAL flush (a
         * crash loses the last few; play again) - ten times faster */
        if ((r = km_pg_exec(conn, "SET synchronous_commit TO off", 0, NULL,
                            NULL, err, errlen)))
                goto cleanup;
        while (!km_sig_stop && getline(&line, &cap, fp) > 0) {
                json_t *o = json_loads(line, 0, NULL);

                lineno++;
                if (o == NULL) {
                        r = km_err_set(err, errlen, KM_EINPUT,
                                       "%s:%ld: not JSON", path, lineno);
                        goto cleanup;
                }
                r = inbox_play_line(conn, conf, dir, o, counts, err, errlen);
                json_decref(o);
                if (r) {
                        char e[512];

                        snprintf(e, sizeof(e), "%s", err);
                        km_err_set(err, errlen, r, "%s:%ld: %s", path, lineno,
                                   e);
                        goto cleanup;
                }
        }
        /* what this fails to publish, komek-tasksink's relay sends */
        rk = km_kafka_producer_new(conf, NULL, &kc, err, errlen);
        if (rk) {
                do {
                        n = 0;
                        if (km_outbox_publish(conn, rk, &kc, conf, NULL, 0,
                                              1000, &n, err, errlen)) {
                                km_log_warn("publish: %s (komek-tasksink "
                                            "will relay)",
                                            err);
                                break;
                        }
                } while (n > 0 && !km_sig_stop);
        } else {
                km_log_warn("publish: %s (komek-tasksink will relay)", err);
        }
        printf("play: %ld applied, %ld future, %ld elsewhere, %ld refused\n",
               counts[0], counts[1], counts[2], counts[3]);
cleanup:
        if (rk)
                rd_kafka_destroy(rk);
        km_dir_destroy(dir);
        free(line);
        fclose(fp);
        return r;
}
