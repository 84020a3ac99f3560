# tests/analytics: komek-analytics, komek-escalator, komek-report (issue 5).
TESTS += test_analytics
test_analytics_SRCS := tests/analytics/test_analytics.c tests/analytics/fx.c \
	tests/analytics/fx_build.c tests/analytics/expect.c tests/analytics/tcheck.c \
	tests/analytics/tcheck_esc.c tests/common/km_test.c \
	tests/common/km_test_metrics.c tests/common/http_client.c
TESTS += test_escalator
test_escalator_SRCS := tests/analytics/test_escalator.c tests/analytics/fx.c \
	tests/analytics/fx_build.c tests/analytics/expect.c tests/analytics/tcheck.c \
	tests/analytics/tcheck_esc.c tests/common/km_test.c
TESTS += test_report
test_report_SRCS := tests/analytics/test_report.c tests/analytics/fx.c \
	tests/analytics/fx_build.c tests/common/km_test.c

# bench/analytics.sh's helper (not a test): make build/bench/analytics_bench
ANBENCH_SRCS := bench/analytics_bench.c tests/analytics/fx.c \
	tests/analytics/fx_build.c tests/common/km_test.c
$(BUILD)/bench/analytics_bench: $(patsubst %.c,$(BUILD)/%.o,$(ANBENCH_SRCS)) $(LIBKOMEK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
TESTS += test_an_parse
test_an_parse_SRCS := tests/analytics/test_an_parse.c \
	workers/analytics/analytics_parse.c
-include $(BUILD)/bench/analytics_bench.d
