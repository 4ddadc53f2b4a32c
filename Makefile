# slimscope build. `make` builds ./slimscope; `make run` opens the TUI on the shipped demo;
# `make test` builds and runs every test. Missing Debian packages are installed when root.

CC      ?= gcc
ARCH    ?= -march=native
OPT     ?= -O2
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
           $(OPT) $(ARCH) -g -fopenmp -I. -Icore
PKGS    := ncursesw readline openblas libcjson libpcre2-8 libutf8proc
DEB_PKGS := pkg-config libncurses-dev libreadline-dev libopenblas-dev libcjson-dev libpcre2-dev \
            libcmocka-dev libutf8proc-dev tmux time

BUILD   := build
DEPS_OK := $(BUILD)/.deps-ok

# pkg-config is only asked once the dependency check has run (see $(DEPS_OK)).
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread -ldl
TEST_LIBS  = $(shell pkg-config --libs cmocka 2>/dev/null)

CORE_SRC := $(wildcard core/*.c) $(wildcard core/tokenizer/*.c)
LIB_SRC  := $(CORE_SRC) $(wildcard views/*.c) $(filter-out app/main.c,$(wildcard app/*.c))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
LIB      := $(BUILD)/libslimscope.a
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

# CUDA backend: built when nvcc and the CUDA runtime + cuBLAS libraries are found, unless GPU=0.
# nvcc may be a wrapper outside the toolkit (e.g. /usr/local/bin/nvcc), so the toolkit directory is
# the first candidate that actually holds libcudart.so. The backend is a shared object that the
# binary loads with dlopen (core/device.c): ./slimscope links no CUDA library and starts, on the
# CPU, on machines without them. Device code for sm_80 (A100) and sm_90 (H100/H200), plus PTX.
NVCC     ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_DIR ?= $(firstword $(foreach d,$(CUDA_HOME) $(patsubst %/bin/nvcc,%,$(NVCC)) /usr/local/cuda,\
              $(if $(wildcard $(d)/lib64/libcudart.so),$(d))))
GPU      ?= $(if $(and $(NVCC),$(CUDA_DIR)),1,0)
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90
ifeq ($(GPU),1)
CUDA_LIB := $(BUILD)/libslimscope_cuda.so
# host code the backend shares with the engine (keep-sets drawn exactly as on the CPU)
CUDA_PIC := $(BUILD)/pic/core/mask.o $(BUILD)/pic/core/rng.o
CFLAGS   += -DSLIM_GPU=1 -DSLIM_CUDA_LIB='"$(abspath $(CUDA_LIB))"'
endif

.PHONY: all deps run test bench demo demo-eval fuzz asan valgrind clean
all: slimscope $(CUDA_LIB)

deps: $(DEPS_OK)
$(DEPS_OK):
	@sh tools/install-deps.sh $(DEB_PKGS)
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/pic/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/gpu/%.o: gpu/%.cu | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -O2 -std=c++17 $(CUDA_ARCH) -I. -Icore -Xcompiler -fPIC,-Wall -MMD -MP -c $< -o $@

$(CUDA_LIB): $(BUILD)/gpu/backend_cuda.o $(CUDA_PIC)
	$(NVCC) -shared $(CUDA_ARCH) -o $@ $^ -L$(CUDA_DIR)/lib64 -lcublas -Xlinker -rpath,$(CUDA_DIR)/lib64 -Xlinker -Bsymbolic

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

slimscope: $(BUILD)/app/main.o $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

# the binary of another build directory (the sanitizer and valgrind builds)
$(BUILD)/slimscope: $(BUILD)/app/main.o $(LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(GPU_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(LIB) $(PKG_LIBS) $(TEST_LIBS)

run: slimscope $(CUDA_LIB)
	./slimscope --model models/demo/base --adapter models/demo/slim

# The sanitizer run goes on when the plain run failed: both results are reported, either fails it.
test: slimscope $(CUDA_LIB) $(TEST_BIN)
	@sh tests/run_tests.sh $(TEST_BIN); st=$$?; $(MAKE) --no-print-directory asan || st=1; exit $$st

# The shipped demo: `make demo` re-creates models/demo from scratch (corpus from Debian packages,
# tokenizer, base model, adapters; at most an hour on 2 cores); `make demo-eval` re-computes RESULTS.md.
demo: slimscope
	sh tools/demo/recipe.sh

demo-eval: slimscope
	sh tools/demo/eval.sh

bench: slimscope $(CUDA_LIB)
	./slimscope bench
	@sh tools/bench_tokenizer.sh

# libFuzzer targets (clang, with ASan + UBSan; any report is fatal): every tests/fuzz/fuzz_*.c, linked
# against the core compiled once for fuzzing (build/fuzz/obj/). Each runs FUZZ_SECONDS from its
# committed seeds (tests/fuzz/NAME_seeds/, see tests/fuzz/make_seeds.sh) and what earlier runs found
# (build/fuzz/corpus-NAME/); all run, and a crash, leak, hang (-timeout) or sanitizer report fails
# `make fuzz`, the input kept as build/fuzz/fuzz_NAME-crash-* (or -leak-, -timeout-).
FUZZ_SECONDS ?= 60
FUZZ_PKGS  := clang libclang-rt-dev libomp-dev
FUZZ_DIR   := $(BUILD)/fuzz
FUZZ_FLAGS := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -I. -Icore -fopenmp
FUZZ_OBJ   := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(CORE_SRC))
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRC))

$(FUZZ_DIR)/.deps-ok: | $(DEPS_OK)
	@sh tools/install-deps.sh $(FUZZ_PKGS)
	@mkdir -p $(FUZZ_DIR) && touch $@

$(FUZZ_DIR)/obj/%.o: %.c | $(FUZZ_DIR)/.deps-ok
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/input.h $(FUZZ_OBJ)
	@echo "clang ... -o $@"
	@clang $(FUZZ_FLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS)
.SECONDARY: $(FUZZ_OBJ)

fuzz: $(FUZZ_BIN)
	@st=0; for b in $(FUZZ_BIN); do \
	    n=$$(basename $$b); seeds=tests/fuzz/$${n#fuzz_}_seeds; [ -d $$seeds ] || seeds=; \
	    mkdir -p $(FUZZ_DIR)/corpus-$$n; \
	    $$b -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=20 -artifact_prefix=$$b- \
	        $(FUZZ_DIR)/corpus-$$n $$seeds >$$b.log 2>&1; rc=$$?; \
	    if [ $$rc -eq 0 ]; then echo "$$n: clean, $$(grep -o 'Done [0-9]* runs in [0-9]* second' $$b.log)s"; \
	    else echo "$$n: FAILED (exit $$rc): see $$b.log and $$b-*" >&2; st=1; fi; \
	done; exit $$st

# AddressSanitizer + UBSan (build-asan/, CPU only: the CUDA runtime does not run under ASan; any
# report is fatal, leaks included). `make test` ends with it: every unit test, and the sanitized
# binary driven by the e2e scripts that only use the command line and finish in seconds (ASAN_E2E);
# left out are test_tui.sh (timing-bound under tmux, several times slower with ASan) and
# test_tokenizer_ref.sh (it builds its own driver and never runs the binary). About 3 min on 2 cores.
ASAN_DIR := build-asan
ASAN_OPT := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_BIN := $(patsubst $(BUILD)/%,$(ASAN_DIR)/%,$(TEST_BIN))
ASAN_E2E := tests/e2e/test_bad_dir.sh tests/e2e/test_bad_input.sh tests/e2e/test_cli_slim.sh \
            tests/e2e/test_demo.sh tests/e2e/test_report.sh tests/e2e/test_tokenize_cli.sh tests/e2e/test_weights.sh
asan: | $(DEPS_OK)
	@$(MAKE) -s --no-print-directory GPU=0 BUILD=$(ASAN_DIR) OPT="$(ASAN_OPT)" $(ASAN_DIR)/slimscope $(ASAN_BIN)
	@echo "under ASan + UBSan:"
	@ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:exitcode=86 SLIMSCOPE_BIN=$(ASAN_DIR)/slimscope E2E_TESTS="$(ASAN_E2E)" \
	    sh tests/run_tests.sh $(ASAN_BIN)

# valgrind (memcheck) on the shipped demo: `generate` and `trace` of models/demo/base + models/demo/slim,
# a few tokens each, on a build of its own (build-valgrind/, CPU only) for -march=x86-64-v3: valgrind
# 3.19 cannot decode AVX-512, so no AVX-512 kernels run (its CPUID shows none, and OpenBLAS is held
# to its Haswell kernels instead of SKYLAKEX). main() does not re-execute itself under valgrind.
# Fails on any error (invalid read or write, use of uninitialised values) and on definitely lost
# memory. Not part of `make test` (a few minutes).
VG_DIR := build-valgrind
VG_RUN := OPENBLAS_CORETYPE=HASWELL OMP_WAIT_POLICY=PASSIVE valgrind -q --error-exitcode=99 --leak-check=full \
          --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes
VG_DEMO := --model models/demo/base --adapter models/demo/slim --prompt "The cat sat" --threads 2
valgrind: | $(DEPS_OK)
	@sh tools/install-deps.sh valgrind
	@$(MAKE) -s --no-print-directory GPU=0 BUILD=$(VG_DIR) ARCH=-march=x86-64-v3 $(VG_DIR)/slimscope
	$(VG_RUN) $(VG_DIR)/slimscope generate $(VG_DEMO) -n 4 >$(VG_DIR)/generate.out
	$(VG_RUN) $(VG_DIR)/slimscope trace $(VG_DEMO) -n 3 --out $(VG_DIR)/trace.jsonl
	@echo "valgrind: generate and trace of the demo clean ($$(wc -l <$(VG_DIR)/trace.jsonl) trace lines)"

clean:
	rm -rf $(BUILD) $(ASAN_DIR) $(VG_DIR) slimscope

-include $(LIB_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d) $(BUILD)/app/main.d $(CUDA_PIC:.o=.d) $(if $(CUDA_LIB),$(BUILD)/gpu/backend_cuda.d)
