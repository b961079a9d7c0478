# kago's entry points. `make demo` is the first thing to try (needs root).
GO ?= go

.PHONY: all build deps demo demo-deps demo-clean bench test test-validation clean test-vm vm-deps test-vm-systemd
.PHONY: test-lsm-vm

all: build

# Every command under cmd/ into bin/ (kago, kago-runc, ...). Stripped: a
# smaller binary starts faster (and, without root, the init binary is copied
# into a sealed memfd for every container, CVE-2019-5736).
# The commit `kago version` shows (GOFLAGS may turn Go's own VCS stamp off).
GIT_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
build:
	$(GO) build -trimpath -ldflags "-s -w -X main.gitCommit=$(GIT_COMMIT)" -o bin/ ./cmd/...
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/ ./cmd/kago-runc # static: no ld.so, no glibc (issue 16)

# Debian packages the tests and the demo use (a busybox root for test
# containers, peers to compare with, a registry, network tools, debootstrap
# for the Apache image); installed only when missing.
DEPS = busybox-static runc crun skopeo umoci docker-registry apache2-utils \
	iproute2 nftables curl ca-certificates debootstrap strace gcc libc6-dev
# apparmor_parser: engine/apparmorprofile compiles kago-default with it.
DEPS += apparmor
# test/vm (make test-lsm-vm): qemu for the VM, mkfs.ext4 for its root.
DEPS += qemu-system-x86 e2fsprogs
DEPS += podman-compose bc # bench section 9 (bench/compose.sh): the compose peer
DEPS += time # bench section 1 (bench/runtimes.py): peak RSS of create (GNU time %M)
DEPS += git # kago build: ADD of a git repository clones with the host's git (test/e2e TestBuildAddChecksumAndGit)
DEPS += podman hyperfine wrk # bench sections 4-6 (bench/pull.sh, httpd.sh, engine.sh, network/bench): peers, timing, load
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

# A newer runc, static, from its Go module (with seccomp): the peer of the
# tests Debian's runc 1.1 cannot serve. linux/cgroups TestCPUWeightMatchesRunc
# (cpu.weight as runc >= 1.3.2 converts it; runs where cgroup v2 has the cpu
# controller, KAGO_PEER_RUNC) and the runtime-spec 1.2/1.3 tests of
# cmd/kago-runc (KAGO_TEST_RUNC=$$PWD/bin/peers/runc-v1.5.3 go test -run
# 'Test(Scheduler|Personality|TimeOffsets|NetDevices|IDMapped|Spec13)' ./cmd/kago-runc).
PEER_RUNC_VERSION = v1.5.3
.PHONY: peer-runc
peer-runc: bin/peers/runc-$(PEER_RUNC_VERSION)
bin/peers/runc-$(PEER_RUNC_VERSION):
	@$(MAKE) --no-print-directory deps DEPS="libseccomp-dev pkg-config"
	mkdir -p bin/peers
	tmp=$$(mktemp -d) && GOFLAGS=-mod=mod CGO_ENABLED=1 GOBIN=$$tmp $(GO) install -tags "seccomp netgo osusergo" \
		-ldflags "-s -w -extldflags -static" github.com/opencontainers/runc@$(PEER_RUNC_VERSION) && \
		mv $$tmp/runc $@ && rmdir $$tmp

# The whole suite, as root on the real kernel (about 20 minutes on 2 cores).
test: deps
	$(GO) test -count=1 -timeout 30m ./...

# The OCI runtime-tools validation suite against kago-runc and runc, as root
# (test/validation/run.sh; about 4 minutes): kago-runc must pass every
# assertion runc passes; its remaining failures are listed with their reasons
# in test/validation/expected-failures.txt.
test-validation: deps
	GO=$(GO) test/validation/run.sh

# Pure cgroup v2 and a systemd + AppArmor Debian guest under qemu (TCG), for
# what this hybrid, systemd-less, LSM-less host cannot test (test/vm/README.md).
VM_DEPS = qemu-system-x86 busybox-static debootstrap e2fsprogs
vm-deps:
	@$(MAKE) --no-print-directory deps DEPS="$(VM_DEPS)"
test-vm: vm-deps
	test/vm/test-vm.sh

# AppArmor confinement (test/lsm) in a Debian VM with AppArmor enabled:
# this machine's kernel has no LSM, so `make test` only sees the refusals.
test-lsm-vm: vm-deps
	test/lsm/vm.sh

# The systemd cgroup driver (kago-runc --systemd-cgroup, runc as reference)
# in a Debian VM with systemd as PID 1: one boot on cgroup v2, one hybrid.
test-vm-systemd: vm-deps
	test/systemd-cgroup-vm.sh

clean:
	rm -rf bin/

# kago trace (trace/): its tests check with bpftool that no BPF program is
# left loaded; `make generate` rebuilds its committed BPF objects (amd64 and
# arm64) from C with Debian's clang 14 (a normal build needs no C compiler).
DEPS += bpftool
DEPS += bpftrace wrk # bench section 13 (bench/trace.sh): the peer collecting the same events; the load on the http workload
.PHONY: generate check-arm64
generate:
	@$(MAKE) --no-print-directory deps DEPS="clang-14 llvm libbpf-dev bpftool"
	cd trace && $(GO) generate ./
# kago builds and vets for arm64 too; linux/nsenter is C (cgo), so the
# cross build needs Debian's aarch64 gcc.
check-arm64:
	@$(MAKE) --no-print-directory deps DEPS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
	CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc GOARCH=arm64 $(GO) build ./...
	CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc GOARCH=arm64 $(GO) vet ./...
