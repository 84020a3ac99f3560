# tests/ops: operations (issue 7) - metrics, SASL/TLS, roles, systemd units.
TESTS += test_metrics
test_metrics_SRCS := tests/ops/test_metrics.c
TESTS += test_metrics_lag
test_metrics_lag_SRCS := tests/ops/test_metrics_lag.c tests/common/km_test.c
TESTS += test_log
test_log_SRCS := tests/ops/test_log.c
SHTESTS += tests/ops/test_sasl_tls.sh
TESTS += test_roles
test_roles_SRCS := tests/ops/test_roles.c tests/common/km_test.c
TESTS += test_login_roles
test_login_roles_SRCS := tests/ops/test_login_roles.c tests/common/km_test.c
SHTESTS += tests/ops/test_deploy.sh

# Not a test: komek-groups (describe a consumer group), used by
# tests/ops/test_scaleout.sh; built with `all`.
OPS_GROUPS := $(BUILD)/tests/ops/komek-groups
all: $(OPS_GROUPS)
$(OPS_GROUPS): $(BUILD)/tests/ops/groups.o
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
SHTESTS += tests/ops/test_scaleout.sh
TESTS += test_metrics_live
test_metrics_live_SRCS := tests/ops/test_metrics_live.c tests/routing/rt.c \
	tests/common/http_client.c tests/common/km_test_metrics.c tests/common/km_test.c
TESTS += test_metrics_analytics
test_metrics_analytics_SRCS := tests/ops/test_metrics_analytics.c tests/analytics/fx.c \
	tests/analytics/fx_build.c tests/common/http_client.c \
	tests/common/km_test_metrics.c tests/common/km_test.c
