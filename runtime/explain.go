package runtime

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kago-run/kago/linux/cgroups"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/linux/ns"
)

// explainSpawn records how init got its namespaces: those joined by path
// (setns), the clone flags of new ones, those unshared after the clone, and
// the host pid the kernel gave it. It does nothing when rec is nil.
func explainSpawn(rec explain.Recorder, req spawnRequest, pid int) {
	if !explain.Enabled(rec) {
		return
	}
	for _, j := range req.joins {
		rec.Record(explain.Step{Feature: "namespaces", Call: "setns", Path: j.Path, Value: j.Kind.ProcName,
			Why: "join an existing " + j.Kind.ProcName + " namespace named by path in config.json", Man: "setns(2)"})
	}
	if req.newNS != 0 {
		rec.Record(explain.Step{Feature: "namespaces", Call: "clone", Value: cloneFlags(req.newNS),
			Why: "start init in new namespaces: it sees its own " + strings.Join(nsNames(req.newNS), ", "), Man: "namespaces(7)"})
	}
	if req.unshare != 0 {
		rec.Record(explain.Step{Feature: "namespaces", Call: "unshare", Value: cloneFlags(req.unshare),
			Why: "make these namespaces after the joins, so they belong to the joined user namespace or get time offsets first", Man: "unshare(2)"})
	}
	rec.Record(explain.Step{Feature: "process", Call: "pid", Path: fmt.Sprintf("/proc/%d", pid), Value: strconv.Itoa(pid),
		Why: "the host pid of the container's init; inside a new pid namespace it is pid 1", Man: "pid_namespaces(7)"})
}

// explainCgroup records the cgroup made for init and init's move into it.
func explainCgroup(rec explain.Recorder, cg cgroups.Manager, pid int, bornIn bool) {
	if !explain.Enabled(rec) {
		return
	}
	dirs := []string{cg.Path("")}
	for _, c := range []string{"memory", "cpu", "pids", "cpuset", "blkio", "devices", "freezer"} {
		dirs = append(dirs, cg.Path(c))
	}
	seen := map[string]bool{}
	var made []string
	for _, d := range dirs {
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		made = append(made, d)
		rec.Record(explain.Step{Feature: "cgroup", Call: "mkdir", Path: d,
			Why: "a cgroup directory whose files limit and count what the container uses", Man: "cgroups(7)"})
	}
	for _, d := range made {
		if bornIn {
			rec.Record(explain.Step{Feature: "cgroup", Call: "clone3", Path: d, Value: "CLONE_INTO_CGROUP",
				Why: "init (and so every process it starts) is born in the cgroup: nothing moves it there", Man: "clone(2)"})
			continue
		}
		rec.Record(explain.Step{Feature: "cgroup", Call: "write", Path: d + "/cgroup.procs", Value: strconv.Itoa(pid),
			Why: "move init (and so every process it starts) into the cgroup", Man: "cgroups(7)"})
	}
}

// cloneFlags spells clone flags as the kernel names them: CLONE_NEWNS|...
func cloneFlags(flags uintptr) string {
	var out []string
	for _, n := range nsNames(flags) {
		if n == "mnt" {
			n = "ns" // the first namespace, named before there were others
		}
		out = append(out, "CLONE_NEW"+strings.ToUpper(n))
	}
	return strings.Join(out, "|")
}

func nsNames(flags uintptr) []string {
	var out []string
	for _, k := range ns.Kinds() {
		if flags&k.Flag != 0 {
			out = append(out, k.ProcName)
		}
	}
	return out
}

// forwardSteps passes init's steps, sent over the sync channel, to rec in
// their order; the recorder numbers them after the runtime's own.
func forwardSteps(rec explain.Recorder, body []byte) error {
	if !explain.Enabled(rec) {
		return nil // init records only when asked; an unasked report is dropped
	}
	var steps []explain.Step
	if err := json.Unmarshal(body, &steps); err != nil {
		return fmt.Errorf("decode init's explain steps: %w", err)
	}
	for _, s := range steps {
		rec.Record(s)
	}
	return nil
}
