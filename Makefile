# komek — one top-level GNU Makefile (STYLE.md: Makefile).
# Each program directory has a module.mk that lists its sources and adds
# itself to PROGS; tests/*/module.mk add test binaries to TESTS.
# -Wno-format-truncation: error lines are bounded on purpose (errstr contract).
# Objects go to build/ (build-asan/ for the sanitizer build), binaries to bin/.

SHELL     := /bin/bash
CC        ?= cc
PKGS      := rdkafka jansson libconfig libpq libmicrohttpd uuid libcrypto
# pkg-config runs when a recipe first needs it, never at parse time: on a
# fresh machine `make demo` / `make test` run deps (which installs the -dev
# packages) before anything is compiled, and a library still missing then
# stops the build with one line naming its Debian package.
.DEFAULT_GOAL := all
KM_DEBPKG_rdkafka := librdkafka-dev
KM_DEBPKG_jansson := libjansson-dev
KM_DEBPKG_libconfig := libconfig-dev
KM_DEBPKG_libpq := libpq-dev
KM_DEBPKG_libmicrohttpd := libmicrohttpd-dev
KM_DEBPKG_uuid := uuid-dev
KM_DEBPKG_libcrypto := libssl-dev
KM_DEBPKG_cmocka := libcmocka-dev
KM_DEBPKG_libcurl := libcurl4-openssl-dev
km_pkg_check = $(foreach m,$(1),$(if $(shell pkg-config --exists $(m) 2>/dev/null && echo y),,\
	$(error missing library $(m): install Debian package $(KM_DEBPKG_$(m)) (run `make deps`))))
# Lazy, evaluated once: VAR = $(eval VAR := value)$(VAR)
PKG_CFLAGS = $(call km_pkg_check,$(PKGS))$(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS = $(call km_pkg_check,$(PKGS))$(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)
CMOCKA_LIBS = $(call km_pkg_check,cmocka)$(eval CMOCKA_LIBS := $(shell pkg-config --libs cmocka))$(CMOCKA_LIBS)

SAN       ?=
ifeq ($(SAN),1)
BUILD     := build-asan
BIN       := build-asan/bin
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT       := -O1
else
BUILD     := build
BIN       := bin
SANFLAGS  :=
OPT       := -O2
endif

CFLAGS    ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	-Wformat=2 -Wno-format-nonliteral -Wno-format-truncation $(CFLAGS) $(SANFLAGS) \
	-Icommon -Itests/common $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
LIBS      = $(PKG_LIBS) -lm -lpthread

# common/ -> libkomek.a (every source listed; PgBouncer style)
COMMON_SRCS := common/km_log.c common/km_err.c common/km_util.c \
	common/km_conf.c common/km_conf_file.c common/km_conf_pg.c \
	common/km_complaint.c common/km_id.c \
	common/km_kafka.c common/km_kafka_admin.c common/km_pg.c common/km_sig.c \
	common/km_utf8.c common/km_addr.c common/km_metrics.c \
	common/km_metrics_http.c common/km_http_slow.c common/km_metrics_lag.c \
	common/km_dir.c common/km_dir_hist.c common/km_route.c \
	common/km_outbox.c common/km_dlq.c common/km_task.c \
	common/km_incident.c common/km_obs.c common/km_district.c \
	common/km_csv.c common/km_vote.c common/km_json.c \
	common/km_http.c common/km_hash.c common/km_pgpool.c \
	common/km_time.c common/km_main.c
LIBKOMEK  := $(BUILD)/libkomek.a

PROGS     :=
TESTS     :=
SHTESTS   :=
include $(sort $(wildcard producers/*/module.mk workers/*/module.mk web/module.mk tools/*/module.mk tests/*/module.mk))

OBJS_OF = $(patsubst %.c,$(BUILD)/%.o,$(1))
ALL_SRCS := $(COMMON_SRCS) $(foreach p,$(PROGS),$($(p)_SRCS)) $(foreach t,$(TESTS),$($(t)_SRCS))
DEPS     := $(patsubst %.c,$(BUILD)/%.d,$(ALL_SRCS))

PROG_BINS := $(addprefix $(BIN)/komek-,$(PROGS))
TEST_BINS := $(addprefix $(BUILD)/tests/,$(TESTS))

.PHONY: all deps up down up-cluster down-cluster demo test test-asan asan test-faults test-cluster test-fresh test-valgrind bench clean distclean format-check format fuzz
all: $(PROG_BINS) $(TEST_BINS)

Q := $(if $(V),,@)
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBKOMEK): $(call OBJS_OF,$(COMMON_SRCS))
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

define PROG_RULE
$(BIN)/komek-$(1): $(call OBJS_OF,$($(1)_SRCS)) $(LIBKOMEK)
	@mkdir -p $$(dir $$@)
	@$$(if $$(V),,echo "  LD      $$@")
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS) $$($(1)_LIBS)
endef
$(foreach p,$(PROGS),$(eval $(call PROG_RULE,$(p))))

define TEST_RULE
$(BUILD)/tests/$(1): $(call OBJS_OF,$($(1)_SRCS)) $(LIBKOMEK)
	@mkdir -p $$(dir $$@)
	@$$(if $$(V),,echo "  LD      $$@")
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS) $$(CMOCKA_LIBS) $$($(1)_LIBS)
endef
$(foreach t,$(TESTS),$(eval $(call TEST_RULE,$(t))))

-include $(DEPS)

# ---- machine and services -------------------------------------------------
deps:
	@bash deploy/deps.sh

up: deps all
	@bash deploy/kafka/kafka.sh up
	@bash deploy/pg.sh up
	@. .run/kafka.env && . .run/pg.env && \
		$(BIN)/komek-admin --config deploy/komek.conf --log-level warn all

down:
	@bash deploy/kafka/kafka.sh down
	@bash deploy/pg.sh down

# three replicated KRaft brokers on loopback (deploy/kafka/cluster.sh)
up-cluster: deps
	@bash deploy/kafka/cluster.sh up
down-cluster:
	@bash deploy/kafka/cluster.sh down

# ---- tests ------------------------------------------------------------------
# SHTESTS: scripts that print "N passed, N failed"; module.mk files add them.
test: up
	@bash tests/run.sh $(BIN) $(TEST_BINS) $(SHTESTS)

test-asan asan: deps
	@$(MAKE) --no-print-directory SAN=1 all
	@$(MAKE) --no-print-directory up
	@KOMEK_SAN=1 bash tests/run.sh build-asan/bin \
		$(addprefix build-asan/tests/,$(TESTS)) $(SHTESTS)

# The whole pipeline under faults against its own private broker and
# PostgreSQL (tests/faults/faults.py); FAULTS_COMPLAINTS=200000 scales it up.
test-faults: deps all
	@KOMEK_BIN=$(CURDIR)/$(BIN) KOMEK_ROOT=$(CURDIR) python3 tests/faults/faults.py

# The same under faults on three replicated brokers and a PostgreSQL
# standby: the busiest partition's leader SIGKILLed, the others restarted
# one at a time, the primary failed over (tests/faults/cluster.py).
test-cluster: deps all
	@KOMEK_BIN=$(CURDIR)/$(BIN) KOMEK_ROOT=$(CURDIR) python3 tests/faults/faults.py --cluster

# The README's two commands on a minimal Debian 12 root built with
# debootstrap, nothing preinstalled but git and make (tests/fresh/test_fresh.sh).
test-fresh: deps
	@bash tests/fresh/test_fresh.sh

# unit and foundation integration tests under valgrind memcheck
test-valgrind: up
	@bash tests/valgrind.sh

demo: up
	@bash deploy/demo.sh $(BIN)

bench: up
	@bash bench/run.sh $(BIN)

# libFuzzer targets (clang), FUZZ_SECONDS each (default 30)
fuzz: deps
	@bash tests/fuzz/run.sh

# every C file and header in git (.clang-format: the house style)
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format-check:
	@clang-format --dry-run --Werror $(or $(FORMAT_SRCS),$(ALL_SRCS))
	@echo "format-check: $(words $(or $(FORMAT_SRCS),$(ALL_SRCS))) files as .clang-format says"
	@python3 tests/style/check_names.py

format:
	@clang-format -i $(or $(FORMAT_SRCS),$(ALL_SRCS))

clean:
	rm -rf build build-asan bin

distclean: down clean
	rm -rf .run
