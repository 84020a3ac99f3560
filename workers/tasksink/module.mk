PROGS += tasksink
tasksink_SRCS := workers/tasksink/tasksink.c workers/tasksink/tasksink_db.c
