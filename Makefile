# batch — build, test, demo, bench. Every target runs from a fresh clone with only Go installed
# (and PostgreSQL for the database tests, which skip without it unless BATCH_REQUIRE_SERVICES=1).

GO       ?= go
BIN      := bin/batch
PKGS     := ./...
# The commit `batch --version` prints (the build info's VCS stamp wins when present).
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)

.PHONY: all build test test-short vet fmt demo bench fuzz clean

all: build

build:
	$(GO) build -ldflags "-X main.commit=$(COMMIT)" -o $(BIN) ./cmd/batch

# The test command CI runs: vet, format check, then every test with the race detector.
test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout 60m $(PKGS)

# Native fuzz targets (package:Target). Their seed corpora (f.Add and
# testdata/fuzz/<Target>/) run in `make test`; `make fuzz` fuzzes each target
# for FUZZTIME, one after the other, and stops at the first failure (the
# failing input is then in the package's testdata/fuzz/<Target>/).
FUZZTIME ?= 60s
FUZZ_TARGETS := \
	./sources/csvsource:FuzzDecoder \
	./contact:FuzzMapHeader \
	./contact:FuzzNormalizeEmail \
	./customeros:FuzzDecodeVerification \
	./customeros:FuzzDecodePerson \
	./customeros:FuzzDecodeOrganization \
	./customeros:FuzzErrorMessage \
	./customeros:FuzzParseRetryAfter \
	./sinks/filesink:FuzzCSVCell \
	./sinks/filesink:FuzzJSONLString \
	./checkpoint:FuzzDecodeRecord \
	./internal/redact:FuzzRedactor \
	./internal/redact:FuzzEmails

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

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
