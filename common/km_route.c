/*
 * km_route.c - see km_route.h.
 */
#include "km_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_district.h"
#include "km_util.h"

void km_route_complaint(const struct km_dir *dir, const struct km_conf *conf,
                        const struct km_complaint *c, struct km_route *out)
{
        const struct km_category *cat = km_conf_category(conf, c->category);
        const struct km_dir_building *b = NULL;
        const char *org_id = NULL;

        memset(out, 0, sizeof(*out));
        out->due_at = c->received_at + (cat ? cat->sla_hours : 72) * 3600;
        if (c->building_id && (b = km_dir_building(dir, c->building_id)))
                out->reason = "building_id";
        if (b == NULL && (b = km_dir_match(dir, c->district, c->street,
                                           c->house, c->address_text)))
                out->reason = "address";
        if (b == NULL && c->has_geo && (b = km_dir_near(dir, c->lat, c->lon)))
                out->reason = "location";
        out->building = b;
        /* the directory's name; else the complaint's, canonical or NULL */
        out->district = b ? b->district : km_district_canonical(c->district);
        if (b == NULL) {
                out->org = km_dir_triage(dir);
                out->reason = "unknown_building";
                return;
        }
        if (cat && strcmp(cat->kind, "ksk") == 0)
                org_id = b->ksk_id;
        else if (cat && strcmp(cat->kind, "lift_operator") == 0)
                org_id = b->lift_id;
        out->org = km_dir_org(dir, org_id);
        if (out->org == NULL || strcmp(out->org->kind, cat->kind) != 0) {
                out->org = km_dir_triage(dir);
                out->reason = "no_organisation";
        }
}

/* Append s as a JSON string (or null) to a growing buffer. */
static void km_route_put(char **buf, size_t *len, size_t *cap, const char *s,
                         size_t n)
{
        if (*len + n + 1 > *cap) {
                while (*len + n + 1 > *cap)
                        *cap *= 2;
                *buf = km_xrealloc(*buf, *cap);
        }
        memcpy(*buf + *len, s, n);
        *len += n;
        (*buf)[*len] = '\0';
}

static void km_route_putq(char **buf, size_t *len, size_t *cap, const char *s)
{
        char u[8];

        if (s == NULL) {
                km_route_put(buf, len, cap, "null", 4);
                return;
        }
        km_route_put(buf, len, cap, "\"", 1);
        for (const char *p = s; *p; p++) {
                unsigned char ch = (unsigned char)*p;
                size_t run = 0;

                while (p[run] && p[run] != '"' && p[run] != '\\' &&
                       (unsigned char)p[run] >= 0x20)
                        run++;
                if (run) {
                        km_route_put(buf, len, cap, p, run);
                        p += run - 1;
                        continue;
                }
                if (ch == '"' || ch == '\\') {
                        u[0] = '\\';
                        u[1] = (char)ch;
                        km_route_put(buf, len, cap, u, 2);
                } else {
                        snprintf(u, sizeof(u), "\\u%04x", ch);
                        km_route_put(buf, len, cap, u, 6);
                }
        }
        km_route_put(buf, len, cap, "\"", 1);
}

char *km_route_dispatch(const struct km_route *r, const struct km_complaint *c,
                        int attempt, const char *reason, int64_t routed_at,
                        const char *raw, size_t rawlen)
{
        char at[32], due[32], num[24];
        size_t len = 0, cap = 512 + rawlen;
        char *buf = km_xmalloc(cap), *dumped = NULL;
        const struct {
                const char *key, *val;
        } f[] = {
                {"\"complaint_id\":", c->id},
                {",\"org_id\":", r->org->id},
                {",\"org_kind\":", r->org->kind},
                {",\"building_id\":", r->building ? r->building->id : NULL},
                {",\"district\":", r->district},
                {",\"category\":", c->category},
                {",\"received_at\":", c->received_at_str},
                {",\"routed_at\":", at},
                {",\"due_at\":", due},
                {",\"route_reason\":", reason ? reason : r->reason},
        };

        km_fmt_rfc3339(routed_at, at, sizeof(at));
        km_fmt_rfc3339(r->due_at, due, sizeof(due));
        buf[0] = '\0';
        km_route_put(&buf, &len, &cap, "{\"schema_version\":1,", 20);
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                km_route_put(&buf, &len, &cap, f[i].key, strlen(f[i].key));
                km_route_putq(&buf, &len, &cap, f[i].val);
                if (i == 0) {
                        snprintf(num, sizeof(num), ",\"attempt\":%d", attempt);
                        km_route_put(&buf, &len, &cap, num, strlen(num));
                }
        }
        km_route_put(&buf, &len, &cap, ",\"complaint\":", 13);
        if (raw == NULL) {
                dumped = json_dumps(c->root, JSON_COMPACT);
                if (dumped == NULL)
                        abort(); /* out of memory in jansson, as km_xmalloc */
                raw = dumped;
                rawlen = strlen(dumped);
        }
        km_route_put(&buf, &len, &cap, raw, rawlen);
        km_route_put(&buf, &len, &cap, "}", 1);
        free(dumped);
        return buf;
}
