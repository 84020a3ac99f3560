/*
 * analytics_parse.c - turn one consumed message into the fact row that
 * analytics_store.c writes (a line of COPY text, the columns of the fact
 * table in order, with its key for sorting), or a dead-letter reason.
 *
 * SECURITY: the messages are untrusted bytes.  Every topic's message is
 * checked here field by field, the fields analytics keeps
 * (common/schema/complaint.schema.json, docs/messages.md), so PostgreSQL
 * never sees a value it would reject: uuids are canonical,
 * times parse as RFC 3339, texts are bounded.  Unknown fields are ignored
 * (forward compatible).  What a row keeps is chosen column by column:
 * never contact, description, street/house/apartment, staff notes or the
 * resident hash of a vote.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "analytics.h"
#include "km_id.h"
#include "km_util.h"

int analytics_topic_of(const struct analytics *an, const char *topic)
{
        for (int i = 0; i < AN_NTOPICS; i++)
                if (strcmp(an->topics[i], topic) == 0)
                        return i;
        return -1;
}

void analytics_local_day(int64_t t, int64_t offset_hours, char *buf,
                         size_t len)
{
        time_t tt = (time_t)(t + offset_hours * 3600);
        struct tm tm;

        gmtime_r(&tt, &tm);
        snprintf(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday);
}

static int an_bad(struct an_msg *m, const char *code, const char *field,
                  const char *detail)
{
        if (field)
                snprintf(m->reason, sizeof(m->reason), "%s:%s", code, field);
        else
                snprintf(m->reason, sizeof(m->reason), "%s", code);
        snprintf(m->detail, sizeof(m->detail), "%s", detail);
        return -1;
}

/* A string member of at most maxlen bytes, printable.  NULL when absent
 * and optional.  @returns 0 or -1 with m->reason set. */
static int an_str(struct an_msg *m, json_t *obj, const char *name,
                  int required, size_t maxlen, const char **out)
{
        json_t *v = json_object_get(obj, name);
        char detail[128];
        const char *s;

        *out = NULL;
        if (v == NULL || json_is_null(v)) {
                if (!required)
                        return 0;
                snprintf(detail, sizeof(detail), "%s is required", name);
                return an_bad(m, "missing_field", name, detail);
        }
        if (!json_is_string(v)) {
                snprintf(detail, sizeof(detail), "%s must be a string", name);
                return an_bad(m, "wrong_type", name, detail);
        }
        s = json_string_value(v);
        if (json_string_length(v) == 0 || json_string_length(v) > maxlen ||
            strlen(s) != json_string_length(v)) {
                snprintf(detail, sizeof(detail),
                         "%s must be 1..%zu bytes without NUL", name, maxlen);
                return an_bad(m, "invalid_field", name, detail);
        }
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p < 0x20 || *p == 0x7f) {
                        snprintf(detail, sizeof(detail),
                                 "%s has a control character", name);
                        return an_bad(m, "invalid_field", name, detail);
                }
        *out = s;
        return 0;
}

static int an_uuid(struct an_msg *m, json_t *obj, const char *name,
                   const char **out)
{
        char detail[128];

        if (an_str(m, obj, name, 1, 36, out))
                return -1;
        if (!km_id_valid(*out)) {
                snprintf(detail, sizeof(detail), "%s must be a lower-case uuid",
                         name);
                return an_bad(m, "invalid_field", name, detail);
        }
        return 0;
}

/* An RFC 3339 time, years 2000..2100; canonical text into buf[24]. */
static int an_time(struct an_msg *m, json_t *obj, const char *name,
                   int64_t *t, char *buf)
{
        const char *s;
        char detail[128];

        if (an_str(m, obj, name, 1, 64, &s))
                return -1;
        if (km_parse_rfc3339(s, t) || *t < 946684800LL ||
            *t >= 4133980800LL) {
                snprintf(detail, sizeof(detail),
                         "%s must be an RFC 3339 time in 2000..2100", name);
                return an_bad(m, "invalid_field", name, detail);
        }
        km_fmt_rfc3339(*t, buf, 24);
        return 0;
}

static int an_int(struct an_msg *m, json_t *obj, const char *name, long lo,
                  long hi, long *out)
{
        json_t *v = json_object_get(obj, name);
        char detail[128];

        if (v == NULL || json_is_null(v)) {
                snprintf(detail, sizeof(detail), "%s is required", name);
                return an_bad(m, "missing_field", name, detail);
        }
        if (!json_is_integer(v)) {
                snprintf(detail, sizeof(detail), "%s must be an integer", name);
                return an_bad(m, "wrong_type", name, detail);
        }
        if (json_integer_value(v) < lo || json_integer_value(v) > hi) {
                snprintf(detail, sizeof(detail), "%s must be in %ld..%ld", name,
                         lo, hi);
                return an_bad(m, "invalid_field", name, detail);
        }
        *out = (long)json_integer_value(v);
        return 0;
}

/* Common header: a JSON object with schema_version 1. */
static json_t *an_object(struct an_msg *m)
{
        json_error_t jerr;
        json_t *root, *v;
        char detail[200];

        root = json_loadb(m->rkm->payload, m->rkm->len,
                          JSON_REJECT_DUPLICATES, &jerr);
        if (root == NULL) {
                snprintf(detail, sizeof(detail), "line %d column %d: %s",
                         jerr.line, jerr.column, jerr.text);
                an_bad(m, "invalid_json", NULL, detail);
                return NULL;
        }
        if (!json_is_object(root)) {
                json_decref(root);
                an_bad(m, "wrong_type", "message", "message must be an object");
                return NULL;
        }
        v = json_object_get(root, "schema_version");
        if (!json_is_integer(v) || json_integer_value(v) != 1) {
                json_decref(root);
                an_bad(m, "unsupported_schema_version", NULL,
                       "schema_version must be 1");
                return NULL;
        }
        return root;
}

/* A row in PostgreSQL's COPY text format: fields separated by tabs, \N
 * for NULL, backslash escapes (the checked values hold no control
 * characters, but may hold a backslash). */
struct an_line {
        char buf[1024];
        size_t len;
        int full;
};

static void an_put(struct an_line *l, const char *s)
{
        if (s == NULL) {
                s = "\\N";
                if (l->len + 3 >= sizeof(l->buf)) {
                        l->full = 1;
                        return;
                }
                memcpy(l->buf + l->len, s, 2);
                l->len += 2;
        } else {
                for (; *s; s++) {
                        if (l->len + 3 >= sizeof(l->buf)) {
                                l->full = 1;
                                return;
                        }
                        if (*s == '\\')
                                l->buf[l->len++] = '\\';
                        l->buf[l->len++] = *s;
                }
        }
        l->buf[l->len++] = '\t';
}

static void an_put_int(struct an_line *l, long v)
{
        char n[24];

        snprintf(n, sizeof(n), "%ld", v);
        an_put(l, n);
}

/* Finish the line into m->row with its sort key. */
static int an_end(struct an_msg *m, struct an_line *l, const char *key,
                  int attempt)
{
        if (l->full || l->len == 0)
                return an_bad(m, "too_large", NULL, "row too long");
        l->buf[l->len - 1] = '\n';
        m->row = km_xstrndup(l->buf, l->len);
        m->rowlen = l->len;
        snprintf(m->key, sizeof(m->key), "%s", key);
        m->attempt = attempt;
        return 0;
}

/* A complaint: the fields analytics keeps, checked as the schema says
 * (common/schema/complaint.schema.json); the rest of the schema (texts,
 * address, contact) is the producers' contract (km_complaint_parse
 * KM_CPL_STRICT) and analytics neither reads nor stores it.  A full parse
 * per message would cost more than the whole database write. */
static int an_parse_complaint(const struct analytics *an, struct an_msg *m,
                              json_t *root)
{
        static const char *const channels[] = {"phone", "telegram", "web",
                                                "app",   "social",   "email"};
        const char *id, *src, *cat, *chan, *bld;
        int64_t rec;
        char srec[24], day[16];
        json_t *em = json_object_get(root, "emergency");
        struct an_line l = {.len = 0};
        size_t i;

        if (an_uuid(m, root, "id", &id) ||
            an_str(m, root, "source", 1, 64, &src) ||
            an_time(m, root, "received_at", &rec, srec) ||
            an_str(m, root, "category", 1, 64, &cat) ||
            an_str(m, root, "channel", 0, 16, &chan) ||
            an_str(m, root, "building_id", 0, 32, &bld))
                return -1;
        if (km_conf_category(an->conf, cat) == NULL)
                return an_bad(m, "unknown_category", NULL,
                              "category is not a configured service_code");
        for (i = 0; chan && i < sizeof(channels) / sizeof(channels[0]); i++)
                if (strcmp(chan, channels[i]) == 0)
                        break;
        if (chan && i == sizeof(channels) / sizeof(channels[0]))
                return an_bad(m, "invalid_field", "channel",
                              "channel must be phone, telegram, web, app, "
                              "social or email");
        if (em && !json_is_null(em) && !json_is_boolean(em))
                return an_bad(m, "wrong_type", "emergency",
                              "emergency must be a boolean");
        analytics_local_day(rec, an->ac->utc_offset_hours, day, sizeof(day));
        m->event_at = rec;
        an_put(&l, id);
        an_put(&l, srec);
        an_put(&l, day);
        an_put(&l, cat);
        an_put(&l, chan ? chan : "unknown");
        an_put(&l, src);
        an_put(&l, bld);
        an_put(&l, json_is_true(em) ? "t" : "f");
        return an_end(m, &l, id, 0);
}

static int an_parse_dispatch(const struct analytics *an, struct an_msg *m,
                             json_t *root)
{
        const char *cid, *org, *kind, *bld, *dist, *cat, *why, *chan = NULL;
        int64_t rec, routed, due;
        char srec[24], srouted[24], sdue[24], day[16];
        long attempt;
        json_t *cpl;
        struct an_line l = {.len = 0};

        if (an_uuid(m, root, "complaint_id", &cid) ||
            an_int(m, root, "attempt", 1, 1000, &attempt) ||
            an_str(m, root, "org_id", 1, 64, &org) ||
            an_str(m, root, "org_kind", 1, 32, &kind) ||
            an_str(m, root, "building_id", 0, 64, &bld) ||
            an_str(m, root, "district", 0, 64, &dist) ||
            an_str(m, root, "category", 1, 64, &cat) ||
            an_str(m, root, "route_reason", 0, 128, &why) ||
            an_time(m, root, "received_at", &rec, srec) ||
            an_time(m, root, "routed_at", &routed, srouted) ||
            an_time(m, root, "due_at", &due, sdue))
                return -1;
        cpl = json_object_get(root, "complaint");
        if (json_is_object(cpl) &&
            an_str(m, cpl, "channel", 0, 16, &chan))
                return -1;
        analytics_local_day(rec, an->ac->utc_offset_hours, day, sizeof(day));
        m->event_at = rec;
        an_put(&l, cid);
        an_put_int(&l, attempt);
        an_put(&l, org);
        an_put(&l, kind);
        an_put(&l, bld);
        an_put(&l, dist);
        an_put(&l, cat);
        an_put(&l, why);
        an_put(&l, srec);
        an_put(&l, day);
        an_put(&l, srouted);
        an_put(&l, sdue);
        an_put(&l, chan ? chan : "unknown");
        return an_end(m, &l, cid, (int)attempt);
}

static int an_parse_event(struct an_msg *m, json_t *root)
{
        const char *eid, *cid, *org, *ev, *why;
        int64_t at;
        char sat[24];
        long attempt;
        struct an_line l = {.len = 0};

        if (an_uuid(m, root, "event_id", &eid) ||
            an_uuid(m, root, "complaint_id", &cid) ||
            an_int(m, root, "attempt", 1, 1000, &attempt) ||
            an_str(m, root, "org_id", 1, 64, &org) ||
            an_str(m, root, "event", 1, 16, &ev) ||
            an_time(m, root, "at", &at, sat) ||
            an_str(m, root, "reason", 0, 64, &why))
                return -1;
        if (strcmp(ev, "acknowledged") && strcmp(ev, "resolved") &&
            strcmp(ev, "rejected"))
                return an_bad(m, "invalid_field", "event",
                              "event must be acknowledged, resolved or "
                              "rejected");
        m->event_at = at;
        an_put(&l, eid);
        an_put(&l, cid);
        an_put_int(&l, attempt);
        an_put(&l, org);
        an_put(&l, ev);
        an_put(&l, sat);
        an_put(&l, why);
        return an_end(m, &l, eid, 0);
}

static int an_parse_vote(struct an_msg *m, json_t *root)
{
        const char *vid, *ksk, *month;
        int64_t at;
        char sat[24], mday[16];
        long score;
        int y, mo;
        struct an_line l = {.len = 0};

        if (an_uuid(m, root, "vote_id", &vid) ||
            an_str(m, root, "ksk_id", 1, 64, &ksk) ||
            an_str(m, root, "month", 1, 7, &month) ||
            an_int(m, root, "score", 1, 5, &score) ||
            an_time(m, root, "voted_at", &at, sat))
                return -1;
        if (strlen(month) != 7 || sscanf(month, "%4d-%2d", &y, &mo) != 2 ||
            month[4] != '-' || y < 2000 || y > 2100 || mo < 1 || mo > 12)
                return an_bad(m, "invalid_field", "month",
                              "month must be YYYY-MM");
        snprintf(mday, sizeof(mday), "%04d-%02d-01", y, mo);
        m->event_at = at;
        an_put(&l, vid);
        an_put(&l, ksk);
        an_put(&l, mday);
        an_put_int(&l, score);
        an_put(&l, sat);
        return an_end(m, &l, vid, 0);
}

void analytics_parse(const struct analytics *an, struct an_msg *m)
{
        json_t *root;

        m->row = NULL;
        m->event_at = 0;
        m->reason[0] = '\0';
        m->detail[0] = '\0';
        if (m->rkm->payload == NULL || m->rkm->len == 0) {
                an_bad(m, "invalid_json", NULL, "empty message");
                return;
        }
        if (m->topic == AN_T_COMPLAINTS &&
            m->rkm->len > (size_t)an->conf->max_message_bytes) {
                an_bad(m, "too_large", NULL, "larger than max_message_bytes");
                return;
        }
        root = an_object(m);
        if (root == NULL)
                return;
        if (m->topic == AN_T_COMPLAINTS)
                an_parse_complaint(an, m, root);
        else if (m->topic == AN_T_DISPATCH)
                an_parse_dispatch(an, m, root);
        else if (m->topic == AN_T_EVENTS)
                an_parse_event(m, root);
        else
                an_parse_vote(m, root);
        json_decref(root);
        if (m->row == NULL && m->reason[0] == '\0')
                an_bad(m, "invalid_field", "message", "cannot build the row");
}
