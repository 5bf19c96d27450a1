# Thin wrapper around meson + ninja. See README.md.
BUILD   ?= build
SANBUILD ?= build-san
FUZZBUILD ?= build-fuzz
MESON   ?= meson
PYTEST  ?= /usr/bin/python3 -m pytest

.PHONY: all build bootstrap demo check unit unit-san e2e bench fuzz clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(SANBUILD)/build.ninja:
	$(MESON) setup $(SANBUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dguests=false

# The main job on its built-in default (see README).
demo: bootstrap build
	@scripts/demo

# Every test: unit (plain and ASan+UBSan), e2e; ends with one totals line.
check: bootstrap build $(SANBUILD)/build.ninja
	ninja -C $(SANBUILD)
	@scripts/check

unit: build
	$(MESON) test -C $(BUILD) --print-errorlogs

unit-san: $(SANBUILD)/build.ninja
	ninja -C $(SANBUILD)
	$(MESON) test -C $(SANBUILD) --print-errorlogs

e2e: build
	$(PYTEST) -q tests/e2e

bench: bootstrap build
	@scripts/bench

$(FUZZBUILD)/build.ninja:
	CC=clang $(MESON) setup $(FUZZBUILD) -Dfuzz=true -Dguests=false -Db_lundef=false

fuzz: bootstrap $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)
	@scripts/fuzz

clean:
	rm -rf $(BUILD) $(SANBUILD) $(FUZZBUILD)
