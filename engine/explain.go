package engine

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/linux/explain"
)

// ExplainTarget returns what `kago explain` reads of a running container:
// its record (network endpoint, published ports), the host pid of its init
// and the pids in its cgroup.
func (e *Engine) ExplainTarget(ref string) (rec *containers.Record, initPid int, pids []int, err error) {
	rec, cg, err := e.runningCgroup(ref)
	if err != nil {
		return nil, 0, nil, err
	}
	c, err := e.runtime.Load(rec.ID)
	if err != nil {
		return nil, 0, nil, err
	}
	pids, err = cg.Pids()
	return rec, c.Pid(), pids, err
}

// explainFile is where the container-start helper writes its steps (the
// runtime's, the init's and the network's) for the kago that asked, one
// JSON object a line; it exists only while such a start is under way.
const explainFile = "explain.jsonl"

// explainImage records the image a container is made from and its layers,
// bottom first, as the snapshot store stacks them.
func explainImage(rec explain.Recorder, img *image.Image) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "image", Call: "resolve", Path: img.ID.String(), Value: strings.Join(img.RepoTags, ","),
		Why: "the image: its config (the ID is its digest) and layers, from the local store (pulled first if missing)", Man: "https://github.com/opencontainers/image-spec"})
	for i, chain := range img.ChainIDs {
		v := "diff_id=" + img.DiffIDs[i].String() + " chain_id=" + chain.String()
		if i < len(img.Layers) {
			v = "blob=" + img.Layers[i].String() + " " + v
		}
		rec.Record(explain.Step{Feature: "image", Call: "layer", Path: strconv.Itoa(i + 1), Value: v,
			Why: "a read-only layer, unpacked once in the store and shared by every container of the image", Man: "https://github.com/opencontainers/image-spec"})
	}
}

// explainMonitor records the monitor process started for a container.
func explainMonitor(rec explain.Recorder, pid int, args []string) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "monitor", Call: "fork+execve", Path: args[0], Value: "pid " + strconv.Itoa(pid) + " (setsid)",
		Why: "kago-monitor: the container's parent for its whole life (holds its stdio, writes the log, restarts it); it runs `kago container-start`, which does the steps below", Man: "setsid(2)"})
}

// requestSteps asks the monitor's start helper for its steps: an empty
// explain file it appends to. It returns the function that passes the
// steps written to rec and removes the file; nil when explain is off.
func requestSteps(rec explain.Recorder, dir string) func() {
	if rec == nil {
		return nil
	}
	path := filepath.Join(dir, explainFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		rec.Record(explain.Step{Feature: "explain", Call: "open", Path: path, Value: err.Error(), Why: "the runtime's steps cannot be shown", Man: "open(2)"})
		return nil
	}
	return func() {
		defer os.Remove(path)
		data, err := os.ReadFile(path)
		if err != nil {
			return
		}
		steps, _ := explain.ParseJSON(string(data)) // a line cut by a killed helper ends it
		for _, s := range steps {
			rec.Record(s) // renumbered after the engine's steps
		}
	}
}

// stepsRequested returns ctx carrying a recorder that writes to the explain
// file of a first start that asked for steps, and the Hold in it (nil when
// none was asked): the caller releases the start steps after the network is
// attached, then closes the file.
func stepsRequested(ctx context.Context, dir string, restart bool) (context.Context, *explain.Hold, func()) {
	if restart {
		return ctx, nil, func() {}
	}
	f, err := os.OpenFile(filepath.Join(dir, explainFile), os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0)
	if err != nil {
		return ctx, nil, func() {} // not asked (the usual case)
	}
	hold := &explain.Hold{R: &explain.Writer{W: f, JSON: true}}
	return explain.WithRecorder(ctx, hold), hold, func() { f.Close() }
}
