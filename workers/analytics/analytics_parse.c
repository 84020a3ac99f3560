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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics.h"
#include "km_id.h"
#include "km_utf8.h"
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

/* One message being read: the members asked for, and room for their
 * decoded strings. */
struct an_ctx {
        struct an_msg *m;
        const char *const *names;
        int n;
        struct an_jv v[16];
        char scratch[4096];
        size_t used;
};

static const struct an_jv *an_get(const struct an_ctx *x, const char *name)
{
        for (int i = 0; i < x->n; i++)
                if (strcmp(x->names[i], name) == 0)
                        return &x->v[i];
        return NULL;
}

static int an_absent(const struct an_jv *v)
{
        return v == NULL || v->type == AN_J_NONE || v->type == AN_J_NULL;
}

/* A string member of 1..maxlen bytes without control characters; NULL
 * when absent and optional.  @returns 0 or -1 with m->reason set. */
static int an_str(struct an_ctx *x, const char *name, int required,
                  size_t maxlen, const char **out)
{
        const struct an_jv *v = an_get(x, name);
        char detail[128], *buf = x->scratch + x->used;
        size_t room = sizeof(x->scratch) - x->used, n;

        *out = NULL;
        if (an_absent(v)) {
                if (!required)
                        return 0;
                snprintf(detail, sizeof(detail), "%s is required", name);
                return an_bad(x->m, "missing_field", name, detail);
        }
        if (v->type != AN_J_STR) {
                snprintf(detail, sizeof(detail), "%s must be a string", name);
                return an_bad(x->m, "wrong_type", name, detail);
        }
        if (v->len > maxlen * 6 + 6 || analytics_json_str(v, buf, room) ||
            (n = strlen(buf)) == 0 || n > maxlen) {
                snprintf(detail, sizeof(detail),
                         "%s must be 1..%zu bytes without NUL", name, maxlen);
                return an_bad(x->m, "invalid_field", name, detail);
        }
        for (const unsigned char *p = (const unsigned char *)buf; *p; p++)
                if (*p < 0x20 || *p == 0x7f) {
                        snprintf(detail, sizeof(detail),
                                 "%s has a control character", name);
                        return an_bad(x->m, "invalid_field", name, detail);
                }
        x->used += n + 1;
        *out = buf;
        return 0;
}

static int an_uuid(struct an_ctx *x, const char *name, const char **out)
{
        char detail[128];

        if (an_str(x, name, 1, 36, out))
                return -1;
        if (!km_id_valid(*out)) {
                snprintf(detail, sizeof(detail), "%s must be a lower-case uuid",
                         name);
                return an_bad(x->m, "invalid_field", name, detail);
        }
        return 0;
}

/* An RFC 3339 time, years 2000..2100; canonical text into buf[24]. */
static int an_time(struct an_ctx *x, const char *name, int64_t *t, char *buf)
{
        const char *s;
        char detail[128];

        if (an_str(x, name, 1, 64, &s))
                return -1;
        if (km_parse_rfc3339(s, t) || *t < 946684800LL ||
            *t >= 4133980800LL) {
                snprintf(detail, sizeof(detail),
                         "%s must be an RFC 3339 time in 2000..2100", name);
                return an_bad(x->m, "invalid_field", name, detail);
        }
        km_fmt_rfc3339(*t, buf, 24);
        return 0;
}

static int an_int(struct an_ctx *x, const char *name, long lo, long hi,
                  long *out)
{
        const struct an_jv *v = an_get(x, name);
        char detail[128], tok[24];
        long val;

        if (an_absent(v)) {
                snprintf(detail, sizeof(detail), "%s is required", name);
                return an_bad(x->m, "missing_field", name, detail);
        }
        if (v->type != AN_J_NUM || v->len >= sizeof(tok) - 1 ||
            memchr(v->p, '.', v->len) || memchr(v->p, 'e', v->len) ||
            memchr(v->p, 'E', v->len)) {
                snprintf(detail, sizeof(detail), "%s must be an integer", name);
                return an_bad(x->m, "wrong_type", name, detail);
        }
        memcpy(tok, v->p, v->len);
        tok[v->len] = '\0';
        val = strtol(tok, NULL, 10);
        if (val < lo || val > hi) {
                snprintf(detail, sizeof(detail), "%s must be in %ld..%ld", name,
                         lo, hi);
                return an_bad(x->m, "invalid_field", name, detail);
        }
        *out = val;
        return 0;
}

/* Scan the message (or a nested object span) for names. */
static int an_scan(struct an_ctx *x, const char *buf, size_t len,
                   const char *const *names, int n)
{
        char err[160];

        x->names = names;
        x->n = n;
        if (analytics_json_scan(buf, len, names, x->v, n, err, sizeof(err)))
                return an_bad(x->m, "invalid_json", NULL, err);
        return 0;
}

/* The common header: valid UTF-8, a JSON object, schema_version 1. */
static int an_open(struct an_ctx *x, const char *const *names, int n)
{
        const rd_kafka_message_t *rkm = x->m->rkm;
        long version;

        if (!km_utf8_valid(rkm->payload, rkm->len, NULL) ||
            memchr(rkm->payload, '\0', rkm->len))
                return an_bad(x->m, "invalid_utf8", NULL,
                              "message is not UTF-8 text");
        if (an_scan(x, rkm->payload, rkm->len, names, n))
                return -1;
        if (an_int(x, "schema_version", 1, 1, &version))
                return an_bad(x->m, "unsupported_schema_version", NULL,
                              "schema_version must be 1");
        return 0;
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
 * KM_CPL_STRICT) and analytics neither reads nor stores it. */
static int an_parse_complaint(const struct analytics *an, struct an_ctx *x)
{
        static const char *const names[] = {
            "schema_version", "id", "category", "received_at", "source",
            "channel", "building_id", "emergency"};
        static const char *const channels[] = {"phone", "telegram", "web",
                                                "app",   "social",   "email"};
        const char *id, *src, *cat, *chan, *bld;
        const struct an_jv *em;
        int64_t rec;
        char srec[24], day[16];
        struct an_line l = {.len = 0};
        size_t i;

        if (an_open(x, names, 8) || an_uuid(x, "id", &id) ||
            an_str(x, "source", 1, 64, &src) ||
            an_time(x, "received_at", &rec, srec) ||
            an_str(x, "category", 1, 64, &cat) ||
            an_str(x, "channel", 0, 16, &chan) ||
            an_str(x, "building_id", 0, 32, &bld))
                return -1;
        if (km_conf_category(an->conf, cat) == NULL)
                return an_bad(x->m, "unknown_category", NULL,
                              "category is not a configured service_code");
        for (i = 0; chan && i < sizeof(channels) / sizeof(channels[0]); i++)
                if (strcmp(chan, channels[i]) == 0)
                        break;
        if (chan && i == sizeof(channels) / sizeof(channels[0]))
                return an_bad(x->m, "invalid_field", "channel",
                              "channel must be phone, telegram, web, app, "
                              "social or email");
        em = an_get(x, "emergency");
        if (!an_absent(em) && em->type != AN_J_TRUE && em->type != AN_J_FALSE)
                return an_bad(x->m, "wrong_type", "emergency",
                              "emergency must be a boolean");
        analytics_local_day(rec, an->ac->utc_offset_hours, day, sizeof(day));
        x->m->event_at = rec;
        an_put(&l, id);
        an_put(&l, srec);
        an_put(&l, day);
        an_put(&l, cat);
        an_put(&l, chan ? chan : "unknown");
        an_put(&l, src);
        an_put(&l, bld);
        an_put(&l, em && em->type == AN_J_TRUE ? "t" : "f");
        return an_end(x->m, &l, id, 0);
}

static int an_parse_dispatch(const struct analytics *an, struct an_ctx *x)
{
        static const char *const names[] = {
            "schema_version", "complaint_id", "attempt", "org_id",
            "org_kind", "building_id", "district", "category",
            "route_reason", "received_at", "routed_at", "due_at", "complaint"};
        static const char *const cnames[] = {"channel"};
        const char *cid, *org, *kind, *bld, *dist, *cat, *why, *chan = NULL;
        int64_t rec, routed, due;
        char srec[24], srouted[24], sdue[24], day[16];
        long attempt;
        struct an_jv cpl;
        struct an_line l = {.len = 0};

        if (an_open(x, names, 13) || an_uuid(x, "complaint_id", &cid) ||
            an_int(x, "attempt", 1, 1000, &attempt) ||
            an_str(x, "org_id", 1, 64, &org) ||
            an_str(x, "org_kind", 1, 32, &kind) ||
            an_str(x, "building_id", 0, 64, &bld) ||
            an_str(x, "district", 0, 64, &dist) ||
            an_str(x, "category", 1, 64, &cat) ||
            an_str(x, "route_reason", 0, 128, &why) ||
            an_time(x, "received_at", &rec, srec) ||
            an_time(x, "routed_at", &routed, srouted) ||
            an_time(x, "due_at", &due, sdue))
                return -1;
        cpl = *an_get(x, "complaint");
        if (cpl.type == AN_J_OBJ &&
            (an_scan(x, cpl.p, cpl.len, cnames, 1) ||
             an_str(x, "channel", 0, 16, &chan)))
                return -1;
        analytics_local_day(rec, an->ac->utc_offset_hours, day, sizeof(day));
        x->m->event_at = rec;
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
        return an_end(x->m, &l, cid, (int)attempt);
}

static int an_parse_event(struct an_ctx *x)
{
        static const char *const names[] = {
            "schema_version", "event_id", "complaint_id", "attempt",
            "org_id",         "event",    "at",           "reason"};
        const char *eid, *cid, *org, *ev, *why;
        int64_t at;
        char sat[24];
        long attempt;
        struct an_line l = {.len = 0};

        if (an_open(x, names, 8) || an_uuid(x, "event_id", &eid) ||
            an_uuid(x, "complaint_id", &cid) ||
            an_int(x, "attempt", 1, 1000, &attempt) ||
            an_str(x, "org_id", 1, 64, &org) ||
            an_str(x, "event", 1, 16, &ev) || an_time(x, "at", &at, sat) ||
            an_str(x, "reason", 0, 64, &why))
                return -1;
        /* reopened, confirmed, commented: the resident's (km_task.h);
         * handed_over: the directory's (issue 17) */
        if (strcmp(ev, "acknowledged") && strcmp(ev, "resolved") &&
            strcmp(ev, "rejected") && strcmp(ev, "reopened") &&
            strcmp(ev, "confirmed") && strcmp(ev, "commented") &&
            strcmp(ev, "handed_over"))
                return an_bad(x->m, "invalid_field", "event",
                              "event must be acknowledged, resolved, "
                              "rejected, reopened, confirmed, commented or "
                              "handed_over");
        x->m->event_at = at;
        an_put(&l, eid);
        an_put(&l, cid);
        an_put_int(&l, attempt);
        an_put(&l, org);
        an_put(&l, ev);
        an_put(&l, sat);
        an_put(&l, why);
        return an_end(x->m, &l, eid, 0);
}

static int an_parse_vote(struct an_ctx *x)
{
        static const char *const names[] = {"schema_version", "vote_id",
                                            "ksk_id", "month", "score",
                                            "voted_at"};
        const char *vid, *ksk, *month;
        int64_t at;
        char sat[24], mday[16];
        long score;
        int y, mo;
        struct an_line l = {.len = 0};

        if (an_open(x, names, 6) || an_uuid(x, "vote_id", &vid) ||
            an_str(x, "ksk_id", 1, 64, &ksk) ||
            an_str(x, "month", 1, 7, &month) ||
            an_int(x, "score", 1, 5, &score) ||
            an_time(x, "voted_at", &at, sat))
                return -1;
        if (strlen(month) != 7 || sscanf(month, "%4d-%2d", &y, &mo) != 2 ||
            month[4] != '-' || y < 2000 || y > 2100 || mo < 1 || mo > 12)
                return an_bad(x->m, "invalid_field", "month",
                              "month must be YYYY-MM");
        snprintf(mday, sizeof(mday), "%04d-%02d-01", y, mo);
        x->m->event_at = at;
        an_put(&l, vid);
        an_put(&l, ksk);
        an_put(&l, mday);
        an_put_int(&l, score);
        an_put(&l, sat);
        return an_end(x->m, &l, vid, 0);
}

void analytics_parse(const struct analytics *an, struct an_msg *m)
{
        struct an_ctx x;

        m->row = NULL;
        m->event_at = 0;
        m->reason[0] = '\0';
        m->detail[0] = '\0';
        x.m = m;
        x.used = 0;
        x.n = 0;
        if (m->rkm->payload == NULL || m->rkm->len == 0) {
                an_bad(m, "invalid_json", NULL, "empty message");
                return;
        }
        if (m->rkm->len > (size_t)an->conf->max_message_bytes * 4) {
                an_bad(m, "too_large", NULL, "larger than max_message_bytes");
                return;
        }
        if (m->topic == AN_T_COMPLAINTS)
                an_parse_complaint(an, &x);
        else if (m->topic == AN_T_DISPATCH)
                an_parse_dispatch(an, &x);
        else if (m->topic == AN_T_EVENTS)
                an_parse_event(&x);
        else
                an_parse_vote(&x);
        if (m->row == NULL && m->reason[0] == '\0')
                an_bad(m, "invalid_field", "message", "cannot build the row");
}
