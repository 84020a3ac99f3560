# tests/notify: komek-notify against real receivers (issue 22).
SHTESTS += tests/notify/test_notify.sh
TESTS += test_notify_msg
test_notify_msg_SRCS := tests/notify/test_notify_msg.c workers/notify/notify_http.c \
	workers/notify/notify_mail.c
test_notify_msg_LIBS = $(notify_LIBS)
