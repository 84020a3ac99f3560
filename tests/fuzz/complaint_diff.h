/*
 * complaint_diff.h - the differential check between km_complaint_parse
 * (the one-pass scanner) and km_complaint_parse_ref (jansson's tree): the
 * same bytes must give the same verdict, the same reason, byte-identical
 * canonical text (with and without contact) and the same fields; and the
 * read-only mode (KM_CPL_READONLY) the strict one's verdict, reason and
 * fields.  Included
 * by tests/fuzz/fuzz_complaint_diff.c and tests/unit/test_complaint_diff.c.
 */
#ifndef COMPLAINT_DIFF_H
#define COMPLAINT_DIFF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"

static int cd_streq(const char *a, const char *b)
{
        if (a == NULL || b == NULL)
                return a == b;
        return strcmp(a, b) == 0;
}

/* Two canonical texts, the ids aside when both are random (UUIDv4). */
static int cd_canon_eq(const char *a, const char *b, int random_ids)
{
        size_t la = strlen(a), lb = strlen(b);

        if (la != lb)
                return 0;
        if (!random_ids)
                return memcmp(a, b, la) == 0;
        return la > 62 && memcmp(a, b, 26) == 0 &&
               memcmp(a + 62, b + 62, la - 62) == 0;
}

/* The fields two parses extracted (the id aside). */
static int cd_fields_eq(const struct km_complaint *a,
                        const struct km_complaint *b)
{
        return cd_streq(a->source, b->source) &&
               cd_streq(a->external_id, b->external_id) &&
               cd_streq(a->channel, b->channel) &&
               cd_streq(a->category, b->category) &&
               cd_streq(a->description, b->description) &&
               cd_streq(a->district, b->district) &&
               cd_streq(a->street, b->street) && cd_streq(a->house, b->house) &&
               cd_streq(a->apartment, b->apartment) &&
               cd_streq(a->address_text, b->address_text) &&
               cd_streq(a->building_id, b->building_id) &&
               strcmp(a->received_at_str, b->received_at_str) == 0 &&
               a->received_at == b->received_at && a->has_geo == b->has_geo &&
               (!a->has_geo || (a->lat == b->lat && a->lon == b->lon)) &&
               a->emergency == b->emergency && a->has_contact == b->has_contact;
}

/* The read-only mode (komek-analytics') against the writing one, strict:
 * the same verdict, reason, detail, id and fields, and no canonical text.
 * @returns NULL when both agree, else what differs (static text). */
static const char *cd_check_readonly(const char *buf, size_t len,
                                     const struct km_conf *conf, int64_t now,
                                     char *why, size_t whylen)
{
        struct km_complaint *a = NULL, *b = NULL;
        char ra[KM_REASON_LEN] = "", rb[KM_REASON_LEN] = "";
        char ea[256] = "", eb[256] = "";
        const char *bad = NULL;
        int xa, xb;

        xa = km_complaint_parse(buf, len, conf, KM_CPL_STRICT | KM_CPL_READONLY,
                                now, &a, ra, ea, sizeof(ea));
        xb = km_complaint_parse(buf, len, conf, KM_CPL_STRICT, now, &b, rb, eb,
                                sizeof(eb));
        if (xa != xb)
                bad = "read-only verdict";
        else if (xa != 0 && (strcmp(ra, rb) || strcmp(ea, eb) || a != NULL))
                bad = "read-only reason";
        else if (xa == 0 && (strcmp(a->id, b->id) || !cd_fields_eq(a, b) ||
                             a->canon != NULL))
                bad = "read-only fields";
        if (bad && why)
                snprintf(why, whylen,
                         "%s: read-only %d %s [%s], writing %d "
                         "%s [%s]",
                         bad, xa, ra, ea, xb, rb, eb);
        km_complaint_destroy(a);
        km_complaint_destroy(b);
        return bad;
}

/* @returns NULL when both agree, else what differs (static text). */
static const char *cd_check_mode(const char *buf, size_t len,
                                 const struct km_conf *conf, int mode,
                                 int64_t now, char *why, size_t whylen)
{
        struct km_complaint *a = NULL, *b = NULL;
        char ra[KM_REASON_LEN] = "", rb[KM_REASON_LEN] = "";
        char ea[256] = "", eb[256] = "";
        const char *bad = NULL;
        int xa, xb, random_ids;

        xa = km_complaint_parse(buf, len, conf, mode, now, &a, ra, ea,
                                sizeof(ea));
        xb = km_complaint_parse_ref(buf, len, conf, mode, now, &b, rb, eb,
                                    sizeof(eb));
        if (xa != xb) {
                bad = "verdict";
                goto out;
        }
        if (xa != 0) {
                if (strcmp(ra, rb) != 0)
                        bad = "reason";
                else if (a != NULL || ra[0] == '\0' || strchr(ea, '\n') != NULL)
                        bad = "rejection contract";
                goto out;
        }
        random_ids = strcmp(a->id, b->id) != 0;
        if (random_ids && (a->id[14] != '4' || b->id[14] != '4' ||
                           a->external_id || !km_id_valid(a->id))) {
                bad = "id";
                goto out;
        }
        for (int pii = 0; pii < 2 && !bad; pii++) {
                char *sa = km_complaint_dumps(a, pii ? KM_CPL_NO_PII : 0);
                char *sb = km_complaint_dumps(b, pii ? KM_CPL_NO_PII : 0);

                if (!cd_canon_eq(sa, sb, random_ids)) {
                        bad = pii ? "canonical text without contact"
                                  : "canonical text";
                        size_t at = 0;

                        while (sa[at] && sa[at] == sb[at])
                                at++;
                        at = at > 40 ? at - 40 : 0;
                        snprintf(ea, sizeof(ea), "at %zu: %.120s", at, sa + at);
                        snprintf(eb, sizeof(eb), "%.120s", sb + at);
                }
                free(sa);
                free(sb);
        }
        if (bad)
                goto out;
        if (!cd_fields_eq(a, b))
                bad = "fields";
        if (!bad) { /* a scanned complaint's tree is its canonical text's */
                json_t *ja = km_complaint_to_json(a, 0);
                char *sb = km_complaint_dumps(b, 0);
                json_t *jb = json_loads(sb, 0, NULL);

                free(sb);
                if (!json_equal(ja, jb) && !random_ids)
                        bad = "km_complaint_to_json";
                json_decref(ja);
                json_decref(jb);
        }
out:
        if (bad && why)
                snprintf(why, whylen,
                         "%s (mode %d): scanner %d %s [%s], "
                         "reference %d %s [%s]",
                         bad, mode, xa, ra, ea, xb, rb, eb);
        km_complaint_destroy(a);
        km_complaint_destroy(b);
        return bad;
}

/* Both modes, then the read-only one against strict. */
static const char *cd_check(const char *buf, size_t len,
                            const struct km_conf *conf, int64_t now, char *why,
                            size_t whylen)
{
        const char *bad =
                cd_check_mode(buf, len, conf, KM_CPL_INTAKE, now, why, whylen);

        if (bad == NULL)
                bad = cd_check_mode(buf, len, conf, KM_CPL_STRICT, now, why,
                                    whylen);
        if (bad == NULL)
                bad = cd_check_readonly(buf, len, conf, now, why, whylen);
        return bad;
}

#endif /* COMPLAINT_DIFF_H */
