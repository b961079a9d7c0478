// Package trace shows what the processes of exactly one container do, with
// eBPF: exec, open, connect, accept, bind, kill and OOM kills, each with the
// pid the container sees, the host pid and the command.
//
// Programs in bpf/trace.bpf.c (CO-RE against the kernel's BTF) attach, for
// each kind of event asked for, to that kind's system calls only: fexit
// programs on the system call functions where the kernel allows BPF
// trampolines (they leave every other task's system calls on the fast
// path), else the syscall tracepoints (syscalls:sys_enter_openat and
// sys_exit_openat for open, ...); the system calls nobody asked about run no
// program of ours. Only the syscalls summary uses the generic sys_enter and
// sys_exit. Each event, with the return code, goes into a ring buffer. The container filter runs in the kernel, first in
// every program: the task must be in the container's cgroup2 cgroup or
// below it (on a hybrid host kago's cgroup manager mirrors each container
// into /sys/fs/cgroup/unified, so this works there too); a container without
// a cgroup2 cgroup of its own is matched by its pid namespace instead. A
// host process doing the same thing never reaches user space.
//
// A Tracer owns its programs, maps, links and perf events; Close releases
// them all, so nothing of kago stays in the kernel after a trace ends.
// Stream prints a trace; Record is a container's own tracer (kago run
// --trace), and Replay reads its record back (kago trace --since-start).
package trace
