# The commands a newcomer needs: `make run` and `make test`, which bring up the local stack first, and `make check`,
# the loop after every edit, which needs no stack.
STACK := deploy/dev/stack
CLUSTER := deploy/dev/cluster
SWIFT_FLAGS ?=

.PHONY: run check lint format test fuzz bench chaos scale soak stack-up stack-down stack-status cluster-up cluster-down build clean

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

## Run notifyd against the local stack (Ctrl-C stops it gracefully), with a local admin credential made once and kept
## in .stack/dev-admin-key, so `notifyctl` can be pointed at it (README's quick start); never a production key.
DEV_ADMIN_KEY := $${STACK_DIR:-.stack}/dev-admin-key
run: stack-up build
	@test -s "$(DEV_ADMIN_KEY)" || (umask 077 && .build/debug/notifyctl key new-admin > "$(DEV_ADMIN_KEY)")
	@eval "$$($(STACK) env)" && NOTIFY_AUTH_ADMIN_KEY="$$(cat "$(DEV_ADMIN_KEY)")" exec .build/debug/notifyd --config Config/notifyd.json

## Build and run every test that needs no server, after every edit: the unit targets, one per module (NotifyCoreTests,
## AMQPTests, PostgresTests, ProvidersTests, NotifyStoreTests, NotifydTests): about 10 s warm, 20 s after an edit
## inside a function, a minute or more when NotifyCore's interface changes (notifyd recompiles). No stack, no
## environment, nothing started; only the toolchain and librabbitmq-dev and libpq-dev (`make stack-up` installs them).
## NOTIFY_TESTS=unit has Package.swift keep only those targets (and the modules they test), in a test bundle of their
## own (flowmart-notify-unitPackageTests), so neither StoreTests, SystemTests nor notifyctl and the rigs are built,
## and this bundle and `make test`'s never relink each other. The fuzz targets run 1 s each here (15 s in `make test`;
## `make fuzz` for longer). One `swift test`, not `swift build` and then `swift test --skip-build`: those two plan
## the build differently, and alternating them recompiles Hummingbird.
UNIT := NOTIFY_TESTS=unit NOTIFY_FUZZ_SECONDS=1
check:
	$(UNIT) swift test $(SWIFT_FLAGS)

## The house style, checked by CI: swift-format's lint (`.swift-format`) and the size limits (no file in Sources over
## 400 lines but migrations, no function over 80: deploy/dev/house-limits.py). `make format` rewrites the sources
## as the lint wants them.
lint:
	swift format lint --strict --recursive --parallel Package.swift Sources Tests
	@python3 deploy/dev/house-limits.py

format:
	swift format --in-place --recursive --parallel Package.swift Sources Tests

## Run every test against the local stack and the cluster stack: the unit targets, StoreTests (PostgreSQL) and
## SystemTests (the stack, daemons as processes, faults, the cluster). Tests run one at a time: some of them close
## every broker connection, or kill a node, on purpose. Without the stacks' environment (a bare `swift test`), the
## StoreTests and SystemTests suites are skipped, saying what they need.
test: stack-up cluster-up
	swift build --build-tests $(SWIFT_FLAGS)
	@eval "$$($(STACK) env)" && eval "$$($(CLUSTER) test-env)" && NOTIFYD_BIN="$$(swift build --show-bin-path)/notifyd" \
		swift test --skip-build --no-parallel $(SWIFT_FLAGS)

## Fuzz decode → validate → render for FUZZ_SECONDS per target (default 300); no servers needed.
FUZZ_SECONDS ?= 300
fuzz:
	$(UNIT) NOTIFY_FUZZ_SECONDS=$(FUZZ_SECONDS) swift test --filter FuzzTests $(SWIFT_FLAGS)

## Measure throughput against the local stack with a release build; ends with RESULT lines.
bench: stack-up
	swift build -c release --product notify-bench
	swift build -c release --product notifyd
	@eval "$$($(STACK) env)" && .build/release/notify-bench all

## Every fault scenario at full size on the cluster stack (release build), each ending with the checker's
## `lost=0 duplicated=0 duplicate_sends=K` line. CHAOS_ARGS passes options (`--scenario smtp-down --events 30000`).
CHAOS_ARGS ?=
chaos: cluster-up
	swift build -c release --product notifyd
	swift build -c release --product notify-chaos
	@eval "$$($(STACK) env)" && eval "$$($(CLUSTER) test-env)" && .build/release/notify-chaos run $(CHAOS_ARGS)

## Throughput with 1, 2 and 3 daemons on the cluster stack.
scale: cluster-up
	swift build -c release --product notifyd
	swift build -c release --product notify-chaos
	@eval "$$($(STACK) env)" && eval "$$($(CLUSTER) test-env)" && .build/release/notify-chaos scale $(CHAOS_ARGS)

## An hour at a steady rate with a fault every 5 minutes (not in CI): .stack/soak/soak.csv and soak.png.
## SOAK_ARGS passes options (`--minutes 10 --rate 300`).
SOAK_ARGS ?=
soak: cluster-up
	swift build -c release --product notifyd
	swift build -c release --product notify-chaos
	@python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check matplotlib
	@eval "$$($(STACK) env)" && eval "$$($(CLUSTER) test-env)" && .build/release/notify-chaos soak $(SOAK_ARGS); \
		status=$$?; python3 deploy/dev/soak-plot.py .stack/soak/soak.csv .stack/soak/soak.png; exit $$status

clean:
	rm -rf .build
