PROGS += gen
gen_SRCS := tools/gen/gen.c tools/gen/gen_util.c tools/gen/gen_dir.c tools/gen/gen_addr.c \
	tools/gen/gen_complaints.c tools/gen/gen_staff.c tools/gen/gen_text.c
SHTESTS += tools/gen/test_gen.sh
