package health

import (
	"strings"
	"testing"
	"time"
)

func TestRecord(t *testing.T) {
	c := &Config{Test: []string{"CMD", "true"}, Retries: 2, StartPeriod: time.Minute}
	start := time.Now()
	s := NewState()
	fail := Result{Start: start.Add(time.Second), ExitCode: 1, Output: strings.Repeat("x", MaxOutput+10)}
	s.Record(c, fail, start)
	if s.Status != Starting || s.FailingStreak != 0 {
		t.Fatalf("a failure in the start period counted: %+v", s)
	}
	if len(s.Log[0].Output) != MaxOutput {
		t.Fatalf("output kept %d bytes, want %d", len(s.Log[0].Output), MaxOutput)
	}
	s.Record(c, Result{Start: start.Add(2 * time.Second)}, start)
	if s.Status != Healthy {
		t.Fatalf("a success: %+v", s.Status)
	}
	// After the first success, failures count even in the start period.
	s.Record(c, fail, start)
	s.Record(c, fail, start)
	if s.Status != Unhealthy || s.FailingStreak != 2 {
		t.Fatalf("two failures with retries 2: %s %d", s.Status, s.FailingStreak)
	}
	for range 5 {
		s.Record(c, fail, start)
	}
	if len(s.Log) != MaxLog {
		t.Fatalf("log keeps %d, want %d", len(s.Log), MaxLog)
	}
}

func TestMerge(t *testing.T) {
	img := &Config{Test: []string{"CMD-SHELL", "img"}, Interval: time.Second, Retries: 5}
	if got := Merge(nil, img); got == nil || got.Test[1] != "img" || got.Retries != 5 {
		t.Fatalf("image only: %+v", got)
	}
	got := Merge(&Config{Interval: 2 * time.Second}, img)
	if got.Test[1] != "img" || got.Interval != 2*time.Second || got.Retries != 5 {
		t.Fatalf("request timing over the image's test: %+v", got)
	}
	if got := Merge(&Config{Test: []string{"NONE"}}, img); got != nil {
		t.Fatalf("NONE: %+v", got)
	}
	if got := Merge(&Config{Interval: time.Second}, nil); got != nil {
		t.Fatalf("timing without a test: %+v", got)
	}
	if a := (&Config{Test: []string{"CMD-SHELL", "x y"}}).Args(); len(a) != 3 || a[0] != "/bin/sh" {
		t.Fatalf("CMD-SHELL args: %v", a)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{Test: []string{"CMD"}}, {Test: []string{"CMD-SHELL"}}, {Test: []string{"NONE", "x"}},
		{Test: []string{"RUN", "x"}}, {Interval: time.Microsecond}, {Retries: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (&Config{Test: []string{"CMD", "true"}, Interval: time.Second}).Validate(); err != nil {
		t.Error(err)
	}
}
