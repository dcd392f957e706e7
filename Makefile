# Berth. The two commands are `make run` and `make test`; both work on a fresh Debian 12 machine as
# root: they install missing system packages, start dockerd when it is not answering, and build what
# they need.

SHELL := /bin/bash
SWIFT ?= swift
# Every build is warning-free: the same flags for development, tests and CI, so builds never thrash.
SWIFT_FLAGS ?= -Xswiftc -warnings-as-errors
DEV_CONFIG ?= etc/dev/ecs.config
FORMAT_PATHS := Package.swift Sources Tests

.PHONY: run test setup test-environment build release lint format clean

## make run: build a release binary and run it on this machine with the development configuration.
## Until the agent exists it checks that configuration and the Docker connection (`berth check-config --docker`).
run: setup release
	.build/release/berth check-config --config $(DEV_CONFIG) --docker

## make test: set up dockerd, the test image and the local registries, check formatting, build with
## warnings as errors, and run every test, the integration tests against the real dockerd included.
test: test-environment lint
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build

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
	$(SWIFT) build -c release $(SWIFT_FLAGS)

lint:
	$(SWIFT) format lint --strict --recursive --parallel $(FORMAT_PATHS)

format:
	$(SWIFT) format --in-place --recursive --parallel $(FORMAT_PATHS)

clean:
	rm -rf .build
