# pcpupool - plain GNU make.
#
#   make               build the library, the daemon, the tools, the tests
#   make check         install missing dependencies, build, run every test
#   make run           install dependencies, build, run pcpupoold in the
#                      foreground on config/pcpupoold.json
#   make bench         benchmarks (figures, not pass/fail)
#   make install       PREFIX=/usr/local DESTDIR=
#   make check SANITIZE=address,undefined   (or SANITIZE=thread)
#   make WERROR=       build without -Werror

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSCONFDIR  ?= /etc
DESTDIR     ?=

CC          ?= cc
SANITIZE    ?=
WERROR      ?= -Werror
PKG_CONFIG  ?= pkg-config

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION     := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME      := libpcpupool.so.$(VERSION_MAJOR)

comma := ,
B := build$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wwrite-strings -Wundef $(WERROR)
OPT  := $(if $(SANITIZE),-O1 -fno-omit-frame-pointer -fsanitize=$(SANITIZE),-O2)
ifneq ($(findstring undefined,$(SANITIZE)),)
OPT  += -fno-sanitize-recover=undefined
endif
CFLAGS   ?= -g
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Ilibclient
ALL_CFLAGS = -std=gnu11 $(OPT) $(WARN) $(CFLAGS) $(CPPFLAGS)
LDLIBS_SAN = $(if $(SANITIZE),-fsanitize=$(SANITIZE))

# pkg-config is asked only when something needs it (not for clean/help)
pc = $(shell $(PKG_CONFIG) $(1) $(2) 2>/dev/null)
CMOCKA_LIBS = $(call pc,--libs,cmocka)

LIB_SRC  := libclient/slab.c
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
LIB_PIC  := $(LIB_SRC:%.c=$(B)/pic/%.o)

TESTS    := test_slab test_torture
TEST_BIN := $(TESTS:%=$(B)/tests/%)
BENCH_BIN := $(B)/bench/bench_slab

.PHONY: all deps check run bench install uninstall clean test-bins
all: $(B)/libpcpupool.a $(TEST_BIN) $(BENCH_BIN)

deps:
	@tools/deps.sh

$(B)/%.o: %.c $(wildcard libclient/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/pic/%.o: %.c $(wildcard libclient/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(B)/libpcpupool.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/tests/test_slab: tests/test_slab.c tests/pooltest.h $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $< $(LIB_OBJ) $(CMOCKA_LIBS) $(LDLIBS_SAN) -o $@

$(B)/tests/test_torture: tests/test_torture.c tests/pooltest.h $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $< $(LIB_OBJ) $(CMOCKA_LIBS) -pthread $(LDLIBS_SAN) -o $@

$(B)/bench/bench_slab: bench/bench_slab.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(LIB_OBJ) -pthread $(LDLIBS_SAN) -o $@

test-bins: $(TEST_BIN)

check: deps
	@$(MAKE) --no-print-directory test-bins
	@B=$(B) tests/run.sh $(TESTS)

bench: deps
	@$(MAKE) --no-print-directory $(BENCH_BIN)
	$(BENCH_BIN) $(BENCH_ARGS)

clean:
	rm -rf build build-*
