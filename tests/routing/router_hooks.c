/*
 * router_hooks.c - test hooks of komek-router, linked only into its test
 * build (build/tests/hooks/komek-router, compiled with KM_TEST_HOOKS by
 * tests/routing/module.mk; bin/komek-router has none of this: router.h
 * makes the calls constants).  tests/routing/test_recover.c drives them
 * through the environment, each at most once per process:
 *   KOMEK_TEST_ROUTER_FATAL_AT=N   at the Nth consumed complaint, raise a
 *       fatal error on the transactional producer that is not a fencing
 *       (rd_kafka_test_fatal_error, OUT_OF_ORDER_SEQUENCE_NUMBER): the
 *       router finds it at its next producer call and replaces the
 *       producer (router_renew).  librdkafka 2.0.2 raises no other fatal
 *       error against a single plain broker: a transaction that timed
 *       out, or a second producer with the same transactional.id, is a
 *       fencing (exit 1, tested with the real trigger); the rest need
 *       ACLs or a broker that loses producer state.
 *   KOMEK_TEST_ROUTER_ABORT_AT=N   at the Nth consumed complaint, fail
 *       the batch with KM_ERETRY: abort and rewind (router_fail).
 *   KOMEK_TEST_ROUTER_REWIND_FAILS=K   the first K rewinds fail with
 *       KM_ERETRY before km_kafka_rewind is called.  The real trigger,
 *       rd_kafka_committed failing (the broker away for longer than its
 *       10 s) between an abort and its rewind, cannot be timed from
 *       outside the process.
 * The first two flush the producer before they fire: the transaction's
 * messages produced so far are in the log, uncommitted.  Every hook that
 * fires logs warning lines starting "test hook:".
 */
#include <stdlib.h>

#include "km_log.h"
#include "router.h"

static long hook_env(const char *name)
{
        const char *v = getenv(name);

        return v && *v ? strtol(v, NULL, 10) : 0;
}

/* What the open transaction produced is written first (uncommitted), so
 * the failure strikes a transaction with messages in the log. */
static void hook_written(struct router *r)
{
        rd_kafka_flush(r->producer, 10000);
        km_log_warn("test hook: %lld message(s) delivered",
                    (long long)r->pcounts.delivered);
}

int router_hook_message(struct router *r, char *err, size_t errlen)
{
        static int fatal_done, abort_done;
        long fatal_at = hook_env("KOMEK_TEST_ROUTER_FATAL_AT");
        long abort_at = hook_env("KOMEK_TEST_ROUTER_ABORT_AT");

        if (!fatal_done && fatal_at > 0 && r->st.consumed >= fatal_at) {
                fatal_done = 1;
                hook_written(r);
                km_log_warn("test hook: fatal producer error at complaint %lld",
                            (long long)r->st.consumed);
                rd_kafka_test_fatal_error(
                        r->producer,
                        RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                        "komek test hook");
        }
        if (!abort_done && abort_at > 0 && r->st.consumed >= abort_at) {
                abort_done = 1;
                hook_written(r);
                km_log_warn("test hook: failing the batch at complaint %lld",
                            (long long)r->st.consumed);
                return km_err_set(err, errlen, KM_ERETRY,
                                  "test hook: batch failed");
        }
        return 0;
}

int router_hook_rewind(char *err, size_t errlen)
{
        static long failed;
        long fails = hook_env("KOMEK_TEST_ROUTER_REWIND_FAILS");

        if (failed >= fails)
                return 0;
        failed++;
        km_log_warn("test hook: rewind %ld of %ld refused", failed, fails);
        return km_err_set(err, errlen, KM_ERETRY,
                          "test hook: rewind refused (%ld of %ld)", failed,
                          fails);
}
