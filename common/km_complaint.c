/*
 * km_complaint.c - see km_complaint.h.
 *
 * SECURITY: everything here reads untrusted bytes from residents and
 * integrations.  Checks run cheapest first (size, UTF-8, JSON) and never
 * trust lengths from the input; jansson limits nesting depth itself.
 * Rejections are values (KM_EINPUT + reason), never crashes or exits.
 */
#include "km_complaint.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "km_utf8.h"
#include "km_util.h"

static const char *const km_cpl_fields[] = {
        "schema_version", "id",          "source",    "external_id",
        "channel",        "received_at", "category",  "description",
        "address",        "building_id", "lat",       "long",
        "contact",        "media_urls",  "emergency", NULL,
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
                      const char **out, char *reason, char *err, size_t errlen)
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
                return km_cpl_reject(reason, err, errlen, "invalid_field", name,
                                     detail);
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
        json_object_foreach (a, key, v) {
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
                        json_object_set(
                                na, km_cpl_addr_fields[i],
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
        json_object_foreach (ct, key, v) {
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
                        json_object_set(
                                nc, km_cpl_contact_fields[i],
                                json_object_get(ct, km_cpl_contact_fields[i]));
                        *has = 1;
                }
        }
        return 0;
}

/* A media URL: http: or https: (any case, RFC 3986 3.1), "//" and a
 * non-empty host (after any userinfo, before any port); no whitespace in
 * the authority.  Anything else (javascript:, data:, "http://") is
 * refused: these URLs end up as links in the operators' web pages. */
int km_complaint_url_ok(const char *s, size_t n)
{
        size_t i, start, host, end;

        if (n >= 7 && strncasecmp(s, "http://", 7) == 0)
                start = 7;
        else if (n >= 8 && strncasecmp(s, "https://", 8) == 0)
                start = 8;
        else
                return 0;
        end = start;
        while (end < n && s[end] != '/' && s[end] != '?' && s[end] != '#')
                end++;
        host = start;
        for (i = start; i < end; i++) {
                if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
                        return 0;
                if (s[i] == '@')
                        host = i + 1;
        }
        if (host < end && s[host] == '[') /* IPv6 literal */
                return end - host > 2 && memchr(s + host, ']', end - host);
        for (i = host; i < end && s[i] != ':'; i++)
                ;
        return i > host;
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
                                     "media_urls",
                                     "media_urls must be an array");
        if (json_array_size(m) > 10)
                return km_cpl_reject(reason, err, errlen, "too_long",
                                     "media_urls", "more than 10 media_urls");
        json_array_foreach (m, i, v) {
                const char *s = json_string_value(v);

                if (!json_is_string(v) || strlen(s) > 512 ||
                    strlen(s) != json_string_length(v) || km_utf8_has_ctrl(s) ||
                    !km_complaint_url_ok(s, strlen(s)))
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_field", "media_urls",
                                             "media_urls: strings of at most "
                                             "512 bytes");
        }
        json_object_set(dst, "media_urls", m);
        return 0;
}

/* received_at's value s: an RFC 3339 time in 2000..2100, not further in
 * the future than future_skew_s, into *t (both validators). */
static int km_cpl_received_time(const char *s, const struct km_conf *conf,
                                int64_t now, int64_t *t, char *reason,
                                char *err, size_t errlen)
{
        char detail[200];

        if (km_parse_rfc3339(s, &*t))
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "received_at",
                                     "received_at is not an RFC 3339 time");
        if (*t < 946684800 || *t >= 4133980800)
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "received_at",
                                     "received_at outside 2000..2100");
        if (*t > now + conf->future_skew_s) {
                snprintf(detail, sizeof(detail),
                         "received_at is %lld s in the future",
                         (long long)(*t - now));
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "received_at", detail);
        }
        return 0;
}

/* received_at: an RFC 3339 time in 2000..2100, not further in the
 * future than future_skew_s; canonical in c and dst. */
static int km_cpl_received(json_t *src, const struct km_conf *conf, int64_t now,
                           struct km_complaint *c, json_t *dst, char *reason,
                           char *err, size_t errlen)
{
        const char *s;

        if (km_cpl_str(src, "", "received_at", 1, 40, 0, &s, reason, err,
                       errlen))
                return KM_EINPUT;
        if (km_cpl_received_time(s, conf, now, &c->received_at, reason, err,
                                 errlen))
                return KM_EINPUT;
        km_fmt_rfc3339(c->received_at, c->received_at_str,
                       sizeof(c->received_at_str));
        json_object_set_new(dst, "received_at",
                            json_string(c->received_at_str));
        return 0;
}

/* lat and long: both or neither, in range. */
static int km_cpl_geo(json_t *src, struct km_complaint *c, json_t *dst,
                      char *reason, char *err, size_t errlen)
{
        int present;

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
        return 0;
}

/* The id: derived from (source, external_id) when there is one (a given
 * id must then match), else the given lower-case UUID, else (lenient
 * mode) a random one. */
static int km_cpl_id(json_t *dst, const char *id_in, int mode,
                     struct km_complaint *c, char *reason, char *err,
                     size_t errlen)
{
        const char *s;

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
                return km_cpl_reject(reason, err, errlen, "missing_field", "id",
                                     "id is required");
        } else {
                km_id_random(c->id);
        }
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

        if (!json_is_object(src))
                return km_cpl_reject(reason, err, errlen, "wrong_type", "root",
                                     "a complaint must be a JSON object");
        json_object_foreach (src, key, v) {
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
                json_object_set(dst, "channel",
                                json_object_get(src, "channel"));
        if (km_cpl_received(src, conf, now, c, dst, reason, err, errlen))
                return KM_EINPUT;
        if (km_cpl_str(src, "", "category", 1, 64, 0, &s, reason, err, errlen))
                return KM_EINPUT;
        if (km_conf_category(conf, s) == NULL)
                return km_cpl_reject(reason, err, errlen, "unknown_category",
                                     NULL,
                                     "category is not a configured "
                                     "service_code");
        json_object_set(dst, "category", json_object_get(src, "category"));
        if (km_cpl_str(src, "", "description", 1,
                       (size_t)conf->max_description_chars, 1, &s, reason, err,
                       errlen))
                return KM_EINPUT;
        json_object_set(dst, "description",
                        json_object_get(src, "description"));
        if (km_cpl_address(src, c, dst, reason, err, errlen))
                return KM_EINPUT;
        if (km_cpl_str(src, "", "building_id", 0, 32, 0, &s, reason, err,
                       errlen))
                return KM_EINPUT;
        if (s && !km_cpl_building_id(s))
                return km_cpl_reject(
                        reason, err, errlen, "invalid_field", "building_id",
                        "building_id must match [A-Za-z0-9_-]{1,32}");
        if (s)
                json_object_set(dst, "building_id",
                                json_object_get(src, "building_id"));
        if (km_cpl_geo(src, c, dst, reason, err, errlen))
                return KM_EINPUT;
        if (km_cpl_contact(src, dst, &c->has_contact, reason, err, errlen))
                return KM_EINPUT;
        if (km_cpl_media(src, dst, reason, err, errlen))
                return KM_EINPUT;
        v = json_object_get(src, "emergency");
        if (v && !json_is_null(v) && !json_is_boolean(v))
                return km_cpl_reject(reason, err, errlen, "wrong_type",
                                     "emergency",
                                     "emergency must be a boolean");
        c->emergency = v && json_is_true(v);
        json_object_set_new(dst, "emergency", json_boolean(c->emergency));

        if (km_cpl_id(dst, id_in, mode, c, reason, err, errlen))
                return KM_EINPUT;
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
                           int64_t now, struct km_complaint **out, char *reason,
                           char *err, size_t errlen)
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

int km_complaint_parse_ref(const char *buf, size_t len,
                           const struct km_conf *conf, int mode, int64_t now,
                           struct km_complaint **out, char *reason, char *err,
                           size_t errlen)
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
         * and refuses NUL bytes itself, except one right after a number,
         * which it skips ({"lat":1<NUL>}: found by the differential
         * fuzzer), hence the check first; the reason is worked out only
         * for the rejected. */
        obj = memchr(buf, '\0', len) != NULL
                      ? NULL
                      : json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
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

/* ------------------------------------------------------------------------
 * The production parser: one pass over the bytes, no tree.
 *
 * The scanner reads the JSON exactly as jansson's json_loadb does with
 * JSON_REJECT_DUPLICATES (same grammar, depth limit, number overflow,
 * escapes, surrogates, \u0000 and UTF-8 rules, errors found in the same
 * order), recording the members of the schema's three objects as it goes
 * (a bitmask per object for known keys; unknown keys, and keys of objects
 * outside the schema, in a small hash set for the duplicate check).  The
 * rules then run over the recorded members in km_cpl_validate's order, so
 * each rejection carries the reference's reason, and the canonical text is
 * written straight from the recorded strings (their raw bytes when they had
 * no escape).
 * ---------------------------------------------------------------------- */

enum {
        KM_SV_ABSENT = 0,
        KM_SV_NULL,
        KM_SV_TRUE,
        KM_SV_FALSE,
        KM_SV_INT,
        KM_SV_REAL,
        KM_SV_STR,
        KM_SV_OBJ,
        KM_SV_ARR,
};

/* control characters in a decoded string */
#define KM_SV_CTRL_OTHER 0x1 /* < 0x20 other than tab/LF/CR, or DEL */
#define KM_SV_CTRL_WS 0x2    /* tab, LF or CR */

struct km_sv {
        unsigned char type, esc, ctrl, one;
        const char *raw; /* string: between the quotes; number: token */
        size_t rawlen;
        const char *s; /* string: decoded, NUL-terminated */
        size_t len, chars;
};

enum {
        KM_F_SCHEMA,
        KM_F_ID,
        KM_F_SOURCE,
        KM_F_EXTERNAL_ID,
        KM_F_CHANNEL,
        KM_F_RECEIVED_AT,
        KM_F_CATEGORY,
        KM_F_DESCRIPTION,
        KM_F_ADDRESS,
        KM_F_BUILDING_ID,
        KM_F_LAT,
        KM_F_LONG,
        KM_F_CONTACT,
        KM_F_MEDIA,
        KM_F_EMERGENCY,
        KM_F_N,
};

#define KM_SC_ROOT 1
#define KM_SC_ADDR 2
#define KM_SC_CONTACT 3
#define KM_SC_SYNTAX 1
#define KM_SC_DUP 2
#define KM_SC_MEDIA_MAX 10

struct km_dkey {
        const char *k;
        uint32_t len, obj, h;
};

struct km_scan {
        const char *p, *end;
        char *arena;
        size_t alen;
        int err;
        unsigned objs;
        struct km_dkey *tab; /* the duplicate set of keys outside bitmasks */
        size_t tcap, tn;
        struct km_sv f[KM_F_N], addr[5], contact[3];
        struct km_sv media[KM_SC_MEDIA_MAX];
        size_t nmedia;
        int media_bad, contact_unknown, root_array;
        char unknown[41], addr_unknown[41];
        int has_unknown, has_addr_unknown;
};

static int km_sc_fail(struct km_scan *st, int why)
{
        st->err = why;
        return -1;
}

static inline void km_sc_ws(struct km_scan *st)
{
        const char *p = st->p, *end = st->end;

        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
                p++;
        st->p = p;
}

static inline int km_sc_hex(const char *p, const char *end, unsigned *out)
{
        unsigned v = 0;

        if (end - p < 4)
                return -1;
        for (int i = 0; i < 4; i++) {
                unsigned char c = (unsigned char)p[i];

                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= c - '0';
                else if (c >= 'a' && c <= 'f')
                        v |= c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        v |= c - 'A' + 10;
                else
                        return -1;
        }
        *out = v;
        return 0;
}

/* Byte classes for the string scanner: 0 printable ASCII other than "
 * and backslash, 2 the lead byte of a two-byte UTF-8 sequence, 1 anything
 * that needs a closer look. */
static const unsigned char km_sc_class[256] = {
        [0x00 ... 0x1F] = 1, ['"'] = 1,           ['\\'] = 1,
        [0x7F ... 0xC1] = 1, [0xC2 ... 0xDF] = 2, [0xE0 ... 0xFF] = 1,
};

/* One string, st->p just after its opening quote: validated as jansson
 * does and decoded into the arena (NUL-terminated), with its length in
 * bytes and characters and its control characters. */
static int km_sc_string(struct km_scan *st, struct km_sv *v)
{
        const unsigned char *p = (const unsigned char *)st->p;
        const unsigned char *end = (const unsigned char *)st->end;
        char *o = st->arena + st->alen, *o0 = o;
        size_t chars = 0;
        unsigned ctrl = 0, esc = 0;

        v->raw = (const char *)p;
        for (;;) {
                unsigned c;

                /* the common cases: printable ASCII, and two-byte UTF-8
                 * (Cyrillic, Kazakh) */
                const unsigned char *run = p;

                while (p < end) {
                        unsigned char k = km_sc_class[*p];

                        if (k == 0)
                                p++;
                        else if (k == 2 && end - p >= 2 &&
                                 (p[1] & 0xC0) == 0x80)
                                p += 2;
                        else
                                break;
                        chars++;
                }
                memcpy(o, run, (size_t)(p - run)); /* the run at once */
                o += p - run;
                if (p >= end)
                        return km_sc_fail(st, KM_SC_SYNTAX);
                c = *p;
                if (c == '"')
                        break;
                if (c < 0x20)
                        return km_sc_fail(st, KM_SC_SYNTAX);
                if (c == 0x7F) {
                        ctrl |= KM_SV_CTRL_OTHER;
                        *o++ = (char)*p++;
                        chars++;
                        continue;
                }
                if (c == '\\') {
                        unsigned cp, lo;

                        esc = 1;
                        if (end - p < 2)
                                return km_sc_fail(st, KM_SC_SYNTAX);
                        switch (p[1]) {
                        case '"':
                        case '\\':
                        case '/':
                                *o++ = (char)p[1];
                                p += 2, chars++;
                                continue;
                        case 'b':
                                cp = '\b';
                                break;
                        case 'f':
                                cp = '\f';
                                break;
                        case 'n':
                                cp = '\n';
                                break;
                        case 'r':
                                cp = '\r';
                                break;
                        case 't':
                                cp = '\t';
                                break;
                        case 'u':
                                if (km_sc_hex((const char *)p + 2,
                                              (const char *)end, &cp))
                                        return km_sc_fail(st, KM_SC_SYNTAX);
                                p += 4;
                                break;
                        default:
                                return km_sc_fail(st, KM_SC_SYNTAX);
                        }
                        p += 2;
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                if (end - p < 6 || p[0] != '\\' ||
                                    p[1] != 'u' ||
                                    km_sc_hex((const char *)p + 2,
                                              (const char *)end, &lo) ||
                                    lo < 0xDC00 || lo > 0xDFFF)
                                        return km_sc_fail(st, KM_SC_SYNTAX);
                                p += 6;
                                cp = ((cp - 0xD800) << 10) + (lo - 0xDC00) +
                                     0x10000;
                        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                                return km_sc_fail(st, KM_SC_SYNTAX);
                        } else if (cp == 0) {
                                return km_sc_fail(st, KM_SC_SYNTAX);
                        }
                        chars++;
                        if (cp < 0x80) {
                                if (cp < 0x20)
                                        ctrl |= (cp == '\t' || cp == '\n' ||
                                                 cp == '\r')
                                                        ? KM_SV_CTRL_WS
                                                        : KM_SV_CTRL_OTHER;
                                else if (cp == 0x7F)
                                        ctrl |= KM_SV_CTRL_OTHER;
                                *o++ = (char)cp;
                        } else if (cp < 0x800) {
                                *o++ = (char)(0xC0 | (cp >> 6));
                                *o++ = (char)(0x80 | (cp & 0x3F));
                        } else if (cp < 0x10000) {
                                *o++ = (char)(0xE0 | (cp >> 12));
                                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                                *o++ = (char)(0x80 | (cp & 0x3F));
                        } else {
                                *o++ = (char)(0xF0 | (cp >> 18));
                                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                                *o++ = (char)(0x80 | (cp & 0x3F));
                        }
                        continue;
                }
                /* a multi-byte UTF-8 sequence (RFC 3629) */
                {
                        size_t n;
                        unsigned lo = 0x80, hi = 0xBF;

                        if (c >= 0xC2 && c <= 0xDF)
                                n = 2;
                        else if (c >= 0xE0 && c <= 0xEF)
                                n = 3, lo = c == 0xE0 ? 0xA0 : 0x80,
                                hi = c == 0xED ? 0x9F : 0xBF;
                        else if (c >= 0xF0 && c <= 0xF4)
                                n = 4, lo = c == 0xF0 ? 0x90 : 0x80,
                                hi = c == 0xF4 ? 0x8F : 0xBF;
                        else
                                return km_sc_fail(st, KM_SC_SYNTAX);
                        if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
                                return km_sc_fail(st, KM_SC_SYNTAX);
                        for (size_t k = 2; k < n; k++)
                                if ((p[k] & 0xC0) != 0x80)
                                        return km_sc_fail(st, KM_SC_SYNTAX);
                        for (size_t k = 0; k < n; k++)
                                *o++ = (char)p[k];
                        p += n;
                        chars++;
                }
        }
        v->rawlen = (size_t)((const char *)p - v->raw);
        st->p = (const char *)p + 1;
        *o = '\0';
        v->type = KM_SV_STR;
        v->esc = (unsigned char)esc;
        v->ctrl = (unsigned char)ctrl;
        v->s = o0;
        v->len = (size_t)(o - o0);
        v->chars = chars;
        st->alen += v->len + 1;
        return 0;
}

/* A number token as jansson lexes it: JSON's grammar, integers that fit
 * int64_t, reals that do not overflow strtod. */
static int km_sc_number(struct km_scan *st, struct km_sv *v)
{
        const char *p = st->p, *end = st->end, *d0;
        int real = 0, neg = 0;
        size_t nd;

        v->raw = p;
        if (*p == '-')
                p++, neg = 1;
        d0 = p;
        if (p < end && *p == '0') {
                p++;
                if (p < end && *p >= '0' && *p <= '9')
                        return km_sc_fail(st, KM_SC_SYNTAX);
        } else if (p < end && *p >= '0' && *p <= '9') {
                while (p < end && *p >= '0' && *p <= '9')
                        p++;
        } else {
                return km_sc_fail(st, KM_SC_SYNTAX);
        }
        nd = (size_t)(p - d0);
        if (p < end && *p == '.') {
                p++;
                if (p >= end || *p < '0' || *p > '9')
                        return km_sc_fail(st, KM_SC_SYNTAX);
                while (p < end && *p >= '0' && *p <= '9')
                        p++;
                real = 1;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
                p++;
                if (p < end && (*p == '+' || *p == '-'))
                        p++;
                if (p >= end || *p < '0' || *p > '9')
                        return km_sc_fail(st, KM_SC_SYNTAX);
                while (p < end && *p >= '0' && *p <= '9')
                        p++;
                real = 1;
        }
        v->rawlen = (size_t)(p - v->raw);
        st->p = p;
        if (!real) {
                v->type = KM_SV_INT;
                v->one = v->rawlen == 1 && v->raw[0] == '1';
                if (nd > 19 || (nd == 19 && memcmp(d0,
                                                   neg ? "9223372036854775808"
                                                       : "9223372036854775807",
                                                   19) > 0))
                        return km_sc_fail(st, KM_SC_SYNTAX);
                return 0;
        }
        v->type = KM_SV_REAL;
        /* without an exponent only 309 integer digits can overflow */
        if (memchr(v->raw, 'e', v->rawlen) == NULL &&
            memchr(v->raw, 'E', v->rawlen) == NULL && nd < 300)
                return 0;
        {
                char tmp[64], *t = tmp;
                double d;

                if (v->rawlen >= sizeof(tmp))
                        t = km_xmalloc(v->rawlen + 1);
                memcpy(t, v->raw, v->rawlen);
                t[v->rawlen] = '\0';
                errno = 0;
                d = strtod(t, NULL);
                if (t != tmp)
                        free(t);
                if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
                        return km_sc_fail(st, KM_SC_SYNTAX);
        }
        return 0;
}

/* A number token without exponent and with at most 15 digits: its value
 * exactly as strtod gives it (m / 10^k with m < 2^53 and 10^k exact is one
 * correctly rounded IEEE division, Clinger 1990).  @returns 0, or -1 for
 * any other token. */
static int km_sc_fastnum(const struct km_sv *v, double *out)
{
        static const double p10[] = {1e0,  1e1,  1e2,  1e3, 1e4,  1e5,
                                     1e6,  1e7,  1e8,  1e9, 1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15};
        const char *p = v->raw, *end = v->raw + v->rawlen;
        int64_t m = 0;
        int neg = 0, nd = 0, k = -1;

        if (p < end && *p == '-')
                neg = 1, p++;
        for (; p < end; p++) {
                if (*p == '.') {
                        k = 0;
                        continue;
                }
                if (*p < '0' || *p > '9' || ++nd > 15)
                        return -1;
                m = m * 10 + (*p - '0');
                if (k >= 0)
                        k++;
        }
        if (v->type == KM_SV_INT) {
                /* jansson's json_integer: "-0" is 0, not -0.0 */
                *out = (double)(neg ? -m : m);
                return 0;
        }
        *out = k > 0 ? (double)m / p10[k] : (double)m;
        if (neg)
                *out = -*out;
        return 0;
}

static double km_sc_numval(const struct km_sv *v)
{
        char tmp[64], *t = tmp;
        double d;

        if (km_sc_fastnum(v, &d) == 0)
                return d;
        if (v->rawlen >= sizeof(tmp))
                t = km_xmalloc(v->rawlen + 1);
        memcpy(t, v->raw, v->rawlen);
        t[v->rawlen] = '\0';
        /* an integer is jansson's json_integer: "-0" is 0, not -0.0 */
        d = v->type == KM_SV_INT ? (double)strtoll(t, NULL, 10)
                                 : strtod(t, NULL);
        if (t != tmp)
                free(t);
        return d;
}

static uint32_t km_sc_hash(unsigned obj, const char *k, size_t n)
{
        uint32_t h = 2166136261u ^ obj;

        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char)k[i]) * 16777619u;
        return h;
}

/* Add (obj, key) to the duplicate set: 1 if it was there. */
static int km_sc_dup(struct km_scan *st, unsigned obj, const char *k, size_t n)
{
        uint32_t h = km_sc_hash(obj, k, n);
        size_t i;

        if (2 * (st->tn + 1) > st->tcap) {
                size_t ncap = st->tcap ? 2 * st->tcap : 64;
                struct km_dkey *nt = km_xcalloc(ncap, sizeof(*nt));

                for (size_t j = 0; j < st->tcap; j++) {
                        if (st->tab[j].k == NULL)
                                continue;
                        i = st->tab[j].h & (ncap - 1);
                        while (nt[i].k)
                                i = (i + 1) & (ncap - 1);
                        nt[i] = st->tab[j];
                }
                free(st->tab);
                st->tab = nt;
                st->tcap = ncap;
        }
        for (i = h & (st->tcap - 1); st->tab[i].k;
             i = (i + 1) & (st->tcap - 1)) {
                const struct km_dkey *e = &st->tab[i];

                if (e->h == h && e->obj == obj && e->len == n &&
                    memcmp(e->k, k, n) == 0)
                        return 1;
        }
        st->tab[i].k = k;
        st->tab[i].len = (uint32_t)n;
        st->tab[i].obj = obj;
        st->tab[i].h = h;
        st->tn++;
        return 0;
}

static int km_sc_root_key(const char *k, size_t n)
{
#define KM_K(s, f)                                                             \
        if (memcmp(k, s, n) == 0)                                              \
        return f
        switch (n) {
        case 2:
                KM_K("id", KM_F_ID);
                break;
        case 3:
                KM_K("lat", KM_F_LAT);
                break;
        case 4:
                KM_K("long", KM_F_LONG);
                break;
        case 6:
                KM_K("source", KM_F_SOURCE);
                break;
        case 7:
                KM_K("channel", KM_F_CHANNEL);
                KM_K("address", KM_F_ADDRESS);
                KM_K("contact", KM_F_CONTACT);
                break;
        case 8:
                KM_K("category", KM_F_CATEGORY);
                break;
        case 9:
                KM_K("emergency", KM_F_EMERGENCY);
                break;
        case 10:
                KM_K("media_urls", KM_F_MEDIA);
                break;
        case 11:
                KM_K("external_id", KM_F_EXTERNAL_ID);
                KM_K("received_at", KM_F_RECEIVED_AT);
                KM_K("building_id", KM_F_BUILDING_ID);
                KM_K("description", KM_F_DESCRIPTION);
                break;
        case 14:
                KM_K("schema_version", KM_F_SCHEMA);
                break;
        }
        return -1;
}

static int km_sc_addr_key(const char *k, size_t n)
{
        switch (n) {
        case 8:
                KM_K("district", 0);
                break;
        case 6:
                KM_K("street", 1);
                break;
        case 5:
                KM_K("house", 2);
                break;
        case 9:
                KM_K("apartment", 3);
                break;
        case 4:
                KM_K("text", 4);
                break;
        }
        return -1;
}

static int km_sc_contact_key(const char *k, size_t n)
{
        switch (n) {
        case 4:
                KM_K("name", 0);
                break;
        case 5:
                KM_K("phone", 1);
                KM_K("email", 2);
                break;
        }
        return -1;
#undef KM_K
}

static int km_sc_value(struct km_scan *st, unsigned depth, struct km_sv *rec);

/* An object, st->p on its '{'; kind says which of the schema's objects it
 * is (0: none, every member unrecorded). */
static int km_sc_object(struct km_scan *st, unsigned depth, int kind)
{
        unsigned obj = ++st->objs, seen = 0;

        st->p++;
        km_sc_ws(st);
        if (st->p < st->end && *st->p == '}') {
                st->p++;
                return 0;
        }
        for (;;) {
                struct km_sv key, *rec = NULL;
                size_t mark;
                int idx = -1;

                if (st->p >= st->end || *st->p != '"')
                        return km_sc_fail(st, KM_SC_SYNTAX);
                st->p++;
                if (km_sc_string(st, &key))
                        return -1;
                mark = st->alen;
                if (kind == KM_SC_ROOT)
                        idx = km_sc_root_key(key.s, key.len);
                else if (kind == KM_SC_ADDR)
                        idx = km_sc_addr_key(key.s, key.len);
                else if (kind == KM_SC_CONTACT)
                        idx = km_sc_contact_key(key.s, key.len);
                if (idx >= 0) {
                        if (seen & (1u << idx))
                                return km_sc_fail(st, KM_SC_DUP);
                        seen |= 1u << idx;
                        st->alen -= key.len + 1; /* the key is not kept */
                        mark = st->alen;
                        rec = kind == KM_SC_ROOT   ? &st->f[idx]
                              : kind == KM_SC_ADDR ? &st->addr[idx]
                                                   : &st->contact[idx];
                } else {
                        if (km_sc_dup(st, obj, key.s, key.len))
                                return km_sc_fail(st, KM_SC_DUP);
                        if (kind == KM_SC_ROOT && !st->has_unknown) {
                                snprintf(st->unknown, sizeof(st->unknown),
                                         "%.40s", key.s);
                                st->has_unknown = 1;
                        } else if (kind == KM_SC_ADDR &&
                                   !st->has_addr_unknown) {
                                snprintf(st->addr_unknown,
                                         sizeof(st->addr_unknown), "%.40s",
                                         key.s);
                                st->has_addr_unknown = 1;
                        } else if (kind == KM_SC_CONTACT) {
                                st->contact_unknown = 1;
                        }
                }
                km_sc_ws(st);
                if (st->p >= st->end || *st->p != ':')
                        return km_sc_fail(st, KM_SC_SYNTAX);
                st->p++;
                km_sc_ws(st);
                if (rec && kind == KM_SC_ROOT && st->p < st->end &&
                    ((idx == KM_F_ADDRESS && *st->p == '{') ||
                     (idx == KM_F_CONTACT && *st->p == '{') ||
                     (idx == KM_F_MEDIA && *st->p == '['))) {
                        if (depth + 1 > JSON_PARSER_MAX_DEPTH)
                                return km_sc_fail(st, KM_SC_SYNTAX);
                        rec->type = *st->p == '{' ? KM_SV_OBJ : KM_SV_ARR;
                        if (idx != KM_F_MEDIA) {
                                if (km_sc_object(st, depth + 1,
                                                 idx == KM_F_ADDRESS
                                                         ? KM_SC_ADDR
                                                         : KM_SC_CONTACT))
                                        return -1;
                        } else if (km_sc_value(st, depth + 1, rec)) {
                                return -1;
                        }
                } else {
                        if (km_sc_value(st, depth + 1, rec))
                                return -1;
                        if (rec == NULL)
                                st->alen = mark; /* value not kept */
                }
                km_sc_ws(st);
                if (st->p >= st->end)
                        return km_sc_fail(st, KM_SC_SYNTAX);
                if (*st->p == '}') {
                        st->p++;
                        return 0;
                }
                if (*st->p != ',')
                        return km_sc_fail(st, KM_SC_SYNTAX);
                st->p++;
                km_sc_ws(st);
        }
}

/* media_urls' elements: recorded (the first KM_SC_MEDIA_MAX), counted and
 * checked as km_cpl_media does. */
static int km_sc_media_elem(struct km_scan *st, unsigned depth)
{
        struct km_sv tmp, *v;
        size_t mark = st->alen;

        v = st->nmedia < KM_SC_MEDIA_MAX ? &st->media[st->nmedia] : &tmp;
        memset(v, 0, sizeof(*v));
        if (km_sc_value(st, depth, v))
                return -1;
        if (v->type != KM_SV_STR || v->len > 512 ||
            (v->ctrl & KM_SV_CTRL_OTHER) || !km_complaint_url_ok(v->s, v->len))
                st->media_bad = 1;
        if (v == &tmp)
                st->alen = mark;
        st->nmedia++;
        return 0;
}

/* An array, st->p on its '['; media: it is the complaint's media_urls. */
static int km_sc_array(struct km_scan *st, unsigned depth, int media)
{
        st->p++;
        km_sc_ws(st);
        if (st->p < st->end && *st->p == ']') {
                st->p++;
                return 0;
        }
        for (;;) {
                size_t mark = st->alen;

                if (media) {
                        if (km_sc_media_elem(st, depth + 1))
                                return -1;
                } else {
                        if (km_sc_value(st, depth + 1, NULL))
                                return -1;
                        st->alen = mark;
                }
                km_sc_ws(st);
                if (st->p >= st->end)
                        return km_sc_fail(st, KM_SC_SYNTAX);
                if (*st->p == ']') {
                        st->p++;
                        return 0;
                }
                if (*st->p != ',')
                        return km_sc_fail(st, KM_SC_SYNTAX);
                st->p++;
                km_sc_ws(st);
        }
}

static int km_sc_literal(struct km_scan *st, const char *word, size_t n)
{
        const char *p = st->p;

        if ((size_t)(st->end - p) < n || memcmp(p, word, n) != 0)
                return km_sc_fail(st, KM_SC_SYNTAX);
        p += n;
        if (p < st->end &&
            ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                return km_sc_fail(st, KM_SC_SYNTAX);
        st->p = p;
        return 0;
}

/* One value at depth (the root is 1, as jansson counts), st->p on its
 * first byte; rec (NULL-able) records it. */
static int km_sc_value(struct km_scan *st, unsigned depth, struct km_sv *rec)
{
        struct km_sv tmp;

        if (depth > JSON_PARSER_MAX_DEPTH || st->p >= st->end)
                return km_sc_fail(st, KM_SC_SYNTAX);
        if (rec == NULL)
                rec = &tmp;
        switch (*st->p) {
        case '"':
                st->p++;
                return km_sc_string(st, rec);
        case '{':
                rec->type = KM_SV_OBJ;
                return km_sc_object(st, depth, 0);
        case '[':
                rec->type = KM_SV_ARR;
                return km_sc_array(st, depth, rec == &st->f[KM_F_MEDIA]);
        case 't':
                rec->type = KM_SV_TRUE;
                return km_sc_literal(st, "true", 4);
        case 'f':
                rec->type = KM_SV_FALSE;
                return km_sc_literal(st, "false", 5);
        case 'n':
                rec->type = KM_SV_NULL;
                return km_sc_literal(st, "null", 4);
        default:
                if (*st->p == '-' || (*st->p >= '0' && *st->p <= '9'))
                        return km_sc_number(st, rec);
                return km_sc_fail(st, KM_SC_SYNTAX);
        }
}

/* km_cpl_str over a recorded member. */
static int km_sc_str(const struct km_sv *v, const char *prefix,
                     const char *name, int required, size_t maxchars,
                     int multiline, const char **out, char *reason, char *err,
                     size_t errlen)
{
        char field[64], detail[160];
        const char *code, *what;

        *out = NULL;
        if (v->type == KM_SV_ABSENT || v->type == KM_SV_NULL) {
                if (!required)
                        return 0;
                code = "missing_field", what = "is required";
                goto reject;
        }
        if (v->type != KM_SV_STR) {
                code = "wrong_type", what = "must be a string";
                goto reject;
        }
        if (required && v->len == 0) {
                code = "missing_field", what = "is empty";
                goto reject;
        }
        if (v->chars > maxchars) {
                snprintf(field, sizeof(field), "%s%s", prefix, name);
                snprintf(detail, sizeof(detail),
                         "%s longer than %zu characters", field, maxchars);
                return km_cpl_reject(reason, err, errlen, "too_long", field,
                                     detail);
        }
        if ((v->ctrl & KM_SV_CTRL_OTHER) ||
            (!multiline && (v->ctrl & KM_SV_CTRL_WS))) {
                code = "invalid_field", what = "contains control characters";
                goto reject;
        }
        *out = v->s;
        return 0;
reject:
        snprintf(field, sizeof(field), "%s%s", prefix, name);
        snprintf(detail, sizeof(detail), "%s %s", field, what);
        return km_cpl_reject(reason, err, errlen, code, field, detail);
}

static int km_sc_num(const struct km_sv *v, const char *name, double lo,
                     double hi, int *present, double *out, char *reason,
                     char *err, size_t errlen)
{
        char detail[128];

        *present = 0;
        if (v->type == KM_SV_ABSENT || v->type == KM_SV_NULL)
                return 0;
        if (v->type != KM_SV_INT && v->type != KM_SV_REAL) {
                snprintf(detail, sizeof(detail), "%s must be a number", name);
                return km_cpl_reject(reason, err, errlen, "wrong_type", name,
                                     detail);
        }
        *out = km_sc_numval(v);
        if (!isfinite(*out) || *out < lo || *out > hi) {
                snprintf(detail, sizeof(detail), "%s out of range [%g, %g]",
                         name, lo, hi);
                return km_cpl_reject(reason, err, errlen, "invalid_field", name,
                                     detail);
        }
        *present = 1;
        return 0;
}

/* The rules, in km_cpl_validate's order, over the recorded members. */
static int km_sc_validate(struct km_scan *st, const struct km_conf *conf,
                          int mode, int64_t now, struct km_complaint *c,
                          const char **id_in, char *reason, char *err,
                          size_t errlen)
{
        static const size_t amax[5] = {64, 128, 16, 16, 256};
        static const char *const aname[5] = {"district", "street", "house",
                                             "apartment", "text"};
        static const char *const cname[3] = {"name", "phone", "email"};
        const struct km_sv *f = st->f;
        const char *s, *vals[5];
        int present, n = 0;

        if (st->root_array)
                return km_cpl_reject(reason, err, errlen, "wrong_type", "root",
                                     "a complaint must be a JSON object");
        if (st->has_unknown) {
                snprintf(reason, KM_REASON_LEN, "unknown_field:%.40s",
                         st->unknown);
                return km_err_set(err, errlen, KM_EINPUT, "unknown field %.40s",
                                  st->unknown);
        }
        if (f[KM_F_SCHEMA].type == KM_SV_ABSENT) {
                if (mode & KM_CPL_STRICT)
                        return km_cpl_reject(reason, err, errlen,
                                             "missing_field", "schema_version",
                                             "schema_version is required");
        } else if (f[KM_F_SCHEMA].type != KM_SV_INT || !f[KM_F_SCHEMA].one) {
                return km_cpl_reject(reason, err, errlen,
                                     "unsupported_schema_version", NULL,
                                     "schema_version must be 1");
        }
        if (km_sc_str(&f[KM_F_ID], "", "id", 0, 36, 0, id_in, reason, err,
                      errlen))
                return KM_EINPUT;
        if (km_sc_str(&f[KM_F_SOURCE], "", "source", 1, 64, 0, &s, reason, err,
                      errlen))
                return KM_EINPUT;
        if (!km_cpl_token(s, 64))
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "source",
                                     "source must match [a-z0-9][a-z0-9_.-]*");
        c->source = s;
        if (km_sc_str(&f[KM_F_EXTERNAL_ID], "", "external_id", 0, 128, 0, &s,
                      reason, err, errlen))
                return KM_EINPUT;
        c->external_id = s && *s ? s : NULL;
        if (km_sc_str(&f[KM_F_CHANNEL], "", "channel", 0, 16, 0, &s, reason,
                      err, errlen))
                return KM_EINPUT;
        if (s && !km_cpl_in(km_cpl_channels, s))
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "channel",
                                     "channel must be phone, telegram, web, "
                                     "app, social or email");
        c->channel = s;
        if (km_sc_str(&f[KM_F_RECEIVED_AT], "", "received_at", 1, 40, 0, &s,
                      reason, err, errlen))
                return KM_EINPUT;
        if (km_cpl_received_time(s, conf, now, &c->received_at, reason, err,
                                 errlen))
                return KM_EINPUT;
        /* already in canonical form (UTC, no fraction, not second 60):
         * km_fmt_rfc3339 would write the same 20 bytes */
        if (f[KM_F_RECEIVED_AT].len == 20 && s[10] == 'T' && s[19] == 'Z' &&
            !(s[17] == '6' && s[18] == '0'))
                memcpy(c->received_at_str, s, 21);
        else
                km_fmt_rfc3339(c->received_at, c->received_at_str,
                               sizeof(c->received_at_str));
        if (km_sc_str(&f[KM_F_CATEGORY], "", "category", 1, 64, 0, &s, reason,
                      err, errlen))
                return KM_EINPUT;
        if (km_conf_category(conf, s) == NULL)
                return km_cpl_reject(reason, err, errlen, "unknown_category",
                                     NULL,
                                     "category is not a configured "
                                     "service_code");
        c->category = s;
        if (km_sc_str(&f[KM_F_DESCRIPTION], "", "description", 1,
                      (size_t)conf->max_description_chars, 1, &s, reason, err,
                      errlen))
                return KM_EINPUT;
        c->description = s;
        if (f[KM_F_ADDRESS].type == KM_SV_ABSENT ||
            f[KM_F_ADDRESS].type == KM_SV_NULL)
                return km_cpl_reject(reason, err, errlen, "missing_field",
                                     "address", "address is required");
        if (f[KM_F_ADDRESS].type != KM_SV_OBJ)
                return km_cpl_reject(reason, err, errlen, "wrong_type",
                                     "address", "address must be an object");
        if (st->has_addr_unknown) {
                snprintf(reason, KM_REASON_LEN, "unknown_field:address.%.40s",
                         st->addr_unknown);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "unknown field address.%.40s",
                                  st->addr_unknown);
        }
        for (int i = 0; i < 5; i++) {
                if (km_sc_str(&st->addr[i], "address.", aname[i], 0, amax[i], 0,
                              &vals[i], reason, err, errlen))
                        return KM_EINPUT;
                if (vals[i] && *vals[i])
                        n++;
                else
                        vals[i] = NULL;
        }
        if (n == 0)
                return km_cpl_reject(reason, err, errlen, "missing_field",
                                     "address", "address has no parts");
        c->district = vals[0];
        c->street = vals[1];
        c->house = vals[2];
        c->apartment = vals[3];
        c->address_text = vals[4];
        if (km_sc_str(&f[KM_F_BUILDING_ID], "", "building_id", 0, 32, 0, &s,
                      reason, err, errlen))
                return KM_EINPUT;
        if (s && !km_cpl_building_id(s))
                return km_cpl_reject(
                        reason, err, errlen, "invalid_field", "building_id",
                        "building_id must match [A-Za-z0-9_-]{1,32}");
        c->building_id = s;
        if (km_sc_num(&f[KM_F_LAT], "lat", -90, 90, &present, &c->lat, reason,
                      err, errlen))
                return KM_EINPUT;
        c->has_geo = present;
        if (km_sc_num(&f[KM_F_LONG], "long", -180, 180, &present, &c->lon,
                      reason, err, errlen))
                return KM_EINPUT;
        if (c->has_geo != present)
                return km_cpl_reject(reason, err, errlen, "invalid_field",
                                     "lat", "lat and long go together");
        if (f[KM_F_CONTACT].type != KM_SV_ABSENT &&
            f[KM_F_CONTACT].type != KM_SV_NULL) {
                if (f[KM_F_CONTACT].type != KM_SV_OBJ)
                        return km_cpl_reject(reason, err, errlen, "wrong_type",
                                             "contact",
                                             "contact must be an object");
                if (st->contact_unknown)
                        return km_cpl_reject(reason, err, errlen,
                                             "unknown_field", "contact",
                                             "unknown field in contact");
                for (int i = 0; i < 3; i++) {
                        if (km_sc_str(&st->contact[i], "contact.", cname[i], 0,
                                      i == 1 ? 32 : 128, 0, &s, reason, err,
                                      errlen))
                                return KM_EINPUT;
                        if (s && *s)
                                c->has_contact = 1;
                }
        }
        if (f[KM_F_MEDIA].type != KM_SV_ABSENT &&
            f[KM_F_MEDIA].type != KM_SV_NULL) {
                if (f[KM_F_MEDIA].type != KM_SV_ARR)
                        return km_cpl_reject(reason, err, errlen, "wrong_type",
                                             "media_urls",
                                             "media_urls must be an array");
                if (st->nmedia > KM_SC_MEDIA_MAX)
                        return km_cpl_reject(reason, err, errlen, "too_long",
                                             "media_urls",
                                             "more than 10 media_urls");
                if (st->media_bad)
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_field", "media_urls",
                                             "media_urls: strings of at most "
                                             "512 bytes");
        }
        if (f[KM_F_EMERGENCY].type != KM_SV_ABSENT &&
            f[KM_F_EMERGENCY].type != KM_SV_NULL &&
            f[KM_F_EMERGENCY].type != KM_SV_TRUE &&
            f[KM_F_EMERGENCY].type != KM_SV_FALSE)
                return km_cpl_reject(reason, err, errlen, "wrong_type",
                                     "emergency",
                                     "emergency must be a boolean");
        c->emergency = f[KM_F_EMERGENCY].type == KM_SV_TRUE;

        if (c->external_id) {
                km_id_derive(c->source, c->external_id, c->id);
                if (*id_in && strcmp(*id_in, c->id) != 0)
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_field", "id",
                                             "id does not match source and "
                                             "external_id");
        } else if (*id_in) {
                if (!km_id_valid(*id_in))
                        return km_cpl_reject(reason, err, errlen,
                                             "invalid_field", "id",
                                             "id must be a lower-case UUID");
                memcpy(c->id, *id_in, KM_ID_LEN);
        } else if (mode & KM_CPL_STRICT) {
                return km_cpl_reject(reason, err, errlen, "missing_field", "id",
                                     "id is required");
        } else {
                km_id_random(c->id);
        }
        return 0;
}

/* --- writing the canonical text --- */

static inline void km_sc_put(char **o, const char *s, size_t n)
{
        memcpy(*o, s, n);
        *o += n;
}

#define KM_SC_LIT(o, s) km_sc_put(o, s, sizeof(s) - 1)

/* A string as json_dumps writes it: ", \ and control characters escaped
 * (\b \f \n \r \t or \u00XX), everything else as is. */
static void km_sc_put_json(char **o, const char *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        char *w = *o;

        *w++ = '"';
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch >= 0x20 && ch != '"' && ch != '\\') {
                        *w++ = (char)ch;
                        continue;
                }
                *w++ = '\\';
                switch (ch) {
                case '"':
                        *w++ = '"';
                        break;
                case '\\':
                        *w++ = '\\';
                        break;
                case '\b':
                        *w++ = 'b';
                        break;
                case '\f':
                        *w++ = 'f';
                        break;
                case '\n':
                        *w++ = 'n';
                        break;
                case '\r':
                        *w++ = 'r';
                        break;
                case '\t':
                        *w++ = 't';
                        break;
                default:
                        *w++ = 'u', *w++ = '0', *w++ = '0';
                        *w++ = hex[ch >> 4];
                        *w++ = hex[ch & 0xF];
                }
        }
        *w++ = '"';
        *o = w;
}

/* A recorded string: its raw bytes when it had no escape (they are then
 * exactly what json_dumps would write), else re-encoded. */
static void km_sc_put_sv(char **o, const struct km_sv *v)
{
        if (!v->esc) {
                **o = '"';
                memcpy(*o + 1, v->raw, v->rawlen);
                (*o)[1 + v->rawlen] = '"';
                *o += v->rawlen + 2;
        } else {
                km_sc_put_json(o, v->s, v->len);
        }
}

/* A real as json_dumps with JSON_REAL_PRECISION(12) writes it (jansson's
 * jsonp_dtostr: %.12g, ".0" when it would read as an integer, the
 * exponent without '+' or leading zeros). */
static void km_sc_put_real(char **o, double d)
{
        char buf[40];
        int n = snprintf(buf, sizeof(buf), "%.12g", d);
        char *e;

        if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
                buf[n++] = '.';
                buf[n++] = '0';
                buf[n] = '\0';
        }
        e = strchr(buf, 'e');
        if (e) {
                char *start = e + 1, *end = e + 2;

                if (*start == '-')
                        start++;
                while (*end == '0')
                        end++;
                if (end != start) {
                        memmove(start, end, (size_t)(buf + n - end) + 1);
                        n -= (int)(end - start);
                }
        }
        km_sc_put(o, buf, (size_t)n);
}

/* A real from its token when "%.12g" of its value is the token itself
 * less trailing fraction zeros: a plain decimal (no exponent) with at most
 * 12 significant digits, whose first one is at most 11 places before the
 * point and at most 4 after it (a decimal of up to 15 digits survives the
 * round trip through a double).  @returns 0, or -1: use km_sc_put_real. */
static int km_sc_put_token(char **o, const struct km_sv *v)
{
        const char *t = v->raw, *end = v->raw + v->rawlen, *dot, *q;
        const char *first = NULL, *last = NULL;
        int sig = 0, x;

        if (v->type == KM_SV_INT) {
                size_t n = v->rawlen;

                if (n > 12 || (n == 2 && t[0] == '-' && t[1] == '0'))
                        return -1;
                km_sc_put(o, t, n);
                km_sc_put(o, ".0", 2);
                return 0;
        }
        dot = memchr(t, '.', v->rawlen);
        if (dot == NULL || memchr(t, 'e', v->rawlen) ||
            memchr(t, 'E', v->rawlen))
                return -1;
        for (q = t; q < end; q++) {
                if (*q == '-' || *q == '.')
                        continue;
                if (*q != '0') {
                        if (first == NULL)
                                first = q;
                        last = q;
                }
        }
        if (first == NULL) { /* a zero: "0.0" or "-0.0" */
                if (t[0] == '-')
                        km_sc_put(o, "-0.0", 4);
                else
                        km_sc_put(o, "0.0", 3);
                return 0;
        }
        for (q = first; q <= last; q++)
                sig += *q != '.';
        x = first < dot ? (int)(dot - first) - 1 : -(int)(first - dot);
        if (sig > 12 || x >= 12 || x < -4)
                return -1;
        /* the integer part as written, the fraction up to its last
         * non-zero digit, or ".0" */
        if (last < dot) {
                km_sc_put(o, t, (size_t)(dot - t));
                km_sc_put(o, ".0", 2);
        } else {
                km_sc_put(o, t, (size_t)(last + 1 - t));
        }
        return 0;
}

static void km_sc_write(const struct km_scan *st, struct km_complaint *c,
                        size_t cap)
{
        static const char *const akey[5] = {
                "\"district\":", "\"street\":", "\"house\":", "\"apartment\":",
                "\"text\":"};
        static const char *const ckey[3] = {
                "\"name\":", "\"phone\":", "\"email\":"};
        const struct km_sv *f = st->f;
        char *o = km_xmalloc(cap), *o0 = o;
        int first;

        c->canon = o;
        KM_SC_LIT(&o, "{\"schema_version\":1,\"id\":\"");
        km_sc_put(&o, c->id, 36);
        KM_SC_LIT(&o, "\",\"source\":");
        km_sc_put_sv(&o, &f[KM_F_SOURCE]);
        if (c->external_id) {
                KM_SC_LIT(&o, ",\"external_id\":");
                km_sc_put_sv(&o, &f[KM_F_EXTERNAL_ID]);
        }
        if (c->channel) {
                KM_SC_LIT(&o, ",\"channel\":");
                km_sc_put_sv(&o, &f[KM_F_CHANNEL]);
        }
        KM_SC_LIT(&o, ",\"received_at\":\"");
        km_sc_put(&o, c->received_at_str, strlen(c->received_at_str));
        KM_SC_LIT(&o, "\",\"category\":");
        km_sc_put_sv(&o, &f[KM_F_CATEGORY]);
        KM_SC_LIT(&o, ",\"description\":");
        km_sc_put_sv(&o, &f[KM_F_DESCRIPTION]);
        KM_SC_LIT(&o, ",\"address\":{");
        first = 1;
        for (int i = 0; i < 5; i++) {
                if (st->addr[i].type != KM_SV_STR || st->addr[i].len == 0)
                        continue;
                if (!first)
                        *o++ = ',';
                first = 0;
                km_sc_put(&o, akey[i], strlen(akey[i]));
                km_sc_put_sv(&o, &st->addr[i]);
        }
        *o++ = '}';
        if (c->building_id) {
                KM_SC_LIT(&o, ",\"building_id\":");
                km_sc_put_sv(&o, &f[KM_F_BUILDING_ID]);
        }
        if (c->has_geo) {
                KM_SC_LIT(&o, ",\"lat\":");
                if (km_sc_put_token(&o, &f[KM_F_LAT]))
                        km_sc_put_real(&o, c->lat);
                KM_SC_LIT(&o, ",\"long\":");
                if (km_sc_put_token(&o, &f[KM_F_LONG]))
                        km_sc_put_real(&o, c->lon);
        }
        c->contact_at = c->contact_end = (size_t)(o - o0);
        if (f[KM_F_CONTACT].type == KM_SV_OBJ) {
                KM_SC_LIT(&o, ",\"contact\":{");
                first = 1;
                for (int i = 0; i < 3; i++) {
                        if (st->contact[i].type != KM_SV_STR ||
                            st->contact[i].len == 0)
                                continue;
                        if (!first)
                                *o++ = ',';
                        first = 0;
                        km_sc_put(&o, ckey[i], strlen(ckey[i]));
                        km_sc_put_sv(&o, &st->contact[i]);
                }
                *o++ = '}';
                c->contact_end = (size_t)(o - o0);
        }
        if (f[KM_F_MEDIA].type == KM_SV_ARR) {
                KM_SC_LIT(&o, ",\"media_urls\":[");
                for (size_t i = 0; i < st->nmedia; i++) {
                        if (i)
                                *o++ = ',';
                        km_sc_put_sv(&o, &st->media[i]);
                }
                *o++ = ']';
        }
        if (c->emergency)
                KM_SC_LIT(&o, ",\"emergency\":true}");
        else
                KM_SC_LIT(&o, ",\"emergency\":false}");
        *o = '\0';
        c->canon_len = (size_t)(o - o0);
        if (c->canon_len >= cap)
                abort(); /* the bound below is wrong: never write past it */
}

/* Rejections found by the scanner get the reference's reasons: the
 * buffer's UTF-8 first, then NUL bytes, then duplicate or syntax. */
static int km_sc_syntax_reason(const struct km_scan *st, const char *buf,
                               size_t len, char *reason, char *err,
                               size_t errlen)
{
        char detail[200];
        size_t bad = 0;

        if (!km_utf8_valid(buf, len, &bad)) {
                snprintf(detail, sizeof(detail), "invalid UTF-8 at byte %zu",
                         bad);
                return km_cpl_reject(reason, err, errlen, "invalid_utf8", NULL,
                                     detail);
        }
        if (memchr(buf, '\0', len) != NULL)
                return km_cpl_reject(reason, err, errlen, "invalid_json", NULL,
                                     "NUL byte in message");
        snprintf(detail, sizeof(detail), "byte %zu: %s", (size_t)(st->p - buf),
                 st->err == KM_SC_DUP ? "duplicate object key"
                                      : "not valid JSON");
        return km_cpl_reject(reason, err, errlen,
                             st->err == KM_SC_DUP ? "duplicate_key"
                                                  : "invalid_json",
                             NULL, detail);
}

/* The complaint's block (the struct, then the decoded strings): one per
 * thread is kept for the next parse, so a stream of complaints does not
 * go through malloc for each (freed at thread exit by the key's
 * destructor). */
static pthread_once_t km_sc_once = PTHREAD_ONCE_INIT;
static pthread_key_t km_sc_key;

static void km_sc_key_init(void)
{
        if (pthread_key_create(&km_sc_key, free) != 0)
                abort();
}

static struct km_complaint *km_sc_block(size_t need)
{
        struct km_complaint *c;
        size_t cap;

        if (pthread_once(&km_sc_once, km_sc_key_init) != 0)
                abort();
        c = pthread_getspecific(km_sc_key);
        if (c != NULL) {
                pthread_setspecific(km_sc_key, NULL);
                if (c->block_cap >= need) {
                        cap = c->block_cap;
                        goto out;
                }
                free(c);
        }
        cap = need < 8192 ? 8192 : need;
        c = km_xmalloc(cap);
out:
        memset(c, 0, sizeof(*c));
        c->block_cap = cap;
        return c;
}

static void km_sc_release(struct km_complaint *c)
{
        struct km_complaint *old;

        if (pthread_once(&km_sc_once, km_sc_key_init) != 0)
                abort();
        old = pthread_getspecific(km_sc_key);
        if (c->block_cap > (1u << 20) ||
            (old != NULL && old->block_cap >= c->block_cap)) {
                free(c);
                return;
        }
        free(old);
        if (pthread_setspecific(km_sc_key, c) != 0)
                free(c);
}

int km_complaint_parse_ex(const char *buf, size_t len,
                          const struct km_conf *conf, int mode, int64_t now,
                          const char *default_source, struct km_complaint **out,
                          char *reason, char *err, size_t errlen)
{
        struct km_scan st;
        struct km_complaint *c;
        const char *id_in = NULL;
        size_t acap, dslen = 0;
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
        if (default_source)
                dslen = strlen(default_source);
        /* decoded strings are never longer than their source, plus a NUL
         * each; the default source is copied in too */
        acap = len + len / 2 + dslen + 16;
        c = km_sc_block(sizeof(*c) + acap);
        memset(&st, 0, sizeof(st));
        st.p = buf;
        st.end = buf + len;
        st.arena = (char *)(c + 1);
        km_sc_ws(&st);
        if (st.p >= st.end || (*st.p != '{' && *st.p != '[')) {
                st.err = KM_SC_SYNTAX;
                r = -1;
        } else if (*st.p == '{') {
                r = km_sc_object(&st, 1, KM_SC_ROOT);
        } else {
                st.root_array = 1;
                r = km_sc_array(&st, 1, 0);
        }
        if (r == 0) {
                km_sc_ws(&st);
                if (st.p != st.end) {
                        st.err = KM_SC_SYNTAX;
                        r = -1;
                }
        }
        free(st.tab);
        if (r) {
                km_sc_release(c);
                return km_sc_syntax_reason(&st, buf, len, reason, err, errlen);
        }
        if (default_source && !st.root_array) {
                struct km_sv *v = &st.f[KM_F_SOURCE];

                if (v->type == KM_SV_ABSENT || v->type == KM_SV_NULL ||
                    (v->type == KM_SV_STR && v->len == 0)) {
                        char *d = st.arena + st.alen;

                        memcpy(d, default_source, dslen + 1);
                        memset(v, 0, sizeof(*v));
                        v->type = KM_SV_STR;
                        v->esc = 1; /* written re-encoded */
                        v->s = v->raw = d;
                        v->len = v->rawlen = dslen;
                        for (size_t i = 0; i < dslen; i++) {
                                unsigned char ch = (unsigned char)d[i];

                                if ((ch & 0xC0) != 0x80)
                                        v->chars++;
                                if (ch < 0x20 || ch == 0x7F)
                                        v->ctrl |= KM_SV_CTRL_OTHER;
                        }
                        st.alen += dslen + 1;
                }
        }
        r = km_sc_validate(&st, conf, mode, now, c, &id_in, reason, err,
                           errlen);
        if (r) {
                km_sc_release(c);
                return r;
        }
        /* every string is written at most as long as its source (escapes
         * only shrink or stay); the fixed parts, id, time and reals fit
         * in 512.  Read-only: the verdict and the fields, nothing written */
        if (!(mode & KM_CPL_READONLY))
                km_sc_write(&st, c, len + dslen + 512);
        *out = c;
        return 0;
}

int km_complaint_parse(const char *buf, size_t len, const struct km_conf *conf,
                       int mode, int64_t now, struct km_complaint **out,
                       char *reason, char *err, size_t errlen)
{
        return km_complaint_parse_ex(buf, len, conf, mode, now, NULL, out,
                                     reason, err, errlen);
}

char *km_complaint_take_canon(struct km_complaint *c, size_t *len)
{
        char *s;

        if (c->canon == NULL) {
                s = km_complaint_dumps(c, 0);
                *len = strlen(s);
                return s;
        }
        s = c->canon;
        *len = c->canon_len;
        c->canon = NULL;
        c->canon_len = 0;
        return s;
}

json_t *km_complaint_to_json(const struct km_complaint *c, int flags)
{
        json_t *o;

        if (c->root == NULL) {
                o = json_loadb(c->canon, c->canon_len, 0, NULL);
                if (o == NULL)
                        abort(); /* our own canonical text: out of memory */
        } else {
                o = json_deep_copy(c->root);
        }

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

        if (c->root == NULL) {
                size_t cut = flags & KM_CPL_NO_PII
                                     ? c->contact_end - c->contact_at
                                     : 0;

                if (c->canon == NULL)
                        abort(); /* taken by km_complaint_take_canon */
                s = km_xmalloc(c->canon_len - cut + 1);
                memcpy(s, c->canon, c->contact_at);
                memcpy(s + c->contact_at, c->canon + c->contact_at + cut,
                       c->canon_len - c->contact_at - cut + 1);
                return s;
        }
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
        free(c->canon);
        if (c->block_cap)
                km_sc_release(c);
        else
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
