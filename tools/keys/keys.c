/*
 * keys.c - komek-keys: the gateway's API keys in PostgreSQL.
 *
 *   komek-keys add --source NAME [--channel C] [--rate N] [--note TEXT]
 *                  [--scope read_private,votes]
 *   komek-keys list
 *   komek-keys revoke ID|PREFIX
 *
 * add makes a random key (32 bytes from the OpenSSL CSPRNG, shown as
 * "km_" + 64 hex digits), prints it once on stdout and stores only its
 * SHA-256 and its first 11 characters (to tell keys apart in `list`).
 * Each key carries the source its complaints are published under, their
 * channel (one of the model's: phone, telegram, web, app, social, email;
 * default web), a rate limit in requests per minute and its scopes
 * (api_keys.scopes, migration 096): read_private lets GET /requests show
 * the full record (apartment, description, staff notes; docs/intake.md),
 * for the city's own systems only; votes lets it POST /votes (migration
 * 104), for an integration that verified the resident.  revoke takes effect on the gateway's
 * next request with that key (keys are looked up per request).
 * Exit codes: 0 ok, 1 database error or nothing to revoke, 2 usage.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_conf.h"
#include "km_hash.h"
#include "km_log.h"
#include "km_main.h"
#include "km_pg.h"
#include "km_sig.h"
#include "km_util.h"

struct keys_conf {
        char *source;
        char *channel;
        int64_t rate_limit;
        char *note;
        char *scope; /* comma-separated: read_private, votes */
};

#define KEYS_OFF(f) offsetof(struct keys_conf, f)

static const struct km_conf_key keys_keys[] = {
        {"keys.source", KM_CT_STR, NULL, 0, 64, KEYS_OFF(source), "source",
         "add: source name of the integration (call109, webform ...)"},
        {"keys.channel", KM_CT_STR, "web", 0, 16, KEYS_OFF(channel), "channel",
         "add: channel of its complaints (phone, telegram, web, app, social, "
         "email)"},
        {"keys.rate_limit", KM_CT_INT, "60", 1, 1000000, KEYS_OFF(rate_limit),
         "rate", "add: requests per minute"},
        {"keys.note", KM_CT_STR, NULL, 0, 256, KEYS_OFF(note), "note",
         "add: free text for operators"},
        {"keys.scope", KM_CT_STR, "", 0, 256, KEYS_OFF(scope), "scope",
         "add: scopes, comma-separated (read_private: GET /requests shows "
         "the full record; votes: POST /votes)"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void keys_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-keys add --source NAME [--channel C] [--rate N] "
                "[--note T]\n"
                "                      [--scope read_private,votes]\n"
                "       komek-keys list\n"
                "       komek-keys revoke ID|PREFIX\n"
                "add prints the new key once on stdout; only its SHA-256 is "
                "stored.\n");
        km_conf_usage(conf, stdout);
}

/* @returns 1 if s is a comma-separated list of known scopes (or empty). */
static int keys_scope_valid(const char *s)
{
        static const char *const known[] = {"read_private", "votes", NULL};

        for (const char *p = s; p && *p;) {
                size_t n = strcspn(p, ",");
                int ok = 0;

                for (int i = 0; known[i]; i++)
                        ok |= strlen(known[i]) == n && !memcmp(known[i], p, n);
                if (!ok)
                        return 0;
                p += n;
                if (*p == ',' && *++p == '\0')
                        return 0; /* a trailing comma */
        }
        return 1;
}

static int keys_add(PGconn *conn, const struct keys_conf *kc, char *err,
                    size_t errlen)
{
        unsigned char raw[32];
        char key[3 + 64 + 1] = "km_", sha[KM_SHA256_HEX], prefix[12], rate[24];
        char scopes[300];
        const char *params[7] = {sha,      prefix,      kc->source, rate,
                                 kc->note, kc->channel, scopes};
        PGresult *res = NULL;
        int r;

        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "no random bytes from OpenSSL");
        km_hash_hex(raw, sizeof(raw), key + 3);
        /* what komek-gateway looks up: the same km_hash_sha256_hex */
        km_hash_sha256_hex(key, strlen(key), sha);
        snprintf(prefix, sizeof(prefix), "%.11s", key);
        snprintf(rate, sizeof(rate), "%lld", (long long)kc->rate_limit);
        /* checked by keys_scope_valid: a-z and _ only, so a plain literal */
        snprintf(scopes, sizeof(scopes), "{%s}", kc->scope ? kc->scope : "");
        r = km_pg_exec(conn,
                       "INSERT INTO api_keys (key_sha256, key_prefix, source, "
                       "rate_limit, note, channel, scopes) VALUES ($1, $2, "
                       "$3, $4, $5, $6, $7::text[]) RETURNING id",
                       7, params, &res, err, errlen);
        if (r)
                return r;
        printf("%s\n", key);
        km_log_info("added key %s (id %s) for source %s, channel %s, %s "
                    "requests/min, scopes {%s}",
                    prefix, PQgetvalue(res, 0, 0), kc->source, kc->channel,
                    rate, kc->scope ? kc->scope : "");
        PQclear(res);
        return 0;
}

static int keys_list(PGconn *conn, char *err, size_t errlen)
{
        PGresult *res = NULL;
        int r;

        r = km_pg_exec(conn,
                       "SELECT id, key_prefix, source, channel, rate_limit, "
                       "to_char(created_at AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                       "COALESCE(to_char(revoked_at AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'active'), "
                       "COALESCE(note, ''), CASE WHEN scopes = '{}' THEN '-' "
                       "ELSE array_to_string(scopes, ',') END FROM api_keys "
                       "ORDER BY id",
                       0, NULL, &res, err, errlen);
        if (r)
                return r;
        printf("%-6s %-12s %-20s %-9s %-8s %-21s %-21s %-13s %s\n", "id",
               "prefix", "source", "channel", "rate/min", "created", "revoked",
               "scopes", "note");
        for (int i = 0; i < PQntuples(res); i++)
                printf("%-6s %-12s %-20s %-9s %-8s %-21s %-21s %-13s %s\n",
                       PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                       PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
                       PQgetvalue(res, i, 6), PQgetvalue(res, i, 8),
                       PQgetvalue(res, i, 7));
        PQclear(res);
        return 0;
}

static int keys_revoke(PGconn *conn, const char *which, char *err,
                       size_t errlen)
{
        const char *params[1] = {which};
        PGresult *res = NULL;
        int r, n;

        r = km_pg_exec(conn,
                       "UPDATE api_keys SET revoked_at = now() "
                       "WHERE (id::text = $1 OR key_prefix = $1) "
                       "AND revoked_at IS NULL RETURNING id",
                       1, params, &res, err, errlen);
        if (r)
                return r;
        n = PQntuples(res);
        PQclear(res);
        if (n == 0)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "no active key with id or prefix %s", which);
        km_log_info("revoked %d key(s) matching %s", n, which);
        return 0;
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct keys_conf kc;
        PGconn *conn = NULL;
        char err[512];
        const char *cmd;
        int r = 0, rc = 1;

        memset(&kc, 0, sizeof(kc));
        if (km_main_conf(&conf, "komek-keys", keys_keys, &kc, argc, argv,
                         keys_usage, KM_MAIN_ARGS, &rc))
                return rc;
        km_main_start(&conf, "komek-keys", 0);
        cmd = conf.nargs > 0 ? conf.args[0] : "";
        if (!((!strcmp(cmd, "add") && conf.nargs == 1 && kc.source) ||
              (!strcmp(cmd, "list") && conf.nargs == 1) ||
              (!strcmp(cmd, "revoke") && conf.nargs == 2))) {
                fprintf(stderr, "komek-keys: expected add --source NAME, list "
                                "or revoke ID; see --help\n");
                rc = 2;
                goto cleanup;
        }
        if (!strcmp(cmd, "add") && !km_complaint_channel_valid(kc.channel)) {
                fprintf(stderr, "komek-keys: --channel must be phone, "
                                "telegram, web, app, social or email\n");
                rc = 2;
                goto cleanup;
        }
        if (!strcmp(cmd, "add") && !keys_scope_valid(kc.scope)) {
                fprintf(stderr, "komek-keys: --scope must be read_private, "
                                "votes, both or empty\n");
                rc = 2;
                goto cleanup;
        }
        conn = km_pg_connect(conf.pg_conninfo, "komek-keys",
                             (int)conf.pg_connect_timeout_s, err, sizeof(err));
        if (conn == NULL) {
                km_log_error("%s", err);
                goto cleanup;
        }
        if (!strcmp(cmd, "add"))
                r = keys_add(conn, &kc, err, sizeof(err));
        else if (!strcmp(cmd, "list"))
                r = keys_list(conn, err, sizeof(err));
        else
                r = keys_revoke(conn, conf.args[1], err, sizeof(err));
        if (r)
                km_log_error("%s: %s", cmd, err);
        rc = r ? 1 : 0;
cleanup:
        PQfinish(conn);
        km_conf_destroy(&conf);
        return rc;
}
