PROGS += directory
directory_SRCS := tools/directory/directory.c tools/directory/directory_csv.c \
	tools/directory/directory_import.c tools/directory/directory_lookup.c \
	tools/directory/directory_channels.c \
	tools/directory/directory_history.c \
	tools/directory/directory_handover.c
