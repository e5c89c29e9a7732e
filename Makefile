# batch — build, test, demo, bench. Every target runs from a fresh clone with only Go installed
# (and PostgreSQL for the database tests, which skip without it unless BATCH_REQUIRE_SERVICES=1).

GO       ?= go
BIN      := bin/batch
PKGS     := ./...

.PHONY: all build test test-short vet fmt demo bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/batch

# The test command CI runs: vet, format check, then every test with the race detector.
test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# Starts the emulator on loopback, runs `batch run` on testdata/contacts.csv, shows the results.
demo: build
	./scripts/demo.sh $(BIN)

# Prints every row of DESIGN.md's "Numbers it must reach", measured in one run on this machine.
bench: build
	$(GO) run ./cmd/batchbench -bin $(BIN)

clean:
	rm -rf bin out
