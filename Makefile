# afsync — the two commands a new machine needs are `make dev` and `make test`.

TEMPORAL_CLI_VERSION := v1.5.1
GOBIN := $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)
TEMPORAL := $(GOBIN)/temporal
export AFSYNC_TEMPORAL_CLI := $(TEMPORAL)

.PHONY: dev test test-short test-race temporal-cli nginx vet bench bench-million fuzz chaos

# The main job on the embedded default: Temporal dev server + UI, the sandbox
# APIs, the worker, and a backfill of the sandbox's users. INTEGRATIONS=grants
# (or grants,fellows) adds integrations, each an Award Force account and a
# Salesforce org of its own in the sandbox, backfilled too; DEPENDS_ON=grants=default
# makes one dependent: it shares the default's org and pairing lane.
INTEGRATIONS ?=
DEPENDS_ON ?=
dev: $(TEMPORAL)
	./scripts/dev $(if $(INTEGRATIONS),--integrations $(INTEGRATIONS)) $(if $(DEPENDS_ON),--depends-on $(DEPENDS_ON))

# Every test, including the integration tests on a real Temporal dev server
# and the codec proxy's template on a real nginx. The dev-server tests run
# four at a time (each has its own server; they mostly wait; eight made
# the machine too busy for some tests' timing). gotestsum
# prints go test's usual output, then every failed test's whole log again
# at the end, and keeps every test's output, passed ones included, in
# .test-logs/test.jsonl (`go tool test2json` lines) for the flake that
# happens once.
GOTESTSUM := gotest.tools/gotestsum@v1.13.0
test: $(TEMPORAL) nginx vet
	@mkdir -p .test-logs
	go run $(GOTESTSUM) --format standard-quiet --jsonfile .test-logs/test.jsonl -- -count=1 -parallel 4 -timeout 25m ./...

# The quick tier for the edit-test loop: unit and workflow tests, the
# simulators and the clients; what needs the Temporal dev server or nginx
# is skipped (-short). Under a minute on 2 cores with a warm build cache.
test-short:
	go test -short -count=1 ./...

# The packages that run real HTTP servers (the simulators, the API clients
# against them, the webhook receiver, the codec server, the worker's boot)
# under the race detector; CI runs it after make test (2 min 33 s measured
# with a cold race build).
RACE_PACKAGES := ./sandbox/... ./internal/webhook/ ./internal/codec/ ./awardforce/ ./salesforce/ ./activities/ ./internal/afworker/
test-race:
	@mkdir -p .test-logs
	go run $(GOTESTSUM) --format standard-quiet --jsonfile .test-logs/test-race.jsonl -- -race -short -count=1 $(RACE_PACKAGES)

# nginx (Debian's package) for the codec proxy test, installed when missing.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q nginx; \
		else sudo apt-get update -q && sudo apt-get install -y -q nginx; fi; }

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	go vet ./...
	go run $(STATICCHECK) ./...

# The Temporal CLI (dev server 1.29.1 with UI 2.42.1), built once from the Go
# module proxy (3 min 48 s measured on 2 cores the first time, then cached).
temporal-cli: $(TEMPORAL)
$(TEMPORAL):
	go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

# The benchmarks (docs/benchmarks.md), on the real dev server with the
# server's default task-queue partitions unless said: 10,000 sandbox users
# backfilled with 2 ms latency and no rate limit, beside a plain 8-way loop
# timed first in the same run (five times: one ratio is noisy on a shared
# machine; the median and the runs at 1.2x come last), then 100,000 users, then at Award Force's real
# 60 requests a minute; 6,000 at that rate with one partition, to compare;
# registration bursts (200 in 10 s, 2,000 in a minute) as signed webhooks,
# alone and beside a backfill, and 6,000 behind a two-minute Salesforce
# outage (the backlog's drain); edits made in Salesforce flowing back (the CRM
# watch's calls on an idle org, then 1,000 and 60 edits in a minute); several
# integrations on one worker (10 and 100 accounts and orgs, one org down),
# each against its own Award Force bound. Rate-limited runs first wait a
# minute for the start-up check's requests to leave Award Force's window.
bench: $(TEMPORAL)
	go run ./bench --users 10000 --latency 2ms --awardforce-limit 0 --versus 8 --repeat 5
	go run ./bench --users 100000 --latency 2ms --awardforce-limit 0
	go run ./bench --users 10000 --latency 2ms --awardforce-limit 60
	go run ./bench --users 6000 --latency 2ms --awardforce-limit 60
	go run ./bench --users 6000 --latency 2ms --awardforce-limit 60 --partitions 1
	go run ./bench --burst 200 --burst-over 10s --users 1000 --awardforce-limit 60
	go run ./bench --burst 2000 --burst-over 60s --users 1000 --awardforce-limit 60
	go run ./bench --burst 200 --burst-over 10s --users 6000 --burst-during-backfill --awardforce-limit 60
	go run ./bench --burst 2000 --burst-over 60s --users 10000 --burst-during-backfill --awardforce-limit 60
	go run ./bench --burst 6000 --burst-over 60s --outage 2m --users 1000 --awardforce-limit 60
	go run ./bench --users 2000 --crm-changes 1000 --crm-over 60s --crm-idle 5m --awardforce-limit 0
	go run ./bench --users 300 --crm-changes 60 --crm-over 60s --crm-idle 2m --awardforce-limit 60
	go run ./bench --integrations 10 --outage-in 1 --users 300 --awardforce-limit 60
	go run ./bench --integrations 100 --outage-in 1 --users 60 --awardforce-limit 60
	go run ./bench --integrations 10 --users 60 --awardforce-limit 60 --burst 60 --burst-over 30s
	go run ./bench --integrations 10 --outage-in 1 --users 60 --awardforce-limit 60 --burst 60 --burst-over 30s

# A million sandbox users backfilled on the dev server (about half an hour on
# two cores; docs/benchmarks.md).
bench-million: $(TEMPORAL)
	go run ./bench --users 1000000 --latency 2ms --awardforce-limit 0

# The chaos drill (docs/reliability.md): 3,000 sandbox users, two backfills,
# webhooks and manual syncs at once, faults on a large share of calls, three
# worker kills; then a check of every promise. Exits 1 if one is broken.
chaos: $(TEMPORAL)
	go run ./chaos

fuzz:
	go test -run '^$$' -fuzz FuzzQuote -fuzztime 60s ./salesforce/
