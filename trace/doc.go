// Package trace shows what the processes of exactly one container do, with
// eBPF: exec, open, connect, accept, bind, kill and OOM kills, each with the
// pid the container sees, the host pid and the command.
//
// Tracepoint programs (bpf/trace.bpf.c, CO-RE against the kernel's BTF) copy
// each call's arguments at sys_enter and send them with the return code at
// sys_exit through a ring buffer. The container filter runs in the kernel,
// first in every program: the task must be in the container's cgroup2
// cgroup or below it (on a hybrid host kago's cgroup manager mirrors each
// container into /sys/fs/cgroup/unified, so this works there too); a
// container without a cgroup2 cgroup of its own is matched by its pid
// namespace instead. A host process doing the same thing never reaches user
// space.
//
// A Tracer owns its programs, maps and links; Close releases them all, so
// nothing of kago stays in the kernel after `kago trace` exits.
package trace
