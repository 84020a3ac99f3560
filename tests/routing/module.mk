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
