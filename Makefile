# kago's entry points. `make demo` is the first thing to try (needs root).
GO ?= go

.PHONY: all build deps demo demo-deps demo-clean bench test test-validation clean runc-peer

all: build

# Every command under cmd/ into bin/ (kago, kago-runc, ...). Stripped: the
# runtime copies its own binary into a sealed memfd for every container
# (CVE-2019-5736), so a smaller binary is a faster `run`.
build:
	$(GO) build -trimpath -ldflags "-s -w" -o bin/ ./cmd/...

# Debian packages the tests and the demo use (a busybox root for test
# containers, peers to compare with, a registry, network tools, debootstrap
# for the Apache image); installed only when missing.
DEPS = busybox-static runc crun skopeo umoci docker-registry apache2-utils \
	iproute2 nftables curl ca-certificates debootstrap strace gcc libc6-dev
DEPS += podman-compose bc # bench section 8 (bench/compose.sh): the compose peer
deps:
	@missing=$$(for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Apache from Debian packages -> kago import -> registry on 127.0.0.1 ->
# kago pull -> kago run -p 8080:80 -v ./demo/site:/var/www/html; leaves it running.
demo: deps build
	demo/demo.sh up

demo-deps: deps

# Remove the demo container and stop the demo registry (the image cache in
# /var/cache/kago-demo stays, so the next `make demo` takes seconds).
demo-clean:
	demo/demo.sh down

# Benchmark tables (see bench/README.md); SECTIONS="1 6" picks sections.
bench: build
	bench/run.sh $(SECTIONS)

# The whole suite, as root on the real kernel (about 20 minutes on 2 cores).
test: deps
	$(GO) test -count=1 -timeout 30m ./...

# The OCI runtime-tools validation suite against kago-runc and runc, as root
# (test/validation/run.sh; about 4 minutes): kago-runc must pass every
# assertion runc passes; its remaining failures are listed with their reasons
# in test/validation/expected-failures.txt.
test-validation: deps
	GO=$(GO) test/validation/run.sh

clean:
	rm -rf bin/

# A newer runc (built from its Go module, with seccomp) to run the runtime-spec
# 1.2/1.3 tests of cmd/kago-runc against, where Debian's runc 1.1 lacks the
# fields: KAGO_TEST_RUNC=$$PWD/bin/peer/runc go test -run 'Test(Scheduler|Personality|TimeOffsets|NetDevices|IDMapped|Spec13)' ./cmd/kago-runc
RUNC_PEER_VERSION ?= v1.5.3
runc-peer:
	@dpkg -s libseccomp-dev >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libseccomp-dev >/dev/null
	GOBIN=$(CURDIR)/bin/peer GOFLAGS=-mod=mod $(GO) install -tags seccomp github.com/opencontainers/runc@$(RUNC_PEER_VERSION)
