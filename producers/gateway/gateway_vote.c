/*
 * gateway_vote.c - POST /votes: a resident's KSK vote from an integration
 * that verified the resident (issue 16, part 4).
 *
 *   POST /votes.json?api_key=K   Content-Type: application/json
 *   {"ksk_id":"ksk-0042","resident":"<the integration's id of the
 *    resident>","month":"2026-07","score":1..5,"voted_at":"...Z"}
 *
 * The body is komek-vote's input line, validated by the same code
 * (common/km_vote.c): one vote per resident, KSK and month (vote_id is
 * derived from the resident's hash, the KSK and the month, so a second
 * vote gets the same id and consumers keep the first), the resident id
 * replaced by HMAC-SHA256(gateway.vote_salt, id) before anything leaves
 * this function.  Only a key with the votes scope may post (komek-keys add
 * --scope votes, migration 104); 201 means the broker acknowledged the
 * vote, with its vote_id: posting the same vote again is harmless.
 *
 * SECURITY: the raw resident id is in no log line, error, metric, table
 * or message; a 400 names the field, never its value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "km_log.h"
#include "km_obs.h"
#include "km_utf8.h"
#include "km_util.h"
#include "km_vote.h"

/* The key may post votes: 0, else the answer is set. */
static int gateway_vote_key(struct gateway *gw, const char *key,
                            struct gateway_reply *rep)
{
        struct km_pgslot *slot;
        int64_t id = 0, rate = 0;
        int has = 0, r;
        char err[512];

        if (key == NULL || *key == '\0') {
                gateway_error(rep, 403, "api_key required");
                return KM_EINPUT;
        }
        if ((slot = gateway_pg_get(gw, err, sizeof(err))) == NULL) {
                km_log_error("database: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
                return KM_ERETRY;
        }
        r = gateway_key_read(slot->conn, key, "votes", &id, &rate, &has, err,
                             sizeof(err));
        km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
        if (r == KM_EINPUT) {
                gateway_error(rep, 403, "invalid api_key");
                return KM_EINPUT;
        }
        if (r) {
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("api_keys: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
                return r;
        }
        if (!has) {
                gateway_error(rep, 403,
                              "this api_key may not post votes "
                              "(it lacks the votes scope)");
                return KM_EINPUT;
        }
        if (!gateway_rate_take(gw, id, rate)) {
                gateway_error(rep, 429,
                              "rate limit of %lld requests per minute "
                              "exceeded",
                              (long long)rate);
                rep->retry_after = (int)(60 / rate) + 1;
                return KM_EINPUT;
        }
        return 0;
}

void gateway_vote_post(struct gateway *gw, const char *ctype, const char *body,
                       size_t len, const char *query_key,
                       struct gateway_reply *rep)
{
        char reason[KM_REASON_LEN], detail[256], id[KM_ID_LEN], err[512];
        char *payload = NULL;
        json_t *o = NULL, *item;
        json_error_t jerr;

        if (gw->gc->vote_salt == NULL || *gw->gc->vote_salt == '\0') {
                gateway_error(rep, 404,
                              "votes are not taken here "
                              "(gateway.vote_salt is not set)");
                return;
        }
        if (ctype == NULL || strncmp(ctype, "application/json", 16) != 0 ||
            (ctype[16] != '\0' && ctype[16] != ';' && ctype[16] != ' ')) {
                gateway_error(rep, 415, "POST /votes takes application/json");
                return;
        }
        if (gateway_vote_key(gw, query_key, rep))
                return;
        if (!km_utf8_valid(body, len, NULL)) {
                gateway_error(rep, 400,
                              "invalid_utf8 (the body is not "
                              "UTF-8)");
                return;
        }
        o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (o == NULL) {
                /* jansson's text names a position, never a value */
                gateway_error(rep, 400, "invalid_json (%s)", jerr.text);
                return;
        }
        if (km_vote_build(o, gw->gc->vote_salt,
                          km_wall_s() + gw->conf->future_skew_s, id, &payload,
                          reason, detail, sizeof(detail))) {
                gateway_error(rep, 400, "%s (%s)", reason, detail);
                goto cleanup;
        }
        if (gateway_produce_wait(
                    gw, gw->conf->topic_votes,
                    json_string_value(json_object_get(o, "ksk_id")), payload,
                    err, sizeof(err))) {
                km_log_warn("vote %s not published: %s", id, err);
                gateway_error(rep, 503,
                              "vote not stored: the message broker "
                              "is unavailable, try again");
                goto cleanup;
        }
        item = json_object();
        json_object_set_new(item, "vote_id", json_string(id));
        json_object_set(item, "ksk_id", json_object_get(o, "ksk_id"));
        json_object_set(item, "month", json_object_get(o, "month"));
        rep->status = 201;
        rep->body = json_array();
        json_array_append_new(rep->body, item);
        rep->root = "votes";
        rep->item = "vote";
        km_log_debug("vote %s: 201", id);
cleanup:
        free(payload);
        json_decref(o);
}
