/*
 * admin_topics.c - create komek's topics with the configured partition
 * counts (replication factor 1 on the local broker; see deploy/ for
 * production).  Existing topics are left alone.
 */
#include "admin.h"
#include "km_kafka.h"
#include "km_log.h"

int admin_topics(const struct km_conf *conf, const struct admin_conf *ac,
                 char *err, size_t errlen)
{
        const struct {
                const char *name;
                int64_t parts;
        } t[] = {
                {conf->topic_complaints, conf->part_complaints},
                {conf->topic_dlq, conf->part_dlq},
                {conf->topic_dispatch, conf->part_dispatch},
                {conf->topic_task_events, conf->part_task_events},
                {conf->topic_votes, conf->part_votes},
                {conf->topic_escalations, conf->part_escalations},
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                int r = km_kafka_topic_create(conf, t[i].name, (int)t[i].parts,
                                              (int)ac->timeout_ms, err, errlen);

                if (r)
                        return r;
                km_log_info("topics: %s (%lld partitions) ready", t[i].name,
                            (long long)t[i].parts);
        }
        return 0;
}
