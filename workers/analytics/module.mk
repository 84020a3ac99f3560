PROGS += analytics
analytics_SRCS := workers/analytics/analytics.c workers/analytics/analytics_run.c \
	workers/analytics/analytics_parse.c workers/analytics/analytics_store.c \
	workers/analytics/analytics_write.c workers/analytics/analytics_lag.c \
	workers/analytics/analytics_metrics.c
