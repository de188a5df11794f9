# The two commands a newcomer needs: `make run` and `make test`. Both bring up the local stack first.
STACK := deploy/dev/stack
CLUSTER := deploy/dev/cluster
SWIFT_FLAGS ?=

.PHONY: run test fuzz bench stack-up stack-down stack-status cluster-up cluster-down build clean

stack-up:
	@$(STACK) up

stack-down:
	@$(STACK) down

stack-status:
	@$(STACK) status

## The cluster stack beside it (three RabbitMQ nodes, a PostgreSQL primary and replica): for the cluster tests.
cluster-up: stack-up
	@$(CLUSTER) up

cluster-down:
	@$(CLUSTER) down

build:
	swift build $(SWIFT_FLAGS)

## Run notifyd against the local stack (Ctrl-C stops it gracefully).
run: stack-up build
	@eval "$$($(STACK) env)" && exec .build/debug/notifyd --config Config/notifyd.json

## Run every test (unit and integration) against the local stack and the cluster stack. Tests run one at a time:
## some of them close every broker connection, or kill a node, on purpose.
test: stack-up cluster-up
	swift build --build-tests $(SWIFT_FLAGS)
	@eval "$$($(STACK) env)" && eval "$$($(CLUSTER) test-env)" && NOTIFYD_BIN="$$(swift build --show-bin-path)/notifyd" \
		swift test --skip-build --no-parallel $(SWIFT_FLAGS)

## Fuzz decode → validate → render for FUZZ_SECONDS per target (default 300); no servers needed.
FUZZ_SECONDS ?= 300
fuzz:
	NOTIFY_FUZZ_SECONDS=$(FUZZ_SECONDS) swift test --filter FuzzTests $(SWIFT_FLAGS)

## Measure throughput against the local stack with a release build; ends with RESULT lines.
bench: stack-up
	swift build -c release --product notify-bench
	swift build -c release --product notifyd
	@eval "$$($(STACK) env)" && .build/release/notify-bench all

clean:
	rm -rf .build
