package trace

// The BPF object is built from bpf/trace.bpf.c by `go generate` (clang 14,
// llvm, libbpf-dev and bpftool: `make deps`) and committed, so a normal
// build needs no C toolchain. vmlinux.h is made from the running kernel's
// BTF and not committed; CO-RE relocates the object for the kernel it
// loads on.
//go:generate sh -c "bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h"
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-14 -strip llvm-strip -target bpfel -type event -no-global-types kagotrace bpf/trace.bpf.c -- -O2 -g -Wall -I/usr/include

// The x86-64 system call names for the syscalls summary, from Debian's
// linux-libc-dev.
//go:generate sh bpf/syscallnames.sh /usr/include/x86_64-linux-gnu/asm/unistd_64.h syscallnames.go
