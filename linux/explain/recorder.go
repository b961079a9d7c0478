package explain

import (
	"encoding/json"
	"fmt"
	"io"
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
}

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
