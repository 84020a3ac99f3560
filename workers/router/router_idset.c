/*
 * router_idset.c - a bounded set of complaint ids (16-byte UUIDs) with
 * FIFO eviction: a ring of the ids in insertion order and an
 * open-addressing (linear probing) index of ring positions, at most half
 * full.  Adding to a full set forgets the oldest id first (backward-shift
 * deletion, so no tombstones pile up).  Memory: 16 bytes per id in the
 * ring and 4 bytes per index slot (2 to 4 slots per id): 200,000 ids take
 * about 5.3 MB, allocated once.  Not thread-safe; nothing here fails but
 * allocation, which is fatal (km_xmalloc).
 */
#include <stdlib.h>
#include <string.h>

#include "km_util.h"
#include "router.h"

static size_t router_idset_home(const struct router_idset *s,
                                const unsigned char *id)
{
        uint64_t a, b;

        memcpy(&a, id, 8);
        memcpy(&b, id + 8, 8);
        a ^= b * 0x9e3779b97f4a7c15ULL;
        a ^= a >> 31;
        a *= 0xbf58476d1ce4e5b9ULL;
        a ^= a >> 29;
        return (size_t)a & s->mask;
}

void router_idset_init(struct router_idset *s, size_t cap)
{
        size_t slots = 16;

        memset(s, 0, sizeof(*s));
        if (cap == 0)
                return;
        while (slots < 2 * cap)
                slots *= 2;
        s->cap = cap;
        s->mask = slots - 1;
        s->ids = km_xcalloc(cap, sizeof(*s->ids));
        s->slots = km_xcalloc(slots, sizeof(*s->slots));
}

void router_idset_destroy(struct router_idset *s)
{
        free(s->ids);
        free(s->slots);
        memset(s, 0, sizeof(*s));
}

/* The index slot holding id, or the empty slot where it would go. */
static size_t router_idset_find(const struct router_idset *s,
                                const unsigned char *id)
{
        size_t i = router_idset_home(s, id);

        while (s->slots[i] != 0 &&
               memcmp(s->ids[s->slots[i] - 1], id, ROUTER_ID_BYTES) != 0)
                i = (i + 1) & s->mask;
        return i;
}

int router_idset_has(const struct router_idset *s, const unsigned char *id)
{
        if (s->cap == 0 || s->n == 0)
                return 0;
        return s->slots[router_idset_find(s, id)] != 0;
}

/* Forget the oldest id: empty its slot, then move later entries of the
 * probe run back into the hole unless their home lies cyclically in
 * (hole, j] (Knuth 6.4 algorithm R). */
static void router_idset_evict(struct router_idset *s)
{
        size_t i = router_idset_find(s, s->ids[s->head]), j = i;

        for (;;) {
                size_t k;

                j = (j + 1) & s->mask;
                if (s->slots[j] == 0)
                        break;
                k = router_idset_home(s, s->ids[s->slots[j] - 1]);
                if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                        continue;
                s->slots[i] = s->slots[j];
                i = j;
        }
        s->slots[i] = 0;
        s->head = (s->head + 1) % s->cap;
        s->n--;
}

int router_idset_add(struct router_idset *s, const unsigned char *id)
{
        size_t i, pos;

        if (s->cap == 0)
                return 0;
        i = router_idset_find(s, id);
        if (s->slots[i] != 0)
                return 0;
        if (s->n == s->cap) {
                router_idset_evict(s);
                i = router_idset_find(s, id); /* the run may have moved */
        }
        pos = (s->head + s->n) % s->cap;
        memcpy(s->ids[pos], id, ROUTER_ID_BYTES);
        s->slots[i] = (uint32_t)pos + 1;
        s->n++;
        return 1;
}

void router_idset_clear(struct router_idset *s)
{
        if (s->cap == 0 || s->n == 0)
                return;
        /* few ids: empty their slots (all go, so no shifting is needed);
         * many: wipe the index */
        if (s->n * 8 < s->mask) {
                for (size_t j = 0; j < s->n; j++) {
                        size_t i = router_idset_home(
                                s, s->ids[(s->head + j) % s->cap]);
                        uint32_t want = (uint32_t)((s->head + j) % s->cap) + 1;

                        while (s->slots[i] != want)
                                i = (i + 1) & s->mask;
                        s->slots[i] = 0;
                }
        } else {
                memset(s->slots, 0, (s->mask + 1) * sizeof(*s->slots));
        }
        s->n = 0;
        s->head = 0;
}
