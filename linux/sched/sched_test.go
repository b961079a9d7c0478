package sched

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/testthread"
)

func TestFromSpecNamesTheField(t *testing.T) {
	for name, tc := range map[string]struct {
		s    specs.Scheduler
		want string
	}{
		"no policy":         {specs.Scheduler{}, "policy is required"},
		"unknown policy":    {specs.Scheduler{Policy: "SCHED_FAST"}, `policy "SCHED_FAST"`},
		"nice out of range": {specs.Scheduler{Policy: specs.SchedOther, Nice: 20}, "nice 20"},
		"priority on other": {specs.Scheduler{Policy: specs.SchedBatch, Priority: 3}, "priority is only"},
		"fifo without prio": {specs.Scheduler{Policy: specs.SchedFIFO}, "priority 0"},
		"deadline fields":   {specs.Scheduler{Policy: specs.SchedRR, Priority: 1, Runtime: 5}, "runtime/deadline/period"},
		"unknown flag":      {specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{"X"}}, `flags: "X"`},
	} {
		if _, err := FromSpec(&tc.s); err == nil || !strings.Contains(err.Error(), "process.scheduler") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming process.scheduler and %q", name, err, tc.want)
		}
	}
	a, err := FromSpec(&specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 1e6, Deadline: 5e6, Period: 1e7, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}})
	if err != nil || a.Policy != 6 || a.Flags != unix.SCHED_FLAG_RESET_ON_FORK || a.Period != 1e7 {
		t.Fatalf("deadline attr %+v, %v", a, err)
	}
}

func TestApplyReadBackFromKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("real-time policies need root")
	}
	for _, s := range []specs.Scheduler{
		{Policy: specs.SchedBatch, Nice: 7},
		{Policy: specs.SchedFIFO, Priority: 10, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}},
		{Policy: specs.SchedIdle},
	} {
		var got *unix.SchedAttr
		var err error
		testthread.Run(func() {
			if err = Apply(&s); err == nil {
				got, err = unix.SchedGetAttr(0, 0)
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", s.Policy, err)
		}
		want, _ := FromSpec(&s)
		if got.Policy != want.Policy || got.Priority != want.Priority || got.Flags&unix.SCHED_FLAG_RESET_ON_FORK != want.Flags&unix.SCHED_FLAG_RESET_ON_FORK ||
			(s.Policy == specs.SchedBatch && got.Nice != 7) {
			t.Errorf("%s: kernel reports %+v, want %+v", s.Policy, got, want)
		}
	}
}
