PROGS += tasksink
tasksink_SRCS := workers/tasksink/tasksink.c workers/tasksink/tasksink_db.c workers/tasksink/tasksink_parse.c \
	workers/tasksink/tasksink_metrics.c
