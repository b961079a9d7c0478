package containerinit

import (
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

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
