/*
 * router_msg.c - one consumed message: parse it strictly (it is untrusted
 * input even on our own topic), route it and hand the dispatch message to
 * the duplicate check (router_dedup.c), which produces it into the open
 * transaction; an invalid message goes to the dead-letter
 * topic, in the same transaction, with its machine-readable reason.
 * Logs carry topic, partition, offset and complaint id, never contact or
 * free text.
 */
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_log.h"
#include "km_route.h"
#include "km_util.h"
#include "router.h"

int router_msg_dlq(struct router *r, const struct router_origin *o,
                   const char *reason, const char *detail, char *err,
                   size_t errlen)
{
        const char *topic = r->conf->topic_complaints;
        json_t *origin = json_pack("{s:s,s:i,s:I}", "topic", topic,
                                   "partition", (int)o->partition, "offset",
                                   (json_int_t)o->offset);
        size_t keep = o->payload ? o->len : 0;
        char *msg;
        int rc;

        /* the original stays under the broker's message size (as
         * komek-intake does): a message near the broker's limit would
         * make its dead letter too large, and the router exit on it */
        if (keep > (size_t)r->conf->max_message_bytes) {
                keep = (size_t)r->conf->max_message_bytes;
                json_object_set_new(origin, "truncated", json_true());
        }
        msg = km_dlq_build(reason, detail, o->payload ? o->payload : "", keep,
                           origin);

        rc = km_kafka_produce(r->producer, r->conf->topic_dlq,
                              RD_KAFKA_PARTITION_UA, NULL, msg, strlen(msg),
                              &r->pcounts, 30000, err, errlen);
        free(msg);
        if (rc == KM_EINPUT) /* even the dead letter is too large */
                rc = KM_EFATAL;
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
                                r->conf, KM_CPL_STRICT, now, &c, reason,
                                detail, sizeof(detail));
        if (rc == KM_EINPUT)
                return router_msg_dlq(r, &o, reason, detail, err, errlen);
        if (rc)
                return km_err_set(err, errlen, rc, "parse: %s", detail);
        /* a resubmission seen by this process: not even routed */
        if (router_dedup_seen(r, c->id, rkm->partition, rkm->offset)) {
                km_complaint_destroy(c);
                return 0;
        }
        km_route_complaint(r->dir, r->conf, c, &route);
        msg = km_route_dispatch(&route, c, 1, NULL, now, rkm->payload, o.len);
        /* produced after the duplicate check (router_dedup.c) */
        router_dedup_pend(r, c->id, &route, route.org == km_dir_triage(r->dir),
                          msg, o.len, rkm->partition, rkm->offset);
        km_complaint_destroy(c);
        return 0;
}
