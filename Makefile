# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
JOBS ?= $(shell nproc)

.PHONY: deps build pgo debug asan run test unit integration bench conformance format format-check tidy fuzz clean

deps:
	@scripts/install-deps.sh

# The release build is profile-guided and link-time optimised; see scripts/build-release.sh.
build: deps
	@JOBS=$(JOBS) scripts/build-release.sh

# Trains the release build's profile again (after large changes to the request path).
pgo: deps
	@RETRAIN=1 JOBS=$(JOBS) scripts/build-release.sh

debug: deps
	@cmake --preset debug >/dev/null
	@cmake --build --preset debug -j $(JOBS)

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

# Starts three demo backends and sluice on examples/quickstart.yaml; Ctrl-C stops everything.
run: build
	@scripts/quickstart.sh

# Every test: unit + integration on the release build, then all of them again under ASan+UBSan.
test: build asan format-check tidy
	@ctest --preset release -j 2
	@ctest --preset asan -j $(JOBS)

unit: build
	@ctest --preset release -L unit -j $(JOBS)

integration: build
	@ctest --preset release -L integration

bench: build
	@bench/http1.sh
	@bench/tcp.sh
	@bench/tls.sh
	@bench/h2.sh
	@bench/packet.sh

# Conformance suites built from fetched public sources (never part of `make test`, never
# committed): h2spec over h2c and TLS, HAProxy beside sluice. Results go to docs/conformance.md.
conformance: build
	@H2SPEC_BIN=$$(tests/conformance/build_h2spec.sh) && \
	  SLUICE_BIN=build/release/src/sluice DEMO_BACKEND_BIN=build/release/tools/demo_backend \
	  H2SPEC_BIN=$$PWD/$$H2SPEC_BIN /usr/bin/python3 tests/conformance/h2spec.py

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@tests/fuzz/run.sh build/fuzz

format:
	@git ls-files --cached --others --exclude-standard '*.h' '*.cc' | xargs clang-format -i

format-check:
	@git ls-files '*.h' '*.cc' | xargs clang-format --dry-run -Werror

# clang-tidy 14 cannot parse C++20 coroutines against libstdc++ 12 (it lacks __cpp_impl_coroutine):
# scripts/tidy-files.sh leaves out the files that use them, themselves or through a header.
tidy: debug
	@scripts/tidy-files.sh build/debug | xargs -P2 -n4 clang-tidy -p build/debug --quiet --warnings-as-errors='*' 

clean:
	@rm -rf build
