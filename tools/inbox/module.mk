PROGS += inbox
inbox_SRCS := tools/inbox/inbox.c tools/inbox/inbox_view.c \
	tools/inbox/inbox_change.c tools/inbox/inbox_play.c tools/inbox/inbox_incident.c
