/*
 * km_vote.c - a resident's KSK vote, validated and hashed (km_vote.h).
 *
 * Input: {"ksk_id":"ksk-0042","resident":"<raw id>","month":"2026-07",
 *         "score":1..5,"voted_at":"2026-07-14T09:00:00Z"}, nothing else.
 * Reasons: unknown_field:vote, missing_field:<f>, wrong_type:<f>,
 * invalid_field:<f>.
 *
 * SECURITY: the raw resident id is only ever read here, to hash it; it is
 * in no message, reason, detail or dead letter this module makes.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_util.h"
#include "km_vote.h"

static const char *const km_vote_fields[] = {"ksk_id", "resident", "month",
                                             "score", "voted_at"};

void km_vote_hmac(const char *salt, const char *resident, char *hex)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;

        HMAC(EVP_sha256(), salt, (int)strlen(salt),
             (const unsigned char *)resident, strlen(resident), md, &mdlen);
        for (unsigned i = 0; i < mdlen; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int km_vote_bad(char *reason, const char *code, const char *field,
                       char *detail, size_t dlen, const char *what)
{
        snprintf(reason, KM_REASON_LEN, "%s:%s", code, field);
        snprintf(detail, dlen, "%s %s", field, what);
        return KM_EINPUT;
}

static int km_vote_check(json_t *o, int64_t max_t, char *reason, char *detail,
                         size_t dlen)
{
        const char *key, *s;
        json_t *val;
        int64_t t;
        int y, m;
        char tail;

        if (!json_is_object(o))
                return km_vote_bad(reason, "wrong_type", "root", detail, dlen,
                                   "must be a JSON object");
        json_object_foreach (o, key, val) {
                int ok = 0;

                for (int i = 0; i < 5; i++)
                        ok |= strcmp(key, km_vote_fields[i]) == 0;
                if (!ok)
                        return km_vote_bad(reason, "unknown_field", "vote",
                                           detail, dlen,
                                           "has an unknown field");
        }
        for (int i = 0; i < 5; i++) {
                val = json_object_get(o, km_vote_fields[i]);
                if (val == NULL || json_is_null(val))
                        return km_vote_bad(reason, "missing_field",
                                           km_vote_fields[i], detail, dlen,
                                           "is required");
                if (i == 3 ? !json_is_integer(val) : !json_is_string(val))
                        return km_vote_bad(reason, "wrong_type",
                                           km_vote_fields[i], detail, dlen,
                                           i == 3 ? "must be an integer"
                                                  : "must be a string");
        }
        s = json_string_value(json_object_get(o, "ksk_id"));
        if (*s == '\0' || strlen(s) > 32 ||
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789_-") != strlen(s))
                return km_vote_bad(reason, "invalid_field", "ksk_id", detail,
                                   dlen, "must match [A-Za-z0-9_-]{1,32}");
        s = json_string_value(json_object_get(o, "resident"));
        if (*s == '\0' || strlen(s) > 256 ||
            strlen(s) != json_string_length(json_object_get(o, "resident")))
                return km_vote_bad(reason, "invalid_field", "resident", detail,
                                   dlen, "must be 1..256 bytes without NUL");
        s = json_string_value(json_object_get(o, "month"));
        if (strlen(s) != 7 || sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2 ||
            s[4] != '-' || y < 2000 || y > 2100 || m < 1 || m > 12)
                return km_vote_bad(reason, "invalid_field", "month", detail,
                                   dlen, "must be YYYY-MM");
        t = json_integer_value(json_object_get(o, "score"));
        if (t < 1 || t > 5)
                return km_vote_bad(reason, "invalid_field", "score", detail,
                                   dlen, "must be 1..5");
        s = json_string_value(json_object_get(o, "voted_at"));
        if (km_parse_rfc3339(s, &t) || t < 946684800 || t > max_t)
                return km_vote_bad(reason, "invalid_field", "voted_at", detail,
                                   dlen,
                                   "must be an RFC 3339 time, not in the "
                                   "future");
        return 0;
}

int km_vote_build(json_t *o, const char *salt, int64_t max_t,
                  char id[KM_ID_LEN], char **payload,
                  char reason[KM_REASON_LEN], char *detail, size_t dlen)
{
        char hash[KM_VOTE_HASH_LEN], ts[24], *name;
        json_t *out;
        int64_t t = 0;
        int rc;

        *payload = NULL;
        if ((rc = km_vote_check(o, max_t, reason, detail, dlen)))
                return rc;
        km_vote_hmac(salt, json_string_value(json_object_get(o, "resident")),
                     hash);
        name = km_xasprintf("%s\n%s\n%s", hash,
                            json_string_value(json_object_get(o, "ksk_id")),
                            json_string_value(json_object_get(o, "month")));
        km_id_derive("vote", name, id);
        free(name);
        /* checked above: parses */
        (void)km_parse_rfc3339(
                json_string_value(json_object_get(o, "voted_at")), &t);
        km_fmt_rfc3339(t, ts, sizeof(ts));
        out = json_pack("{s:i, s:s, s:O, s:s, s:O, s:O, s:s}", "schema_version",
                        1, "vote_id", id, "ksk_id",
                        json_object_get(o, "ksk_id"), "resident_hash", hash,
                        "month", json_object_get(o, "month"), "score",
                        json_object_get(o, "score"), "voted_at", ts);
        *payload = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(out);
        return 0;
}

char *km_vote_redacted(json_t *o, const char *salt)
{
        json_t *red, *res;
        char hash[KM_VOTE_HASH_LEN], *s;

        if (!json_is_object(o))
                return NULL;
        red = json_deep_copy(o);
        res = json_object_get(o, "resident");
        if (json_object_get(red, "resident")) {
                json_object_del(red, "resident");
                if (json_is_string(res)) {
                        km_vote_hmac(salt, json_string_value(res), hash);
                        json_object_set_new(red, "resident_hash",
                                            json_string(hash));
                }
        }
        s = json_dumps(red, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(red);
        return s;
}
