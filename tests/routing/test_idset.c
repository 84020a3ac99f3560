/*
 * test_idset.c - the router's bounded id set (workers/router/
 * router_idset.c): membership, FIFO eviction checked step by step against
 * a plain array of the last `cap` ids (small capacities, so probe runs
 * wrap and backward-shift deletion moves entries), clear, capacity 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../workers/router/router.h"

static uint64_t rng = 88172645463325252ULL;

static void make_id(unsigned char *id, unsigned pool)
{
        uint64_t v;

        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        v = pool ? rng % pool : rng; /* a small pool repeats ids */
        memset(id, 0, ROUTER_ID_BYTES);
        memcpy(id, &v, sizeof(v));
        id[15] = (unsigned char)(v * 31);
}

/* Reference: the last cap distinct ids added, oldest first. */
static void check_fifo(size_t cap, unsigned pool, int steps)
{
        struct router_idset s;
        unsigned char(*ref)[ROUTER_ID_BYTES] = calloc(cap, ROUTER_ID_BYTES);
        size_t nref = 0;

        router_idset_init(&s, cap);
        for (int step = 0; step < steps; step++) {
                unsigned char id[ROUTER_ID_BYTES];
                int in_ref = 0, added;

                make_id(id, pool);
                for (size_t i = 0; i < nref; i++)
                        if (memcmp(ref[i], id, ROUTER_ID_BYTES) == 0)
                                in_ref = 1;
                if (router_idset_has(&s, id) != in_ref)
                        fail_msg("cap %zu step %d: has %d, want %d", cap, step,
                                 !in_ref, in_ref);
                added = router_idset_add(&s, id);
                if (added == in_ref)
                        fail_msg("cap %zu step %d: add %d, want %d", cap, step,
                                 added, !in_ref);
                if (!in_ref) {
                        if (nref == cap) {
                                memmove(ref[0], ref[1],
                                        (cap - 1) * ROUTER_ID_BYTES);
                                nref--;
                        }
                        memcpy(ref[nref++], id, ROUTER_ID_BYTES);
                }
                assert_int_equal(s.n, nref);
                /* every remembered id is found */
                for (size_t i = 0; i < nref; i++)
                        if (!router_idset_has(&s, ref[i]))
                                fail_msg("cap %zu step %d: lost id %zu of %zu",
                                         cap, step, i, nref);
        }
        router_idset_clear(&s);
        assert_int_equal(s.n, 0);
        for (size_t i = 0; i < nref; i++)
                assert_false(router_idset_has(&s, ref[i]));
        for (size_t i = 0; i < s.mask + 1; i++)
                assert_int_equal(s.slots[i], 0);
        router_idset_destroy(&s);
        free(ref);
}

static void test_fifo_small(void **state)
{
        (void)state;
        check_fifo(1, 0, 50);
        check_fifo(7, 0, 2000);
        check_fifo(7, 12, 2000); /* re-adds of present and evicted ids */
        check_fifo(64, 100, 5000);
        check_fifo(300, 0, 3000);
}

static void test_large(void **state)
{
        struct router_idset s;
        unsigned char id[ROUTER_ID_BYTES];
        uint64_t saved;

        (void)state;
        router_idset_init(&s, 200000);
        saved = rng;
        for (int i = 0; i < 250000; i++) {
                make_id(id, 0);
                router_idset_add(&s, id);
        }
        assert_int_equal(s.n, 200000);
        rng = saved; /* the first 50,000 are gone, the rest are there */
        for (int i = 0; i < 250000; i++) {
                make_id(id, 0);
                if (router_idset_has(&s, id) != (i >= 50000))
                        fail_msg("id %d: has %d", i, !(i >= 50000));
        }
        router_idset_clear(&s); /* the wiping path */
        assert_int_equal(s.n, 0);
        rng = saved;
        make_id(id, 0);
        assert_false(router_idset_has(&s, id));
        router_idset_destroy(&s);
}

static void test_off(void **state)
{
        struct router_idset s;
        unsigned char id[ROUTER_ID_BYTES] = {1};

        (void)state;
        router_idset_init(&s, 0);
        assert_int_equal(router_idset_add(&s, id), 0);
        assert_false(router_idset_has(&s, id));
        router_idset_clear(&s);
        router_idset_destroy(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fifo_small),
                cmocka_unit_test(test_large),
                cmocka_unit_test(test_off),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
