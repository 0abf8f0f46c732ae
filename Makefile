# Weir's two everyday commands:
#   make run    start a single-node broker on 127.0.0.1:9092 (data in ./weir-data)
#   make test   install test dependencies, then run every test
GO ?= go

.PHONY: run build test test-deps vet unit compat e2e fuzz-short

run:
	$(GO) run ./cmd/weir serve

build:
	$(GO) build -o bin/weir ./cmd/weir

test: test-deps vet unit compat

test-deps:
	./scripts/install-test-deps.sh

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Unit, integration and end-to-end tests; fuzz targets run their seed corpora.
unit:
	WEIR_REQUIRE_CLIENTS=1 WEIR_REQUIRE_VERSITYGW=1 $(GO) test -race -count=1 -timeout 30m ./...

# Client compatibility (tests/compat, docs/compatibility.md): franz-go's,
# confluent-kafka-go's and kafka-go's own tests and scenario programs in kcat,
# Python, kafkajs, sarama and franz-go, each suite against a fresh weir serve;
# ends with "compat: N passed, N failed, N skipped". COMPAT_ARGS passes flags:
# '-suites scenarios -v', '-target kfake' (baseline), '-doc ../../docs/compatibility.md'.
COMPAT_ARGS ?=
compat:
	cd tests/compat && $(GO) vet ./... && $(GO) run ./harness $(COMPAT_ARGS)

e2e:
	WEIR_REQUIRE_CLIENTS=1 $(GO) test -count=1 -v ./tests/e2e/

# A short pass of every fuzz target (30 s each); longer runs: FUZZTIME=10m.
FUZZTIME ?= 30s
fuzz-short:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg || exit 1; \
	  done; \
	done
