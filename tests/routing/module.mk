# tests/routing: routing and dispatch (issue 4).
TESTS += test_addr test_route test_pipeline test_inbox
test_addr_SRCS := tests/routing/test_addr.c
test_route_SRCS := tests/routing/test_route.c tests/routing/rt.c tests/common/km_test.c
test_pipeline_SRCS := tests/routing/test_pipeline.c tests/routing/rt.c tests/common/km_test.c
test_inbox_SRCS := tests/routing/test_inbox.c tests/routing/rt.c tests/common/km_test.c
