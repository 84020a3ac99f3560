/*
 * admin_topics.c - create komek's topics with the configured partition
 * counts, replication factor and min.insync.replicas
 * (topics.replication_factor, topics.min_insync_replicas, per-topic
 * topics.<name>_replication_factor), and check the ones that exist: a topic
 * with fewer partitions or replicas than configured, or another
 * min.insync.replicas, is reported and the command fails, so a cluster is
 * never run on topics that cannot survive a broker.
 */
#include "admin.h"
#include "km_kafka.h"
#include "km_log.h"

int admin_topics(const struct km_conf *conf, const struct admin_conf *ac,
                 char *err, size_t errlen)
{
        const struct {
                const char *name;
                int64_t parts, repl;
        } t[] = {
                {conf->topic_complaints, conf->part_complaints,
                 conf->repl_complaints},
                {conf->topic_dlq, conf->part_dlq, conf->repl_dlq},
                {conf->topic_dispatch, conf->part_dispatch,
                 conf->repl_dispatch},
                {conf->topic_task_events, conf->part_task_events,
                 conf->repl_task_events},
                {conf->topic_votes, conf->part_votes, conf->repl_votes},
                {conf->topic_escalations, conf->part_escalations,
                 conf->repl_escalations},
        };
        char e1[512] = "";
        int bad = 0;

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                int repl = (int)(t[i].repl ? t[i].repl : conf->topic_replicas);
                int min_isr = (int)conf->topic_min_isr;
                struct km_topic_state st;
                int r;

                if (min_isr > repl)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "topic %s: min_insync_replicas %d "
                                          "> replication factor %d: no write "
                                          "could ever succeed",
                                          t[i].name, min_isr, repl);
                r = km_kafka_topic_ensure(conf, t[i].name, (int)t[i].parts,
                                          repl, min_isr, (int)ac->timeout_ms,
                                          &st, err, errlen);
                if (r == KM_ECONFIG) {
                        /* report every topic that differs, then fail */
                        km_log_error("topics: %s", err);
                        if (!bad++)
                                snprintf(e1, sizeof(e1), "%s", err);
                        continue;
                }
                if (r)
                        return r;
                km_log_info("topics: %s ready: %d partitions, %d replicas, "
                            "%d in sync, min.insync.replicas %d",
                            t[i].name, st.partitions, st.min_replicas,
                            st.min_isr_now, st.min_isr_config);
        }
        if (bad)
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "%d topic(s) differ from the configuration; "
                                  "first: %s",
                                  bad, e1);
        return 0;
}
