# gpulse: the two commands of the README are `make demo` and `make test`.
#
#   make build   configure and build into build/ (binaries in build/bin/)
#   make demo    install missing packages, build, run a local cluster
#   make test    install missing packages, build, run the whole suite,
#                then again built by clang under AddressSanitizer +
#                UndefinedBehaviorSanitizer, with the fuzzers (label fuzz)
#   make install install the build (PREFIX, default /usr/local; DESTDIR too)
#   make package build the Debian package build/gpulse_<version>_amd64.deb
#   make bench   run the benchmarks (figures in docs/benchmarks.md)
#   make mutants plant the curated bugs of scripts/mutants.txt one at a time
#                and check that the tests catch each (slow; docs/testing.md)
#
# With CI set (CI=true), what a developer's machine may skip fails instead:
# a failed npm install, a missing promtool, Chromium or node.

JOBS ?= $(shell nproc)
BUILD ?= build
SAN_BUILD ?= build-asan
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: all deps test-deps configure build install package demo test test-fast test-sanitize bench mutants clean

all: build

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

package: build
	@cd $(BUILD) && cpack -G DEB

demo: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh

# The whole suite: the normal build, then the sanitizer build.
test: test-deps
	@$(MAKE) --no-print-directory build
	@npm ci --prefix web/e2e --no-audit --no-fund --loglevel=error || { \
	  case "$$CI" in ''|false|0) ;; *) echo "error: npm ci failed and CI is set: the browser test cannot run" >&2; exit 1;; esac; \
	  echo "warning: npm ci failed; the dashboard's browser test will report itself skipped"; }
	@scripts/run-tests.sh $(BUILD)
	@$(MAKE) --no-print-directory test-sanitize

test-fast: build
	@scripts/run-tests.sh $(BUILD)

# The sanitizer build is clang's: it compiles this tree faster than g++ at
# -O0 with ASan, and it builds the libFuzzer targets (label fuzz). A
# sanitizer build dir configured earlier with another compiler is rebuilt.
SAN_CC ?= clang
SAN_CXX ?= clang++
test-sanitize:
	@if [ -f $(SAN_BUILD)/CMakeCache.txt ] && ! grep -q '^CMAKE_CXX_COMPILER:FILEPATH=.*clang' $(SAN_BUILD)/CMakeCache.txt; then \
	  echo "$(SAN_BUILD) was configured with another compiler than clang: configuring it again"; rm -rf $(SAN_BUILD); fi
	@CC=$(SAN_CC) CXX=$(SAN_CXX) cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGPULSE_SANITIZE=ON -DGPULSE_BUILD_BENCHMARKS=OFF >/dev/null
	@cmake --build $(SAN_BUILD) -j$(JOBS)
	@scripts/run-tests.sh $(SAN_BUILD)

bench: build
	@scripts/run-benchmarks.sh $(BUILD)

# Not part of `make test`: it rebuilds and reruns tests once per mutant.
mutants:
	@JOBS=$(JOBS) scripts/mutants.sh

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
