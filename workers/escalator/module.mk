PROGS += escalator
escalator_SRCS := workers/escalator/escalator.c workers/escalator/escalator_detect.c \
	workers/escalator/escalator_publish.c \
	workers/escalator/escalator_metrics.c
