/*
 * fx_build.c - the messages of a generated city, as the pipeline would
 * publish them (docs/messages.md), and the test's own model of them.
 *
 * complaints: each generated line parsed with km_complaint_parse
 *   (KM_CPL_INTAKE) and published as km_complaint_dumps(c, 0) - contact
 *   included, as on the real topic; every 7th published twice more.
 * dispatch: the building from truth.csv; the category's kind picks the
 *   building's KSK or lift operator; no building or no organisation ->
 *   triage.  Every 23rd KSK task is rejected (not_ours) and re-routed to
 *   triage as attempt 2.
 * task-events: from a hash of the complaint id: most acknowledged, many
 *   resolved (some late), some resolved without an acknowledgement;
 *   triage tasks stay open.  Every 5th complaint's events published twice.
 * votes: votes.jsonl with resident -> HMAC-SHA256 hex, vote_id derived;
 *   the first line of a vote_id is the one kept.
 * Plus three garbage messages for the dead-letter queue.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx.h"
#include "km_complaint.h"
#include "km_util.h"

#define FX_SLOTS (1 << 19) /* complaint and vote ids: up to ~250,000 */

struct fx_set {
        char (*keys)[KM_ID_LEN];
        int *used;
};

/* @returns 1 if id was already in the set, else adds it. */
static int fx_set_seen(struct fx_set *s, const char *id)
{
        uint32_t h;
        char head[9];

        snprintf(head, sizeof(head), "%.8s", id);
        h = (uint32_t)strtoul(head, NULL, 16) & (FX_SLOTS - 1);
        while (s->used[h]) {
                if (strcmp(s->keys[h], id) == 0)
                        return 1;
                h = (h + 1) & (FX_SLOTS - 1);
        }
        s->used[h] = 1;
        snprintf(s->keys[h], KM_ID_LEN, "%s", id);
        return 0;
}

static uint32_t fx_hash(const char *id)
{
        char head[9];

        snprintf(head, sizeof(head), "%.8s", id);
        return (uint32_t)strtoul(head, NULL, 16);
}

static int fx_bld_cmp(const void *key, const void *elem)
{
        return strcmp(key, ((const struct fx_bld *)elem)->id);
}

/* buildings.csv is sorted by id (fx_load checks) */
static int fx_bld(const struct fx_data *d, const char *id)
{
        const struct fx_bld *b;

        if (id == NULL || *id == '\0')
                return -1;
        b = bsearch(id, d->b, d->nb, sizeof(*d->b), fx_bld_cmp);
        return b ? (int)(b - d->b) : -1;
}

static void fx_ts(int64_t t, char *buf)
{
        km_fmt_rfc3339(t, buf, 24);
}

static void fx_event(struct fx_data *d, const struct fx_cpl *c, int attempt,
                     const char *org, const char *ev, int64_t at, int twice)
{
        char eid[KM_ID_LEN], name[128], sat[24];
        json_t *m;
        char *text;

        snprintf(name, sizeof(name), "%s|%d|%s", c->id, attempt, ev);
        km_id_derive("test-event", name, eid);
        fx_ts(at, sat);
        m = json_pack("{s:i,s:s,s:s,s:i,s:s,s:s,s:s,s:s}", "schema_version", 1,
                      "event_id", eid, "complaint_id", c->id, "attempt",
                      attempt, "org_id", org, "event", ev, "at", sat, "note",
                      "Позвонили жильцу Асель +77001234567");
        if (strcmp(ev, "rejected") == 0)
                json_object_set_new(m, "reason", json_string("not_ours"));
        text = json_dumps(m, JSON_COMPACT);
        fx_add_msg(d, FX_EVT, c->id, text);
        if (twice)
                fx_add_msg(d, FX_EVT, c->id, text);
        free(text);
        json_decref(m);
}

static void fx_dispatch(struct fx_data *d, const struct fx_cpl *c, int attempt,
                        int64_t routed, const char *why, json_t *cpl)
{
        const struct fx_task *t = &c->t[attempt - 1];
        const struct fx_bld *b = c->bld >= 0 ? &d->b[c->bld] : NULL;
        char srec[24], srouted[24], sdue[24];
        json_t *m;
        char *text;

        fx_ts(c->received, srec);
        fx_ts(routed, srouted);
        fx_ts(t->due, sdue);
        m = json_pack("{s:i,s:s,s:i,s:s,s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:s,s:O}",
                      "schema_version", 1, "complaint_id", c->id, "attempt",
                      attempt, "org_id", t->org, "org_kind", t->org_kind,
                      "building_id", b ? json_string(b->id) : json_null(),
                      "district", b ? json_string(b->district) : json_null(),
                      "category", c->category, "received_at", srec, "routed_at",
                      srouted, "due_at", sdue, "route_reason", why, "complaint",
                      cpl);
        text = json_dumps(m, JSON_COMPACT);
        fx_add_msg(d, FX_DSP, t->org, text);
        free(text);
        json_decref(m);
}

/* Route one complaint and make its task events. */
static void fx_route(struct fx_data *d, struct fx_cpl *c, json_t *cpl)
{
        const struct km_category *cat = km_conf_category(d->conf, c->category);
        const struct fx_bld *b = c->bld >= 0 ? &d->b[c->bld] : NULL;
        const char *org = NULL;
        const struct fx_org *o;
        int64_t sla = cat ? cat->sla_hours : 120;
        uint32_t h = fx_hash(c->id), u = (h >> 8) % 100;
        struct fx_task *t;
        int twice = h % 5 == 0;

        if (b)
                org = cat && strcmp(cat->kind, "lift_operator") == 0 ? b->lift
                                                                     : b->ksk;
        if (org == NULL || *org == '\0')
                org = "triage";
        o = fx_org(d, org);
        c->ntask = 1;
        t = &c->t[0];
        snprintf(t->org, sizeof(t->org), "%s", org);
        snprintf(t->org_kind, sizeof(t->org_kind), "%s",
                 o ? o->kind : "triage");
        t->due = c->received + sla * 3600;
        fx_dispatch(d, c, 1, c->received + 30,
                    b ? "building_id" : "unknown_building", cpl);
        if (strcmp(t->org_kind, "ksk") == 0 && h % 23 == 0) {
                t->rej = c->received + 7200;
                fx_event(d, c, 1, t->org, "rejected", t->rej, twice);
                c->ntask = 2;
                t = &c->t[1];
                snprintf(t->org, sizeof(t->org), "triage");
                snprintf(t->org_kind, sizeof(t->org_kind), "triage");
                t->due = c->received + sla * 3600;
                fx_dispatch(d, c, 2, c->received + 10800, "rerouted:not_ours",
                            cpl);
                return; /* triage leaves it open */
        }
        if (strcmp(t->org_kind, "triage") == 0)
                return;
        if (u < 85 && !(u >= 60 && u < 70)) {
                t->ack = c->received + 60 * (10 + (int64_t)(h % 300));
                fx_event(d, c, 1, t->org, "acknowledged", t->ack, twice);
        }
        if (u < 70) {
                t->res = c->received +
                         3600 * (1 + (int64_t)((h >> 4) % (uint32_t)(2 * sla)));
                fx_event(d, c, 1, t->org, "resolved", t->res, twice);
        }
}

static char (*fx_truth(const char *dir, size_t *n))[24]
{
        char path[512], *line = NULL;
        char(*tb)[24] = NULL;
        size_t cap = 0;
        FILE *fp;

        *n = 0;
        snprintf(path, sizeof(path), "%s/truth.csv", dir);
        fp = fopen(path, "r");
        if (fp == NULL)
                return NULL;
        while (getline(&line, &cap, fp) > 0) {
                char *f[8], *p = line;
                int k = 0;
                long no;

                while (k < 8) { /* truth.csv fields have no quoting */
                        f[k++] = p;
                        p = strchr(p, ',');
                        if (p == NULL)
                                break;
                        *p++ = '\0';
                }
                if (k < 7 || (no = atol(f[0])) <= 0)
                        continue;
                if ((size_t)no >= *n) {
                        tb = km_xrealloc(tb, ((size_t)no + 1) * sizeof(*tb));
                        memset(tb + *n, 0, ((size_t)no + 1 - *n) * sizeof(*tb));
                        *n = (size_t)no + 1;
                }
                snprintf(tb[no], sizeof(tb[no]), "%s", f[5]);
        }
        free(line);
        fclose(fp);
        return tb;
}

static int fx_complaints(struct fx_data *d, struct fx_set *seen)
{
        char path[512], *line = NULL, reason[KM_REASON_LEN], err[256];
        size_t cap = 0, ntruth = 0, lineno = 0;
        ssize_t len;
        char(*truth)[24] = fx_truth(d->dir, &ntruth);
        FILE *fp;

        snprintf(path, sizeof(path), "%s/complaints.jsonl", d->dir);
        fp = fopen(path, "r");
        if (fp == NULL || truth == NULL) {
                if (fp)
                        fclose(fp);
                free(truth);
                return -1;
        }
        while ((len = getline(&line, &cap, fp)) > 0) {
                struct km_complaint *kc = NULL;
                struct fx_cpl *c;
                char *text;
                json_t *cj;

                lineno++;
                if (km_complaint_parse(line, (size_t)len, d->conf,
                                       KM_CPL_INTAKE, km_wall_s(), &kc, reason,
                                       err, sizeof(err)))
                        continue; /* malformed: intake dead-letters it */
                text = km_complaint_dumps(kc, 0);
                fx_add_msg(d, FX_CPL,
                           kc->building_id ? kc->building_id : kc->id, text);
                if (fx_set_seen(seen, kc->id)) {
                        free(text);
                        km_complaint_destroy(kc);
                        continue; /* a resubmission: the same complaint */
                }
                d->c = km_xrealloc(d->c, (d->nc + 1) * sizeof(*d->c));
                c = &d->c[d->nc++];
                memset(c, 0, sizeof(*c));
                snprintf(c->id, sizeof(c->id), "%s", kc->id);
                c->received = kc->received_at;
                c->day = fx_local_day(c->received, d->offset_hours);
                snprintf(c->category, sizeof(c->category), "%s", kc->category);
                snprintf(c->channel, sizeof(c->channel), "%s",
                         kc->channel ? kc->channel : "unknown");
                c->bld = lineno < ntruth ? fx_bld(d, truth[lineno]) : -1;
                if (d->nc % 7 == 0)
                        fx_add_msg(d, FX_CPL,
                                   kc->building_id ? kc->building_id : kc->id,
                                   text);
                cj = km_complaint_to_json(kc, 0);
                fx_route(d, c, cj);
                json_decref(cj);
                free(text);
                km_complaint_destroy(kc);
        }
        free(line);
        free(truth);
        fclose(fp);
        return 0;
}

static void fx_hmac_hex(const char *s, char *out)
{
        static const char key[] = "komek-test-salt";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)s,
             strlen(s), md, &n);
        for (unsigned int i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
}

static int fx_votes(struct fx_data *d, struct fx_set *seen)
{
        char path[512], *line = NULL;
        size_t cap = 0;
        FILE *fp;

        snprintf(path, sizeof(path), "%s/votes.jsonl", d->dir);
        fp = fopen(path, "r");
        if (fp == NULL)
                return -1;
        while (getline(&line, &cap, fp) > 0) {
                json_t *in = json_loads(line, 0, NULL), *m;
                const char *ksk, *res, *month, *at;
                char hash[65], name[160];
                struct fx_vote *v;
                char *text;
                int score;

                if (json_unpack(in, "{s:s,s:s,s:s,s:i,s:s}", "ksk_id", &ksk,
                                "resident", &res, "month", &month, "score",
                                &score, "voted_at", &at)) {
                        json_decref(in);
                        continue;
                }
                fx_hmac_hex(res, hash);
                d->v = km_xrealloc(d->v, (d->nv + 1) * sizeof(*d->v));
                v = &d->v[d->nv++];
                memset(v, 0, sizeof(*v));
                snprintf(name, sizeof(name), "%s|%s|%s", hash, ksk, month);
                km_id_derive("vote", name, v->id);
                snprintf(v->ksk, sizeof(v->ksk), "%s", ksk);
                snprintf(v->month, sizeof(v->month), "%s", month);
                v->score = score;
                v->kept = !fx_set_seen(seen, v->id);
                m = json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:s}", "schema_version",
                              1, "vote_id", v->id, "ksk_id", ksk,
                              "resident_hash", hash, "month", month, "score",
                              score, "voted_at", at);
                text = json_dumps(m, JSON_COMPACT);
                fx_add_msg(d, FX_VOT, ksk, text);
                free(text);
                json_decref(m);
                json_decref(in);
        }
        free(line);
        fclose(fp);
        return 0;
}

int fx_build(struct fx_data *d)
{
        struct fx_set seen;
        int r;

        seen.keys = km_xcalloc(FX_SLOTS, sizeof(*seen.keys));
        seen.used = km_xcalloc(FX_SLOTS, sizeof(*seen.used));
        r = fx_complaints(d, &seen);
        if (r == 0)
                r = fx_votes(d, &seen);
        free(seen.keys);
        free(seen.used);
        if (r)
                return r;
        fx_add_msg(d, FX_CPL, "x", "not json {");
        fx_add_msg(d, FX_DSP, "x",
                   "{\"schema_version\":1,\"complaint_id\":\"nope\"}");
        fx_add_msg(d, FX_VOT, "x", "{\"schema_version\":2}");
        d->bad = 3;
        return 0;
}
