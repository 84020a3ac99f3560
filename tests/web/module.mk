# tests/web: komek-web (issue 8).  test_web: every route over HTTP;
# test_browser: headless Debian chromium driven by playwright-core.
TESTS += test_web
test_web_SRCS := tests/web/test_web.c tests/web/wt.c tests/web/wclient.c \
	tests/routing/rt.c tests/common/km_test.c
TESTS += test_browser
test_browser_SRCS := tests/web/test_browser.c tests/web/wt.c \
	tests/web/wclient.c tests/routing/rt.c tests/common/km_test.c
