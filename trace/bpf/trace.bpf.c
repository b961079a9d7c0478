// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
// kago trace: programs that report what the processes of exactly one
// container do.
//
// Each event kind attaches only to the system calls it reports: where the
// kernel allows BPF trampolines, fexit (and fentry for exec) programs on the
// system call functions (__x64_sys_openat, ...: kagof_*); else their own
// tracepoints (syscalls/sys_enter_openat, sys_exit_openat, ...: kagot_*),
// which put every task of the host on the slow syscall path. Either way a
// process that makes other calls never runs a kago program. The enter
// program checks the container filter first, then keeps the call's
// arguments in a small per-thread in-flight record; the exit program turns
// that record and the return code into an event written straight into the
// ring buffer, reading the caller's path or address from user memory then
// (it is still there after open, connect, bind and accept). Only exec must
// copy its arguments at entry, since a successful exec replaces the memory
// they were in.
//
// The syscall tracepoints' context (struct trace_event_raw_sys_enter: the
// number, then six 8-byte arguments) is the same on every architecture; the
// fexit programs read the arguments from the architecture's pt_regs
// (libbpf's PT_REGS_PARMn_CORE_SYSCALL, CO-RE); the source builds for amd64
// and arm64 (bpf2go -target amd64,arm64). The syscalls summary alone needs
// every system call: it uses the generic sys_enter and sys_exit raw
// tracepoints (BTF), and only when asked for. The raw mark_victim
// tracepoint reports OOM kills.
//
// The container filter runs first in every enter program, in the kernel, so
// nothing of the rest of the host crosses to user space. Two filters exist
// (filter_mode, set at load time):
//   1: the task is in the container's cgroup2 cgroup or below it
//      (bpf_current_task_under_cgroup against a one-slot cgroup array);
//   2: the task's active pid namespace has inode target_pidns (for
//      containers that have no cgroup2 cgroup of their own).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EV_EXEC 1
#define EV_OPEN 2
#define EV_CONNECT 3
#define EV_ACCEPT 4
#define EV_BIND 5
#define EV_SIGNAL 6
#define EV_OOM 7
#define EV_SYSCALLS 8 // the per-syscall count and latency summary
#define MAX_SYSCALL 512

#define PATH_LEN 256
#define ARGS_LEN 1024
#define MAX_ARGS 20
#define ARG_LEN 256
#define ADDR_LEN 28 // sizeof(struct sockaddr_in6)

const volatile __u32 filter_mode = 1;
const volatile __u32 target_pidns = 0;

struct event {
	__u64 time_ns;   // bpf_ktime_get_boot_ns at exit
	__u32 type;      // EV_*
	__u32 host_pid;  // tgid in the host's pid namespace
	__u32 ns_pid;    // tgid in the task's own pid namespace
	__u32 host_tid;
	__s64 ret;
	__u64 flags;     // open: flags; signal: signal; oom: victim host pid
	__s64 target;    // signal: target pid as the sender passed it
	__u64 uaddr;     // unused, kept for the layout user space decodes
	__u32 args_size; // bytes used in args
	__u32 argc;
	char comm[16];
	__u8 addr[ADDR_LEN];
	char path[PATH_LEN];
	char args[ARGS_LEN];
};

// The ring holds events up to path; only exec sends its args too.
#define SMALL_EVENT __builtin_offsetof(struct event, args)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target_cgroup SEC(".maps");

// call is a traced call between enter and exit: its kind and the
// arguments the exit needs.
struct call {
	__u32 type;
	__u32 ns_pid;
	__u64 a0, a1, a2;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); // a thread killed mid-call never exits it
	__uint(max_entries, 2048); // threads inside a traced call at once
	__type(key, __u64);
	__type(value, struct call);
} inflight SEC(".maps");

// execs holds the whole event of an exec between enter and exit: its
// filename and argv must be copied before the exec replaces them.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, struct event);
} execs SEC(".maps");

// syscalls: when each thread entered its current system call and which,
// and per system call number the calls, failed calls and nanoseconds spent.
struct sc_entry {
	__u64 start;
	__u64 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); // exit and exit_group never return
	__uint(max_entries, 2048); // threads inside a traced call at once
	__type(key, __u64);
	__type(value, struct sc_entry);
} sc_start SEC(".maps");

struct sc_stat {
	__u64 count;
	__u64 errors;
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SYSCALL);
	__type(key, __u32);
	__type(value, struct sc_stat);
} sc_stats SEC(".maps");

// scratch is a zeroed event to start an exec from: an event is too big for
// the stack.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

static __always_inline int in_target(void)
{
	if (filter_mode == 1)
		return bpf_current_task_under_cgroup(&target_cgroup, 0) == 1;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};
	bpf_core_read(&up, sizeof(up), &pid->numbers[level]);
	return BPF_CORE_READ(up.ns, ns.inum) == target_pidns;
}

// ns_tgid is the task's thread-group id as its own (innermost) pid
// namespace numbers it: the pid the container sees.
static __always_inline __u32 ns_tgid(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};
	bpf_core_read(&up, sizeof(up), &pid->numbers[level]);
	return up.nr;
}

// identify fills in who the current task is.
static __always_inline void identify(struct event *e, __u32 type, __u32 ns_pid)
{
	__u64 id = bpf_get_current_pid_tgid();
	e->type = type;
	e->host_pid = id >> 32;
	e->host_tid = (__u32)id;
	e->ns_pid = ns_pid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

// enter keeps a call of the container's for its exit; other tasks return
// at the filter.
static __always_inline int enter(__u32 type, __u64 a0, __u64 a1, __u64 a2)
{
	if (!in_target())
		return 0;
	struct call c = {.type = type, .ns_pid = ns_tgid(), .a0 = a0, .a1 = a1, .a2 = a2};
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&inflight, &id, &c, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int kagot_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return enter(EV_OPEN, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int kagot_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return enter(EV_OPEN, ctx->args[1], ctx->args[2], 0);
}

// connect and bind: (fd, addr, addrlen); read at exit.
SEC("tracepoint/syscalls/sys_enter_connect")
int kagot_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return enter(EV_CONNECT, ctx->args[1], ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_enter_bind")
int kagot_enter_bind(struct trace_event_raw_sys_enter *ctx)
{
	return enter(EV_BIND, ctx->args[1], ctx->args[2], 0);
}

// accept and accept4: (fd, addr, addrlen); the kernel fills addr.
SEC("tracepoint/syscalls/sys_enter_accept")
int kagot_enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return enter(EV_ACCEPT, ctx->args[1], ADDR_LEN, 0);
}

// kill: (pid, sig).
SEC("tracepoint/syscalls/sys_enter_kill")
int kagot_enter_kill(struct trace_event_raw_sys_enter *ctx)
{
	return enter(EV_SIGNAL, ctx->args[0], ctx->args[1], 0);
}

// exec_enter copies an exec's filename and argv: after a successful exec
// the memory they were in is gone.
static __always_inline int exec_enter(const char *filename, const char *const *argv)
{
	if (!in_target())
		return 0;
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	// Too big to clear at once: clear the fixed part; path and args are
	// read up to their NUL and args_size.
	__builtin_memset(e, 0, __builtin_offsetof(struct event, path));
	identify(e, EV_EXEC, ns_tgid());
	bpf_probe_read_user_str(e->path, sizeof(e->path), filename);
	__u32 off = 0;
	for (int i = 0; i < MAX_ARGS; i++) {
		const char *arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		if (off > ARGS_LEN - ARG_LEN)
			break;
		long n = bpf_probe_read_user_str(&e->args[off], ARG_LEN, arg);
		if (n <= 0)
			break;
		off += n;
		e->argc++;
	}
	e->args_size = off;
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&execs, &id, e, BPF_ANY);
	return 0;
}

static __always_inline int exec_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct event *e = bpf_map_lookup_elem(&execs, &id);
	if (!e)
		return 0;
	e->ret = ret;
	e->time_ns = bpf_ktime_get_boot_ns();
	// A successful exec changed the comm; report the new one.
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_output(&events, e, sizeof(*e), BPF_RB_NO_WAKEUP);
	bpf_map_delete_elem(&execs, &id);
	return 0;
}

// finish writes the event of a call but exec into the ring, with what the
// caller's memory holds now.
static __always_inline int finish(const struct call *c, long ret)
{
	struct event *e = bpf_ringbuf_reserve(&events, SMALL_EVENT, 0);
	if (!e)
		return 0;
	__builtin_memset(e, 0, __builtin_offsetof(struct event, path));
	e->path[0] = 0;
	identify(e, c->type, c->ns_pid);
	e->ret = ret;
	e->time_ns = bpf_ktime_get_boot_ns();
	switch (c->type) {
	case EV_OPEN:
		bpf_probe_read_user_str(e->path, sizeof(e->path), (const char *)c->a0);
		e->flags = c->a1;
		break;
	case EV_CONNECT:
	case EV_BIND:
	case EV_ACCEPT: {
		__u64 len = c->a1;
		if (len > ADDR_LEN)
			len = ADDR_LEN;
		// accept fills addr only on success.
		if (c->a0 && (c->type != EV_ACCEPT || ret >= 0))
			bpf_probe_read_user(e->addr, len, (const void *)c->a0);
		break;
	}
	case EV_SIGNAL:
		e->target = (int)c->a0;
		e->flags = c->a1;
		break;
	}
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int kagot_enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return exec_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int kagot_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return exec_exit(ctx->ret);
}

// kagot_exit ends every traced call but exec.
SEC("tracepoint/syscalls/sys_exit_openat")
int kagot_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&inflight, &id);
	if (!c)
		return 0;
	finish(c, ctx->ret);
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}

// Where the kernel allows BPF trampolines, fexit programs on the system
// call functions themselves see the arguments and the return code at once
// (no in-flight record) and, unlike any syscall tracepoint, leave the other
// tasks' system calls on the fast path. Their names and pt_regs are the
// architecture's.
#if defined(__TARGET_ARCH_x86)
#define SYSFN(name) "__x64_sys_" #name
#elif defined(__TARGET_ARCH_arm64)
#define SYSFN(name) "__arm64_sys_" #name
// vmlinux.h is made on amd64; arm64's user_pt_regs is relocated by name.
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} __attribute__((preserve_access_index));
#endif
#define ARG(regs, n) PT_REGS_PARM##n##_CORE_SYSCALL(regs)

// fexit_call is a call of the container's seen at its return.
static __always_inline int fexit_call(__u32 type, __u64 a0, __u64 a1, long ret)
{
	if (!in_target())
		return 0;
	struct call c = {.type = type, .ns_pid = ns_tgid(), .a0 = a0, .a1 = a1};
	return finish(&c, ret);
}

#ifdef SYSFN
SEC("fentry/" SYSFN(execve))
int BPF_PROG(kagof_enter_execve, struct pt_regs *regs)
{
	return exec_enter((const char *)ARG(regs, 1), (const char *const *)ARG(regs, 2));
}

SEC("fexit/" SYSFN(execve))
int BPF_PROG(kagof_exit_execve, struct pt_regs *regs, long ret)
{
	return exec_exit(ret);
}

#ifdef __TARGET_ARCH_x86
SEC("fexit/" SYSFN(open))
int BPF_PROG(kagof_open, struct pt_regs *regs, long ret)
{
	return fexit_call(EV_OPEN, ARG(regs, 1), ARG(regs, 2), ret);
}
#endif

SEC("fexit/" SYSFN(openat))
int BPF_PROG(kagof_openat, struct pt_regs *regs, long ret)
{
	return fexit_call(EV_OPEN, ARG(regs, 2), ARG(regs, 3), ret);
}

SEC("fexit/" SYSFN(connect))
int BPF_PROG(kagof_connect, struct pt_regs *regs, long ret)
{
	return fexit_call(EV_CONNECT, ARG(regs, 2), ARG(regs, 3), ret);
}

SEC("fexit/" SYSFN(bind))
int BPF_PROG(kagof_bind, struct pt_regs *regs, long ret)
{
	return fexit_call(EV_BIND, ARG(regs, 2), ARG(regs, 3), ret);
}

SEC("fexit/" SYSFN(accept))
int BPF_PROG(kagof_accept, struct pt_regs *regs, long ret)
{
	return fexit_call(EV_ACCEPT, ARG(regs, 2), ADDR_LEN, ret);
}

SEC("fexit/" SYSFN(accept4))
int BPF_PROG(kagof_accept4, struct pt_regs *regs, long ret)
{
	return fexit_call(EV_ACCEPT, ARG(regs, 2), ADDR_LEN, ret);
}

SEC("fexit/" SYSFN(kill))
int BPF_PROG(kagof_kill, struct pt_regs *regs, long ret)
{
	return fexit_call(EV_SIGNAL, ARG(regs, 1), ARG(regs, 2), ret);
}
#endif

SEC("tp_btf/sys_enter")
int BPF_PROG(kagot_sys_enter, struct pt_regs *regs, long nr)
{
	if (!in_target())
		return 0;
	__u64 tid = bpf_get_current_pid_tgid();
	struct sc_entry s = {.start = bpf_ktime_get_ns(), .nr = nr};
	bpf_map_update_elem(&sc_start, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(kagot_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct sc_entry *s = bpf_map_lookup_elem(&sc_start, &tid);
	if (!s)
		return 0;
	__u32 key = s->nr;
	struct sc_stat *st = key < MAX_SYSCALL ? bpf_map_lookup_elem(&sc_stats, &key) : NULL;
	if (st) {
		st->count++;
		st->ns += bpf_ktime_get_ns() - s->start;
		if (ret < 0)
			st->errors++;
	}
	bpf_map_delete_elem(&sc_start, &tid);
	return 0;
}

// The OOM killer marks its victim in the context of the task whose
// allocation failed; for a container's memory limit that task is in the
// container, so the same filter applies. The tracepoint's argument is the
// victim's pid up to Linux 6.7 and its task_struct since: a kernel address
// is never a pid.
SEC("raw_tp/mark_victim")
int kagot_oom(struct bpf_raw_tracepoint_args *ctx)
{
	if (!in_target())
		return 0;
	struct event *e = bpf_ringbuf_reserve(&events, SMALL_EVENT, 0);
	if (!e)
		return 0;
	__builtin_memset(e, 0, __builtin_offsetof(struct event, path));
	e->path[0] = 0;
	identify(e, EV_OOM, ns_tgid());
	__u64 victim = ctx->args[0];
	if (victim > 0xffffffff)
		e->flags = BPF_CORE_READ((struct task_struct *)victim, tgid);
	else
		e->flags = victim;
	e->time_ns = bpf_ktime_get_boot_ns();
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
