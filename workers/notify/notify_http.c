/*
 * notify_http.c - webhooks: the JSON body (docs/notify.md), its
 * signature and the POST through libcurl.
 *
 * Signature: X-Komek-Timestamp: <unix seconds>, X-Signature:
 * sha256=<hex HMAC-SHA256(secret, timestamp "." body)>; Idempotency-Key
 * and X-Komek-Event-Id: the event id.  The body is the same on every try
 * (no send time in it), so a receiver may also compare bodies.
 * Only a 2xx answer is a delivery; anything else, and no answer within
 * notify.timeout_ms, is retried.  The secret is never logged.
 */
#include <curl/curl.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_err.h"
#include "km_util.h"
#include "notify.h"

static const char *notify_event_name(const char *kind)
{
        return strcmp(kind, "reroute") == 0       ? "task.rerouted"
               : strcmp(kind, "sla_warning") == 0 ? "task.sla_warning"
                                                  : "task.new";
}

char *notify_webhook_body(const struct notify *n, const struct notify_row *r)
{
        char *url =
                km_xasprintf("%s/tasks/%s", n->nc->inbox_url, r->complaint_id);
        json_t *o = json_pack(
                "{s:i, s:s, s:s, s:{s:s, s:i, s:s, s:s, s:s?, s:s?, s:s, s:s,"
                " s:b, s:s}}",
                "schema_version", 1, "event_id", r->event_id, "event",
                notify_event_name(r->kind), "task", "complaint_id",
                r->complaint_id, "attempt", atoi(r->attempt), "org_id",
                r->org_id, "category", r->category, "district", r->district,
                "building_id", r->building_id, "routed_at", r->routed_at,
                "due_at", r->due_at, "urgent", r->urgent, "url", url);
        char *body = json_dumps(o, JSON_COMPACT);

        json_decref(o);
        free(url);
        return body;
}

void notify_sign(const char *secret, const char *ts, const char *body,
                 char out[72])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        size_t tl = strlen(ts), bl = strlen(body);
        char *msg = km_xmalloc(tl + 1 + bl + 1);

        memcpy(msg, ts, tl);
        msg[tl] = '.';
        memcpy(msg + tl + 1, body, bl + 1);
        HMAC(EVP_sha256(), secret, (int)strlen(secret),
             (const unsigned char *)msg, tl + 1 + bl, md, &mdlen);
        free(msg);
        memcpy(out, "sha256=", 7);
        for (unsigned int i = 0; i < mdlen && i < 32; i++)
                snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static size_t notify_discard(char *p, size_t sz, size_t nm, void *u)
{
        (void)p;
        (void)u;
        return sz * nm;
}

int notify_webhook_post(struct notify *n, const struct notify_row *r, char *err,
                        size_t errlen)
{
        CURL *curl;
        struct curl_slist *h = NULL;
        char ts[24], sig[72], *body = NULL, *line;
        long code = 0;
        CURLcode cc;
        int rc = 0;

        /* one handle for every POST: its connection cache keeps a
         * receiver's TLS connection open between deliveries; reset clears
         * the options, not the connections */
        if (n->curl == NULL)
                n->curl = curl_easy_init();
        if ((curl = n->curl) == NULL)
                return km_err_set(err, errlen, KM_ERETRY, "curl: no handle");
        curl_easy_reset(curl);
        body = notify_webhook_body(n, r);
        snprintf(ts, sizeof(ts), "%lld", (long long)km_wall_s());
        notify_sign(r->secret, ts, body, sig);
        h = curl_slist_append(h, "Content-Type: application/json");
        line = km_xasprintf("X-Komek-Timestamp: %s", ts);
        h = curl_slist_append(h, line);
        free(line);
        line = km_xasprintf("X-Signature: %s", sig);
        h = curl_slist_append(h, line);
        free(line);
        line = km_xasprintf("Idempotency-Key: %s", r->event_id);
        h = curl_slist_append(h, line);
        free(line);
        line = km_xasprintf("X-Komek-Event-Id: %s", r->event_id);
        h = curl_slist_append(h, line);
        free(line);
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(curl, CURLOPT_URL, r->target);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)n->nc->timeout_ms);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, notify_discard);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "komek-notify/1");
        if (n->nc->ca_file)
                curl_easy_setopt(curl, CURLOPT_CAINFO, n->nc->ca_file);
        cc = curl_easy_perform(curl);
        if (cc != CURLE_OK) {
                rc = km_err_set(err, errlen, KM_ERETRY, "webhook: %s",
                                curl_easy_strerror(cc));
        } else {
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
                if (code < 200 || code > 299)
                        rc = km_err_set(err, errlen, KM_ERETRY,
                                        "webhook: HTTP %ld", code);
        }
        curl_slist_free_all(h);
        free(body);
        return rc;
}
