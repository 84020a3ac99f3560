/*
 * vote.c - komek-vote: residents' KSK votes (JSON Lines, files or stdin)
 * to the votes topic, keyed by ksk_id.
 *
 *   komek-vote [options] [FILE|-]...
 *
 * Input line: {"ksk_id":"ksk-0042","resident":"<raw id>","month":"2026-07",
 *              "score":1..5,"voted_at":"2026-07-14T09:00:00Z"}
 * Output: docs/messages.md `votes`: the resident becomes resident_hash =
 * hex HMAC-SHA256(vote.salt, resident); the raw id is never published,
 * logged or dead-lettered.  vote_id = km_id_derive("vote", resident_hash
 * "\n" ksk_id "\n" month): one vote per resident per KSK per month, so a
 * second vote in the same month gets the same id (consumers keep the
 * first) and within one run is not published again (one vote per resident, KSK and month) and is counted as a duplicate.
 *
 * SECURITY: input is untrusted; an invalid line goes to complaints.dlq
 * with a reason (invalid_json, invalid_utf8, missing_field:<f>,
 * wrong_type:<f>, invalid_field:<f>, unknown_field:<f>), origin
 * {"file", "line"} (stage "votes" in its headers), and as original the line with
 * "resident" replaced by its hash ("resident_hash") - or no original at
 * all when the line is not a JSON object, since it may hold the raw id.
 *
 * Exit codes: 0 everything read was acknowledged (votes or dead letters);
 * 1 something was not delivered or a file could not be read; 2 usage or
 * configuration (vote.salt missing or shorter than 16 bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_dlq.h"
#include "km_kafka.h"
#include "km_log.h"
#include "km_main.h"
#include "km_sig.h"
#include "km_utf8.h"
#include "km_util.h"
#include "km_vote.h"

struct vote_conf {
        char *salt;
        int64_t delivery_timeout_ms;
};

struct vote {
        const struct km_conf *conf;
        const struct vote_conf *vc;
        rd_kafka_t *rk;
        struct km_kafka_counts counts;
        int64_t read, published, dlq, dups, handed;
        char **seen; /* vote ids published in this run (sorted) */
        size_t nseen;
        int failed_files;
};

static const struct km_conf_key vote_keys[] = {
        {"vote.salt", KM_CT_STR, NULL, 0, 1024,
         offsetof(struct vote_conf, salt), NULL,
         "HMAC key for resident ids (env KOMEK_VOTE_SALT); keep it secret"},
        {"vote.delivery_timeout_ms", KM_CT_INT, "60000", 1000, 3600000,
         offsetof(struct vote_conf, delivery_timeout_ms), "delivery-timeout-ms",
         "how long to retry a broker that is away"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static int vote_send(struct vote *v, const char *topic, const char *key,
                     const char *payload)
{
        char err[512];
        int64_t deadline = km_now_ms() + v->vc->delivery_timeout_ms;

        for (;;) {
                int r = km_kafka_produce(v->rk, topic, RD_KAFKA_PARTITION_UA,
                                         key, payload, strlen(payload),
                                         &v->counts, 500, err, sizeof(err));

                if (r == 0) {
                        v->handed++;
                        return 0;
                }
                if (r != KM_ERETRY || km_sig_stop || v->counts.failed ||
                    km_now_ms() > deadline) {
                        km_log_error("%s", err);
                        return -1;
                }
        }
}

static void vote_dead(struct vote *v, const char *reason, const char *detail,
                      const char *orig, const char *file, int64_t line)
{
        int64_t deadline = km_now_ms() + v->vc->delivery_timeout_ms;
        char err[512];
        int r;

        /* the same body and Kafka Connect headers as every dead letter */
        do {
                r = km_dlq_produce_file(v->rk, v->conf, "komek-vote", "votes",
                                        file, line, reason, detail, orig,
                                        orig ? strlen(orig) : 0, &v->counts,
                                        500, err, sizeof(err));
        } while (r == KM_ERETRY && !km_sig_stop && !v->counts.failed &&
                 km_now_ms() < deadline);
        if (r == 0) {
                v->handed++;
                v->dlq++;
        } else {
                km_log_error("%s", err);
        }
}

static int vote_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 if id was already published in this run; else remembers it. */
static int vote_seen(struct vote *v, const char *id)
{
        const char *key = id;
        size_t lo = 0, hi = v->nseen;

        if (v->nseen > 0 &&
            bsearch(&key, v->seen, v->nseen, sizeof(char *), vote_cmp))
                return 1;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (strcmp(v->seen[mid], id) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        v->seen = km_xrealloc(v->seen, (v->nseen + 1) * sizeof(char *));
        memmove(v->seen + lo + 1, v->seen + lo,
                (v->nseen - lo) * sizeof(char *));
        v->seen[lo] = km_xstrdup(id);
        v->nseen++;
        return 0;
}

static void vote_line(struct vote *v, const char *buf, size_t len,
                      const char *file, int64_t line)
{
        json_t *o;
        json_error_t jerr;
        char reason[KM_REASON_LEN], detail[256], id[KM_ID_LEN];
        char *payload = NULL, *red;

        v->read++;
        if (!km_utf8_valid(buf, len, NULL)) {
                vote_dead(v, "invalid_utf8", "line is not UTF-8", NULL, file,
                          line);
                return;
        }
        o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (o == NULL || !json_is_object(o)) {
                vote_dead(v, o ? "wrong_type:root" : "invalid_json",
                          o ? "a vote must be a JSON object" : jerr.text, NULL,
                          file, line);
                json_decref(o);
                return;
        }
        if (km_vote_build(o, v->vc->salt, km_wall_s() + v->conf->future_skew_s,
                          id, &payload, reason, detail, sizeof(detail))) {
                red = km_vote_redacted(o, v->vc->salt);
                vote_dead(v, reason, detail, red, file, line);
                free(red);
                json_decref(o);
                return;
        }
        if (vote_seen(v, id))
                v->dups++;
        else if (vote_send(v, v->conf->topic_votes,
                           json_string_value(json_object_get(o, "ksk_id")),
                           payload) == 0)
                v->published++;
        free(payload);
        json_decref(o);
}

static int vote_file(struct vote *v, const char *name)
{
        FILE *fp = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
        const char *shown = fp == stdin ? "<stdin>" : name;
        char *buf = NULL, *p;
        size_t cap = 0, len;
        ssize_t n;
        int64_t line = 0;

        if (fp == NULL) {
                km_log_error("%s: cannot open", name);
                return -1;
        }
        while (!km_sig_stop && !v->counts.failed &&
               (n = getline(&buf, &cap, fp)) >= 0) {
                line++;
                p = buf;
                len = (size_t)n;
                while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
                        len--;
                if (line == 1 && len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
                        p += 3;
                        len -= 3;
                }
                if (len == 0)
                        continue;
                vote_line(v, p, len, shown, line);
        }
        free(buf);
        if (fp != stdin)
                fclose(fp);
        return 0;
}

static void vote_usage(const struct km_conf *conf)
{
        printf("usage: komek-vote [options] [FILE|-]...\n"
               "Residents' KSK votes (JSON Lines) to the votes topic; the "
               "resident id is replaced by HMAC-SHA256(vote.salt, id).\n");
        km_conf_usage(conf, stdout);
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct vote_conf vc;
        struct vote v;
        char err[512];
        const char *env;
        int64_t t0, undelivered;
        int rc = 1;

        memset(&vc, 0, sizeof(vc));
        memset(&v, 0, sizeof(v));
        if (km_main_conf(&conf, "komek-vote", vote_keys, &vc, argc, argv,
                         vote_usage, KM_MAIN_ARGS, &rc))
                return rc;
        if ((env = getenv("KOMEK_VOTE_SALT")) && *env) {
                free(vc.salt);
                vc.salt = km_xstrdup(env);
        }
        if (vc.salt == NULL || strlen(vc.salt) < 16) {
                fprintf(stderr, "komek-vote: vote.salt (or KOMEK_VOTE_SALT) "
                                "is required, at least 16 bytes\n");
                km_conf_destroy(&conf);
                return 2;
        }
        km_main_start(&conf, "komek-vote", 0);
        v.conf = &conf;
        v.vc = &vc;
        v.rk = km_kafka_producer_new(&conf, NULL, &v.counts, err, sizeof(err));
        if (v.rk == NULL) {
                km_log_error("%s", err);
                goto cleanup;
        }
        t0 = km_now_ms();
        if (conf.nargs == 0 && vote_file(&v, "-"))
                v.failed_files++;
        for (int i = 0; i < conf.nargs; i++)
                if (vote_file(&v, conf.args[i]))
                        v.failed_files++;
        if (km_kafka_flush(v.rk, (int)vc.delivery_timeout_ms + 5000, err,
                           sizeof(err)))
                km_log_error("flush: %s", err);
        undelivered = v.read - v.dups - v.counts.delivered;
        fprintf(stderr,
                "komek-vote: read %lld, published %lld, duplicates %lld, "
                "dead-lettered %lld, not delivered %lld, %.2f s\n",
                (long long)v.read, (long long)v.published, (long long)v.dups,
                (long long)v.dlq, (long long)undelivered,
                (double)(km_now_ms() - t0) / 1000.0);
        rc = undelivered > 0 || v.failed_files || v.counts.fatal ? 1 : 0;
cleanup:
        if (v.rk)
                rd_kafka_destroy(v.rk);
        for (size_t i = 0; i < v.nseen; i++)
                free(v.seen[i]);
        free(v.seen);
        km_conf_destroy(&conf);
        return rc;
}
