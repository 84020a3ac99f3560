/*
 * km_dir.c - see km_dir.h.
 *
 * Memory: every string lives in one arena (chunks of 256 KiB), buildings
 * and organisations in two arrays, lookups in open-addressing tables of
 * indexes, so a 100,000-building city costs a few tens of megabytes.
 * SECURITY: the directory is operator data (validated by komek-directory);
 * complaints are untrusted and only ever read through km_addr.
 */
#include "km_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_addr.h"
#include "km_pg.h"
#include "km_util.h"

#define KM_DIR_CHUNK (256 * 1024)
#define KM_DIR_GEO_M 75.0

struct km_dir_chunk {
        struct km_dir_chunk *next;
        size_t used, cap;
        char data[];
};

/* Open addressing: slots hold index + 1 (0 = empty). */
struct km_dir_map {
        size_t cap;
        uint32_t *slots;
};

struct km_dir {
        int64_t version;
        struct km_dir_chunk *arena;
        size_t norgs, nbuildings, nstreets;
        struct km_dir_org *orgs;
        struct km_dir_building *buildings;
        const char **addr_keys; /* per building "street\x1fhouse" */
        const char **streets;   /* distinct street keys */
        const char *districts[16]; /* distinct district keys */
        size_t ndistricts;
        struct km_dir_map orgmap, bidmap, addrmap, streetmap;
        struct km_dir_org triage;
        const struct km_dir_org *triage_org;
};

static const char *km_dir_strdup(struct km_dir *dir, const char *s)
{
        size_t n;
        char *p;

        if (s == NULL)
                return NULL;
        n = strlen(s) + 1;
        if (dir->arena == NULL || dir->arena->cap - dir->arena->used < n) {
                size_t cap = n > KM_DIR_CHUNK ? n : KM_DIR_CHUNK;
                struct km_dir_chunk *c = km_xmalloc(sizeof(*c) + cap);

                c->next = dir->arena;
                c->used = 0;
                c->cap = cap;
                dir->arena = c;
        }
        p = dir->arena->data + dir->arena->used;
        memcpy(p, s, n);
        dir->arena->used += n;
        return p;
}

static uint64_t km_dir_hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;

        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

static void km_dir_map_init(struct km_dir_map *m, size_t n)
{
        m->cap = 16;
        while (m->cap < 2 * n + 1)
                m->cap *= 2;
        m->slots = km_xcalloc(m->cap, sizeof(uint32_t));
}

/* Find key; keys[i] is the key of index i.  @returns index or -1, and
 * *slot the slot where it is or would go. */
static long km_dir_map_find(const struct km_dir_map *m, const char *const *keys,
                            const char *key, size_t *slot)
{
        size_t i = (size_t)km_dir_hash(key) & (m->cap - 1);

        for (;;) {
                uint32_t v = m->slots[i];

                if (v == 0) {
                        if (slot)
                                *slot = i;
                        return -1;
                }
                if (strcmp(keys[v - 1], key) == 0) {
                        if (slot)
                                *slot = i;
                        return (long)(v - 1);
                }
                i = (i + 1) & (m->cap - 1);
        }
}

/* Insert index idx unless its key is present; @returns the present index
 * or -1 when inserted. */
static long km_dir_map_put(struct km_dir_map *m, const char *const *keys,
                           uint32_t idx)
{
        size_t slot;
        long have = km_dir_map_find(m, keys, keys[idx], &slot);

        if (have >= 0)
                return have;
        m->slots[slot] = idx + 1;
        return -1;
}

void km_dir_destroy(struct km_dir *dir)
{
        if (dir == NULL)
                return;
        while (dir->arena) {
                struct km_dir_chunk *c = dir->arena;

                dir->arena = c->next;
                free(c);
        }
        free(dir->orgs);
        free(dir->buildings);
        free(dir->addr_keys);
        free(dir->streets);
        free(dir->orgmap.slots);
        free(dir->bidmap.slots);
        free(dir->addrmap.slots);
        free(dir->streetmap.slots);
        free(dir);
}

static const char *km_dir_val(PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Organisations: fill the array and its map. */
static void km_dir_load_orgs(struct km_dir *dir, PGresult *res)
{
        const char **ids;

        dir->norgs = (size_t)PQntuples(res);
        dir->orgs = km_xcalloc(dir->norgs + 1, sizeof(*dir->orgs));
        ids = km_xcalloc(dir->norgs + 1, sizeof(*ids));
        km_dir_map_init(&dir->orgmap, dir->norgs);
        for (size_t i = 0; i < dir->norgs; i++) {
                struct km_dir_org *o = &dir->orgs[i];

                o->id = km_dir_strdup(dir, km_dir_val(res, (int)i, 0));
                o->kind = km_dir_strdup(dir, km_dir_val(res, (int)i, 1));
                o->name = km_dir_strdup(dir, km_dir_val(res, (int)i, 2));
                o->district = km_dir_strdup(dir, km_dir_val(res, (int)i, 3));
                ids[i] = o->id;
                (void)km_dir_map_put(&dir->orgmap, ids, (uint32_t)i);
        }
        free(ids);
        dir->triage_org = km_dir_org(dir, KM_DIR_TRIAGE);
        if (dir->triage_org == NULL) {
                dir->triage.id = KM_DIR_TRIAGE;
                dir->triage.kind = "triage";
                dir->triage.name = "Triage";
                dir->triage_org = &dir->triage;
        }
}

static void km_dir_add_district(struct km_dir *dir, const char *dk)
{
        for (size_t i = 0; i < dir->ndistricts; i++)
                if (strcmp(dir->districts[i], dk) == 0)
                        return;
        if (dir->ndistricts < sizeof(dir->districts) / sizeof(dir->districts[0]))
                dir->districts[dir->ndistricts++] = dk;
}

static void km_dir_load_buildings(struct km_dir *dir, PGresult *res)
{
        const char **ids;

        dir->nbuildings = (size_t)PQntuples(res);
        dir->buildings = km_xcalloc(dir->nbuildings + 1,
                                    sizeof(*dir->buildings));
        dir->addr_keys = km_xcalloc(dir->nbuildings + 1, sizeof(char *));
        dir->streets = km_xcalloc(dir->nbuildings + 1, sizeof(char *));
        ids = km_xcalloc(dir->nbuildings + 1, sizeof(*ids));
        km_dir_map_init(&dir->bidmap, dir->nbuildings);
        km_dir_map_init(&dir->addrmap, dir->nbuildings);
        km_dir_map_init(&dir->streetmap, dir->nbuildings);
        for (size_t i = 0; i < dir->nbuildings; i++) {
                struct km_dir_building *b = &dir->buildings[i];
                char sk[KM_ADDR_KEY_LEN], hk[32], dk[KM_ADDR_KEY_LEN];
                char ak[KM_ADDR_KEY_LEN + 40];
                const char *lat, *lon;
                long have;
                int r = (int)i;

                b->id = km_dir_strdup(dir, km_dir_val(res, r, 0));
                b->district = km_dir_strdup(dir, km_dir_val(res, r, 1));
                b->street = km_dir_strdup(dir, km_dir_val(res, r, 2));
                b->house = km_dir_strdup(dir, km_dir_val(res, r, 3));
                b->apartments = atoi(PQgetvalue(res, r, 4));
                b->ksk_id = km_dir_strdup(dir, km_dir_val(res, r, 5));
                b->lift_id = km_dir_strdup(dir, km_dir_val(res, r, 6));
                lat = km_dir_val(res, r, 7);
                lon = km_dir_val(res, r, 8);
                if (lat && lon) {
                        b->has_geo = 1;
                        b->lat = strtod(lat, NULL);
                        b->lon = strtod(lon, NULL);
                }
                km_addr_street_key(b->street, sk, sizeof(sk));
                km_addr_house_key(b->house, hk, sizeof(hk));
                km_addr_district_key(b->district, dk, sizeof(dk));
                b->street_key = km_dir_strdup(dir, sk);
                b->house_key = km_dir_strdup(dir, hk);
                b->district_key = km_dir_strdup(dir, dk);
                b->next_same = -1;
                snprintf(ak, sizeof(ak), "%s\x1f%s", sk, hk);
                dir->addr_keys[i] = km_dir_strdup(dir, ak);
                ids[i] = b->id;
                (void)km_dir_map_put(&dir->bidmap, ids, (uint32_t)i);
                have = km_dir_map_put(&dir->addrmap, dir->addr_keys,
                                      (uint32_t)i);
                if (have >= 0) { /* same address: chain after the first */
                        b->next_same = dir->buildings[have].next_same;
                        dir->buildings[have].next_same = (int32_t)i;
                }
                km_dir_add_district(dir, b->district_key);
                dir->streets[dir->nstreets] = b->street_key;
                if (km_dir_map_put(&dir->streetmap, dir->streets,
                                   (uint32_t)dir->nstreets) < 0)
                        dir->nstreets++;
        }
        free(ids);
}

int km_dir_version_get(PGconn *conn, int64_t *version, char *err,
                       size_t errlen)
{
        PGresult *res = NULL;
        int r = km_pg_exec(conn, "SELECT version FROM directory_version", 0,
                           NULL, &res, err, errlen);

        if (r)
                return r;
        *version = PQntuples(res) > 0 ? strtoll(PQgetvalue(res, 0, 0), NULL,
                                                10)
                                      : 0;
        PQclear(res);
        return 0;
}

int km_dir_load(PGconn *conn, struct km_dir **out, char *err, size_t errlen)
{
        struct km_dir *dir = km_xcalloc(1, sizeof(*dir));
        PGresult *orgs = NULL, *blds = NULL;
        int r;

        *out = NULL;
        r = km_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                       0, NULL, NULL, err, errlen);
        if (r)
                goto cleanup;
        if ((r = km_dir_version_get(conn, &dir->version, err, errlen)) ||
            (r = km_pg_exec(conn,
                            "SELECT id, kind, name, district FROM "
                            "organisations ORDER BY id",
                            0, NULL, &orgs, err, errlen)) ||
            (r = km_pg_exec(conn,
                            "SELECT id, district, street, house, apartments, "
                            "ksk_id, lift_operator_id, lat, long FROM "
                            "buildings ORDER BY id",
                            0, NULL, &blds, err, errlen)) ||
            (r = km_pg_commit(conn, err, errlen)))
                goto cleanup;
        km_dir_load_orgs(dir, orgs);
        km_dir_load_buildings(dir, blds);
        *out = dir;
        dir = NULL;
cleanup:
        if (r)
                km_pg_rollback(conn);
        PQclear(blds);
        PQclear(orgs);
        km_dir_destroy(dir);
        return r;
}

int64_t km_dir_version(const struct km_dir *dir) { return dir->version; }
size_t km_dir_nbuildings(const struct km_dir *dir) { return dir->nbuildings; }
size_t km_dir_norgs(const struct km_dir *dir) { return dir->norgs; }

const struct km_dir_org *km_dir_org(const struct km_dir *dir, const char *id)
{
        size_t slot;

        if (id == NULL || dir->norgs == 0)
                return NULL;
        slot = (size_t)km_dir_hash(id) & (dir->orgmap.cap - 1);
        for (;;) {
                uint32_t v = dir->orgmap.slots[slot];

                if (v == 0)
                        return NULL;
                if (strcmp(dir->orgs[v - 1].id, id) == 0)
                        return &dir->orgs[v - 1];
                slot = (slot + 1) & (dir->orgmap.cap - 1);
        }
}

const struct km_dir_org *km_dir_triage(const struct km_dir *dir)
{
        return dir->triage_org;
}

const struct km_dir_building *km_dir_building(const struct km_dir *dir,
                                              const char *id)
{
        size_t slot;

        if (id == NULL || dir->nbuildings == 0)
                return NULL;
        slot = (size_t)km_dir_hash(id) & (dir->bidmap.cap - 1);
        for (;;) {
                uint32_t v = dir->bidmap.slots[slot];

                if (v == 0)
                        return NULL;
                if (strcmp(dir->buildings[v - 1].id, id) == 0)
                        return &dir->buildings[v - 1];
                slot = (slot + 1) & (dir->bidmap.cap - 1);
        }
}

/* The one building at (street key, house key), filtered by a district
 * hint when several share the address.  *n gets the candidate count. */
static const struct km_dir_building *
km_dir_at(const struct km_dir *dir, const char *sk, const char *hk,
          const char *dk, int *n)
{
        char ak[KM_ADDR_KEY_LEN + 40];
        const struct km_dir_building *one = NULL, *first = NULL;
        long i;
        int nd = 0;

        *n = 0;
        if (dir->nbuildings == 0)
                return NULL;
        snprintf(ak, sizeof(ak), "%s\x1f%s", sk, hk);
        i = km_dir_map_find(&dir->addrmap, dir->addr_keys, ak, NULL);
        if (i < 0)
                return NULL;
        for (; i >= 0; i = dir->buildings[i].next_same) {
                const struct km_dir_building *b = &dir->buildings[i];

                (*n)++;
                if (first == NULL)
                        first = b;
                if (dk && *dk &&
                    strncmp(dk, b->district_key, strlen(b->district_key)) == 0) {
                        nd++;
                        one = b;
                }
        }
        if (*n == 1)
                return first;
        return nd == 1 ? one : NULL;
}

/* Does every word of q appear among the words of key? */
static int km_dir_words_in(const char *q, const char *key)
{
        char buf[KM_ADDR_KEY_LEN], *save = NULL;

        snprintf(buf, sizeof(buf), "%s", q);
        for (char *w = strtok_r(buf, " ", &save); w;
             w = strtok_r(NULL, " ", &save)) {
                size_t wl = strlen(w);
                const char *p = key;
                int found = 0;

                while ((p = strstr(p, w)) != NULL) {
                        if ((p == key || p[-1] == ' ') &&
                            (p[wl] == '\0' || p[wl] == ' ')) {
                                found = 1;
                                break;
                        }
                        p += wl;
                }
                if (!found)
                        return 0;
        }
        return 1;
}

/* Are the words of q that are not in key all district names?  The
 * first such word goes to dk_out (a district hint). */
static int km_dir_rest_districts(const struct km_dir *dir, const char *q,
                                 const char *key, char *dk_out, size_t dklen)
{
        char buf[KM_ADDR_KEY_LEN], *save = NULL;

        snprintf(buf, sizeof(buf), "%s", q);
        for (char *w = strtok_r(buf, " ", &save); w;
             w = strtok_r(NULL, " ", &save)) {
                int is_district = 0;

                if (km_dir_words_in(w, key))
                        continue;
                for (size_t i = 0; i < dir->ndistricts; i++)
                        if (strncmp(w, dir->districts[i],
                                    strlen(dir->districts[i])) == 0)
                                is_district = 1;
                if (!is_district)
                        return 0;
                if (dk_out[0] == '\0')
                        snprintf(dk_out, dklen, "%s", w);
        }
        return 1;
}

/* A street key not in the directory: the unique street within a small
 * spelling distance, or whose words contain all of the query's ("Д.
 * Кунаева"), that has this house. */
static const struct km_dir_building *
km_dir_fuzzy(const struct km_dir *dir, const char *sk, const char *hk,
             const char *dk)
{
        size_t len = strlen(sk);
        int max = len <= 4 ? 0 : len <= 8 ? 1 : 2, best = max + 1, nbest = 0;
        const struct km_dir_building *found = NULL;
        const struct km_dir_building *sub = NULL;
        int nsub = 0;

        for (size_t i = 0; i < dir->nstreets; i++) {
                const struct km_dir_building *b;
                int d = km_addr_distance(sk, dir->streets[i], max), n;

                char dk2[KM_ADDR_KEY_LEN];

                snprintf(dk2, sizeof(dk2), "%s", dk ? dk : "");
                if (d > max && !km_dir_words_in(sk, dir->streets[i]) &&
                    !(km_dir_words_in(dir->streets[i], sk) &&
                      km_dir_rest_districts(dir, sk, dir->streets[i], dk2,
                                            sizeof(dk2))))
                        continue;
                b = km_dir_at(dir, dir->streets[i], hk, dk2, &n);
                if (b == NULL)
                        continue;
                if (d <= max) {
                        if (d < best) {
                                best = d;
                                nbest = 1;
                                found = b;
                        } else if (d == best) {
                                nbest++;
                        }
                } else {
                        nsub++;
                        sub = b;
                }
        }
        if (nbest == 1)
                return found;
        if (nbest == 0 && nsub == 1)
                return sub;
        return NULL;
}

const struct km_dir_building *km_dir_match(const struct km_dir *dir,
                                           const char *district,
                                           const char *street,
                                           const char *house,
                                           const char *text)
{
        struct km_addr st, tx;
        char hk[32] = "", dk[KM_ADDR_KEY_LEN] = "";
        const char *sk;
        const struct km_dir_building *b;
        int n, street_known;

        memset(&st, 0, sizeof(st));
        memset(&tx, 0, sizeof(tx));
        if (street && *street)
                km_addr_parse_text(street, &st);
        if (text && *text)
                km_addr_parse_text(text, &tx);
        sk = st.street[0] ? st.street : tx.street;
        if (house && *house)
                km_addr_house_key(house, hk, sizeof(hk));
        if (hk[0] == '\0')
                snprintf(hk, sizeof(hk), "%s", st.house[0] ? st.house : tx.house);
        if (district && *district)
                km_addr_district_key(district, dk, sizeof(dk));
        else
                snprintf(dk, sizeof(dk), "%s",
                         st.district[0] ? st.district : tx.district);
        if (sk[0] == '\0' || hk[0] == '\0')
                return NULL;
        b = km_dir_at(dir, sk, hk, dk, &n);
        if (b || n > 0)
                return b;
        street_known = dir->nbuildings > 0 &&
                       km_dir_map_find(&dir->streetmap, dir->streets, sk,
                                       NULL) >= 0;
        if (street_known) /* a known street without that house */
                return NULL;
        return km_dir_fuzzy(dir, sk, hk, dk);
}

/* Nearest building within KM_DIR_GEO_M metres (equirectangular). */
const struct km_dir_building *km_dir_near(const struct km_dir *dir,
                                          double lat, double lon)
{
        const double r = 6371000.0, rad = 3.14159265358979 / 180.0;
        double best = KM_DIR_GEO_M * KM_DIR_GEO_M, k = cos(lat * rad);
        const struct km_dir_building *found = NULL;

        for (size_t i = 0; i < dir->nbuildings; i++) {
                const struct km_dir_building *b = &dir->buildings[i];
                double dx, dy, d2;

                if (!b->has_geo)
                        continue;
                dx = (b->lon - lon) * rad * k * r;
                dy = (b->lat - lat) * rad * r;
                d2 = dx * dx + dy * dy;
                if (d2 < best) {
                        best = d2;
                        found = b;
                }
        }
        return found;
}
