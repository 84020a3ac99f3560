PROGS += gen
gen_SRCS := producers/gen/gen.c producers/gen/gen_dir.c producers/gen/gen_complaints.c producers/gen/gen_text.c
SHTESTS += producers/gen/test_gen.sh
