// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
// kago trace: programs that report what the processes of exactly one
// container do. They attach to the raw sys_enter and sys_exit tracepoints
// with BTF (tp_btf), which need no tracefs mount and no per-syscall
// tracepoint; each first checks the system call number, then the
// container filter. sys_enter copies the arguments (the user memory may be
// gone after the call: exec replaces it) into a per-thread in-flight record,
// sys_exit adds the return code and sends the record to user space through a
// ring buffer. The raw mark_victim tracepoint reports OOM kills.
//
// The container filter runs first in every program, in the kernel, so the
// rest of the host costs one map lookup per traced syscall and nothing
// crosses to user space. Two filters exist (filter_mode, set at load time):
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
const volatile __u32 events_mask = 0xffffffff; // bit (1 << EV_x) per enabled kind

struct event {
	__u64 time_ns;   // bpf_ktime_get_boot_ns at exit
	__u32 type;      // EV_*
	__u32 host_pid;  // tgid in the host's pid namespace
	__u32 ns_pid;    // tgid in the task's own pid namespace
	__u32 host_tid;
	__s64 ret;
	__u64 flags;     // open: flags; signal: signal; oom: victim host pid
	__s64 target;    // signal: target pid as the sender passed it
	__u64 uaddr;     // accept: the user sockaddr pointer, read at exit
	__u32 args_size; // bytes used in args
	__u32 argc;
	char comm[16];
	__u8 addr[ADDR_LEN];
	char path[PATH_LEN];
	char args[ARGS_LEN];
};

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

// inflight holds the half-made event of each thread between enter and exit.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); // a thread killed mid-call never exits it
	__uint(max_entries, 2048); // threads inside a traced call at once
	__type(key, __u64);
	__type(value, struct event);
} inflight SEC(".maps");

// syscalls: when each thread entered its current system call, and per
// system call number the calls, failed calls and nanoseconds spent.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); // exit and exit_group never return
	__uint(max_entries, 2048); // threads inside a traced call at once
	__type(key, __u64);
	__type(value, __u64);
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

// scratch is a zeroed event to start from: an event is too big for the stack.
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

// begin returns a zeroed event of the given kind with the task's identity,
// or NULL when the task is not in the container or the kind is off.
static __always_inline struct event *begin(__u32 type)
{
	if (!(events_mask & (1u << type)))
		return NULL;
	if (!in_target())
		return NULL;
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return NULL;
	// Too big to clear at once: clear the fixed part; path and args are
	// read up to their NUL and args_size.
	__builtin_memset(e, 0, __builtin_offsetof(struct event, path));
	e->path[0] = 0;
	__u64 id = bpf_get_current_pid_tgid();
	e->type = type;
	e->host_pid = id >> 32;
	e->host_tid = (__u32)id;
	e->ns_pid = ns_tgid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

static __always_inline void stash(struct event *e)
{
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&inflight, &id, e, BPF_ANY);
}

// x86-64 system call numbers and argument registers.
#define NR_OPEN 2
#define NR_CONNECT 42
#define NR_ACCEPT 43
#define NR_BIND 49
#define NR_EXECVE 59
#define NR_KILL 62
#define NR_OPENAT 257
#define NR_ACCEPT4 288
#define ARG1(r) BPF_CORE_READ(r, di)
#define ARG2(r) BPF_CORE_READ(r, si)
#define ARG3(r) BPF_CORE_READ(r, dx)

static __always_inline int enter_execve(struct pt_regs *regs)
{
	struct event *e = begin(EV_EXEC);
	if (!e)
		return 0;
	bpf_probe_read_user_str(e->path, sizeof(e->path), (const char *)ARG1(regs));
	const char *const *argv = (const char *const *)ARG2(regs);
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
	stash(e);
	return 0;
}

static __always_inline int enter_open(const char *path, __u64 flags)
{
	struct event *e = begin(EV_OPEN);
	if (!e)
		return 0;
	bpf_probe_read_user_str(e->path, sizeof(e->path), path);
	e->flags = flags;
	stash(e);
	return 0;
}

// enter_sockaddr reports connect or bind: (fd, addr, addrlen).
static __always_inline int enter_sockaddr(struct pt_regs *regs, __u32 type)
{
	struct event *e = begin(type);
	if (!e)
		return 0;
	__u64 len = ARG3(regs);
	const void *addr = (const void *)ARG2(regs);
	if (len > ADDR_LEN)
		len = ADDR_LEN;
	if (addr)
		bpf_probe_read_user(e->addr, len, addr);
	stash(e);
	return 0;
}

static __always_inline int enter_accept(struct pt_regs *regs)
{
	struct event *e = begin(EV_ACCEPT);
	if (!e)
		return 0;
	e->uaddr = ARG2(regs);
	stash(e);
	return 0;
}

static __always_inline int enter_kill(struct pt_regs *regs)
{
	struct event *e = begin(EV_SIGNAL);
	if (!e)
		return 0;
	e->target = (int)ARG1(regs);
	e->flags = ARG2(regs);
	stash(e);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(kagot_sys_enter, struct pt_regs *regs, long id)
{
	if ((events_mask & (1u << EV_SYSCALLS)) && in_target()) {
		__u64 tid = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
		bpf_map_update_elem(&sc_start, &tid, &now, BPF_ANY);
	}
	switch (id) {
	case NR_EXECVE:
		return enter_execve(regs);
	case NR_OPEN:
		return enter_open((const char *)ARG1(regs), ARG2(regs));
	case NR_OPENAT:
		return enter_open((const char *)ARG2(regs), ARG3(regs));
	case NR_CONNECT:
		return enter_sockaddr(regs, EV_CONNECT);
	case NR_BIND:
		return enter_sockaddr(regs, EV_BIND);
	case NR_ACCEPT:
	case NR_ACCEPT4:
		return enter_accept(regs);
	case NR_KILL:
		return enter_kill(regs);
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(kagot_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (events_mask & (1u << EV_SYSCALLS)) {
		__u64 tid = bpf_get_current_pid_tgid();
		__u64 *start = bpf_map_lookup_elem(&sc_start, &tid);
		if (start) {
			__u32 key = nr;
			struct sc_stat *st = key < MAX_SYSCALL ? bpf_map_lookup_elem(&sc_stats, &key) : NULL;
			if (st) {
				st->count++;
				st->ns += bpf_ktime_get_ns() - *start;
				if (ret < 0)
					st->errors++;
			}
			bpf_map_delete_elem(&sc_start, &tid);
		}
	}
	switch (nr) {
	case NR_EXECVE: case NR_OPEN: case NR_OPENAT: case NR_CONNECT:
	case NR_BIND: case NR_ACCEPT: case NR_ACCEPT4: case NR_KILL:
		break;
	default:
		return 0;
	}
	__u64 id = bpf_get_current_pid_tgid();
	struct event *e = bpf_map_lookup_elem(&inflight, &id);
	if (!e)
		return 0;
	e->ret = ret;
	e->time_ns = bpf_ktime_get_boot_ns();
	if (e->type == EV_ACCEPT && ret >= 0 && e->uaddr)
		bpf_probe_read_user(e->addr, ADDR_LEN, (const void *)e->uaddr);
	// A successful exec changed the comm; report the new one.
	// Only exec fills args: the others leave it out of the ring.
	if (e->type == EV_EXEC) {
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_ringbuf_output(&events, e, sizeof(*e), BPF_RB_NO_WAKEUP);
	} else {
		bpf_ringbuf_output(&events, e, __builtin_offsetof(struct event, args), BPF_RB_NO_WAKEUP);
	}
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}

// The OOM killer marks its victim in the context of the task whose
// allocation failed; for a container's memory limit that task is in the
// container, so the same filter applies.
SEC("tp_btf/mark_victim")
int BPF_PROG(kagot_oom, struct task_struct *victim, uid_t uid)
{
	struct event *e = begin(EV_OOM);
	if (!e)
		return 0;
	e->flags = BPF_CORE_READ(victim, tgid);
	e->time_ns = bpf_ktime_get_boot_ns();
	bpf_ringbuf_output(&events, e, sizeof(*e), BPF_RB_NO_WAKEUP);
	return 0;
}
