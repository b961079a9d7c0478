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
	why := "the host pid of the container's init"
	if ns := explain.NSpid(pid); len(ns) > 0 {
		why += "; the container sees it as pid " + strconv.Itoa(ns[len(ns)-1]) + " (NSpid in /proc/" + strconv.Itoa(pid) + "/status)"
	}
	rec.Record(explain.Step{Feature: "process", Call: "pid", Path: fmt.Sprintf("/proc/%d", pid), Value: strconv.Itoa(pid),
		Why: why, Man: "pid_namespaces(7)"})
}

// explainBornIn records that init was born in its cgroup: the manager
// records the directories it makes and the files it writes, but on pure
// cgroup v2 no write moves init there.
func explainBornIn(rec explain.Recorder, cg cgroups.Manager) {
	if !explain.Enabled(rec) {
		return
	}
	rec.Record(explain.Step{Feature: "cgroup", Call: "clone3", Path: cg.Path(""), Value: "CLONE_INTO_CGROUP",
		Why: "init (and so every process it starts) is born in the cgroup: nothing moves it there", Man: "clone(2)"})
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
