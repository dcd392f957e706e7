# Berth. The two commands are `make run` and `make test`; both work on a fresh Debian 12 machine as
# root: they install missing system packages, start dockerd when it is not answering, and build what
# they need.

SHELL := /bin/bash
SWIFT ?= swift
# Every build is warning-free: the same flags for development, tests and CI, so builds never thrash.
SWIFT_FLAGS ?= -Xswiftc -warnings-as-errors
# Release builds also put each function in a section of its own, so that the packaged link can lay out
# together the code an agent runs (packaging/link-static.py); the flags are shared with build-deb.sh.
RELEASE_FLAGS := $(SWIFT_FLAGS) $(shell cat packaging/release-swift-flags)
DEV_CONFIG ?= etc/dev/ecs.config
FUZZ_REQUESTS ?= 10000
FUZZ_ARGS = $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))
FORMAT_PATHS := Package.swift Sources Tests Plugins

VERSION := $(shell tr -d ' \n' < VERSION)
ARCHITECTURE := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)

.PHONY: run test bench bench-scale fuzz deb setup test-environment build release lint format generate clean

## make run: build a release binary and run the agent with the embedded control plane on this machine,
## with the development configuration; the ECS API answers on http://127.0.0.1:51680.
run: setup release
	.build/release/berth agent --config $(DEV_CONFIG)

## make test: set up dockerd, the test image and the local registries, check formatting, build with
## warnings as errors, and run every test, the integration tests against the real dockerd included.
test: test-environment lint
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	# The debug build packaged (the Swift runtime linked in statically, as `make deb` does).
	packaging/build-deb.sh --configuration debug
	$(SWIFT) test --skip-build
	# A short seeded fuzz run against both modes (the seed is printed; FUZZ_SEED=N replays one).
	python3 scripts/fuzz/ecs_fuzz.py --mode both --requests 1000 $(FUZZ_ARGS)
	# Alone, after the others: it restarts dockerd under a running agent.
	BERTH_TEST_DOCKERD_RESTART=1 $(SWIFT) test --skip-build --filter DockerdRestartTests
	# Several hosts on this machine (network namespaces joined by a bridge, a dockerd and an agent in
	# each, one control plane), alone, after the others; the hosts go away whatever the outcome.
	scripts/test-hosts.sh up 3
	BERTH_TEST_HOSTS=3 $(SWIFT) test --skip-build --filter ManyHostsTests; status=$$?; \
		scripts/test-hosts.sh down 3; exit $$status
	# The package installed on a clean Debian root.
	packaging/test-install.sh packaging/berth_$(VERSION)_$(ARCHITECTURE).deb

## make bench: release build, then Berth against dockerd used directly (not a test; prints figures and ratios).
bench: test-environment release
	# The agent and control plane of the remote-agent part run as packaged (see make deb).
	packaging/link-static.py release .build/release/berth-packaged
	.build/release/berth-bench

## make bench-scale: release build, then the control plane with 100, 1,000 and 5,000 simulated hosts on SQLite
## and on PostgreSQL with one and three replicas (placements/s, latency, RSS, CPU at rest, a service of 5,000).
## BENCH_SCALE_ARGS narrows it, e.g. "--instances 1000 --backends sqlite --tasks 10000".
bench-scale: test-environment release
	packaging/link-static.py release .build/release/berth-packaged
	.build/release/berth-bench scale $(BENCH_SCALE_ARGS)

## make fuzz: 10,000 requests per mode from the ECS model, mutated, plus raw garbage, from 8 clients at once,
## against `berth control-plane` (signed) and `berth agent` on the real dockerd. FUZZ_SEED=N replays a run.
fuzz: test-environment build
	python3 scripts/fuzz/ecs_fuzz.py --mode both --requests $(FUZZ_REQUESTS) $(FUZZ_ARGS)

## make deb: packaging/berth_<version>_<arch>.deb from a release build (see packaging/README.md).
deb: setup
	packaging/build-deb.sh --configuration release

## System packages and a running dockerd.
setup:
	scripts/ensure-packages.sh
	scripts/ensure-dockerd.sh

## Everything the tests need: packages, dockerd, the test image, the two registries.
test-environment:
	scripts/test-environment.sh

build: setup
	$(SWIFT) build $(SWIFT_FLAGS)

release: setup
	$(SWIFT) build -c release $(RELEASE_FLAGS)

## Formatting, and the API shapes generated from the ECS model being current.
lint:
	$(SWIFT) format lint --strict --recursive --parallel $(FORMAT_PATHS)
	python3 codegen/generate-api-schema.py --check

format:
	$(SWIFT) format --in-place --recursive --parallel $(FORMAT_PATHS)

## Regenerate Sources/BerthAPI/ECSSchema+Shapes.swift from codegen/ecs-model.json.
generate:
	python3 codegen/generate-api-schema.py

clean:
	rm -rf .build
