package trace

// The BPF objects are built from bpf/trace.bpf.c by `go generate` (clang 14,
// llvm, libbpf-dev and bpftool: `make generate`) and committed, so a normal
// build needs no C toolchain: one per architecture (amd64, arm64), from the
// same source. vmlinux.h is made from the running kernel's BTF and not
// committed; the programs read only architecture-neutral kernel types, and
// CO-RE relocates them for the kernel they load on.
//go:generate sh -c "bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h"
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-14 -strip llvm-strip -target amd64,arm64 -type event -no-global-types kagotrace bpf/trace.bpf.c -- -O2 -g -Wall -I/usr/include

// The system call names for the syscalls summary, from Debian's
// linux-libc-dev: x86-64's own table, and arm64's, which is the generic one.
//go:generate sh bpf/syscallnames.sh amd64 /usr/include/x86_64-linux-gnu/asm/unistd_64.h syscallnames_amd64.go
//go:generate sh bpf/syscallnames.sh arm64 /usr/include/asm-generic/unistd.h syscallnames_arm64.go
