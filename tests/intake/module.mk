TESTS += test_intake test_gateway test_outage test_gateway_privacy \
	test_fixmystreet test_fms_pipeline
test_intake_SRCS := tests/intake/test_intake.c tests/common/km_test.c
test_outage_SRCS := tests/intake/test_outage.c tests/common/km_test.c
test_gateway_SRCS := tests/intake/test_gateway.c tests/common/http_client.c \
	tests/common/km_test.c
test_gateway_privacy_SRCS := tests/intake/test_gateway_privacy.c \
	tests/common/http_client.c tests/common/km_test.c

test_fixmystreet_SRCS := tests/intake/test_fixmystreet.c \
	tests/common/http_client.c tests/common/km_test.c

test_fms_pipeline_SRCS := tests/intake/test_fms_pipeline.c \
	tests/common/http_client.c tests/routing/rt.c tests/common/km_test.c

# Not a test: the HTTP load client of bench/intake.sh.
HTTPLOAD := $(BUILD)/bench/komek-httpload
$(HTTPLOAD): $(BUILD)/tests/intake/httpload.o
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpthread
