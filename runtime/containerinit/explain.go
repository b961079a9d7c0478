package containerinit

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/caps"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/linux/seccomp"
	"github.com/kago-run/kago/runtime/syncmsg"
)

// initRecorder keeps init's steps until they go back to the runtime over
// the sync channel (init's stderr is the container's); nil when explain is
// off, so the init does no explain work.
func initRecorder(on bool) *explain.Log {
	if !on {
		return nil
	}
	return &explain.Log{}
}

// recorder turns a nil *Log into a nil Recorder (not a typed nil).
func recorder(l *explain.Log) explain.Recorder {
	if l == nil {
		return nil
	}
	return l
}

// sendSteps sends the recorded steps to the runtime, before Ready.
func sendSteps(conn *syncmsg.Conn, l *explain.Log) error {
	if l == nil {
		return nil
	}
	return conn.Send(syncmsg.TypeExplain, l.Steps(), nil)
}

// explainExec records what exec does at start, between the exec FIFO and
// execve, in its order: rlimits, capabilities, user, no_new_privs, seccomp
// and execve itself. It is sent with the other steps before ready, so the
// runtime can print it before the user's process starts.
func explainExec(rec explain.Recorder, ex *execPlan, profile *specs.LinuxSeccomp) {
	if !explain.Enabled(rec) {
		return
	}
	const when = "at start, just before execve: "
	proc := ex.proc
	for _, r := range proc.Rlimits {
		rec.Record(explain.Step{Feature: "rlimit", Call: "prlimit", Path: r.Type, Value: fmt.Sprintf("soft=%d hard=%d", r.Soft, r.Hard),
			When: explain.WhenStart, Why: when + "a resource limit from process.rlimits", Man: "getrlimit(2)"})
	}
	seccompStep := func() {
		value := fmt.Sprintf("%d BPF instructions", len(ex.filter.Instructions()))
		if profile != nil {
			sum := seccomp.Summarize(profile)
			value = fmt.Sprintf("profile=%q default=%s allowed=%d refused=%d program=%d BPF instructions", sum.Profile, sum.DefaultAction, sum.Allowed, sum.Refused, len(ex.filter.Instructions()))
		}
		rec.Record(explain.Step{Feature: "seccomp", Call: "seccomp(SECCOMP_SET_MODE_FILTER)", Value: value,
			When: explain.WhenStart, Why: when + "a BPF program the kernel runs on every system call, allowing or refusing it", Man: "seccomp(2)"})
	}
	// exec's order: a filter goes first when already loaded (it needs a
	// listener) or when, without no_new_privs, loading needs CAP_SYS_ADMIN.
	early := ex.filter != nil && (ex.loaded || !proc.NoNewPrivileges)
	if early {
		seccompStep()
	}
	if c := ex.caps; c != nil {
		dropped := "(unknown)"
		if last, err := caps.LastCap(); err == nil {
			dropped = strings.Join(caps.Names(^c.Bounding&(uint64(1)<<(last+1)-1)), " ")
		}
		rec.Record(explain.Step{Feature: "capabilities", Call: "prctl(PR_CAPBSET_DROP)", Value: "kept: " + strings.Join(caps.Names(c.Bounding), " ") + "; dropped: " + dropped,
			When: explain.WhenStart, Why: when + "the bounding set caps what the process and its children can ever gain", Man: "capabilities(7)"})
		rec.Record(explain.Step{Feature: "capabilities", Call: "capset", Value: "effective: " + strings.Join(caps.Names(c.Effective), " ") + "; permitted: " + strings.Join(caps.Names(c.Permitted), " ") + "; ambient: " + strings.Join(caps.Names(c.Ambient), " "),
			When: explain.WhenStart, Why: when + "the root privileges the process keeps, by name", Man: "capabilities(7)"})
	}
	rec.Record(explain.Step{Feature: "user", Call: "setresuid", Value: fmt.Sprintf("uid=%d gid=%d groups=%v", proc.User.UID, proc.User.GID, proc.User.AdditionalGids),
		When: explain.WhenStart, Why: when + "the user the process runs as, inside the container's user namespace if it has one", Man: "credentials(7)"})
	if proc.NoNewPrivileges {
		rec.Record(explain.Step{Feature: "no_new_privs", Call: "prctl(PR_SET_NO_NEW_PRIVS)", Value: "1",
			When: explain.WhenStart, Why: when + "setuid binaries and file capabilities can no longer raise privileges", Man: "prctl(2)"})
	}
	if ex.filter != nil && !early {
		seccompStep()
	}
	keys := make([]string, 0, len(ex.env))
	for _, kv := range ex.env {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	rec.Record(explain.Step{Feature: "exec", Call: "execve", Path: ex.path, Value: fmt.Sprintf("argv=%q env keys=%s", proc.Args, strings.Join(keys, ",")),
		When: explain.WhenStart, Why: "the container's process replaces kago's init: from here on it is the user's program", Man: "execve(2)"})
}
