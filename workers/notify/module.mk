PROGS += notify
notify_SRCS := workers/notify/notify.c workers/notify/notify_log.c \
	workers/notify/notify_send.c workers/notify/notify_http.c \
	workers/notify/notify_mail.c
notify_CFLAGS_PKG := libcurl
notify_LIBS = $(call km_pkg_check,libcurl)$(shell pkg-config --libs libcurl)
