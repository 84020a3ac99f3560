/*
 * inbox_change.c - `ack`, `resolve`, `reject`: one checked state change
 * (km_task_apply: row, task-events message and re-route in one
 * transaction), then the outbox rows of that complaint are published at
 * once; what this process fails to publish, komek-tasksink relays.
 */
#include <stdio.h>
#include <string.h>

#include "inbox.h"
#include "km_dir.h"
#include "km_kafka.h"
#include "km_log.h"
#include "km_outbox.h"
#include "km_task.h"

static int inbox_publish(PGconn *conn, const struct km_conf *conf,
                         const char *id)
{
        struct km_kafka_counts counts = {0};
        char err[512];
        rd_kafka_t *rk =
                km_kafka_producer_new(conf, NULL, &counts, err, sizeof(err));
        int n = 0, r;

        if (rk == NULL) {
                km_log_warn("publish: %s (komek-tasksink will relay)", err);
                return 0;
        }
        r = km_outbox_publish(conn, rk, &counts, conf, id, 0, 100, &n, err,
                              sizeof(err));
        if (r)
                km_log_warn("publish: %s (komek-tasksink will relay)", err);
        rd_kafka_destroy(rk);
        return 0;
}

int inbox_change(PGconn *conn, const struct km_conf *conf,
                 const struct inbox_conf *ic, const char *cmd, const char *id,
                 char *err, size_t errlen)
{
        struct km_task_change ch;
        struct km_task_result res;
        struct km_dir *dir = NULL;
        int r;

        memset(&ch, 0, sizeof(ch));
        ch.org_id = ic->org;
        ch.complaint_id = id;
        if (strcmp(cmd, "ack") == 0 || strcmp(cmd, "acknowledge") == 0) {
                ch.action = KM_TASK_ACK;
                ch.note = ic->note;
        } else if (strcmp(cmd, "resolve") == 0) {
                ch.action = KM_TASK_RESOLVE;
                ch.note = ic->note;
        } else {
                ch.action = KM_TASK_REJECT;
                ch.note = ic->reason;
                ch.category = ic->category;
                ch.building_id = ic->building;
                if ((r = km_dir_load(conn, &dir, err, errlen)))
                        return r;
        }
        r = km_task_apply(conn, conf, dir, &ch, &res, err, errlen);
        km_dir_destroy(dir);
        if (r)
                return r;
        if (ch.action == KM_TASK_REJECT)
                printf("%s rejected; re-routed to %s as attempt %d (%s)\n", id,
                       res.new_org, res.attempt, res.reason);
        else
                printf("%s %s\n", id, res.status);
        if (ic->publish)
                inbox_publish(conn, conf, id);
        return 0;
}
