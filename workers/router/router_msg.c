/*
 * router_msg.c - one consumed message: parse it strictly (it is untrusted
 * input even on our own topic), route it and produce the dispatch message
 * into the open transaction; an invalid message goes to the dead-letter
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

static int router_msg_dlq(struct router *r, const rd_kafka_message_t *rkm,
                          const char *reason, const char *detail, char *err,
                          size_t errlen)
{
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        json_t *origin = json_pack("{s:s,s:i,s:I}", "topic", topic,
                                   "partition", (int)rkm->partition, "offset",
                                   (json_int_t)rkm->offset);
        size_t keep = rkm->payload ? rkm->len : 0;
        char *msg;
        int rc;

        /* the original stays under the broker's message size (as
         * komek-intake does): a message near the broker's limit would
         * make its dead letter too large, and the router exit on it */
        if (keep > (size_t)r->conf->max_message_bytes) {
                keep = (size_t)r->conf->max_message_bytes;
                json_object_set_new(origin, "truncated", json_true());
        }
        msg = km_dlq_build(reason, detail, rkm->payload ? rkm->payload : "",
                           keep, origin);

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
                            (int)rkm->partition, (long long)rkm->offset,
                            reason);
        }
        return rc;
}

int router_msg_handle(struct router *r, const rd_kafka_message_t *rkm,
                      char *err, size_t errlen)
{
        char reason[KM_REASON_LEN], detail[256];
        struct km_complaint *c = NULL;
        struct km_route route;
        int64_t now = km_wall_s();
        char *msg;
        int rc;

        rc = km_complaint_parse(rkm->payload ? rkm->payload : "",
                                rkm->payload ? rkm->len : 0, r->conf,
                                KM_CPL_STRICT, now, &c, reason, detail,
                                sizeof(detail));
        if (rc == KM_EINPUT)
                return router_msg_dlq(r, rkm, reason, detail, err, errlen);
        if (rc)
                return km_err_set(err, errlen, rc, "parse: %s", detail);
        km_route_complaint(r->dir, r->conf, c, &route);
        msg = km_route_dispatch(&route, c, 1, NULL, now, rkm->payload, rkm->len);
        rc = km_kafka_produce(r->producer, r->conf->topic_dispatch,
                              RD_KAFKA_PARTITION_UA, route.org->id, msg,
                              strlen(msg), &r->pcounts, 30000, err, errlen);
        free(msg);
        if (rc == KM_EINPUT) {
                rc = router_msg_dlq(r, rkm, "too_large",
                                    "dispatch message too large", err, errlen);
        } else if (rc == 0) {
                r->st.dispatched++;
                r->m.n_out++;
                if (route.org == km_dir_triage(r->dir))
                        r->st.triaged++;
                km_log_debug("%s[%d]@%lld: %s -> %s (%s)",
                             rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
                             (long long)rkm->offset, c->id, route.org->id,
                             route.reason);
        }
        km_complaint_destroy(c);
        return rc;
}
