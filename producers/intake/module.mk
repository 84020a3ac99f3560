PROGS += intake
intake_SRCS := producers/intake/intake.c producers/intake/intake_input.c \
	producers/intake/intake_csv.c producers/intake/intake_publish.c \
	producers/intake/intake_work.c
