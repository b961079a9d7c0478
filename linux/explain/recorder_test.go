package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// record is how a call site records a step whose values are at hand.
func record(r Recorder, path, value string) {
	if Enabled(r) {
		r.Record(Step{Feature: "cgroup", Call: "write", Path: path, Value: value, Why: "limit memory", Man: "cgroups(7)"})
	}
}

// TestOffCostsNothing: with a nil recorder a step allocates nothing.
func TestOffCostsNothing(t *testing.T) {
	var r Recorder
	if n := testing.AllocsPerRun(1000, func() { record(r, "/sys/fs/cgroup/x/memory.max", "67108864") }); n != 0 {
		t.Errorf("a step with explain off allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { Record(nil, Step{Feature: "f", Call: "c"}) }); n != 0 {
		t.Errorf("Record(nil) allocates %v times, want 0", n)
	}
}

func BenchmarkStepOff(b *testing.B) {
	var r Recorder
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		record(r, "/sys/fs/cgroup/x/memory.max", "67108864")
	}
}

func BenchmarkStepOn(b *testing.B) {
	r := &Log{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		record(r, "/sys/fs/cgroup/x/memory.max", "67108864")
	}
}

func TestWriterNumbersSteps(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf, JSON: true}
	record(w, "/a", "1")
	record(w, "/b", "2")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %q", buf.String())
	}
	for i, l := range lines {
		var s Step
		if err := json.Unmarshal([]byte(l), &s); err != nil || s.Step != i+1 || s.Man != "cgroups(7)" {
			t.Errorf("line %d %q: %+v %v", i, l, s, err)
		}
	}
	buf.Reset()
	text := &Writer{W: &buf}
	record(text, "/sys/fs/cgroup/x/memory.max", "67108864")
	if got := buf.String(); !strings.Contains(got, " 1. cgroup") || !strings.Contains(got, "memory.max = 67108864") || !strings.Contains(got, "see cgroups(7)") {
		t.Errorf("text step %q", got)
	}
	var l Log
	record(&l, "/a", "1")
	record(&l, "/b", "2")
	if s := l.Steps(); len(s) != 2 || s[1].Step != 2 || s[1].Path != "/b" {
		t.Errorf("log %+v", s)
	}
}

// TestContextAndHold: a context without a recorder gives nil at no
// allocation; Hold keeps the start steps until Release.
func TestContextAndHold(t *testing.T) {
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _ = FromContext(ctx) }); n != 0 || FromContext(ctx) != nil {
		t.Errorf("FromContext without a recorder: %v allocations", n)
	}
	if WithRecorder(ctx, nil) != ctx {
		t.Error("WithRecorder(nil) made a new context")
	}
	var l Log
	h := &Hold{R: &l}
	if FromContext(WithRecorder(ctx, h)) != h {
		t.Error("the recorder did not travel in the context")
	}
	h.Record(Step{Feature: "exec", Call: "execve", When: WhenStart})
	h.Record(Step{Feature: "network", Call: "veth"})
	if s := l.Steps(); len(s) != 1 || s[0].Feature != "network" {
		t.Fatalf("before Release: %+v", s)
	}
	h.Release()
	if s := l.Steps(); len(s) != 2 || s[1].Call != "execve" || s[1].Step != 2 {
		t.Errorf("after Release: %+v", s)
	}
}

func TestParseJSON(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf, JSON: true}
	record(w, "/a", "1")
	record(w, "/b", "2")
	steps, err := ParseJSON(buf.String() + "\n")
	if err != nil || len(steps) != 2 || steps[1].Path != "/b" || CheckNumbered(steps) != nil {
		t.Fatalf("%+v %v", steps, err)
	}
	if err := CheckNumbered([]Step{steps[1]}); err == nil {
		t.Error("a step numbered 2 first passed CheckNumbered")
	}
	if s, err := ParseJSON(buf.String() + "{\"step\":3,"); err == nil || len(s) != 2 || !strings.Contains(err.Error(), "not a step") {
		t.Errorf("a cut line: %+v %v", s, err)
	}
}
