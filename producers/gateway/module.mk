PROGS += gateway
gateway_SRCS := producers/gateway/gateway.c producers/gateway/gateway_http.c \
	producers/gateway/gateway_post.c producers/gateway/gateway_get.c \
	producers/gateway/gateway_db.c producers/gateway/gateway_out.c \
	producers/gateway/gateway_metrics.c producers/gateway/gateway_update.c \
	producers/gateway/gateway_discovery.c \
	producers/gateway/gateway_form.c producers/gateway/gateway_vote.c \
	producers/gateway/gateway_record.c
