package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Step is one Linux feature applied to a container: the system call made or
// the file written, with the real values, one line of why, and the manual
// page that explains it.
type Step struct {
	Step    int    `json:"step"`
	Feature string `json:"feature"`         // "namespaces", "cgroup", "mount", "capabilities"...
	Call    string `json:"call"`            // "clone", "setns", "mkdir", "write", "pivot_root"...
	Path    string `json:"path,omitempty"`  // file or namespace path the call acted on
	Value   string `json:"value,omitempty"` // what was written or passed
	Why     string `json:"why"`
	Man     string `json:"man,omitempty"` // e.g. "cgroups(7)"
	// When is WhenStart for a step the init prepares during create and
	// does at start, just before execve; empty for a step done as recorded.
	When string `json:"when,omitempty"`
}

// WhenStart marks the steps done at start rather than at create.
const WhenStart = "start"

// Recorder receives steps as they are done. A nil Recorder is valid and
// records nothing: callers pass values that are already at hand (no
// formatting), and check Enabled before building anything costly, so a
// runtime with explain off pays one nil check per step.
type Recorder interface {
	Record(s Step)
}

// Enabled reports whether r records; use it to guard a step whose values
// take work (fmt.Sprint, joining lists) to build.
func Enabled(r Recorder) bool { return r != nil }

// Record sends s to r; it is a no-op on a nil r, so call sites need no check
// when the values are already strings.
func Record(r Recorder, s Step) {
	if r != nil {
		r.Record(s)
	}
}

// Log is a Recorder that keeps the steps in order and numbers them from 1.
// It is safe for concurrent use.
type Log struct {
	mu    sync.Mutex
	steps []Step
}

// Record appends s, numbered after the steps before it.
func (l *Log) Record(s Step) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.Step = len(l.steps) + 1
	l.steps = append(l.steps, s)
}

// Steps returns a copy of the steps recorded so far.
func (l *Log) Steps() []Step {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Step(nil), l.steps...)
}

// Writer is a Recorder that prints each step as it comes, numbered from 1:
// one JSON object a line when JSON is set, otherwise a human line
// "N. feature: call path = value  (why; see man)".
type Writer struct {
	W    io.Writer
	JSON bool

	mu sync.Mutex
	n  int
}

// Record prints s.
func (w *Writer) Record(s Step) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	s.Step = w.n
	if w.JSON {
		data, _ := json.Marshal(s) // a Step of strings always marshals
		fmt.Fprintf(w.W, "%s\n", data)
		return
	}
	fmt.Fprintln(w.W, FormatStep(s))
}

// FormatStep is the human form of one step.
func FormatStep(s Step) string {
	line := fmt.Sprintf("%2d. %-12s %s", s.Step, s.Feature, s.Call)
	if s.Path != "" {
		line += " " + s.Path
	}
	if s.Value != "" {
		line += " = " + s.Value
	}
	line += "   # " + s.Why
	if s.Man != "" {
		line += "; see " + s.Man
	}
	return line
}

type ctxKey struct{}

// WithRecorder returns ctx carrying rec, for the engine's layers (image
// store, snapshots, network) that take a context but no recorder: a step is
// recorded where the work is done without every signature on the way
// naming explain.
func WithRecorder(ctx context.Context, rec Recorder) context.Context {
	if rec == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, rec)
}

// FromContext is the recorder ctx carries, or nil (explain off).
func FromContext(ctx context.Context) Recorder {
	rec, _ := ctx.Value(ctxKey{}).(Recorder)
	return rec
}

// Hold passes steps on to R as they come, except those done at start
// (When == WhenStart), which it keeps until Release: the engine attaches the
// network between the runtime's create and start, and the account keeps the
// order in which things are really done.
type Hold struct {
	R Recorder

	mu   sync.Mutex
	held []Step
}

// Record passes s on, or keeps it if it is done at start.
func (h *Hold) Record(s Step) {
	if s.When == WhenStart {
		h.mu.Lock()
		h.held = append(h.held, s)
		h.mu.Unlock()
		return
	}
	h.R.Record(s)
}

// Release passes on the steps kept, in their order.
func (h *Hold) Release() {
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.mu.Unlock()
	for _, s := range held {
		h.R.Record(s)
	}
}

// ParseJSON reads an account printed with JSON set (one step a line; blank
// lines are skipped), in order. A line that is not a step is an error
// naming it.
func ParseJSON(data string) ([]Step, error) {
	var steps []Step
	for _, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var s Step
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return steps, fmt.Errorf("explain line %q is not a step: %w", line, err)
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// CheckNumbered reports the first step that is not numbered in sequence
// from 1 or lacks a why or a manual page: every printed step has both.
func CheckNumbered(steps []Step) error {
	for i, s := range steps {
		if s.Step != i+1 || s.Why == "" || s.Man == "" {
			return fmt.Errorf("step %+v: want number %d, a why and a manual page", s, i+1)
		}
	}
	return nil
}
