# tests/routing: routing and dispatch (issue 4).
TESTS += test_addr test_route test_pipeline test_inbox
test_addr_SRCS := tests/routing/test_addr.c
test_route_SRCS := tests/routing/test_route.c tests/routing/rt.c tests/common/km_test.c
test_pipeline_SRCS := tests/routing/test_pipeline.c tests/routing/rt.c \
	tests/common/km_test_metrics.c tests/common/http_client.c tests/common/km_test.c
test_inbox_SRCS := tests/routing/test_inbox.c tests/routing/rt.c tests/common/km_test.c
# resubmissions are dispatched once; canonical districts (issue 4 follow-up)
TESTS += test_district test_idset test_resubmit
test_district_SRCS := tests/routing/test_district.c
test_idset_SRCS := tests/routing/test_idset.c workers/router/router_idset.c
test_resubmit_SRCS := tests/routing/test_resubmit.c tests/routing/rt.c \
	tests/common/km_test_metrics.c tests/common/http_client.c tests/common/km_test.c
# no worker skips a message: the sink dead-letters (issue 11)
TESTS += test_sinkdlq
test_sinkdlq_SRCS := tests/routing/test_sinkdlq.c tests/routing/rt.c \
	tests/common/km_test_metrics.c tests/common/http_client.c tests/common/km_test.c
# SIGTERM while a batch is open: router, task sink, analytics (issue 20.2)
TESTS += test_sigterm
test_sigterm_SRCS := tests/routing/test_sigterm.c tests/routing/rt.c \
	tests/common/km_test_metrics.c tests/common/http_client.c tests/common/km_test.c
# the task sink's set-based write: two sinks, a killed sink, a refused
# row isolated in its batch (issue 13)
TESTS += test_sink2
test_sink2_SRCS := tests/routing/test_sink2.c tests/routing/rt.c \
	tests/common/km_test.c
# the findings against the generator's truth: failing KSKs in the
# rating's bottom decile, inefficient-KSK and systemic precision (issue 18)
TESTS += test_findings
test_findings_SRCS := tests/routing/test_findings.c tests/routing/rt.c \
	tests/common/km_test.c
# a directory import under load: old or new directory, never back (issue 20.6)
TESTS += test_reload
test_reload_SRCS := tests/routing/test_reload.c tests/routing/rt.c tests/common/km_test.c
# the import and a task sink batch ordered: each waits for the other (issue 17)
TESTS += test_handover_lock
test_handover_lock_SRCS := tests/routing/test_handover_lock.c tests/routing/rt.c \
	tests/common/km_test.c
# incidents from the stored tasks: two sinks, a restart, another order
# give the same incidents; one note resolves each task (issue 16.3)
TESTS += test_incidents
test_incidents_SRCS := tests/routing/test_incidents.c tests/routing/rt.c \
	tests/common/km_test.c
# the directory remembers: responsibility periods, handovers (issue 17)
TESTS += test_history
test_history_SRCS := tests/routing/test_history.c tests/routing/th.c \
	tests/routing/rt.c tests/common/km_test.c
TESTS += test_handover
test_handover_SRCS := tests/routing/test_handover.c tests/routing/th.c \
	tests/routing/rt.c tests/common/km_test.c
# the directory's indexes answer as its scans (issue 12)
TESTS += test_index
test_index_SRCS := tests/routing/test_index.c tests/routing/rt.c \
	tests/common/km_test.c
# the router's recovery paths: a fenced producer exits 1, a fatally failed
# one is replaced, a failed rewind holds the reading; each then exactly
# once (issue 20).  The failures it cannot cause from outside come from
# the router's test build: the same sources with tests/routing/
# router_hooks.c, compiled with KM_TEST_HOOKS into build/tests/hooks/
# (bin/komek-router has no hooks).
TESTS += test_recover
test_recover_SRCS := tests/routing/test_recover.c tests/routing/rt.c \
	tests/common/km_test.c
# (every router source: this file is read before workers/router/module.mk)
ROUTER_HOOK_SRCS := $(sort $(wildcard workers/router/*.c)) \
	tests/routing/router_hooks.c
ROUTER_HOOK_OBJS := $(patsubst %.c,$(BUILD)/tests/hooks/%.o,$(ROUTER_HOOK_SRCS))
$(BUILD)/tests/hooks/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $< (test hooks)")
	$(Q)$(CC) $(ALL_CFLAGS) -DKM_TEST_HOOKS -Iworkers/router -c $< -o $@
$(BUILD)/tests/hooks/komek-router: $(ROUTER_HOOK_OBJS) $(LIBKOMEK)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(router_LIBS)
# order-only: built with the test, not linked into it
$(BUILD)/tests/test_recover: | $(BUILD)/tests/hooks/komek-router
-include $(patsubst %.o,%.d,$(ROUTER_HOOK_OBJS))
