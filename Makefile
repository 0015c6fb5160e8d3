# Parley. `make run` runs the server on its embedded defaults; `make test`
# installs what this machine lacks (when run as root on Debian) and runs
# every check CI runs.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)

.PHONY: all build run test test-go lint fuzz bench deps clean chat

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/parley ./cmd/parley

run: chat
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/parley serve

# The web chat's Converse.js and the web tests' node clients, pinned in
# web/chat/package-lock.json, installed once when npm is there. Without npm
# the page at http://localhost:5280/ says how to install them.
chat:
	@if [ ! -e web/chat/node_modules/converse.js/dist/converse.min.js ]; then \
	  if command -v npm >/dev/null 2>&1; then cd web/chat && npm ci --no-audit --no-fund --ignore-scripts; \
	  else echo "npm not found: the web chat (http://localhost:5280/) is not installed; see README"; fi; fi

# The whole suite: dependencies, formatting, vet, staticcheck, race tests
# (storage on SQLite and PostgreSQL, transcripts, interop with real clients)
# and a short fuzzing pass over every parser of untrusted input.
test: deps lint test-go fuzz

deps:
	./scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...

# Each fuzz target runs briefly: enough to catch regressions in CI. Run one
# longer by hand with e.g. `go test -fuzz=FuzzReader -fuzztime=10m ./xmppcore`.
FUZZTIME ?= 10s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

clean:
	rm -rf bin
