PROGS += keys
keys_SRCS := tools/keys/keys.c
