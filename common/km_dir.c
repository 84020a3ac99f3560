/*
 * km_dir.c - see km_dir.h.
 *
 * Memory: every string lives in one arena (chunks of 256 KiB), buildings
 * and organisations in two arrays, lookups in open-addressing tables of
 * indexes, so a 100,000-building city costs a few tens of megabytes.
 *
 * Two indexes keep a miss from being a scan: the streets that have each
 * house key (a misspelt street is only compared with the streets that
 * have its house: km_dir_fuzzy needs that building anyway), and the
 * buildings with coordinates by grid cell of KM_DIR_GEO_M (km_dir_near
 * looks at the cells within reach).  Both give the same answer as the
 * scans they replace, which stay as the reference (km_dir_match_scan,
 * km_dir_near_scan; tests/routing/test_index.c compares them).
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
#define KM_DIR_EARTH_M 6371000.0
#define KM_DIR_RAD (3.14159265358979 / 180.0)
#define KM_DIR_GRID_SPAN 16 /* cells across a query at most, else scan */
#define KM_DIR_DNAMES 64    /* district spellings remembered */

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

/* Buildings with coordinates by grid cell: cells[] holds each occupied
 * cell's key, the start of its buildings in grid_blds (ascending index)
 * and their number; cellmap finds a key's cell. */
struct km_dir_cell {
        int64_t key;
        uint32_t start, n;
};

struct km_dir {
        int64_t version;
        struct km_dir_chunk *arena;
        size_t norgs, nbuildings, nstreets;
        struct km_dir_org *orgs;
        struct km_dir_building *buildings;
        const char **addr_keys;    /* per building "street\x1fhouse" */
        const char **streets;      /* distinct street keys */
        const char *districts[16]; /* distinct district keys */
        size_t ndistricts;
        /* the buildings' district names as spelt and their keys (a
         * complaint's district is most often one of them, spelt alike) */
        const char *dnames[KM_DIR_DNAMES], *dname_keys[KM_DIR_DNAMES];
        size_t ndnames;
        struct km_dir_map orgmap, bidmap, addrmap, streetmap;
        /* house key -> the streets that have it: house_keys[h] (one per
         * distinct key), its streets hs_streets[hs_start[h] ..
         * hs_start[h + 1]) as indexes into streets */
        const char **house_keys;
        size_t nhouses;
        uint32_t *hs_start, *hs_streets;
        struct km_dir_map housemap;
        /* the grid: cell sides in degrees, the cells, their buildings;
         * geo_odd: buildings whose coordinates have no cell (always
         * looked at) */
        double cell_lat, cell_lon;
        struct km_dir_cell *cells;
        size_t ncells, ngeo_odd;
        uint32_t *grid_blds, *geo_odd;
        struct km_dir_map cellmap; /* slots: cell index + 1, by key */
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
        free(dir->house_keys);
        free(dir->hs_start);
        free(dir->hs_streets);
        free(dir->housemap.slots);
        free(dir->cells);
        free(dir->grid_blds);
        free(dir->geo_odd);
        free(dir->cellmap.slots);
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
        if (dir->ndistricts <
            sizeof(dir->districts) / sizeof(dir->districts[0]))
                dir->districts[dir->ndistricts++] = dk;
}

/* The district key of a name: remembered for the buildings' own
 * spellings (km_addr_district_key is the same function of the same
 * bytes), computed for any other.  @returns the key (in dk, or one of
 * the directory's). */
static const char *km_dir_district_key(const struct km_dir *dir,
                                       const char *name, char *dk, size_t dklen)
{
        for (size_t i = 0; i < dir->ndnames; i++)
                if (strcmp(dir->dnames[i], name) == 0)
                        return dir->dname_keys[i];
        km_addr_district_key(name, dk, dklen);
        return dk;
}

/* Remember the key of a building's district name (a load). */
static const char *km_dir_district_learn(struct km_dir *dir, const char *name)
{
        char dk[KM_ADDR_KEY_LEN];
        const char *k = km_dir_district_key(dir, name, dk, sizeof(dk));

        if (k != dk)
                return k;
        k = km_dir_strdup(dir, dk);
        if (dir->ndnames < KM_DIR_DNAMES) {
                dir->dnames[dir->ndnames] = km_dir_strdup(dir, name);
                dir->dname_keys[dir->ndnames++] = k;
        }
        return k;
}

static void km_dir_load_buildings(struct km_dir *dir, PGresult *res)
{
        const char **ids;

        dir->nbuildings = (size_t)PQntuples(res);
        dir->buildings =
                km_xcalloc(dir->nbuildings + 1, sizeof(*dir->buildings));
        dir->addr_keys = km_xcalloc(dir->nbuildings + 1, sizeof(char *));
        dir->streets = km_xcalloc(dir->nbuildings + 1, sizeof(char *));
        ids = km_xcalloc(dir->nbuildings + 1, sizeof(*ids));
        km_dir_map_init(&dir->bidmap, dir->nbuildings);
        km_dir_map_init(&dir->addrmap, dir->nbuildings);
        km_dir_map_init(&dir->streetmap, dir->nbuildings);
        for (size_t i = 0; i < dir->nbuildings; i++) {
                struct km_dir_building *b = &dir->buildings[i];
                char sk[KM_ADDR_KEY_LEN], hk[32];
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
                b->street_key = km_dir_strdup(dir, sk);
                b->house_key = km_dir_strdup(dir, hk);
                b->district_key = km_dir_district_learn(
                        dir, b->district ? b->district : "");
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

static int km_dir_u32_cmp(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

/* house key -> the distinct streets that have a building with it */
static void km_dir_index_houses(struct km_dir *dir)
{
        size_t nb = dir->nbuildings, out = 0;
        uint32_t *hid = km_xcalloc(nb + 1, sizeof(uint32_t));
        uint32_t *sid = km_xcalloc(nb + 1, sizeof(uint32_t));
        uint32_t *fill;

        dir->house_keys = km_xcalloc(nb + 1, sizeof(char *));
        km_dir_map_init(&dir->housemap, nb);
        for (size_t i = 0; i < nb; i++) {
                const struct km_dir_building *b = &dir->buildings[i];
                long have;

                dir->house_keys[dir->nhouses] = b->house_key;
                have = km_dir_map_put(&dir->housemap, dir->house_keys,
                                      (uint32_t)dir->nhouses);
                if (have < 0)
                        have = (long)dir->nhouses++;
                hid[i] = (uint32_t)have;
                sid[i] = (uint32_t)km_dir_map_find(
                        &dir->streetmap, dir->streets, b->street_key, NULL);
        }
        /* counting sort by house, then each house's streets sorted and
         * made distinct (a street counted twice would be ambiguous) */
        dir->hs_start = km_xcalloc(dir->nhouses + 2, sizeof(uint32_t));
        dir->hs_streets = km_xcalloc(nb + 1, sizeof(uint32_t));
        for (size_t i = 0; i < nb; i++)
                dir->hs_start[hid[i] + 1]++;
        for (size_t h = 0; h < dir->nhouses; h++)
                dir->hs_start[h + 1] += dir->hs_start[h];
        fill = km_xcalloc(dir->nhouses + 1, sizeof(uint32_t));
        memcpy(fill, dir->hs_start, dir->nhouses * sizeof(uint32_t));
        for (size_t i = 0; i < nb; i++)
                dir->hs_streets[fill[hid[i]]++] = sid[i];
        for (size_t h = 0; h < dir->nhouses; h++) {
                uint32_t a = dir->hs_start[h], e = dir->hs_start[h + 1];

                qsort(dir->hs_streets + a, e - a, sizeof(uint32_t),
                      km_dir_u32_cmp);
                dir->hs_start[h] = (uint32_t)out;
                for (uint32_t j = a; j < e; j++)
                        if (j == a ||
                            dir->hs_streets[j] != dir->hs_streets[j - 1])
                                dir->hs_streets[out++] = dir->hs_streets[j];
        }
        dir->hs_start[dir->nhouses] = (uint32_t)out;
        free(fill);
        free(sid);
        free(hid);
}

/* The grid cell of a point; 0 when it has none (not a finite point on
 * the globe: such a building is always looked at). */
static int km_dir_cell_key(const struct km_dir *dir, double lat, double lon,
                           int64_t *key)
{
        if (!isfinite(lat) || !isfinite(lon) || fabs(lat) > 90.0 ||
            fabs(lon) > 180.0)
                return 0;
        *key = (int64_t)((uint64_t)(int64_t)floor(lat / dir->cell_lat) << 32 |
                         (uint32_t)(int32_t)floor(lon / dir->cell_lon));
        return 1;
}

static size_t km_dir_cell_slot(const struct km_dir *dir, int64_t key)
{
        return (size_t)(((uint64_t)key * 0x9e3779b97f4a7c15ULL) >> 17) &
               (dir->cellmap.cap - 1);
}

/* @returns the cell of key or NULL */
static const struct km_dir_cell *km_dir_cell(const struct km_dir *dir,
                                             int64_t key)
{
        size_t i;

        if (dir->ncells == 0)
                return NULL;
        for (i = km_dir_cell_slot(dir, key);;
             i = (i + 1) & (dir->cellmap.cap - 1)) {
                uint32_t v = dir->cellmap.slots[i];

                if (v == 0)
                        return NULL;
                if (dir->cells[v - 1].key == key)
                        return &dir->cells[v - 1];
        }
}

struct km_dir_keyed {
        int64_t key;
        uint32_t idx;
};

static int km_dir_keyed_cmp(const void *a, const void *b)
{
        const struct km_dir_keyed *x = a, *y = b;

        if (x->key != y->key)
                return x->key < y->key ? -1 : 1;
        return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Buildings with coordinates by cell: a cell is KM_DIR_GEO_M high and
 * about as wide at the directory's farthest latitude from the equator,
 * so a query looks at two or three cells each way. */
static void km_dir_index_grid(struct km_dir *dir)
{
        size_t nb = dir->nbuildings, n = 0;
        struct km_dir_keyed *kv = km_xcalloc(nb + 1, sizeof(*kv));
        double maxlat = 0.0, kref;

        dir->geo_odd = km_xcalloc(nb + 1, sizeof(uint32_t));
        dir->grid_blds = km_xcalloc(nb + 1, sizeof(uint32_t));
        dir->cells = km_xcalloc(nb + 1, sizeof(*dir->cells));
        for (size_t i = 0; i < nb; i++) {
                const struct km_dir_building *b = &dir->buildings[i];

                if (b->has_geo && isfinite(b->lat) && fabs(b->lat) <= 90.0 &&
                    fabs(b->lat) > maxlat)
                        maxlat = fabs(b->lat);
        }
        kref = cos(maxlat * KM_DIR_RAD);
        if (kref < 0.1)
                kref = 0.1;
        dir->cell_lat = KM_DIR_GEO_M / (KM_DIR_RAD * KM_DIR_EARTH_M);
        dir->cell_lon = dir->cell_lat / kref;
        for (size_t i = 0; i < nb; i++) {
                const struct km_dir_building *b = &dir->buildings[i];
                int64_t key;

                if (!b->has_geo)
                        continue;
                if (km_dir_cell_key(dir, b->lat, b->lon, &key)) {
                        kv[n].key = key;
                        kv[n++].idx = (uint32_t)i;
                } else {
                        dir->geo_odd[dir->ngeo_odd++] = (uint32_t)i;
                }
        }
        qsort(kv, n, sizeof(*kv), km_dir_keyed_cmp);
        for (size_t i = 0; i < n; i++) {
                if (i == 0 || kv[i].key != kv[i - 1].key) {
                        dir->cells[dir->ncells].key = kv[i].key;
                        dir->cells[dir->ncells].start = (uint32_t)i;
                        dir->ncells++;
                }
                dir->cells[dir->ncells - 1].n++;
                dir->grid_blds[i] = kv[i].idx;
        }
        km_dir_map_init(&dir->cellmap, dir->ncells);
        for (size_t c = 0; c < dir->ncells; c++) {
                size_t i = km_dir_cell_slot(dir, dir->cells[c].key);

                while (dir->cellmap.slots[i] != 0)
                        i = (i + 1) & (dir->cellmap.cap - 1);
                dir->cellmap.slots[i] = (uint32_t)c + 1;
        }
        free(kv);
}

int km_dir_version_get(PGconn *conn, int64_t *version, char *err, size_t errlen)
{
        PGresult *res = NULL;
        int r = km_pg_exec(conn, "SELECT version FROM directory_version", 0,
                           NULL, &res, err, errlen);

        if (r)
                return r;
        *version = PQntuples(res) > 0 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
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
        km_dir_index_houses(dir);
        km_dir_index_grid(dir);
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

int64_t km_dir_version(const struct km_dir *dir)
{
        return dir->version;
}
size_t km_dir_nbuildings(const struct km_dir *dir)
{
        return dir->nbuildings;
}
size_t km_dir_norgs(const struct km_dir *dir)
{
        return dir->norgs;
}

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
static const struct km_dir_building *km_dir_at(const struct km_dir *dir,
                                               const char *sk, const char *hk,
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
                    strncmp(dk, b->district_key, strlen(b->district_key)) ==
                            0) {
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

/* km_dir_fuzzy's tally: the best spelling distance so far and how many
 * streets have it, and the streets that matched by words. */
struct km_dir_fuzz {
        int max, best, nbest, nsub;
        const struct km_dir_building *found, *sub;
};

/* Street i against a street key not in the directory: within a small
 * spelling distance, or its words contain all of the query's ("Д.
 * Кунаева"), or the query's words are its own and district names; and
 * it has this house. */
static void km_dir_fuzzy_one(const struct km_dir *dir, size_t i, const char *sk,
                             const char *hk, const char *dk,
                             struct km_dir_fuzz *z)
{
        const struct km_dir_building *b;
        int d = km_addr_distance(sk, dir->streets[i], z->max), n;
        char dk2[KM_ADDR_KEY_LEN];

        snprintf(dk2, sizeof(dk2), "%s", dk ? dk : "");
        if (d > z->max && !km_dir_words_in(sk, dir->streets[i]) &&
            !(km_dir_words_in(dir->streets[i], sk) &&
              km_dir_rest_districts(dir, sk, dir->streets[i], dk2,
                                    sizeof(dk2))))
                return;
        b = km_dir_at(dir, dir->streets[i], hk, dk2, &n);
        if (b == NULL)
                return;
        if (d <= z->max) {
                if (d < z->best) {
                        z->best = d;
                        z->nbest = 1;
                        z->found = b;
                } else if (d == z->best) {
                        z->nbest++;
                }
        } else {
                z->nsub++;
                z->sub = b;
        }
}

/* The unique street of km_dir_fuzzy_one that has this house: the one
 * nearest in spelling, else the one matched by words.  Only the streets
 * that have house hk can answer (km_dir_at), so with the index only
 * those are looked at; scan: every street (the reference).  The answer
 * does not depend on the order the streets are looked at. */
static const struct km_dir_building *km_dir_fuzzy(const struct km_dir *dir,
                                                  const char *sk,
                                                  const char *hk,
                                                  const char *dk, int scan)
{
        size_t len = strlen(sk);
        struct km_dir_fuzz z;

        memset(&z, 0, sizeof(z));
        z.max = len <= 4 ? 0 : len <= 8 ? 1 : 2;
        z.best = z.max + 1;
        if (scan) {
                for (size_t i = 0; i < dir->nstreets; i++)
                        km_dir_fuzzy_one(dir, i, sk, hk, dk, &z);
        } else {
                long h = km_dir_map_find(&dir->housemap, dir->house_keys, hk,
                                         NULL);

                for (uint32_t j = h < 0 ? 0 : dir->hs_start[h];
                     h >= 0 && j < dir->hs_start[h + 1]; j++)
                        km_dir_fuzzy_one(dir, dir->hs_streets[j], sk, hk, dk,
                                         &z);
        }
        if (z.nbest == 1)
                return z.found;
        if (z.nbest == 0 && z.nsub == 1)
                return z.sub;
        return NULL;
}

static const struct km_dir_building *km_dir_match_in(const struct km_dir *dir,
                                                     const char *district,
                                                     const char *street,
                                                     const char *house,
                                                     const char *text, int scan)
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
                snprintf(hk, sizeof(hk), "%s",
                         st.house[0] ? st.house : tx.house);
        if (district && *district) {
                const char *k =
                        km_dir_district_key(dir, district, dk, sizeof(dk));

                if (k != dk)
                        snprintf(dk, sizeof(dk), "%s", k);
        } else {
                snprintf(dk, sizeof(dk), "%s",
                         st.district[0] ? st.district : tx.district);
        }
        if (sk[0] == '\0' || hk[0] == '\0')
                return NULL;
        b = km_dir_at(dir, sk, hk, dk, &n);
        if (b || n > 0)
                return b;
        street_known =
                dir->nbuildings > 0 &&
                km_dir_map_find(&dir->streetmap, dir->streets, sk, NULL) >= 0;
        if (street_known) /* a known street without that house */
                return NULL;
        return km_dir_fuzzy(dir, sk, hk, dk, scan);
}

const struct km_dir_building *km_dir_match(const struct km_dir *dir,
                                           const char *district,
                                           const char *street,
                                           const char *house, const char *text)
{
        return km_dir_match_in(dir, district, street, house, text, 0);
}

const struct km_dir_building *
km_dir_match_scan(const struct km_dir *dir, const char *district,
                  const char *street, const char *house, const char *text)
{
        return km_dir_match_in(dir, district, street, house, text, 1);
}

/* The squared distance in metres (equirectangular, k = cos(lat)): one
 * expression for the grid and the scan, so both compare the same
 * numbers. */
static double km_dir_d2(const struct km_dir_building *b, double lat, double lon,
                        double k)
{
        double dx = (b->lon - lon) * KM_DIR_RAD * k * KM_DIR_EARTH_M;
        double dy = (b->lat - lat) * KM_DIR_RAD * KM_DIR_EARTH_M;

        return dx * dx + dy * dy;
}

/* Nearest building within KM_DIR_GEO_M metres; of equally near ones the
 * first in the directory (its order: by id). */
const struct km_dir_building *km_dir_near_scan(const struct km_dir *dir,
                                               double lat, double lon)
{
        double best = KM_DIR_GEO_M * KM_DIR_GEO_M, k = cos(lat * KM_DIR_RAD);
        const struct km_dir_building *found = NULL;

        for (size_t i = 0; i < dir->nbuildings; i++) {
                const struct km_dir_building *b = &dir->buildings[i];
                double d2;

                if (!b->has_geo)
                        continue;
                d2 = km_dir_d2(b, lat, lon, k);
                if (d2 < best) {
                        best = d2;
                        found = b;
                }
        }
        return found;
}

/* Building i if it is nearer than *best, or as near and earlier than
 * *found (the scan keeps the first of equally near ones). */
static void km_dir_near_take(const struct km_dir *dir, uint32_t i, double lat,
                             double lon, double k, double *best,
                             const struct km_dir_building **found)
{
        const struct km_dir_building *b = &dir->buildings[i];
        double d2 = km_dir_d2(b, lat, lon, k);

        if (d2 < *best || (d2 == *best && *found && b < *found)) {
                *best = d2;
                *found = b;
        }
}

/* The scan's answer from the cells within reach of the point (and the
 * buildings that have none).  The reach is 1 % wider than KM_DIR_GEO_M
 * so rounding cannot leave a building out; near a pole, or for a point
 * that is not one, the scan answers. */
const struct km_dir_building *km_dir_near(const struct km_dir *dir, double lat,
                                          double lon)
{
        double best = KM_DIR_GEO_M * KM_DIR_GEO_M, k = cos(lat * KM_DIR_RAD);
        double h, w;
        const struct km_dir_building *found = NULL;
        int64_t lat0, lat1, lon0, lon1;

        if (!isfinite(lat) || !isfinite(lon) || fabs(lat) > 90.0 ||
            fabs(lon) > 180.0 || k < 0.01)
                return km_dir_near_scan(dir, lat, lon);
        h = dir->cell_lat * 1.01;
        w = KM_DIR_GEO_M / (KM_DIR_RAD * k * KM_DIR_EARTH_M) * 1.01;
        lat0 = (int64_t)floor((lat - h) / dir->cell_lat);
        lat1 = (int64_t)floor((lat + h) / dir->cell_lat);
        lon0 = (int64_t)floor((lon - w) / dir->cell_lon);
        lon1 = (int64_t)floor((lon + w) / dir->cell_lon);
        if (lon1 - lon0 >= KM_DIR_GRID_SPAN)
                return km_dir_near_scan(dir, lat, lon);
        for (size_t j = 0; j < dir->ngeo_odd; j++)
                km_dir_near_take(dir, dir->geo_odd[j], lat, lon, k, &best,
                                 &found);
        for (int64_t y = lat0; y <= lat1; y++) {
                for (int64_t x = lon0; x <= lon1; x++) {
                        int64_t key = (int64_t)((uint64_t)y << 32 |
                                                (uint32_t)(int32_t)x);
                        const struct km_dir_cell *c = km_dir_cell(dir, key);

                        for (uint32_t q = 0; c && q < c->n; q++)
                                km_dir_near_take(dir,
                                                 dir->grid_blds[c->start + q],
                                                 lat, lon, k, &best, &found);
                }
        }
        return found;
}
