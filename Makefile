# Tandem top-level build.
#
#   make            release build: build/tandemd, build/tandemctl, build/tandem-csi
#   make test       installs missing packages, builds everything under ASan/UBSan, runs every suite
#   make demo       installs missing packages, builds, runs the quickstart end to end
#   make bench      benchmarks against peer implementations (prints a table)
#   make lint       clang-format check and cppcheck
#
# Every module under kmod-free-daemon/src/<module>/ is compiled into one static library, so a
# binary links only the objects it uses. Headers are included as "module/name.h".

CC       ?= gcc
SRC      := kmod-free-daemon/src
BUILD    ?= build
# -Wno-format-truncation: our snprintf()s truncate log and error text on purpose; paths are
# bounded by PATH_MAX checks where they are built.
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-missing-field-initializers -Wno-format-truncation
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -g -I$(SRC) -I/usr/include/libxml2 $(WARN) -MMD -MP
CFLAGS   ?= -O2
LIBS     := -luring -laio -ljson-c -lcurl -lssl -lcrypto -lxml2 -lzstd -lpthread
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

MODULES  := util io store vol nbd ctl repl s3 ship
LIB_SRCS := $(foreach m,$(MODULES),$(wildcard $(SRC)/$(m)/*.c))
# Every kmod-free-daemon/src/<name>.c holds a main() and becomes build/<name>.
BINS     := $(notdir $(basename $(wildcard $(SRC)/*.c)))
# tests/unit/test_*.c: one unit-test program each; tests/tools/*.c: helper programs for scripts.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)

# $(call objs,BUILDDIR,SOURCES)
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

REL_LIB  := $(BUILD)/libtandem.a
ASAN_DIR := $(BUILD)/asan
ASAN_LIB := $(ASAN_DIR)/libtandem.a

.PHONY: all asan test demo bench lint format deps clean unit
all: $(addprefix $(BUILD)/,$(BINS)) $(BUILD)/tandem-csi

# ---- release build ----
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c $< -o $@

$(REL_LIB): $(call objs,$(BUILD),$(LIB_SRCS))
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BUILD)/%: $(BUILD)/obj/$(SRC)/%.o $(REL_LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $^ -o $@ $(LIBS)

# Release builds of test tools, for benchmarks (bench/ship.sh drives ship_file).
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(REL_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $^ -o $@ $(LIBS)

# ---- sanitizer build (tests) ----
$(ASAN_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC asan $<"
	@$(CC) $(CFLAGS_COMMON) -O1 $(SAN) -c $< -o $@

$(ASAN_LIB): $(call objs,$(ASAN_DIR),$(LIB_SRCS))
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(ASAN_DIR)/%: $(ASAN_DIR)/obj/$(SRC)/%.o $(ASAN_LIB)
	@echo "  LD asan $@"
	@$(CC) $(SAN) $^ -o $@ $(LIBS)

$(ASAN_DIR)/tests/%: $(ASAN_DIR)/obj/tests/unit/%.o $(ASAN_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD asan $@"
	@$(CC) $(SAN) $^ -o $@ $(LIBS)

$(ASAN_DIR)/tools/%: $(ASAN_DIR)/obj/tests/tools/%.o $(ASAN_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD asan $@"
	@$(CC) $(SAN) $^ -o $@ $(LIBS)

UNIT_BINS := $(patsubst tests/unit/%.c,$(ASAN_DIR)/tests/%,$(UNIT_SRCS))
TOOL_BINS := $(patsubst tests/tools/%.c,$(ASAN_DIR)/tools/%,$(TOOL_SRCS))
asan: $(addprefix $(ASAN_DIR)/,$(BINS)) $(UNIT_BINS) $(TOOL_BINS) $(ASAN_DIR)/tandem-csi

# ---- tandem-csi (csi/) ----
# protoc-c turns proto/csi.proto and the well-known types it imports into C under
# build/csi/gen (nothing generated is committed); both builds compile those sources.
CSI_GEN     := $(BUILD)/csi/gen
CSI_GEN_SRCS := $(CSI_GEN)/csi.pb-c.c $(foreach p,descriptor timestamp wrappers,\
                $(CSI_GEN)/google/protobuf/$(p).pb-c.c)
CSI_GEN_HDRS := $(CSI_GEN_SRCS:.c=.h)
CSI_SRCS    := $(wildcard csi/*.c)
CSI_CFLAGS   = -I$(CSI_GEN) -Icsi $(shell pkg-config --cflags grpc libprotobuf-c 2>/dev/null)
CSI_LIBS     = $(shell pkg-config --libs grpc libprotobuf-c 2>/dev/null)
# generated code is not ours to keep warning-clean beyond -Wall -Wextra
CSI_GEN_WARN := -Wno-missing-prototypes -Wno-shadow

.PRECIOUS: $(CSI_GEN)/%.pb-c.c $(CSI_GEN)/%.pb-c.h $(CSI_GEN)/google/protobuf/%.pb-c.c \
	$(CSI_GEN)/google/protobuf/%.pb-c.h
$(CSI_GEN)/%.pb-c.c $(CSI_GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(CSI_GEN)
	@echo "  PROTOC  $<"
	@protoc-c -Iproto -I/usr/include --c_out=$(CSI_GEN) $<

$(CSI_GEN)/google/protobuf/%.pb-c.c $(CSI_GEN)/google/protobuf/%.pb-c.h: \
		/usr/include/google/protobuf/%.proto
	@mkdir -p $(CSI_GEN)
	@echo "  PROTOC  google/protobuf/$*.proto"
	@protoc-c -I/usr/include --c_out=$(CSI_GEN) google/protobuf/$*.proto

$(BUILD)/csi-obj/%.o: %.c | $(CSI_GEN_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_COMMON) $(CSI_CFLAGS) $(if $(findstring pb-c,$<),$(CSI_GEN_WARN)) $(CFLAGS) \
	  -c $< -o $@

$(ASAN_DIR)/csi-obj/%.o: %.c | $(CSI_GEN_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC asan $<"
	@$(CC) $(CFLAGS_COMMON) $(CSI_CFLAGS) $(if $(findstring pb-c,$<),$(CSI_GEN_WARN)) -O1 $(SAN) \
	  -c $< -o $@

CSI_OBJS = $(patsubst %.c,$(1)/csi-obj/%.o,$(CSI_SRCS) $(CSI_GEN_SRCS))

$(BUILD)/tandem-csi: $(call CSI_OBJS,$(BUILD)) $(REL_LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(CSI_LIBS)

$(ASAN_DIR)/tandem-csi: $(call CSI_OBJS,$(ASAN_DIR)) $(ASAN_LIB)
	@echo "  LD asan $@"
	@$(CC) $(SAN) $^ -o $@ $(LIBS) $(CSI_LIBS)

# ---- user-facing targets ----
deps:
	@scripts/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory all asan
	@tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

LINT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
lint:
	@echo "  LINT    clang-format + cppcheck on $(words $(LINT_FILES)) files"
	@clang-format --dry-run --Werror $(LINT_FILES)
	@cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
	  --suppress=missingIncludeSystem -I$(SRC) -D_GNU_SOURCE --std=c11 $(LINT_FILES)

format:
	clang-format -i $(LINT_FILES)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
