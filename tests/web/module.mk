# tests/web: komek-web (issue 8).  test_web_unit: pure functions;
# test_browser: headless Debian chromium driven by playwright-core.
TESTS += test_web
test_web_SRCS := tests/web/test_web.c tests/web/test_web_pages.c \
	tests/web/test_web_incident.c tests/web/wt.c tests/web/wclient.c \
	tests/common/http_client.c tests/routing/rt.c tests/common/km_test.c \
	web/web_db.c
TESTS += test_lockout
test_lockout_SRCS := tests/web/test_lockout.c tests/web/wt.c tests/web/wclient.c \
	tests/common/http_client.c tests/routing/rt.c tests/common/km_test.c
TESTS += test_browser
test_browser_SRCS := tests/web/test_browser.c tests/web/wt.c \
	tests/web/wclient.c tests/common/http_client.c tests/routing/rt.c \
	tests/common/km_test.c
TESTS += test_web_unit
test_web_unit_SRCS = tests/web/test_web_unit.c $(filter-out web/web.c,$(web_SRCS))
# the largest valid complaint through every stage, whole (issue 11)
TESTS += test_largest
test_largest_SRCS := tests/web/test_largest.c tests/web/wt.c tests/web/wclient.c \
	tests/routing/rt.c tests/common/http_client.c tests/common/km_test.c
