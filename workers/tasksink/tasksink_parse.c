/*
 * tasksink_parse.c - a dispatch message into its staging line.
 *
 * Two readers fill one struct tasksink_msg: km_json_scan (one pass, no
 * tree: the hot path) and jansson (the reference, and the reader of what
 * the scanner leaves undecided: an escaped member name, an object of more
 * than KM_JSON_MAXKEYS members ...).  One set of checks then judges the
 * fields, whichever reader filled them, so both give the same verdict
 * (tests/unit/test_tasksink_parse.c compares them over valid, hostile and
 * mutated messages).  The complaint, and its contact, are stored as the
 * bytes they arrived as.
 *
 * SECURITY: a dispatch message is untrusted input (anyone with access can
 * write to the topic): every length is bounded by the model's limit
 * (TASKSINK_STR_MAX), an invalid message is KM_EINPUT (dead-lettered by
 * the caller), never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_id.h"
#include "km_json.h"
#include "km_util.h"
#include "tasksink.h"

/* The longest string the complaint model accepts is the description,
 * conf->max_description_chars code points (4,000, the schema's), 4 bytes
 * each at most.  The model has validated lengths in code points already
 * (the router parses strictly); this bound, taken from the model's limit
 * and not a limit of the sink's own, only keeps out what the model could
 * never accept, so the sink accepts everything the model does. */
#define TASKSINK_STR_MAX(conf) ((size_t)(conf)->max_description_chars * 4)

/* The members read: TS_F_ID .. TS_F_DUE (top-level strings), the
 * complaint's description, then attempt, complaint, the complaint's
 * contact and address, the address's text and parts. */
enum {
        TS_W_DESC = TS_F_DESCRIPTION,
        TS_W_ATTEMPT = TS_F_DESCRIPTION + 1,
        TS_W_COMPLAINT,
        TS_W_CONTACT,
        TS_W_ADDRESS,
        TS_W_TEXT,
        TS_W_PART0,
        TS_NW = TS_W_PART0 + 4
};

static const struct km_json_want ts_want[TS_NW] = {
        {"complaint_id", -1},
        {"org_id", -1},
        {"org_kind", -1},
        {"building_id", -1},
        {"district", -1},
        {"category", -1},
        {"route_reason", -1},
        {"received_at", -1},
        {"routed_at", -1},
        {"due_at", -1},
        {"description", TS_W_COMPLAINT},
        {"attempt", -1},
        {"complaint", -1},
        {"contact", TS_W_COMPLAINT},
        {"address", TS_W_COMPLAINT},
        {"text", TS_W_ADDRESS},
        {"district", TS_W_ADDRESS},
        {"street", TS_W_ADDRESS},
        {"house", TS_W_ADDRESS},
        {"apartment", TS_W_ADDRESS},
};
void tasksink_msg_free(struct tasksink_msg *m)
{
        free(m->buf);
        free(m->dump[0]);
        free(m->dump[1]);
        memset(m, 0, sizeof(*m));
}

/* Reset for a message of len bytes: the arena holds every string read
 * (decoding never grows one; the address adds its separators). */
static void ts_msg_reset(struct tasksink_msg *m, size_t len)
{
        size_t need = 2 * len + 256;

        free(m->dump[0]);
        free(m->dump[1]);
        m->dump[0] = m->dump[1] = NULL;
        if (m->cap < need) {
                free(m->buf);
                m->cap = need;
                m->buf = km_xmalloc(m->cap);
        }
        m->used = 0;
        for (int i = 0; i < TS_NF; i++) {
                m->kind[i] = KM_JSON_NONE;
                m->f[i] = NULL;
                m->n[i] = 0;
        }
        m->attempt_kind = m->complaint_kind = KM_JSON_NONE;
        m->attempt = 0;
        m->complaint = m->contact = NULL;
        m->complaint_len = m->contact_len = 0;
}

/* "street, house, кв. apartment" from the parts present as strings. */
static void ts_msg_address(struct tasksink_msg *m, const char *const part[4],
                           const size_t plen[4])
{
        char *o = m->buf + m->used, *w = o;
        int any = 0;

        for (int i = 0; i < 4; i++) {
                if (part[i] == NULL)
                        continue;
                if (any) {
                        memcpy(w, ", ", 2);
                        w += 2;
                }
                if (i == 3) {
                        memcpy(w, "кв. ", strlen("кв. "));
                        w += strlen("кв. ");
                }
                memcpy(w, part[i], plen[i]);
                w += plen[i];
                any = 1;
        }
        if (!any)
                return;
        *w = '\0';
        m->kind[TS_F_ADDRESS] = KM_JSON_STR;
        m->f[TS_F_ADDRESS] = o;
        m->n[TS_F_ADDRESS] = (size_t)(w - o);
        m->used += (size_t)(w - o) + 1;
}

/* --- the hot path: km_json_scan ---------------------------------------- */

static void ts_scan_str(struct tasksink_msg *m, const struct km_json_val *v,
                        const char **s, size_t *n)
{
        char *o = m->buf + m->used;

        km_json_str(v, o, n);
        *s = o;
        m->used += *n + 1;
}

/* --- the reference: jansson -------------------------------------------- */

static const char *ts_ref_ws(const char *p, const char *end)
{
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++;
        return p;
}

/* p at '"': past the closing quote; *esc: the string had escapes. */
static const char *ts_ref_string(const char *p, const char *end, int *esc)
{
        for (p++; p < end && *p != '"'; p++)
                if (*p == '\\') {
                        *esc = 1;
                        p++;
                }
        return p < end ? p + 1 : NULL;
}

/* Past the value at p (text jansson has already accepted), or NULL. */
static const char *ts_ref_skip(const char *p, const char *end)
{
        int depth = 0, esc = 0;

        do {
                if (p >= end)
                        return NULL;
                if (*p == '"') {
                        p = ts_ref_string(p, end, &esc);
                        if (p == NULL)
                                return NULL;
                        continue;
                }
                if (*p == '{' || *p == '[')
                        depth++;
                else if (*p == '}' || *p == ']')
                        depth--;
                else if (depth == 0) { /* a scalar: up to a delimiter */
                        while (p < end && !strchr(",}] \t\n\r", *p))
                                p++;
                        return p;
                }
                p++;
        } while (depth > 0);
        return p;
}

/* The bytes of member `key` of the JSON object text [p, p + len) as
 * written: 0, or -1 when not found so (an escaped name): then the caller
 * takes jansson's serialisation of the value, the same JSON. */
static int ts_ref_member(const char *p, size_t len, const char *key,
                         const char **vp, size_t *vlen)
{
        const char *end = p + len;
        size_t klen = strlen(key);

        p = ts_ref_ws(p, end);
        if (p >= end || *p != '{')
                return -1;
        for (p++;;) {
                const char *k, *v;
                size_t n;
                int esc = 0;

                p = ts_ref_ws(p, end);
                if (p >= end || *p != '"')
                        return -1;
                k = p + 1;
                p = ts_ref_string(p, end, &esc);
                if (p == NULL)
                        return -1;
                n = (size_t)(p - 1 - k); /* the key's bytes, quotes off */
                p = ts_ref_ws(p, end);
                if (p >= end || *p != ':')
                        return -1;
                v = ts_ref_ws(p + 1, end);
                p = ts_ref_skip(v, end);
                if (p == NULL)
                        return -1;
                if (!esc && n == klen && memcmp(k, key, klen) == 0) {
                        *vp = v;
                        *vlen = (size_t)(p - v);
                        return 0;
                }
                p = ts_ref_ws(p, end);
                if (p >= end || *p != ',')
                        return -1;
                p++;
        }
}

/* A member's bytes: as written in [p, p + len), else serialised. */
static void ts_ref_span(struct tasksink_msg *m, const char *p, size_t len,
                        const char *key, json_t *v, int d, const char **out,
                        size_t *outlen)
{
        if (p && ts_ref_member(p, len, key, out, outlen) == 0)
                return;
        m->dump[d] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        *out = m->dump[d];
        *outlen = strlen(m->dump[d]);
}

/* m from the values of ts_want, whichever reader found them.  tree:
 * jansson's (the reference), whose objects carry no bytes (p NULL): the
 * complaint's and the contact's are then found in the text, or
 * serialised. */
static void ts_msg_fill(struct tasksink_msg *m, const struct km_json_val *v,
                        const char *buf, size_t len, json_t *tree)
{
        const char *part[4] = {NULL, NULL, NULL, NULL};
        size_t plen[4] = {0, 0, 0, 0};

        for (int i = 0; i <= TS_F_DESCRIPTION; i++) {
                m->kind[i] = v[i].type;
                if (v[i].type == KM_JSON_STR)
                        ts_scan_str(m, &v[i], &m->f[i], &m->n[i]);
        }
        m->attempt_kind = v[TS_W_ATTEMPT].type;
        m->attempt = v[TS_W_ATTEMPT].i;
        m->complaint_kind = v[TS_W_COMPLAINT].type;
        if (m->complaint_kind != KM_JSON_OBJ)
                return;
        if (tree == NULL) {
                m->complaint = v[TS_W_COMPLAINT].p;
                m->complaint_len = v[TS_W_COMPLAINT].len;
                if (v[TS_W_CONTACT].type == KM_JSON_OBJ) {
                        m->contact = v[TS_W_CONTACT].p;
                        m->contact_len = v[TS_W_CONTACT].len;
                }
        } else {
                json_t *c = json_object_get(tree, "complaint");

                ts_ref_span(m, buf, len, "complaint", c, 0, &m->complaint,
                            &m->complaint_len);
                if (v[TS_W_CONTACT].type == KM_JSON_OBJ)
                        ts_ref_span(m, m->complaint, m->complaint_len,
                                    "contact", json_object_get(c, "contact"), 1,
                                    &m->contact, &m->contact_len);
        }
        if (v[TS_W_ADDRESS].type != KM_JSON_OBJ)
                return;
        if (v[TS_W_TEXT].type == KM_JSON_STR) {
                ts_scan_str(m, &v[TS_W_TEXT], &m->f[TS_F_ADDRESS],
                            &m->n[TS_F_ADDRESS]);
                m->kind[TS_F_ADDRESS] = KM_JSON_STR;
                return;
        }
        for (int i = 0; i < 4; i++)
                if (v[TS_W_PART0 + i].type == KM_JSON_STR)
                        ts_scan_str(m, &v[TS_W_PART0 + i], &part[i], &plen[i]);
        ts_msg_address(m, part, plen);
}

/* 0, KM_EINPUT (not a JSON object), KM_JSON_UNDECIDED. */
static int ts_msg_scan(struct tasksink_msg *m, const char *buf, size_t len)
{
        struct km_json_val v[TS_NW];
        int r = km_json_scan(buf, len, ts_want, TS_NW, v);

        if (r == 0)
                ts_msg_fill(m, v, buf, len, NULL);
        return r;
}

/* 0 or KM_EINPUT (not a JSON object): km_json_scan_ref, jansson's tree of
 * the same text (a NUL byte refused first, which PostgreSQL could not
 * store either). */
static int ts_msg_ref(struct tasksink_msg *m, const char *buf, size_t len)
{
        struct km_json_val v[TS_NW];
        json_t *tree;
        int r = km_json_scan_ref(buf, len, ts_want, TS_NW, v, &tree);

        if (r == 0)
                ts_msg_fill(m, v, buf, len, tree);
        json_decref(tree);
        return r;
}

/* --- one judgement of the fields, whichever reader -------------------- */

/* A string field: 0 < length <= max, no NUL; nullable: absent or null
 * also (then NULL). */
static int ts_msg_str_ok(const struct tasksink_msg *m, int i, int nullable,
                         size_t max)
{
        if (m->kind[i] == KM_JSON_STR)
                return m->n[i] > 0 && m->n[i] <= max &&
                       strlen(m->f[i]) == m->n[i];
        return nullable &&
               (m->kind[i] == KM_JSON_NONE || m->kind[i] == KM_JSON_NULL);
}

int tasksink_msg_read(const struct km_conf *conf, const char *buf, size_t len,
                      int ref, struct tasksink_msg *m, char *err, size_t errlen)
{
        size_t max = TASKSINK_STR_MAX(conf);
        int r = KM_JSON_UNDECIDED, bad = 0;
        int64_t t;

        ts_msg_reset(m, len);
        m->by_ref = 0;
        if (!ref)
                r = ts_msg_scan(m, buf, len);
        if (r == KM_JSON_UNDECIDED) {
                ts_msg_reset(m, len);
                m->by_ref = 1;
                r = ts_msg_ref(m, buf, len);
        }
        if (r)
                return km_err_set(err, errlen, KM_EINPUT, "not a JSON object");
        for (int i = 0; i < TS_F_DESCRIPTION; i++) {
                int nullable = i == TS_F_BUILDING || i == TS_F_DISTRICT;

                if (!ts_msg_str_ok(m, i, nullable, max))
                        bad = 1;
                else if (m->kind[i] != KM_JSON_STR)
                        m->f[i] = NULL;
        }
        if (bad || m->complaint_kind != KM_JSON_OBJ ||
            !km_id_valid(m->f[TS_F_ID]) ||
            km_parse_rfc3339(m->f[TS_F_RECEIVED], &t) ||
            km_parse_rfc3339(m->f[TS_F_ROUTED], &t) ||
            km_parse_rfc3339(m->f[TS_F_DUE], &t) || m->n[TS_F_ORG_ID] > 64)
                return km_err_set(err, errlen, KM_EINPUT,
                                  "missing or invalid field");
        if (m->attempt_kind != KM_JSON_INT || m->attempt < 1 ||
            m->attempt > 1000000)
                return km_err_set(err, errlen, KM_EINPUT, "invalid attempt");
        if (!ts_msg_str_ok(m, TS_F_DESCRIPTION, 0, max))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "complaint without a description");
        return 0;
}

/* --- the staging line (COPY text format) ------------------------------ */

static void ts_copy_reserve(struct tasksink *ts, size_t n)
{
        if (ts->copylen + n <= ts->copycap)
                return;
        while (ts->copylen + n > ts->copycap)
                ts->copycap = ts->copycap ? ts->copycap * 2 : 65536;
        ts->copy = km_xrealloc(ts->copy, ts->copycap);
}

/* One field and its delimiter; s NULL: \N.  Runs of bytes COPY takes as
 * they are go in with one memcpy. */
static const unsigned char ts_copy_esc[256] = {
        ['\\'] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static void ts_copy_field(struct tasksink *ts, const char *s, size_t n,
                          char delim)
{
        const char *e = s ? s + n : NULL;
        char *w;

        ts_copy_reserve(ts, (s ? 2 * n : 2) + 1);
        w = ts->copy + ts->copylen;
        if (s == NULL) {
                *w++ = '\\';
                *w++ = 'N';
        }
        while (s != NULL && s < e) {
                const char *q = s;

                while (q < e && !ts_copy_esc[(unsigned char)*q])
                        q++;
                memcpy(w, s, (size_t)(q - s));
                w += q - s;
                if (q == e)
                        break;
                *w++ = '\\';
                *w++ = *q == '\t'   ? 't'
                       : *q == '\n' ? 'n'
                       : *q == '\r' ? 'r'
                                    : *q;
                s = q + 1;
        }
        *w++ = delim;
        ts->copylen = (size_t)(w - ts->copy);
}

void tasksink_row_free(struct tasksink_row *row)
{
        free(row->raw);
        memset(row, 0, sizeof(*row));
}

int tasksink_row_parse(struct tasksink *ts, const rd_kafka_message_t *rkm,
                       struct tasksink_row *row, char *err, size_t errlen)
{
        struct tasksink_msg *m = &ts->msg;
        char num[24];
        int n, r;

        memset(row, 0, sizeof(*row));
        row->partition = rkm->partition;
        row->offset = rkm->offset;
        r = tasksink_msg_read(ts->conf, rkm->payload,
                              rkm->payload ? rkm->len : 0, 0, m, err, errlen);
        ts->by_ref += m->by_ref;
        if (r)
                return r;
        /* the staging line, in ts_stage's column order */
        row->line_off = ts->copylen;
        n = snprintf(num, sizeof(num), "%zu", ts->nrows);
        ts_copy_field(ts, num, (size_t)n, '\t');
        ts_copy_field(ts, m->f[TS_F_ID], m->n[TS_F_ID], '\t');
        n = snprintf(num, sizeof(num), "%lld", m->attempt);
        ts_copy_field(ts, num, (size_t)n, '\t');
        for (int i = TS_F_ORG_ID; i < TS_NF; i++)
                ts_copy_field(ts, m->f[i], m->n[i], '\t');
        ts_copy_field(ts, m->contact, m->contact_len, '\t');
        ts_copy_field(ts, m->complaint, m->complaint_len, '\n');
        row->line_len = ts->copylen - row->line_off;
        row->rawlen = rkm->len;
        row->raw = km_xmalloc(rkm->len + 1);
        memcpy(row->raw, rkm->payload, rkm->len);
        return 0;
}
