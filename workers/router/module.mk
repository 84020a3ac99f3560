PROGS += router
router_SRCS := workers/router/router.c workers/router/router_txn.c \
	workers/router/router_msg.c workers/router/router_dir.c \
	workers/router/router_metrics.c workers/router/router_dedup.c \
	workers/router/router_idset.c
