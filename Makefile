# Juice: deterministic RISC-V virtual machines.
#   make run    installs what is missing, builds the kernel, Juice and the hello example appliance, and boots it
#   make test   runs every test
#   make bench  prints Juice's speed beside QEMU's on the same kernel and initramfs

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
export GOFLAGS ?= -mod=mod
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build run test test-short bench deps clean

all: build

build:
	$(GO) build -o bin/juice ./cmd/juice

deps:
	bash scripts/install-deps.sh

# make run boots the hello example appliance (examples/hello), which exits 3
# on purpose: juice run passes the app's exit status on.
run: deps build
	bin/juice build examples/hello/juice.yaml -o bin/hello.appliance
	@bin/juice run bin/hello.appliance; s=$$?; echo "juice run: exit status $$s (hello exits 3 on purpose)"; [ $$s -eq 3 ]

test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	bash scripts/fuzz-short.sh

test-short: build
	$(GO) test -short -count=1 ./...

bench: deps build
	bash scripts/bench.sh

clean:
	rm -rf bin
