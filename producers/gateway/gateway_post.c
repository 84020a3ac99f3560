/*
 * gateway_post.c - POST /requests: Open311 fields to a complaint, through
 * the common model, onto the complaints topic; 201 only after the broker
 * acknowledged it.
 *
 * SECURITY: the body is untrusted bytes, already bounded by
 * gateway.max_body_bytes.  It becomes fields in gateway_form.c (form,
 * multipart or JSON; UTF-8 only).  Nothing from the
 * body reaches SQL except as a parameter, nor the log except the
 * complaint id and reason codes.
 *
 * Idempotency: with external_id (or, without it, the client's own id in
 * an attribute named by gateway.client_id_attributes, FixMyStreet's
 * attribute[fixmystreet_id]) the complaint id is
 * km_id_derive(source of the key, external_id).  A POST first reads
 * whether its id has a published gateway_requests row: then it answers
 * 201 with that id and publishes nothing.  Else it publishes, and after
 * the broker's acknowledgement its row is written as published (batched
 * with the concurrent POSTs' rows, gateway_record.c) and committed before
 * the 201.  (Two identical POSTs racing before the first is recorded may
 * both publish: the same id twice, which every consumer deduplicates.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway.h"
#include "km_complaint.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_utf8.h"
#include "km_util.h"

/* Open311 field names for the model's, so a 400 names what was sent. */
static const char *gateway_field_name(const char *model)
{
        static const char *const map[][2] = {
                {"category", "service_code"},
                {"address.text", "address_string"},
                {"address", "address_string"},
                {"building_id", "address_id"},
                {"contact.name", "first_name/last_name"},
                {"contact.phone", "phone"},
                {"contact.email", "email"},
                {"media_urls", "media_url"},
        };

        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (strcmp(map[i][0], model) == 0)
                        return map[i][1];
        return model;
}

static const char *const gateway_known[] = {
        "api_key",     "service_code", "description",
        "lat",         "long",         "address_string",
        "address_id",  "email",        "device_id",
        "account_id",  "first_name",   "last_name",
        "phone",       "media_url",    "jurisdiction_id",
        "external_id", "channel",      "emergency",
        "district",    "street",       "house",
        "apartment",   NULL,
};

/* The client's own id of the request when it sends no external_id:
 * attribute[X] for the first X of gateway.client_id_attributes that is
 * given (FixMyStreet: attribute[fixmystreet_id], published by GET
 * /services/{code} as server_set).  @returns it or NULL. */
static const char *gateway_client_id(json_t *f, const char *attrs)
{
        char key[160];

        for (const char *p = attrs; p && *p;) {
                size_t n = strcspn(p, ",");
                const char *v;

                if (n > 0 && n < 128) {
                        snprintf(key, sizeof(key), "attribute[%.*s]", (int)n,
                                 p);
                        if ((v = gateway_str(f, key)))
                                return v;
                }
                p += n;
                if (*p == ',')
                        p++;
        }
        return NULL;
}

/* Fields to the model's intake object. @returns a new object or NULL. */
/* Every field one this gateway takes: 0, or -1 with a 400 in rep. */
static int gateway_obj_known(json_t *f, struct gateway_reply *rep)
{
        const char *key;
        json_t *v;

        json_object_foreach (f, key, v) {
                int known = strncmp(key, "attribute[", 10) == 0;

                for (int i = 0; gateway_known[i] && !known; i++)
                        known = strcmp(key, gateway_known[i]) == 0;
                if (!known) {
                        gateway_error(rep, 400,
                                      "%.40s: unknown_field (not an Open311 "
                                      "field this gateway takes)",
                                      key);
                        return -1;
                }
        }
        return 0;
}

/* lat and long, when given, as numbers: 0, or -1 with a 400 in rep. */
static int gateway_obj_geo(json_t *f, json_t *o, struct gateway_reply *rep)
{
        const char *s;
        char *end;

        for (int i = 0; i < 2; i++) {
                const char *k = i ? "long" : "lat";

                if ((s = gateway_str(f, k)) == NULL)
                        continue;
                double d = strtod(s, &end);

                /* NaN and inf parse but json_real refuses them: the
                 * coordinate would vanish silently */
                if (*end != '\0' || end == s || !isfinite(d)) {
                        gateway_error(rep, 400,
                                      "%s: invalid_field (not a number)", k);
                        return -1;
                }
                json_object_set_new(o, k, json_real(d));
        }
        return 0;
}

/* The model's address: the parts in addr, else address_string, else
 * address_id, else "lat, long"; set on o.  0, or -1 with a 400 in rep
 * (Open311 requires one location). */
static int gateway_obj_location(json_t *f, json_t *o, json_t *addr,
                                struct gateway_reply *rep)
{
        const char *s;

        if ((s = gateway_str(f, "address_string")))
                json_object_set_new(addr, "text", json_string(s));
        else if (json_object_size(addr) == 0 && gateway_str(f, "address_id"))
                json_object_set_new(addr, "text",
                                    json_string(gateway_str(f, "address_id")));
        else if (json_object_size(addr) == 0 && json_object_get(o, "lat") &&
                 json_object_get(o, "long")) {
                char geo[64];

                snprintf(geo, sizeof(geo), "%.6f, %.6f",
                         json_real_value(json_object_get(o, "lat")),
                         json_real_value(json_object_get(o, "long")));
                json_object_set_new(addr, "text", json_string(geo));
        }
        if (json_object_size(addr) == 0) {
                gateway_error(rep, 400,
                              "location: missing_field (one of lat+long, "
                              "address_string or address_id is required)");
                return -1;
        }
        json_object_set(o, "address", addr);
        return 0;
}

/* first_name + last_name, phone, email into ct, set on o if any. */
static void gateway_obj_contact(json_t *f, json_t *o, json_t *ct)
{
        const char *s, *first, *last;

        first = gateway_str(f, "first_name");
        last = gateway_str(f, "last_name");
        if (first || last) {
                /* whole, never cut: the model checks its length */
                char *name = km_xasprintf("%s%s%s", first ? first : "",
                                          first && last ? " " : "",
                                          last ? last : "");

                json_object_set_new(ct, "name", json_string(name));
                free(name);
        }
        if ((s = gateway_str(f, "phone")))
                json_object_set_new(ct, "phone", json_string(s));
        if ((s = gateway_str(f, "email")))
                json_object_set_new(ct, "email", json_string(s));
        if (json_object_size(ct))
                json_object_set(o, "contact", ct);
}

static json_t *gateway_complaint_obj(json_t *f, const char *source,
                                     const char *channel,
                                     const char *client_attrs,
                                     struct gateway_reply *rep)
{
        json_t *o = json_object(), *addr = json_object(), *ct = json_object();
        const char *s;
        static const char *const parts[] = {"district", "street", "house",
                                            "apartment"};
        char ts[24];

        if (gateway_obj_known(f, rep))
                goto fail;
        json_object_set_new(o, "source", json_string(source));
        if ((s = gateway_str(f, "external_id")) ||
            (s = gateway_client_id(f, client_attrs)))
                json_object_set_new(o, "external_id", json_string(s));
        /* the key's channel; a body's own channel field (checked by the
         * model) takes precedence */
        if ((s = gateway_str(f, "channel")))
                json_object_set_new(o, "channel", json_string(s));
        else if (channel && *channel)
                json_object_set_new(o, "channel", json_string(channel));
        km_fmt_rfc3339(km_wall_s(), ts, sizeof(ts));
        json_object_set_new(o, "received_at", json_string(ts));
        if ((s = gateway_str(f, "service_code")))
                json_object_set_new(o, "category", json_string(s));
        if ((s = gateway_str(f, "description")))
                json_object_set_new(o, "description", json_string(s));
        for (int i = 0; i < 4; i++)
                if ((s = gateway_str(f, parts[i])))
                        json_object_set_new(addr, parts[i], json_string(s));
        if (gateway_obj_geo(f, o, rep))
                goto fail;
        if ((s = gateway_str(f, "address_id")))
                json_object_set_new(o, "building_id", json_string(s));
        if (gateway_obj_location(f, o, addr, rep))
                goto fail;
        gateway_obj_contact(f, o, ct);
        if ((s = gateway_str(f, "media_url")))
                json_object_set_new(o, "media_urls", json_pack("[s]", s));
        else if (json_is_array(json_object_get(f, "media_url")))
                /* the model checks their count and each URL */
                json_object_set(o, "media_urls",
                                json_object_get(f, "media_url"));
        if ((s = gateway_str(f, "emergency"))) {
                if (strcmp(s, "true") && strcmp(s, "false")) {
                        gateway_error(rep, 400,
                                      "emergency: wrong_type (true or "
                                      "false)");
                        goto fail;
                }
                json_object_set_new(o, "emergency",
                                    json_boolean(strcmp(s, "true") == 0));
        }
        json_decref(addr);
        json_decref(ct);
        return o;
fail:
        json_decref(addr);
        json_decref(ct);
        json_decref(o);
        return NULL;
}

static void gateway_ack_free(struct gateway_ack *ack)
{
        pthread_cond_destroy(&ack->cond);
        free(ack);
}

void gateway_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
        struct gateway *gw = opaque; /* counts is its first member */
        struct gateway_ack *ack = rkm->_private;

        (void)rk;
        pthread_mutex_lock(&gw->ack_lock);
        if (rkm->err)
                gw->counts.failed++;
        else
                gw->counts.delivered++;
        if (ack) {
                ack->done = 1;
                ack->err = rkm->err;
                if (--ack->refs == 0)
                        gateway_ack_free(ack);
                else
                        pthread_cond_signal(&ack->cond); /* its request only */
        }
        pthread_mutex_unlock(&gw->ack_lock);
}

/* Produce payload (copied) to topic and wait for the acknowledgement.
 * @returns 0 or KM_ERETRY. */
int gateway_produce_wait(struct gateway *gw, const char *topic, const char *key,
                         const char *payload, char *err, size_t errlen)
{
        struct gateway_ack *ack = km_xcalloc(1, sizeof(*ack));
        struct timespec ts;
        rd_kafka_resp_err_t e;
        int r = 0, done;

        pthread_cond_init(&ack->cond, &gw->mono);
        ack->refs = 2;
        e = rd_kafka_producev(
                gw->rk, RD_KAFKA_V_TOPIC(topic),
                RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE(ack), RD_KAFKA_V_END);
        if (e) {
                gateway_ack_free(ack);
                return km_err_set(err, errlen, KM_ERETRY, "produce: %s",
                                  rd_kafka_err2str(e));
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (gw->gc->ack_timeout_ms + 2000) / 1000;
        pthread_mutex_lock(&gw->ack_lock);
        while (!ack->done &&
               pthread_cond_timedwait(&ack->cond, &gw->ack_lock, &ts) == 0)
                ;
        done = ack->done;
        if (!done)
                r = km_err_set(err, errlen, KM_ERETRY,
                               "no acknowledgement from the broker");
        else if (ack->err)
                r = km_err_set(err, errlen, KM_ERETRY, "delivery: %s",
                               rd_kafka_err2str(ack->err));
        if (--ack->refs == 0)
                gateway_ack_free(ack);
        pthread_mutex_unlock(&gw->ack_lock);
        return r;
}

static int gateway_publish(struct gateway *gw, const struct km_complaint *c,
                           char *err, size_t errlen)
{
        char *payload = km_complaint_dumps(c, 0);
        int r = gateway_produce_wait(gw, gw->conf->topic_complaints,
                                     c->building_id ? c->building_id : c->id,
                                     payload, err, errlen);

        free(payload);
        return r;
}

/* The model's rejection as a 400 naming the Open311 field. */
static void gateway_reject(struct gateway_reply *rep, const char *reason,
                           const char *detail)
{
        const char *colon = strchr(reason, ':');

        if (colon)
                gateway_error(rep, 400, "%s: %s (%s)",
                              gateway_field_name(colon + 1), reason, detail);
        else if (strcmp(reason, "unknown_category") == 0)
                gateway_error(rep, 400, "service_code: %s (%s)", reason,
                              detail);
        else
                gateway_error(rep, 400, "%s (%s)", reason, detail);
}

/* Check, publish, record.  The complaint is valid.  No connection is
 * held while waiting for the broker. */
static void gateway_store(struct gateway *gw, const struct km_complaint *c,
                          int64_t key_id, json_t *f, struct gateway_reply *rep)
{
        struct km_pgslot *slot;
        char kid[24], lat[32], lon[32], err[512], parts[300];
        const char *addr = json_string_value(
                json_object_get(json_object_get(c->root, "address"), "text"));
        const char *p[GATEWAY_REC_NPARAMS];
        PGresult *res = NULL;
        int r, known;

        /* Published already?  A read: nothing is written before the
         * broker's acknowledgement (a complaint that is not published
         * leaves no row).  The database away: 503, nothing published. */
        slot = gateway_pg_get(gw, err, sizeof(err));
        if (slot == NULL) {
                km_log_error("database: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
                return;
        }
        p[0] = c->id;
        r = km_pg_exec_prepared(slot->conn, "gateway_published",
                                "SELECT published_at IS NOT NULL FROM "
                                "gateway_requests WHERE id = $1",
                                1, p, &res, err, sizeof(err));
        km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
        if (r) {
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("gateway_requests: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
                return;
        }
        known = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (known) {
                pthread_mutex_lock(&gw->lock);
                gw->replayed++;
                pthread_mutex_unlock(&gw->lock);
                km_metric_add(gw->m.duplicate, 1);
                rep->status = 201; /* the same complaint: nothing new */
                return;
        }
        if (gateway_publish(gw, c, err, sizeof(err))) {
                km_log_warn("complaint %s not published: %s", c->id, err);
                gateway_error(rep, 503,
                              "complaint not stored: the message broker is "
                              "unavailable, try again");
                return;
        }
        snprintf(kid, sizeof(kid), "%lld", (long long)key_id);
        snprintf(lat, sizeof(lat), "%.10g", c->lat);
        snprintf(lon, sizeof(lon), "%.10g", c->lon);
        if (addr == NULL) { /* structured parts as one line */
                snprintf(parts, sizeof(parts), "%s%s%s%s%s%s%s",
                         c->district ? c->district : "",
                         c->district && (c->street || c->house) ? ", " : "",
                         c->street ? c->street : "",
                         c->street && c->house ? " " : "",
                         c->house ? c->house : "", c->apartment ? ", " : "",
                         c->apartment ? c->apartment : "");
                addr = parts;
        }
        p[1] = c->source;
        p[2] = c->external_id;
        p[3] = kid;
        p[4] = c->category;
        p[5] = c->description;
        p[6] = addr;
        p[7] = c->building_id;
        p[8] = c->has_geo ? lat : NULL;
        p[9] = c->has_geo ? lon : NULL;
        p[10] = gateway_str(f, "media_url");
        if (p[10] == NULL) /* repeated: the first one is the request's */
                p[10] = json_string_value(
                        json_array_get(json_object_get(f, "media_url"), 0));
        p[11] = c->received_at_str;
        /* committed (synchronously, with the rows of the POSTs
         * acknowledged meanwhile) before the 201: a resubmission finds it
         * and GET /requests shows it */
        r = gateway_record(gw, p, err, sizeof(err));
        if (r) /* published: the answer stays 201; a resubmission re-sends */
                km_log_error("complaint %s published but not recorded: %s",
                             c->id, err);
        pthread_mutex_lock(&gw->lock);
        gw->created++;
        pthread_mutex_unlock(&gw->lock);
        km_metric_add(gw->m.out, 1);
        km_metric_set(gw->m.last_commit, (double)km_wall_s());
        rep->status = 201;
}

/* Byte offset of character n of UTF-8 s (its length if shorter). */
static size_t gateway_utf8_off(const char *s, size_t n)
{
        size_t i = 0;

        for (; s[i] && n; n--)
                do
                        i++;
                while (((unsigned char)s[i] & 0xC0) == 0x80);
        return i;
}

/* The description as FixMyStreet sends it (issue 21): CR LF and a lone
 * CR become LF (the model takes no other control character), and a text
 * longer than max characters (komek.conf max_description_chars, the
 * Open311 4,000) is cut in the middle with a visible marker: the
 * beginning (its title and text) and the last GATEWAY_DESC_TAIL
 * characters (where it puts the report's link) are kept, so a retry is
 * the same complaint instead of a permanent 400.  Changes f in place. */
#define GATEWAY_DESC_TAIL 300
static void gateway_description(json_t *f, size_t max, const char *lang)
{
        const char *d = gateway_str(f, "description");
        char *t, *w, marker[200];
        size_t chars, head, mlen;

        if (d == NULL)
                return;
        t = km_xstrdup(d);
        for (w = t; *d; d++)
                if (*d == '\r') {
                        *w++ = '\n';
                        if (d[1] == '\n')
                                d++;
                } else {
                        *w++ = *d;
                }
        *w = '\0';
        chars = km_utf8_chars(t);
        if (chars > max && max > GATEWAY_DESC_TAIL + 200) {
                size_t hb, tb;
                char *cut;

                snprintf(marker, sizeof(marker),
                         strcmp(lang, "ru") == 0
                                 ? "\n[… сокращено: в тексте %zu симв., "
                                   "больше %zu …]\n"
                                 : "\n[… cut: the text had %zu characters, "
                                   "more than %zu …]\n",
                         chars, max);
                mlen = km_utf8_chars(marker);
                head = max - GATEWAY_DESC_TAIL - mlen;
                hb = gateway_utf8_off(t, head);
                tb = gateway_utf8_off(t, chars - GATEWAY_DESC_TAIL);
                cut = km_xasprintf("%.*s%s%s", (int)hb, t, marker, t + tb);
                free(t);
                t = cut;
        }
        json_object_set_new(f, "description", json_string(t));
        free(t);
}

json_t *gateway_post_admit(struct gateway *gw, const char *ctype,
                           const char *body, size_t len, const char *query_key,
                           int (*check)(json_t *f, struct gateway_reply *rep),
                           struct gateway_caller *who,
                           struct gateway_reply *rep)
{
        const char *key;
        char err[512];
        json_t *f;
        int r;

        f = gateway_fields(ctype, body, len, rep);
        if (f == NULL)
                return NULL;
        key = gateway_str(f, "api_key");
        if (key == NULL)
                key = query_key;
        if (key == NULL || *key == '\0') {
                gateway_error(rep, 403, "api_key required");
                goto fail;
        }
        if (check && check(f, rep))
                goto fail;
        r = gateway_key_admit(gw, key, who, err, sizeof(err));
        if (r == KM_EINPUT) {
                gateway_error(rep, 403, "invalid api_key");
                goto fail;
        }
        if (r) {
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("api_keys: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
                goto fail;
        }
        if (!gateway_rate_take(gw, who->key_id, who->rate)) {
                gateway_error(rep, 429,
                              "rate limit of %lld requests per minute "
                              "exceeded",
                              (long long)who->rate);
                rep->retry_after = (int)(60 / who->rate) + 1;
                goto fail;
        }
        return f;
fail:
        json_decref(f);
        return NULL;
}

void gateway_post(struct gateway *gw, const char *ctype, const char *body,
                  size_t len, const char *query_key, struct gateway_reply *rep)
{
        struct km_complaint *c = NULL;
        struct gateway_caller who;
        json_t *f = NULL, *obj = NULL, *item;
        char reason[KM_REASON_LEN], err[512], notice[160];
        const struct km_category *cat;

        f = gateway_post_admit(gw, ctype, body, len, query_key, NULL, &who,
                               rep);
        if (f == NULL)
                return;
        gateway_description(f, (size_t)gw->conf->max_description_chars,
                            gw->gc->lang);
        obj = gateway_complaint_obj(f, who.source, who.channel,
                                    gw->gc->client_id_attributes, rep);
        if (obj == NULL)
                goto cleanup;
        if (km_complaint_from_json(obj, gw->conf, KM_CPL_INTAKE, km_wall_s(),
                                   &c, reason, err, sizeof(err))) {
                gateway_reject(rep, reason, err);
                goto cleanup;
        }
        gateway_store(gw, c, who.key_id, f, rep);
        if (rep->status != 201)
                goto cleanup;
        cat = km_conf_category(gw->conf, c->category);
        snprintf(notice, sizeof(notice),
                 strcmp(gw->gc->lang, "ru") == 0
                         ? "Обращение принято; срок рассмотрения %lld ч"
                         : "Request received; expected within %lld hours",
                 (long long)(cat ? cat->sla_hours : 0));
        item = json_object();
        json_object_set_new(item, "service_request_id", json_string(c->id));
        json_object_set_new(item, "service_notice", json_string(notice));
        json_object_set_new(item, "account_id", json_null());
        rep->body = json_array();
        json_array_append_new(rep->body, item);
        rep->root = "service_requests";
        rep->item = "request";
        km_log_debug("complaint %s from %s: 201", c->id, who.source);
cleanup:
        km_complaint_destroy(c);
        json_decref(obj);
        json_decref(f);
}
