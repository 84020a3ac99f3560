PROGS += gen
gen_SRCS := tools/gen/gen.c tools/gen/gen_util.c tools/gen/gen_dir.c tools/gen/gen_addr.c \
	tools/gen/gen_plan.c tools/gen/gen_rec.c tools/gen/gen_complaints.c tools/gen/gen_votes.c \
	tools/gen/gen_staff.c tools/gen/gen_text.c tools/gen/gen_text_names.c tools/gen/gen_text_desc.c
SHTESTS += tools/gen/test_gen.sh
