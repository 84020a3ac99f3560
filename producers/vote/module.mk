PROGS += vote
vote_SRCS := producers/vote/vote.c
