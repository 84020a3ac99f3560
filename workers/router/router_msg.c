/*
 * router_msg.c - one consumed message: parse it strictly (it is untrusted
 * input even on our own topic), route it and hand the dispatch message to
 * the duplicate check (router_dedup.c), which produces it into the open
 * transaction; an invalid message goes to the dead-letter
 * topic, in the same transaction and by the same hand, with its
 * machine-readable reason.
 * Logs carry topic, partition, offset and complaint id, never contact or
 * free text.
 */
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_dlq.h"
#include "km_log.h"
#include "km_route.h"
#include "km_util.h"
#include "router.h"

int router_msg_dlq(struct router *r, const struct router_origin *o,
                   const char *reason, const char *detail, char *err,
                   size_t errlen)
{
        const char *topic = r->conf->topic_complaints;
        struct km_dlq_origin from = {topic, o->partition, o->offset, NULL};
        int rc;

        /* in the open transaction; the original is cut to the broker's
         * message size (as komek-intake does): a message near the broker's
         * limit would make its dead letter too large, and the router exit
         * on it */
        rc = km_dlq_produce(r->producer, r->conf, "komek-router",
                            "VALUE_CONVERTER", &from, reason, detail,
                            o->payload, o->payload ? o->len : 0, &r->pcounts,
                            30000, err, errlen);
        if (rc == 0) {
                r->st.dlq++;
                router_metrics_dlq(r, reason);
                km_log_warn("%s[%d]@%lld: dead-lettered: %s", topic,
                            (int)o->partition, (long long)o->offset, reason);
        }
        return rc;
}

int router_msg_handle(struct router *r, const rd_kafka_message_t *rkm,
                      char *err, size_t errlen)
{
        char reason[KM_REASON_LEN], detail[256];
        struct router_origin o = {rkm->partition, rkm->offset, rkm->payload,
                                  rkm->payload ? rkm->len : 0};
        struct km_complaint *c = NULL;
        struct km_route route;
        int64_t now = km_wall_s();
        char *msg;
        int rc;

        rc = km_complaint_parse(rkm->payload ? rkm->payload : "", o.len,
                                r->conf, KM_CPL_STRICT, now, &c, reason, detail,
                                sizeof(detail));
        if (rc == KM_EINPUT) {
                router_dedup_pend_dlq(r, &o, reason, detail);
                return 0;
        }
        if (rc)
                return km_err_set(err, errlen, rc, "parse: %s", detail);
        /* a resubmission seen by this process: not even routed */
        if (router_dedup_seen(r, c->id, rkm->partition, rkm->offset)) {
                km_complaint_destroy(c);
                return 0;
        }
        km_route_complaint(r->dir, r->conf, c, &route);
        km_dir_hist_route(r->hist, r->dir, r->conf, c, &route); /* on the day */
        msg = km_route_dispatch(&route, c, 1, NULL, now, rkm->payload, o.len);
        /* produced after the duplicate check (router_dedup.c) */
        router_dedup_pend(r, c->id, &route, route.org == km_dir_triage(r->dir),
                          msg, o.len, rkm->partition, rkm->offset);
        km_complaint_destroy(c);
        return 0;
}
