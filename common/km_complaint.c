/*
 * km_complaint.c - see km_complaint.h.
 *
 * SECURITY: everything here reads untrusted bytes from residents and
 * integrations.  Checks run cheapest first (size, UTF-8, JSON) and never
 * trust lengths from the input; jansson limits nesting depth itself.
 * Rejections are values (KM_EINPUT + reason), never crashes or exits.
 */
#include "km_complaint.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "km_utf8.h"
#include "km_util.h"

static const char *const km_cpl_fields[] = {
        "schema_version", "id", "source", "external_id", "channel",
        "received_at", "category", "description", "address", "building_id",
        "lat", "long", "contact", "media_urls", "emergency", NULL,
};
static const char *const km_cpl_addr_fields[] = {
        "district", "street", "house", "apartment", "text", NULL,
};
static const char *const km_cpl_contact_fields[] = {"name", "phone", "email",
                                                    NULL};
static const char *const km_cpl_channels[] = {
        "phone", "telegram", "web", "app", "social", "email", NULL,
};

static int km_cpl_reject(char *reason, char *err, size_t errlen,
                         const char *code, const char *field,
                         const char *detail)
{
        if (field)
                snprintf(reason, KM_REASON_LEN, "%s:%s", code, field);
        else
                snprintf(reason, KM_REASON_LEN, "%s", code);
        return km_err_set(err, errlen, KM_EINPUT, "%s", detail);
}

static int km_cpl_in(const char *const *list, const char *s)
{
        for (; *list; list++)
                if (strcmp(*list, s) == 0)
                        return 1;
        return 0;
}

int km_complaint_channel_valid(const char *s)
{
        return s && km_cpl_in(km_cpl_channels, s);
}

/* A string member: type, length in characters, control characters.
 * multiline allows tab/newline (descriptions).  Hot path: nothing is
 * formatted unless the member is rejected. */
static int km_cpl_str(json_t *obj, const char *prefix, const char *name,
                      int required, size_t maxchars, int multiline,
                      const char **out, char *reason, char *err,
                      size_t errlen)
{
        json_t *v = json_object_get(obj, name);
        char field[64], detail[160];
        const char *s, *code, *what;
        size_t len, chars = 0;
        int ctrl = 0;

        *out = NULL;
        if (v == NULL || json_is_null(v)) {
                if (!required)
                        return 0;
                code = "missing_field", what = "is required";
                goto reject;
        }
        if (!json_is_string(v)) {
                code = "wrong_type", what = "must be a string";
                goto reject;
        }
        s = json_string_value(v);
        len = json_string_length(v);
        /* one pass: characters, control characters, embedded NUL */
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];

                if ((ch & 0xC0) != 0x80)
                        chars++;
                if (ch < 0x20 || ch == 0x7F) {
                        if (ch == 0 || !multiline ||
                            (ch != '\t' && ch != '\n' && ch != '\r'))
                                ctrl = ch == 0 ? 2 : ctrl ? ctrl : 1;
                }
        }
        if (ctrl == 2) {
                code = "invalid_field", what = "contains a NUL";
                goto reject;
        }
        if (required && len == 0) {
                code = "missing_field", what = "is empty";
                goto reject;
        }
        if (chars > maxchars) {
                snprintf(field, sizeof(field), "%s%s", prefix, name);
                snprintf(detail, sizeof(detail),
                         "%s longer than %zu characters", field, maxchars);
                return km_cpl_reject(reason, err, errlen, "too_long", field,
                                     detail);
        }
        if (ctrl) {
                code = "invalid_field", what = "contains control characters";
                goto reject;
        }
        *out = s;
        return 0;
reject:
        snprintf(field, sizeof(field), "%s%s", prefix, name);
        snprintf(detail, sizeof(detail), "%s %s", field, what);
        return km_cpl_reject(reason, err, errlen, code, field, detail);
}

static int km_cpl_token(const char *s, size_t max)
{
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      (i > 0 && (c == '_' || c == '.' || c == '-'))))
                        return 0;
        }
        return 1;
}

static int km_cpl_building_id(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 32)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_' || c == '-'))
                        return 0;
        }
        return 1;
}

static int km_cpl_number(json_t *obj, const char *name, double lo, double hi,
                         int *present, double *out, char *reason, char *err,
                         size_t errlen)
{
        json_t *v = json_object_get(obj, name);
        char detail[128];

        *present = 0;
        if (v == NULL || json_is_null(v))
                return 0;
        if (!json_is_number(v)) {
                snprintf(detail, sizeof(detail), "%s must be a number", name);
                return km_cpl_reject(reason, err, errlen, "wrong_type", name,
                                     detail);
        }
        *out = json_number_value(v);
        if (!isfinite(*out) || *out < lo || *out > hi) {
                snprintf(detail, sizeof(detail), "%s out of range [%g, %g]",
                         name, lo, hi);
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     name, detail);
        }
        *present = 1;
        return 0;
}

static int km_cpl_address(json_t *src, struct km_complaint *c, json_t *dst,
                          char *reason, char *err, size_t errlen)
{
        json_t *a = json_object_get(src, "address"), *na;
        const char *key;
        json_t *v;
        const char *vals[5];
        static const size_t maxes[5] = {64, 128, 16, 16, 256};
        int n = 0;

        if (a == NULL || json_is_null(a))
                return km_cpl_reject(reason, err, errlen, "missing_field",
                                     "address", "address is required");
        if (!json_is_object(a))
                return km_cpl_reject(reason, err, errlen, "wrong_type",
                                     "address", "address must be an object");
        json_object_foreach(a, key, v) {
                if (!km_cpl_in(km_cpl_addr_fields, key)) {
                        char f[80];

                        snprintf(reason, KM_REASON_LEN,
                                 "unknown_field:address.%.40s", key);
                        snprintf(f, sizeof(f), "unknown field address.%.40s",
                                 key);
                        return km_err_set(err, errlen, KM_EINPUT, "%s", f);
                }
        }
        na = json_object();
        json_object_set_new(dst, "address", na);
        for (int i = 0; km_cpl_addr_fields[i]; i++) {
                if (km_cpl_str(a, "address.", km_cpl_addr_fields[i], 0,
                               maxes[i], 0, &vals[i], reason, err, errlen))
                        return KM_EINPUT;
                if (vals[i] && *vals[i]) {
                        json_object_set(na, km_cpl_addr_fields[i],
                                        json_object_get(a, km_cpl_addr_fields[i]));
                        vals[i] = json_string_value(
                            json_object_get(na, km_cpl_addr_fields[i]));
                        n++;
                } else {
                        vals[i] = NULL;
                }
        }
        if (n == 0)
                return km_cpl_reject(reason, err, errlen, "missing_field",
                                     "address", "address has no parts");
        c->district = vals[0];
        c->street = vals[1];
        c->house = vals[2];
        c->apartment = vals[3];
        c->address_text = vals[4];
        return 0;
}

static int km_cpl_contact(json_t *src, json_t *dst, int *has, char *reason,
                          char *err, size_t errlen)
{
        json_t *ct = json_object_get(src, "contact"), *nc, *v;
        const char *key, *s;

        *has = 0;
        if (ct == NULL || json_is_null(ct))
                return 0;
        if (!json_is_object(ct))
                return km_cpl_reject(reason, err, errlen, "wrong_type",
                                     "contact", "contact must be an object");
        json_object_foreach(ct, key, v) {
                if (!km_cpl_in(km_cpl_contact_fields, key))
                        return km_cpl_reject(reason, err, errlen,
                                             "unknown_field", "contact",
                                             "unknown field in contact");
        }
        nc = json_object();
        json_object_set_new(dst, "contact", nc);
        for (int i = 0; km_cpl_contact_fields[i]; i++) {
                if (km_cpl_str(ct, "contact.", km_cpl_contact_fields[i], 0,
                               i == 1 ? 32 : 128, 0, &s, reason, err, errlen))
                        return KM_EINPUT;
                if (s && *s) {
                        json_object_set(nc, km_cpl_contact_fields[i],
                                        json_object_get(ct, km_cpl_contact_fields[i]));
                        *has = 1;
                }
        }
        return 0;
}

static int km_cpl_media(json_t *src, json_t *dst, char *reason, char *err,
                        size_t errlen)
{
        json_t *m = json_object_get(src, "media_urls"), *v;
        size_t i;

        if (m == NULL || json_is_null(m))
                return 0;
        if (!json_is_array(m))
                return km_cpl_reject(reason, err, errlen, "wrong_type",
                                     "media_urls", "media_urls must be an array");
        if (json_array_size(m) > 10)
                return km_cpl_reject(reason, err, errlen, "too_long",
                                     "media_urls", "more than 10 media_urls");
        json_array_foreach(m, i, v) {
                const char *s = json_string_value(v);

                if (!json_is_string(v) || strlen(s) > 512 ||
                    strlen(s) != json_string_length(v) ||
                    km_utf8_has_ctrl(s))
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_field", "media_urls",
                                             "media_urls: strings of at most "
                                             "512 bytes");
        }
        json_object_set(dst, "media_urls", m);
        return 0;
}

/* Validate src into the canonical object c->root.  Split from
 * km_complaint_from_json so that one owns and the other works. */
static int km_cpl_validate(json_t *src, const struct km_conf *conf, int mode,
                           int64_t now, struct km_complaint *c, char *reason,
                           char *err, size_t errlen)
{
        json_t *dst = c->root, *v;
        const char *key, *s, *id_in = NULL;
        char detail[200];
        int present;

        if (!json_is_object(src))
                return km_cpl_reject(reason, err, errlen, "wrong_type", "root",
                                     "a complaint must be a JSON object");
        json_object_foreach(src, key, v) {
                if (!km_cpl_in(km_cpl_fields, key)) {
                        snprintf(reason, KM_REASON_LEN, "unknown_field:%.40s",
                                 key);
                        return km_err_set(err, errlen, KM_EINPUT,
                                          "unknown field %.40s", key);
                }
        }
        v = json_object_get(src, "schema_version");
        if (v == NULL) {
                if (mode & KM_CPL_STRICT)
                        return km_cpl_reject(reason, err, errlen,
                                             "missing_field", "schema_version",
                                             "schema_version is required");
        } else if (!json_is_integer(v) ||
                   json_integer_value(v) != KM_COMPLAINT_SCHEMA_VERSION) {
                return km_cpl_reject(reason, err, errlen,
                                     "unsupported_schema_version", NULL,
                                     "schema_version must be 1");
        }
        json_object_set_new(dst, "schema_version",
                            json_integer(KM_COMPLAINT_SCHEMA_VERSION));
        if (km_cpl_str(src, "", "id", 0, 36, 0, &id_in, reason, err, errlen))
                return KM_EINPUT;
        json_object_set_new(dst, "id", json_string("")); /* keeps order */
        if (km_cpl_str(src, "", "source", 1, 64, 0, &s, reason, err, errlen))
                return KM_EINPUT;
        if (!km_cpl_token(s, 64))
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "source",
                                     "source must match [a-z0-9][a-z0-9_.-]*");
        json_object_set(dst, "source", json_object_get(src, "source"));
        if (km_cpl_str(src, "", "external_id", 0, 128, 0, &s, reason, err,
                       errlen))
                return KM_EINPUT;
        if (s && *s)
                json_object_set(dst, "external_id",
                                json_object_get(src, "external_id"));
        if (km_cpl_str(src, "", "channel", 0, 16, 0, &s, reason, err, errlen))
                return KM_EINPUT;
        if (s && !km_cpl_in(km_cpl_channels, s))
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "channel",
                                     "channel must be phone, telegram, web, "
                                     "app, social or email");
        if (s)
                json_object_set(dst, "channel", json_object_get(src, "channel"));
        if (km_cpl_str(src, "", "received_at", 1, 40, 0, &s, reason, err,
                       errlen))
                return KM_EINPUT;
        if (km_parse_rfc3339(s, &c->received_at))
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "received_at",
                                     "received_at is not an RFC 3339 time");
        if (c->received_at < 946684800 || c->received_at >= 4133980800)
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "received_at",
                                     "received_at outside 2000..2100");
        if (c->received_at > now + conf->future_skew_s) {
                snprintf(detail, sizeof(detail),
                         "received_at is %lld s in the future",
                         (long long)(c->received_at - now));
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "received_at", detail);
        }
        km_fmt_rfc3339(c->received_at, c->received_at_str,
                       sizeof(c->received_at_str));
        json_object_set_new(dst, "received_at",
                            json_string(c->received_at_str));
        if (km_cpl_str(src, "", "category", 1, 64, 0, &s, reason, err, errlen))
                return KM_EINPUT;
        if (km_conf_category(conf, s) == NULL)
                return km_cpl_reject(reason, err, errlen, "unknown_category",
                                     NULL, "category is not a configured "
                                           "service_code");
        json_object_set(dst, "category", json_object_get(src, "category"));
        if (km_cpl_str(src, "", "description", 1,
                       (size_t)conf->max_description_chars, 1, &s, reason, err,
                       errlen))
                return KM_EINPUT;
        json_object_set(dst, "description", json_object_get(src, "description"));
        if (km_cpl_address(src, c, dst, reason, err, errlen))
                return KM_EINPUT;
        if (km_cpl_str(src, "", "building_id", 0, 32, 0, &s, reason, err,
                       errlen))
                return KM_EINPUT;
        if (s && !km_cpl_building_id(s))
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "building_id",
                                     "building_id must match [A-Za-z0-9_-]{1,32}");
        if (s)
                json_object_set(dst, "building_id",
                                json_object_get(src, "building_id"));
        if (km_cpl_number(src, "lat", -90, 90, &present, &c->lat, reason, err,
                          errlen))
                return KM_EINPUT;
        c->has_geo = present;
        if (km_cpl_number(src, "long", -180, 180, &present, &c->lon, reason,
                          err, errlen))
                return KM_EINPUT;
        if (c->has_geo != present)
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "lat", "lat and long go together");
        if (c->has_geo) {
                json_object_set_new(dst, "lat", json_real(c->lat));
                json_object_set_new(dst, "long", json_real(c->lon));
        }
        if (km_cpl_contact(src, dst, &c->has_contact, reason, err, errlen))
                return KM_EINPUT;
        if (km_cpl_media(src, dst, reason, err, errlen))
                return KM_EINPUT;
        v = json_object_get(src, "emergency");
        if (v && !json_is_null(v) && !json_is_boolean(v))
                return km_cpl_reject(reason, err, errlen, "wrong_type",
                                     "emergency", "emergency must be a boolean");
        c->emergency = v && json_is_true(v);
        json_object_set_new(dst, "emergency", json_boolean(c->emergency));

        /* The id: derived from (source, external_id) when there is one. */
        s = json_string_value(json_object_get(dst, "external_id"));
        if (s) {
                km_id_derive(json_string_value(json_object_get(dst, "source")),
                             s, c->id);
                if (id_in && strcmp(id_in, c->id) != 0)
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_field", "id",
                                             "id does not match source and "
                                             "external_id");
        } else if (id_in) {
                if (!km_id_valid(id_in))
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_field", "id",
                                             "id must be a lower-case UUID");
                memcpy(c->id, id_in, KM_ID_LEN);
        } else if (mode & KM_CPL_STRICT) {
                return km_cpl_reject(reason, err, errlen, "missing_field",
                                     "id", "id is required");
        } else {
                km_id_random(c->id);
        }
        json_object_set_new(dst, "id", json_string(c->id));

        /* Borrowed pointers into dst, which the complaint owns. */
        c->source = json_string_value(json_object_get(dst, "source"));
        c->external_id = json_string_value(json_object_get(dst, "external_id"));
        c->channel = json_string_value(json_object_get(dst, "channel"));
        c->category = json_string_value(json_object_get(dst, "category"));
        c->description = json_string_value(json_object_get(dst, "description"));
        c->building_id = json_string_value(json_object_get(dst, "building_id"));
        return 0;
}

int km_complaint_from_json(json_t *obj, const struct km_conf *conf, int mode,
                           int64_t now, struct km_complaint **out,
                           char *reason, char *err, size_t errlen)
{
        struct km_complaint *c;
        int r;

        *out = NULL;
        c = km_xcalloc(1, sizeof(*c));
        c->root = json_object();
        r = km_cpl_validate(obj, conf, mode, now, c, reason, err, errlen);
        if (r) {
                km_complaint_destroy(c);
                return r;
        }
        *out = c;
        return 0;
}

int km_complaint_parse(const char *buf, size_t len, const struct km_conf *conf,
                       int mode, int64_t now, struct km_complaint **out,
                       char *reason, char *err, size_t errlen)
{
        json_error_t jerr;
        json_t *obj;
        size_t bad = 0;
        char detail[200];
        int r;

        *out = NULL;
        if (len > (size_t)conf->max_message_bytes) {
                snprintf(detail, sizeof(detail),
                         "message of %zu bytes exceeds %lld", len,
                         (long long)conf->max_message_bytes);
                return km_cpl_reject(reason, err, errlen, "too_large", NULL,
                                     detail);
        }
        if (len == 0)
                return km_cpl_reject(reason, err, errlen, "invalid_json", NULL,
                                     "empty message");
        /* jansson checks UTF-8 (overlong forms and surrogates included)
         * and refuses NUL bytes itself; the reason is worked out only for
         * the rejected, keeping the valid path to one pass. */
        obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (obj == NULL) {
                if (!km_utf8_valid(buf, len, &bad)) {
                        snprintf(detail, sizeof(detail),
                                 "invalid UTF-8 at byte %zu", bad);
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_utf8", NULL, detail);
                }
                if (memchr(buf, '\0', len) != NULL)
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_json", NULL,
                                             "NUL byte in message");
                snprintf(detail, sizeof(detail), "line %d column %d: %s",
                         jerr.line, jerr.column, jerr.text);
                return km_cpl_reject(reason, err, errlen,
                                     json_error_code(&jerr) ==
                                             json_error_duplicate_key
                                         ? "duplicate_key"
                                         : "invalid_json",
                                     NULL, detail);
        }
        r = km_complaint_from_json(obj, conf, mode, now, out, reason, err,
                                   errlen);
        json_decref(obj);
        return r;
}

json_t *km_complaint_to_json(const struct km_complaint *c, int flags)
{
        json_t *o = json_deep_copy(c->root);

        if (flags & KM_CPL_NO_PII)
                json_object_del(o, "contact");
        return o;
}

/* Reals with 12 significant digits: coordinates print as written
 * (51.123357), not as their binary expansion (51.123356999999999). */
#define KM_CPL_DUMP_FLAGS                                                      \
        (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

char *km_complaint_dumps(const struct km_complaint *c, int flags)
{
        json_t *o = c->root;
        char *s;

        if (flags & KM_CPL_NO_PII) {
                /* shallow copy: the members are shared, not copied */
                o = json_copy(c->root);
                json_object_del(o, "contact");
        }
        s = json_dumps(o, KM_CPL_DUMP_FLAGS);
        if (o != c->root)
                json_decref(o);
        if (s == NULL)
                abort(); /* only on out of memory */
        return s;
}

void km_complaint_destroy(struct km_complaint *c)
{
        if (c == NULL)
                return;
        json_decref(c->root);
        free(c);
}

char *km_dlq_build(const char *reason, const char *detail, const char *buf,
                   size_t len, json_t *origin)
{
        json_t *o = json_object();
        char *s;

        json_object_set_new(o, "schema_version", json_integer(1));
        json_object_set_new(o, "reason", json_string(reason));
        json_object_set_new(o, "detail", json_string(detail));
        json_object_set_new(o, "at", json_integer(km_wall_s()));
        if (origin)
                json_object_set_new(o, "origin", origin);
        json_object_set_new(o, "size", json_integer((json_int_t)len));
        if (km_utf8_valid(buf, len, NULL) && memchr(buf, '\0', len) == NULL) {
                json_object_set_new(o, "original", json_stringn(buf, len));
        } else {
                size_t blen = 4 * ((len + 2) / 3) + 1;
                unsigned char *b64 = km_xmalloc(blen);

                EVP_EncodeBlock(b64, (const unsigned char *)buf, (int)len);
                json_object_set_new(o, "original_b64",
                                    json_string((const char *)b64));
                free(b64);
        }
        s = json_dumps(o, KM_CPL_DUMP_FLAGS);
        json_decref(o);
        if (s == NULL)
                abort();
        return s;
}
