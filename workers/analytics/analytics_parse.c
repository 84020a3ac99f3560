/*
 * analytics_parse.c - turn one consumed message into the fact row that
 * analytics_store.c writes (a line of COPY text, the columns of the fact
 * table in order, with its key for sorting), or a dead-letter reason.
 *
 * SECURITY: the messages are untrusted bytes.  A complaint is judged by
 * the complaint model itself (km_complaint_parse, strict, in its read-only
 * mode: one pass, no tree, no canonical text), so analytics accepts what
 * the router accepts and dead-letters the rest with the model's reason.
 * The other topics are read with the shared scanner (km_json_scan, which
 * gives jansson's verdict; jansson decides what it leaves undecided) and
 * checked here field by field, the fields analytics keeps
 * (docs/messages.md), so PostgreSQL never sees a value it would reject:
 * uuids are canonical, times parse as RFC 3339, texts are bounded.
 * Unknown fields are ignored there (forward compatible).  What a row keeps
 * is chosen column by column: never contact, description,
 * street/house/apartment, staff notes or the resident hash of a vote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics.h"
#include "km_id.h"
#include "km_json.h"
#include "km_utf8.h"
#include "km_util.h"

int analytics_topic_of(const struct analytics *an, const char *topic)
{
        for (int i = 0; i < AN_NTOPICS; i++)
                if (strcmp(an->topics[i], topic) == 0)
                        return i;
        return -1;
}

void analytics_local_day(int64_t t, int64_t offset_hours, char *buf, size_t len)
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
        return KM_EINPUT;
}

/* One message being read: the members asked for, and room for their
 * decoded strings. */
struct an_ctx {
        struct an_msg *m;
        const struct km_json_want *want;
        int n;
        struct km_json_val v[16];
        json_t *tree; /* jansson's, when the scanner left it undecided */
        char scratch[4096];
        size_t used;
};

static const struct km_json_val *an_get(const struct an_ctx *x,
                                        const char *name)
{
        for (int i = 0; i < x->n; i++)
                if (strcmp(x->want[i].name, name) == 0)
                        return &x->v[i];
        return NULL;
}

static int an_absent(const struct km_json_val *v)
{
        return v == NULL || v->type == KM_JSON_NONE || v->type == KM_JSON_NULL;
}

/* A string member of 1..maxlen bytes without control characters; NULL
 * when absent and optional.  @returns 0 or KM_EINPUT with m->reason set. */
static int an_str(struct an_ctx *x, const char *name, int required,
                  size_t maxlen, const char **out)
{
        const struct km_json_val *v = an_get(x, name);
        char detail[128], *buf = x->scratch + x->used;
        size_t room = sizeof(x->scratch) - x->used, n = 0;

        *out = NULL;
        if (an_absent(v)) {
                if (!required)
                        return 0;
                snprintf(detail, sizeof(detail), "%s is required", name);
                return an_bad(x->m, "missing_field", name, detail);
        }
        if (v->type != KM_JSON_STR) {
                snprintf(detail, sizeof(detail), "%s must be a string", name);
                return an_bad(x->m, "wrong_type", name, detail);
        }
        /* decoding never grows a string; the scanner and jansson refuse
         * \u0000, so n is its strlen */
        if (v->len > maxlen * 6 + 6 || v->len >= room ||
            (km_json_str(v, buf, &n), n == 0) || n > maxlen) {
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
                return KM_EINPUT;
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
                return KM_EINPUT;
        if (km_parse_rfc3339(s, t) || *t < 946684800LL || *t >= 4133980800LL) {
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
        const struct km_json_val *v = an_get(x, name);
        char detail[128];

        if (an_absent(v)) {
                snprintf(detail, sizeof(detail), "%s is required", name);
                return an_bad(x->m, "missing_field", name, detail);
        }
        if (v->type != KM_JSON_INT) {
                snprintf(detail, sizeof(detail), "%s must be an integer", name);
                return an_bad(x->m, "wrong_type", name, detail);
        }
        if (v->i < lo || v->i > hi) {
                snprintf(detail, sizeof(detail), "%s must be in %ld..%ld", name,
                         lo, hi);
                return an_bad(x->m, "invalid_field", name, detail);
        }
        *out = (long)v->i;
        return 0;
}

/* The common header: valid UTF-8, a JSON object (the members of want
 * read), schema_version 1. */
static int an_open(struct an_ctx *x, const struct km_json_want *want, int n)
{
        const rd_kafka_message_t *rkm = x->m->rkm;
        long version;
        int r;

        if (!km_utf8_valid(rkm->payload, rkm->len, NULL) ||
            memchr(rkm->payload, '\0', rkm->len))
                return an_bad(x->m, "invalid_utf8", NULL,
                              "message is not UTF-8 text");
        x->want = want;
        x->n = n;
        r = km_json_scan(rkm->payload, rkm->len, want, n, x->v);
        if (r == KM_JSON_UNDECIDED)
                r = km_json_scan_ref(rkm->payload, rkm->len, want, n, x->v,
                                     &x->tree);
        if (r)
                return an_bad(x->m, "invalid_json", NULL,
                              "not a valid JSON object");
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

/* A complaint: judged by the model (strict, read-only), which the
 * router and the producers use; analytics keeps a few of its fields. */
static int an_parse_complaint(const struct analytics *an, struct an_msg *m)
{
        const rd_kafka_message_t *rkm = m->rkm;
        struct km_complaint *c = NULL;
        struct an_line l = {.len = 0};
        char day[16];
        int r;

        if (km_complaint_parse(rkm->payload ? rkm->payload : "",
                               rkm->payload ? rkm->len : 0, an->conf,
                               KM_CPL_STRICT | KM_CPL_READONLY, km_wall_s(), &c,
                               m->reason, m->detail, sizeof(m->detail)))
                return KM_EINPUT; /* m->reason and m->detail are the model's */
        analytics_local_day(c->received_at, an->ac->utc_offset_hours, day,
                            sizeof(day));
        m->event_at = c->received_at;
        an_put(&l, c->id);
        an_put(&l, c->received_at_str);
        an_put(&l, day);
        an_put(&l, c->category);
        an_put(&l, c->channel ? c->channel : "unknown");
        an_put(&l, c->source);
        an_put(&l, c->building_id);
        an_put(&l, c->emergency ? "t" : "f");
        r = an_end(m, &l, c->id, 0);
        km_complaint_destroy(c);
        return r;
}

static int an_parse_dispatch(const struct analytics *an, struct an_ctx *x)
{
        static const struct km_json_want want[] = {
                {"schema_version", -1}, {"complaint_id", -1},
                {"attempt", -1},        {"org_id", -1},
                {"org_kind", -1},       {"building_id", -1},
                {"district", -1},       {"category", -1},
                {"route_reason", -1},   {"received_at", -1},
                {"routed_at", -1},      {"due_at", -1},
                {"complaint", -1},      {"channel", 12}};
        const char *cid, *org, *kind, *bld, *dist, *cat, *why, *chan;
        int64_t rec, routed, due;
        char srec[24], srouted[24], sdue[24], day[16];
        long attempt;
        struct an_line l = {.len = 0};

        if (an_open(x, want, 14) || an_uuid(x, "complaint_id", &cid) ||
            an_int(x, "attempt", 1, 1000, &attempt) ||
            an_str(x, "org_id", 1, 64, &org) ||
            an_str(x, "org_kind", 1, 32, &kind) ||
            an_str(x, "building_id", 0, 64, &bld) ||
            an_str(x, "district", 0, 64, &dist) ||
            an_str(x, "category", 1, 64, &cat) ||
            an_str(x, "route_reason", 0, 128, &why) ||
            an_time(x, "received_at", &rec, srec) ||
            an_time(x, "routed_at", &routed, srouted) ||
            an_time(x, "due_at", &due, sdue) ||
            an_str(x, "channel", 0, 16, &chan)) /* the complaint's */
                return KM_EINPUT;
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
        static const struct km_json_want want[] = {{"schema_version", -1},
                                                   {"event_id", -1},
                                                   {"complaint_id", -1},
                                                   {"attempt", -1},
                                                   {"org_id", -1},
                                                   {"event", -1},
                                                   {"at", -1},
                                                   {"reason", -1}};
        const char *eid, *cid, *org, *ev, *why;
        int64_t at;
        char sat[24];
        long attempt;
        struct an_line l = {.len = 0};

        if (an_open(x, want, 8) || an_uuid(x, "event_id", &eid) ||
            an_uuid(x, "complaint_id", &cid) ||
            an_int(x, "attempt", 1, 1000, &attempt) ||
            an_str(x, "org_id", 1, 64, &org) ||
            an_str(x, "event", 1, 16, &ev) || an_time(x, "at", &at, sat) ||
            an_str(x, "reason", 0, 64, &why))
                return KM_EINPUT;
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
        static const struct km_json_want want[] = {
                {"schema_version", -1}, {"vote_id", -1}, {"ksk_id", -1},
                {"month", -1},          {"score", -1},   {"voted_at", -1}};
        const char *vid, *ksk, *month;
        int64_t at;
        char sat[24], mday[16];
        long score;
        int y, mo;
        struct an_line l = {.len = 0};

        if (an_open(x, want, 6) || an_uuid(x, "vote_id", &vid) ||
            an_str(x, "ksk_id", 1, 64, &ksk) ||
            an_str(x, "month", 1, 7, &month) ||
            an_int(x, "score", 1, 5, &score) ||
            an_time(x, "voted_at", &at, sat))
                return KM_EINPUT;
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
        x.tree = NULL;
        if (m->topic == AN_T_COMPLAINTS)
                an_parse_complaint(an, m); /* the model's checks, all */
        else if (m->rkm->payload == NULL || m->rkm->len == 0)
                an_bad(m, "invalid_json", NULL, "empty message");
        else if (m->rkm->len > (size_t)an->conf->max_message_bytes * 4)
                an_bad(m, "too_large", NULL, "larger than max_message_bytes");
        else if (m->topic == AN_T_DISPATCH)
                an_parse_dispatch(an, &x);
        else if (m->topic == AN_T_EVENTS)
                an_parse_event(&x);
        else
                an_parse_vote(&x);
        json_decref(x.tree);
        if (m->row == NULL && m->reason[0] == '\0')
                an_bad(m, "invalid_field", "message", "cannot build the row");
}
