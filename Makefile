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
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DESTDIR     ?=

CC          ?= cc
SANITIZE    ?=
WERROR      ?= -Werror
PKG_CONFIG  ?= pkg-config

VERSION_MAJOR := 1
VERSION_MINOR := 0
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
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Icore -Ilibclient
ALL_CFLAGS = -std=gnu11 $(OPT) $(WARN) $(CFLAGS) $(CPPFLAGS)
LDLIBS_SAN = $(if $(SANITIZE),-fsanitize=$(SANITIZE))

# pkg-config is asked only when something needs it (not for clean/help)
pc = $(shell $(PKG_CONFIG) $(1) $(2) 2>/dev/null)
CMOCKA_LIBS = $(call pc,--libs,cmocka)

JANSSON_CFLAGS = $(call pc,--cflags,jansson)
JANSSON_LIBS   = $(call pc,--libs,jansson)
DAEMON_LIBS    = $(call pc,--libs,libevent libsystemd jansson)

# what the daemon and the library both compile in
CORE_SRC := core/protocol.c core/slab_layout.c core/slab_view.c core/slab_list.c \
	core/slab_rseq.c core/slab_client.c core/slab_daemon.c
CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
LIB_SRC  := $(CORE_SRC) libclient/util.c libclient/conn.c libclient/request.c libclient/fork.c \
	libclient/client.c libclient/handle.c libclient/alloc.c libclient/query.c
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/static/%.o)
LIB_PIC  := $(LIB_SRC:%.c=$(B)/pic/%.o)
SLAB_OBJ := $(CORE_OBJ)
LIB_SO   := $(B)/libpcpupool.so.$(VERSION)
LIB_A    := $(B)/libpcpupool.a
LIB_PC   := $(B)/libpcpupool.pc

DAEMON_SRC := daemon/main.c daemon/conn.c daemon/cmd.c daemon/attach.c daemon/watch.c \
	daemon/pool.c daemon/state.c daemon/refill.c daemon/reclaim.c daemon/stats.c \
	daemon/config.c daemon/log.c daemon/cpus.c daemon/place.c daemon/depot.c \
	daemon/guard.c daemon/shm.c
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(B)/%.o) $(CORE_OBJ)
DAEMON     := $(B)/pcpupoold

# the tests by kind, a directory of tests/ each: unit/ (the slab core
# alone), integration/ (a real daemon), abi/ (the exports, the public
# header), cli/ (the programs' command lines), fuzz/ (the libFuzzer targets
# and their corpus), systemd/; lib/ the helpers they share.  Programs are
# built into $(B)/tests/, scripts run where they are (tests/run.sh).
C_TESTS  := test_slab test_races test_torture test_depot test_exports test_e2e test_reconnect \
	test_place \
	test_nosyscall test_hostile test_reclaim test_corrupt test_wipe test_hugepages
# the systemd test boots a container around the plain build: not a
# sanitizer test
SH_TESTS := test_daemon_cli test_pcpupoolctl test_access test_norseq $(if $(SANITIZE),,test_header test_fuzz test_systemd)
TESTS    := $(C_TESTS) $(SH_TESTS)
# built with the others, run only in the VM test bed (make check-vm): they
# take CPUs offline
VM_ONLY_TESTS := test_hotplug test_numa
TEST_BIN := $(C_TESTS:%=$(B)/tests/%) $(VM_ONLY_TESTS:%=$(B)/tests/%)
BENCH_BIN := $(B)/bench/bench_slab
BENCH_PEERS := $(B)/bench/bench_peers
BENCH_REFILL := $(B)/bench/bench_refill
BENCH_DESIGNS := $(B)/bench/bench_slot_designs
# each benchmark's sources (bench/README.md); bench_common.c is everyone's
BENCH_HDR := $(wildcard bench/*.h)
BENCH_COMMON_SRC := bench/bench_common.c
BENCH_SLAB_SRC := bench/bench_slab.c bench/slab_comps.c bench/slabpool.c \
	bench/slab_results.c bench/bench_slab_nostats.c $(BENCH_COMMON_SRC)
BENCH_PEER_SRC := bench/peer_list.c bench/peer_pcpupool.c bench/peer_tls.c \
	bench/peer_rseq.c bench/peer_malloc.c bench/peer_dpdk.c bench/peer_mutex.c \
	bench/peer_treiber.c
BENCH_PEERS_SRC := bench/bench_peers.c bench/peers_rounds.c bench/peers_child.c \
	bench/peers_proto.c bench/peers_report.c bench/peers_output.c bench/hist.c \
	bench/pooldaemon.c bench/resultfile.c $(BENCH_PEER_SRC) $(BENCH_COMMON_SRC)
BENCH_REFILL_SRC := bench/bench_refill.c bench/refill_measure.c bench/pooldaemon.c \
	bench/resultfile.c $(BENCH_COMMON_SRC)
# DPDK is compiled into the peer bench only when pkg-config finds it
HAVE_DPDK         = $(shell $(PKG_CONFIG) --exists libdpdk 2>/dev/null && echo 1)
BENCH_DPDK_CFLAGS = $(if $(HAVE_DPDK),-DBENCH_HAVE_DPDK $(call pc,--cflags,libdpdk))
BENCH_DPDK_LIBS   = $(if $(HAVE_DPDK),$(call pc,--libs,libdpdk))
EXAMPLES := $(B)/examples/producer $(B)/examples/consumer
TOOL     := $(B)/pcpupoolctl

.PHONY: all deps check check-valgrind fuzz fuzz-bins run bench install install-systemd uninstall clean test-bins print-version FORCE
all: $(LIB_SO) $(LIB_A) $(LIB_PC) $(DAEMON) $(TOOL) $(EXAMPLES) $(TEST_BIN) $(BENCH_BIN) $(BENCH_DESIGNS)

deps:
	@tools/deps.sh

$(B)/%.o: %.c $(wildcard core/*.h libclient/*.h include/*.h include/pcpupool/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/pic/%.o: %.c $(wildcard core/*.h libclient/*.h include/*.h include/pcpupool/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

# the static library: one object in which only the exported API is global
# (the library's files call each other, but a program linking the archive
# must not meet their names)
$(B)/static/%.o: %.c $(wildcard core/*.h libclient/*.h include/*.h include/pcpupool/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(LD) -r -o $(B)/static/libpcpupool.o $^
	objcopy --localize-hidden $(B)/static/libpcpupool.o
	rm -f $@ && ar rcs $@ $(B)/static/libpcpupool.o

$(LIB_SO): $(LIB_PIC) libclient/libpcpupool.map
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -fPIC -Wl,-soname,$(SONAME) \
		-Wl,--version-script=libclient/libpcpupool.map -Wl,-z,defs \
		$(LIB_PIC) $(JANSSON_LIBS) -pthread $(LDLIBS_SAN) -o $@
	ln -sf $(notdir $@) $(B)/$(SONAME)
	ln -sf $(SONAME) $(B)/libpcpupool.so

# Files generated from a template name install paths: the .pc (PREFIX,
# LIBDIR, INCLUDEDIR) and the systemd unit (SBINDIR, SYSCONFDIR).  They
# depend on $(PATHS_STAMP), which holds the values of those variables and
# is rewritten only when one differs from the last run's, so that
# `make install PREFIX=/a` then `make install PREFIX=/b` regenerates them
# (and an unchanged make regenerates nothing).
PATHS_VARS  := PREFIX LIBDIR INCLUDEDIR SBINDIR SYSCONFDIR VERSION
PATHS_STAMP := $(B)/install-paths.stamp
sq = '$(subst ','\'',$(1))'
$(PATHS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(foreach v,$(PATHS_VARS),$(call sq,$(v)=$($(v)))) > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi
FORCE:

PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g'
$(LIB_PC): libclient/libpcpupool.pc.in Makefile $(PATHS_STAMP)
	@mkdir -p $(dir $@)
	$(PC_SED) $< > $@

$(DAEMON): $(DAEMON_OBJ)
	$(CC) $(ALL_CFLAGS) $^ $(DAEMON_LIBS) $(LDLIBS_SAN) -o $@

# programs linked against the shared library, found at run time in $(B)
LINK_LIB = -L$(B) -lpcpupool -Wl,-rpath,'$$ORIGIN/..' $(JANSSON_LIBS) -pthread $(LDLIBS_SAN)

# the admin tool; finds the library beside it in $(B)
TOOL_SRC := tools/pcpupoolctl.c tools/args.c tools/cmd.c tools/stats.c tools/print.c \
	tools/table.c tools/prom.c tools/top.c
$(TOOL): $(TOOL_SRC) $(wildcard tools/*.h) include/pcpupool.h $(B)/core/protocol.o $(LIB_SO)
	$(CC) $(ALL_CFLAGS) $(JANSSON_CFLAGS) $(TOOL_SRC) $(B)/core/protocol.o -L$(B) -lpcpupool \
		-Wl,-rpath,'$$ORIGIN' $(JANSSON_LIBS) $(LDLIBS_SAN) -o $@

$(B)/examples/%: examples/%.c examples/message.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(LINK_LIB) -o $@

# the helpers the tests share, each compiled once: the integration tests'
# harness (tests/lib, with the daemon's path) and the unit tests' pool
TEST_CFLAGS  = $(ALL_CFLAGS) -Itests/lib
E2E_HDR      := $(wildcard tests/lib/*.h)
E2E_LIB      := $(B)/tests/lib/libe2e.a
POOLTEST_OBJ := $(B)/tests/unit/pooltest.o

$(B)/tests/lib/%.o: tests/lib/%.c $(E2E_HDR) $(wildcard include/*.h include/pcpupool/*.h core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -DPCPUPOOLD='"$(abspath $(DAEMON))"' -c $< -o $@

$(E2E_LIB): $(addprefix $(B)/tests/lib/,e2e.o raw.o view.o fdstore.o)
	rm -f $@ && ar rcs $@ $^

$(POOLTEST_OBJ): tests/unit/pooltest.c tests/unit/pooltest.h $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# unit tests: the slab core alone
$(B)/tests/test_slab $(B)/tests/test_torture: $(B)/tests/%: tests/unit/%.c tests/unit/pooltest.h \
		$(POOLTEST_OBJ) $(SLAB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(POOLTEST_OBJ) $(SLAB_OBJ) $(CMOCKA_LIBS) -pthread $(LDLIBS_SAN) -o $@

# the daemon's depot alone
$(B)/tests/test_depot: tests/unit/test_depot.c daemon/depot.c daemon/log.c \
		$(wildcard daemon/*.h core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Idaemon $< daemon/depot.c daemon/log.c $(CMOCKA_LIBS) \
		$(LDLIBS_SAN) -o $@

# the slab core compiled in with its test hooks
$(B)/tests/test_races: tests/unit/test_races.c tests/unit/pooltest.h $(POOLTEST_OBJ) $(CORE_SRC) \
		$(wildcard core/*.h) include/pcpupool.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DSLAB_TEST_HOOKS $< $(POOLTEST_OBJ) $(CORE_SRC) $(CMOCKA_LIBS) \
		$(LDLIBS_SAN) -o $@

# integration tests: the real daemon, the real library; test_corrupt,
# test_reclaim and test_wipe play clients with the slab core's own code
INTEG_TESTS := test_reconnect test_place test_hotplug test_numa test_nosyscall test_hostile \
	test_reclaim test_corrupt test_wipe test_hugepages
INTEG_CORE  := test_corrupt test_reclaim test_wipe
E2E_SRC     := $(addprefix tests/integration/e2e/,test_e2e.c refill.c poll.c resize.c \
	elements.c signal.c destroy.c mapping.c protocol.c)

$(INTEG_TESTS:%=$(B)/tests/%): $(B)/tests/%: tests/integration/%.c $(E2E_HDR) $(E2E_LIB) \
		$(LIB_SO) $(DAEMON)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< $(E2E_LIB) $(if $(filter $*,$(INTEG_CORE)),$(SLAB_OBJ)) \
		$(LINK_LIB) $(CMOCKA_LIBS) -o $@

$(INTEG_CORE:%=$(B)/tests/%): $(SLAB_OBJ)

$(B)/tests/test_e2e: $(E2E_SRC) tests/integration/e2e/e2e_tests.h $(E2E_HDR) $(E2E_LIB) \
		$(LIB_SO) $(DAEMON)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(E2E_SRC) $(E2E_LIB) $(LINK_LIB) $(CMOCKA_LIBS) -o $@

# the exports and the header (tests/abi/test_header.sh builds its own)
$(B)/tests/test_exports: tests/abi/test_exports.c $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DLIB_SO='"$(LIB_SO)"' -DLIB_MAP='"libclient/libpcpupool.map"' \
		$< $(CMOCKA_LIBS) $(LDLIBS_SAN) -o $@

# bench_slab_ablate.c twice: the pop without the owner mark (1), and
# without the offset check too (2)
$(B)/bench/ablate%.o: bench/bench_slab_ablate.c $(BENCH_HDR) \
		$(wildcard libclient/*.h include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DABLATE=$* -c $< -o $@

$(B)/bench/bench_slab: $(BENCH_SLAB_SRC) $(BENCH_HDR) $(B)/bench/ablate1.o \
		$(B)/bench/ablate2.o $(SLAB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(BENCH_SLAB_SRC) $(B)/bench/ablate1.o $(B)/bench/ablate2.o $(SLAB_OBJ) \
		-pthread $(LDLIBS_SAN) -o $@

# the inline pair with element indexes in the slots instead of offsets
$(BENCH_DESIGNS): bench/bench_slot_designs.c $(BENCH_COMMON_SRC) $(BENCH_HDR) include/pcpupool.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(BENCH_COMMON_SRC) $(LDLIBS_SAN) -o $@

test-bins: $(TEST_BIN) $(EXAMPLES) $(DAEMON) $(TOOL) $(LIB_A) $(B)/tests/sd_client

# the client tests/systemd/test_systemd.sh runs in its container
$(B)/tests/sd_client: tests/systemd/sd_client.c $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(LINK_LIB) -o $@

check: deps
	@$(MAKE) --no-print-directory test-bins $(if $(SANITIZE),,fuzz-bins)
	@B=$(B) RECLAIM_KILLS=$(if $(SANITIZE),1000,10000) tests/run.sh $(TESTS)

RUN_DIR ?= $(CURDIR)/run
run: deps
	@$(MAKE) --no-print-directory $(DAEMON) $(LIB_SO) $(EXAMPLES) $(TOOL)
	@mkdir -p $(RUN_DIR)
	@echo "pcpupoold: socket $(RUN_DIR)/control.sock  (Ctrl-C stops it)"
	@echo "  talk to it:  echo '{\"cmd\":\"stats\"}' | socat - UNIX-CONNECT:$(RUN_DIR)/control.sock"
	@echo "  clients:     export PCPUPOOL_SOCKET=$(RUN_DIR)/control.sock"
	@echo "  watch it:    $(TOOL) --socket $(RUN_DIR)/control.sock top"
	exec $(DAEMON) --config config/pcpupoold.json --socket $(RUN_DIR)/control.sock

install: $(LIB_SO) $(LIB_A) $(LIB_PC) $(DAEMON) $(TOOL)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/pcpupool
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libpcpupool.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libpcpupool.so
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0644 include/pcpupool.h $(DESTDIR)$(INCLUDEDIR)/
	install -d $(DESTDIR)$(INCLUDEDIR)/pcpupool
	install -m 0644 include/pcpupool/*.h $(DESTDIR)$(INCLUDEDIR)/pcpupool/
	install -m 0644 $(LIB_PC) $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 0755 $(DAEMON) $(DESTDIR)$(SBINDIR)/
	install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BINDIR)
	install -m 0755 $(TOOL) $(DESTDIR)$(BINDIR)/
	install -m 0644 docs/man/pcpupoold.8 docs/man/pcpupoolctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 docs/man/pcpupool.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 0644 docs/man/pcpupoold.json.5 $(DESTDIR)$(MANDIR)/man5/
	test -e $(DESTDIR)$(SYSCONFDIR)/pcpupool/pcpupoold.json || \
		install -m 0644 config/pcpupoold.json $(DESTDIR)$(SYSCONFDIR)/pcpupool/

$(B)/pcpupoold.service: systemd/pcpupoold.service.in Makefile $(PATHS_STAMP)
	@mkdir -p $(dir $@)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@

install-systemd: $(B)/pcpupoold.service
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0644 $(B)/pcpupoold.service systemd/pcpupoold.socket $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/pcpupool.sysusers $(DESTDIR)$(SYSUSERSDIR)/pcpupool.conf
	install -m 0644 systemd/pcpupool.tmpfiles $(DESTDIR)$(TMPFILESDIR)/pcpupool.conf

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libpcpupool.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libpcpupool.so $(DESTDIR)$(LIBDIR)/libpcpupool.a \
		$(DESTDIR)$(INCLUDEDIR)/pcpupool.h $(DESTDIR)$(INCLUDEDIR)/pcpupool/*.h \
		$(DESTDIR)$(PKGCONFIGDIR)/libpcpupool.pc \
		$(DESTDIR)$(SBINDIR)/pcpupoold $(DESTDIR)$(UNITDIR)/pcpupoold.service \
		$(DESTDIR)$(UNITDIR)/pcpupoold.socket $(DESTDIR)$(SYSUSERSDIR)/pcpupool.conf \
		$(DESTDIR)$(TMPFILESDIR)/pcpupool.conf $(DESTDIR)$(MANDIR)/man8/pcpupoold.8 \
		$(DESTDIR)$(MANDIR)/man5/pcpupoold.json.5 $(DESTDIR)$(BINDIR)/pcpupoolctl \
		$(DESTDIR)$(MANDIR)/man8/pcpupoolctl.8 $(DESTDIR)$(MANDIR)/man3/pcpupool.3
	-rmdir $(DESTDIR)$(INCLUDEDIR)/pcpupool

# libFuzzer targets (clang), in tests/fuzz/ beside their seed corpus; they
# link the daemon's objects and include its headers
FUZZ_B      := build-fuzz
FUZZ_CC     ?= clang
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  = -std=gnu11 -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) \
	-fsanitize=fuzzer-no-link $(WARN) $(CPPFLAGS)
FUZZ_TARGETS := fuzz_ctl fuzz_config
FUZZ_SECONDS ?= 10

$(FUZZ_B)/%.o: %.c $(wildcard core/*.h libclient/*.h include/*.h include/pcpupool/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_B)/tests/fuzz/%.o: tests/fuzz/%.c $(wildcard core/*.h libclient/*.h include/*.h \
		include/pcpupool/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -iquote daemon -c $< -o $@

$(FUZZ_B)/fuzz_ctl: $(addprefix $(FUZZ_B)/,tests/fuzz/fuzz_ctl.o \
		$(patsubst %.c,%.o,$(filter-out daemon/main.c,$(DAEMON_SRC)) $(CORE_SRC)))
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ $(DAEMON_LIBS) -o $@

$(FUZZ_B)/fuzz_config: $(addprefix $(FUZZ_B)/,tests/fuzz/fuzz_config.o daemon/config.o \
		daemon/log.o core/protocol.o)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ $(JANSSON_LIBS) -o $@

fuzz-bins: $(FUZZ_TARGETS:%=$(FUZZ_B)/%)

# each target for FUZZ_SECONDS on a copy of its seed corpus (make fuzz runs
# them longer); part of make check through tests/fuzz/test_fuzz.sh
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-bins
	@FUZZ_SECONDS=$(if $(filter command line,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS),300) \
		tests/fuzz/test_fuzz.sh

# the daemon under valgrind through the black-box tests: no leak, no error
VALGRIND_DAEMON = valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99
check-valgrind: deps
	@$(MAKE) --no-print-directory test-bins
	@B=$(B) DAEMON_WRAPPER="$(VALGRIND_DAEMON)" RELOAD_WAIT=2 tests/run.sh test_daemon_cli test_pcpupoolctl

# ---- check-vm (tests/vm/) -------------------------------------------------
# The tests inside throwaway x86-64 VMs of many CPUs and NUMA nodes (qemu,
# TCG: no KVM needed, timings mean nothing; Debian's cloud kernel fetched
# with apt-get and cached), with the binaries of $(B) at their own paths;
# the output names each guest's CPUs and nodes.  Each VM_RUN_* is one VM:
# "CPUS NODES [VAR=VALUE]... TEST...".
# Left out: test_exports (needs nm and objdump; nothing in it depends on
# CPUs).  test_nosyscall runs on the guest's hpet clocksource, which the
# vDSO cannot read (slab_clock_init() in core/slab_client.c).
VM_RUN_16 ?= 16 2 TORTURE_SECONDS=10 test_slab test_races test_torture test_depot test_e2e \
	test_reconnect test_place test_nosyscall test_hostile test_reclaim test_corrupt test_wipe \
	test_hugepages test_hotplug test_numa
VM_RUN_64 ?= 64 4 TORTURE_SECONDS=10 WIPE_PAGE_STEP=8 WIPE_FORGE_STEP=8 test_slab test_races \
	test_torture test_e2e test_reconnect test_place test_nosyscall test_hostile test_reclaim \
	test_corrupt test_wipe test_hugepages test_hotplug test_numa
.PHONY: check-vm
check-vm: deps
	@$(MAKE) --no-print-directory test-bins
	@B=$(B) tests/vm/check-vm.sh "$(VM_RUN_16)" "$(VM_RUN_64)"
# ---- end of check-vm ------------------------------------------------------

# every competitor with the same flags, DPDK's (-march among them) included,
# so that none has code the others do not
$(BENCH_PEERS): $(BENCH_PEERS_SRC) $(BENCH_HDR) include/pcpupool.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(JANSSON_CFLAGS) $(BENCH_DPDK_CFLAGS) $(BENCH_PEERS_SRC) $(LINK_LIB) \
		$(BENCH_DPDK_LIBS) -o $@

$(BENCH_REFILL): $(BENCH_REFILL_SRC) $(BENCH_HDR) include/pcpupool.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(JANSSON_CFLAGS) $(BENCH_REFILL_SRC) $(LINK_LIB) -o $@

# the slab core against its floor, pcpupool against its peers, then its
# refills (bench/deps.sh installs jemalloc, mimalloc, DPDK and gnuplot as
# root); BENCH_ARGS, BENCH_PEERS_ARGS, BENCH_REFILL_ARGS go to each
bench: deps
	@bench/deps.sh
	@$(MAKE) --no-print-directory $(BENCH_BIN) $(BENCH_DESIGNS) $(BENCH_PEERS) $(BENCH_REFILL) \
		$(DAEMON)
	$(BENCH_BIN) $(BENCH_ARGS)
	$(BENCH_DESIGNS)
	$(BENCH_PEERS) $(BENCH_PEERS_ARGS)
	$(BENCH_REFILL) $(BENCH_REFILL_ARGS)

# ---- bench-scale: the daemon's memory and CPU time per sweep and poll tick,
# and attach time, against pools and CPUs (bench/README.md, "scale"), on
# this machine and in VMs of 1, 16 and 64 vCPUs (tests/vm/boot-vm.sh).
# Neither in bench nor in check.  SCALE_ARGS go to bench/scale-vm.sh
# (--host: this machine only; --save: bench/results/<date>-scale.*).
SCALE := $(B)/bench/scale
SCALE_PRELOAD := $(B)/bench/scale_cpus.so
SCALE_SRC := bench/scale.c bench/scale_daemon.c bench/scale_measure.c $(BENCH_COMMON_SRC)
.PHONY: bench-scale
$(SCALE): $(SCALE_SRC) $(BENCH_HDR) include/pcpupool.h core/protocol.h $(LIB_SO)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(JANSSON_CFLAGS) -DPCPUPOOLD='"$(abspath $(DAEMON))"' \
		-DSCALE_PRELOAD='"$(abspath $(SCALE_PRELOAD))"' $(SCALE_SRC) \
		$(LINK_LIB) -lm -o $@

# preloaded into the daemon by scale --cpus N: N possible CPUs
$(SCALE_PRELOAD): bench/scale_cpus.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -fPIC $< -ldl -o $@

bench-scale: deps
	@$(MAKE) --no-print-directory $(SCALE) $(SCALE_PRELOAD) $(DAEMON)
	B=$(B) bench/scale-vm.sh $(SCALE_ARGS)
# ---- end of bench-scale

clean:
	rm -rf build build-* $(FUZZ_B)

# the release (the .so's name and pcpupoold --version agree with it; tests check)
print-version:
	@echo $(VERSION)
