package containerinit

import (
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/caps"
	"github.com/kago-run/kago/linux/explain"
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

// explainRootfs records the mounts rootfs.Prepare made from config.json.
func explainRootfs(rec explain.Recorder, spec *specs.Spec, root string) {
	if !explain.Enabled(rec) {
		return
	}
	for _, m := range spec.Mounts {
		rec.Record(explain.Step{Feature: "mount", Call: "mount", Path: m.Destination,
			Value: "source=" + m.Source + " type=" + m.Type + " options=" + strings.Join(m.Options, ","),
			Why:   "a mount from config.json, made inside the new mount namespace under " + root, Man: "mount(2)"})
	}
}

// explainFinalize records what rootfs.Finalize did: the read-only root and
// the masked and read-only paths.
func explainFinalize(rec explain.Recorder, spec *specs.Spec) {
	if !explain.Enabled(rec) {
		return
	}
	if spec.Root != nil && spec.Root.Readonly {
		rec.Record(explain.Step{Feature: "mount", Call: "mount", Path: "/", Value: "MS_REMOUNT|MS_BIND|MS_RDONLY",
			Why: "root.readonly: the container cannot write its root filesystem", Man: "mount(2)"})
	}
	if l := spec.Linux; l != nil {
		// Finalize skips paths this kernel does not have; so does the
		// account (it runs after pivot_root: the paths are the container's).
		for _, p := range l.MaskedPaths {
			if _, err := os.Lstat(p); err != nil {
				continue
			}
			rec.Record(explain.Step{Feature: "mount", Call: "mask", Path: p,
				Why: "masked path: /dev/null or an empty tmpfs over it hides host information", Man: "mount(2)"})
		}
		for _, p := range l.ReadonlyPaths {
			if _, err := os.Lstat(p); err != nil {
				continue
			}
			rec.Record(explain.Step{Feature: "mount", Call: "remount-ro", Path: p, Value: "MS_RDONLY",
				Why: "read-only path: kernel knobs the container may read but not change", Man: "mount(2)"})
		}
	}
}

// explainExec records what exec does at start, between the exec FIFO and
// execve, in its order: rlimits, capabilities, user, no_new_privs, seccomp
// and execve itself. It is sent with the other steps before ready, so the
// runtime can print it before the user's process starts.
func explainExec(rec explain.Recorder, ex *execPlan) {
	if !explain.Enabled(rec) {
		return
	}
	const when = "at start, just before execve: "
	proc := ex.proc
	for _, r := range proc.Rlimits {
		rec.Record(explain.Step{Feature: "rlimit", Call: "prlimit", Path: r.Type, Value: fmt.Sprintf("soft=%d hard=%d", r.Soft, r.Hard),
			Why: when + "a resource limit from process.rlimits", Man: "getrlimit(2)"})
	}
	seccompStep := func() {
		rec.Record(explain.Step{Feature: "seccomp", Call: "seccomp(SECCOMP_SET_MODE_FILTER)", Value: fmt.Sprintf("%d BPF instructions", len(ex.filter.Instructions())),
			Why: when + "a BPF program the kernel runs on every system call, allowing or refusing it", Man: "seccomp(2)"})
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
			Why: when + "the bounding set caps what the process and its children can ever gain", Man: "capabilities(7)"})
		rec.Record(explain.Step{Feature: "capabilities", Call: "capset", Value: "effective: " + strings.Join(caps.Names(c.Effective), " ") + "; permitted: " + strings.Join(caps.Names(c.Permitted), " ") + "; ambient: " + strings.Join(caps.Names(c.Ambient), " "),
			Why: when + "the root privileges the process keeps, by name", Man: "capabilities(7)"})
	}
	rec.Record(explain.Step{Feature: "user", Call: "setresuid", Value: fmt.Sprintf("uid=%d gid=%d groups=%v", proc.User.UID, proc.User.GID, proc.User.AdditionalGids),
		Why: when + "the user the process runs as, inside the container's user namespace if it has one", Man: "credentials(7)"})
	if proc.NoNewPrivileges {
		rec.Record(explain.Step{Feature: "no_new_privs", Call: "prctl(PR_SET_NO_NEW_PRIVS)", Value: "1",
			Why: when + "setuid binaries and file capabilities can no longer raise privileges", Man: "prctl(2)"})
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
		Why: "the container's process replaces kago's init: from here on it is the user's program", Man: "execve(2)"})
}
