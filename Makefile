# Paddock: build, run and test. `make run` and `make test` are the two
# commands of the README; both install what they need on Debian.

GO      ?= go
BIN     := bin/paddock
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...

export CGO_ENABLED := 0

.PHONY: all build run test test-deps unit lint bench check clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/paddock
	$(GO) build -trimpath -ldflags '-s -w' -o bin/paddock-guest ./cmd/paddock-guest

# run builds Paddock, installs the runtime packages it drives, and starts it
# with its embedded defaults (SQLite and images under ./data).
run: build
	@./scripts/deps.sh run
	./$(BIN) serve

# test installs the test dependencies (PostgreSQL, runc, gVisor, ...),
# starts PostgreSQL, runs lint and the whole suite with -race, and stops
# what it started.
test: build
	@./scripts/deps.sh test
	@./scripts/test.sh

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: build
	$(GO) run ./bench

check: lint test

clean:
	rm -rf bin
