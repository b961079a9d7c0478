# kago's entry points. `make demo` is the first thing to try (needs root).
GO ?= go

.PHONY: all build deps demo demo-deps demo-clean bench test clean test-vm-systemd

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

# The systemd cgroup driver (kago-runc --systemd-cgroup, runc as reference)
# in a Debian VM with systemd as PID 1: one boot on cgroup v2, one hybrid.
test-vm-systemd: deps
	@for p in qemu-system-x86 e2fsprogs; do dpkg -s $$p >/dev/null 2>&1 || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$p >/dev/null; done
	test/systemd-cgroup-vm.sh

clean:
	rm -rf bin/
