PROGS += tasksink
tasksink_SRCS := workers/tasksink/tasksink.c workers/tasksink/tasksink_db.c workers/tasksink/tasksink_parse.c \
	workers/tasksink/tasksink_metrics.c
# bench/tasksink.sh's helper (not a test): the scanner vs jansson
TSBENCH_SRCS := bench/tasksink_parse_bench.c workers/tasksink/tasksink_parse.c
$(BUILD)/bench/tasksink_parse_bench: $(patsubst %.c,$(BUILD)/%.o,$(TSBENCH_SRCS)) $(LIBKOMEK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
-include $(BUILD)/bench/tasksink_parse_bench.d
