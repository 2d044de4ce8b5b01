# Juice: deterministic RISC-V virtual machines.
#   make run      installs what is missing, builds the kernel, Juice and the hello example appliance, and boots it
#   make test     runs every test
#   make bench    prints Juice's speed beside QEMU's on the same kernel and initramfs
#   make install  builds bin/juice and installs it as $(PREFIX)/bin/juice (PREFIX=/usr/local; DESTDIR respected)

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
export GOFLAGS ?= -mod=mod
export PATH := $(dir $(GO)):$(PATH)

PREFIX ?= /usr/local
# The version juice version prints and recordings name, and the commit it
# prints when Go stamped none (as in a git worktree).
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED ?= $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo true)
# The guest init, cross-compiled for bin/juice to embed (internal/guestinit,
# build tag juice_prebuilt_init): bin/juice then needs no Go at run time.
PREBUILT_INIT := internal/guestinit/prebuilt/init-riscv64

.PHONY: all build prebuilt-init install run test test-short bench deps clean

all: build

build: prebuilt-init
	$(GO) build -buildvcs=auto -tags juice_prebuilt_init -ldflags '-X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.modified=$(MODIFIED)' -o bin/juice ./cmd/juice

# Built the way juice builds it from its embedded sources (go install).
prebuilt-init:
	GOOS=linux GOARCH=riscv64 CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' -o $(PREBUILT_INIT) ./guest/init

install: build
	install -D -m 0755 bin/juice $(DESTDIR)$(PREFIX)/bin/juice

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
	rm -rf bin $(dir $(PREBUILT_INIT))
