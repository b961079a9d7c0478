package ioprio

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/testthread"
)

func TestValueNamesTheField(t *testing.T) {
	for _, p := range []specs.LinuxIOPriority{{Class: "IOPRIO_CLASS_FAST"}, {Class: specs.IOPRIO_CLASS_BE, Priority: 8}, {Class: specs.IOPRIO_CLASS_BE, Priority: -1}} {
		if _, err := Value(&p); err == nil || !strings.Contains(err.Error(), "process.ioPriority") {
			t.Errorf("%+v: error %v, want one naming process.ioPriority", p, err)
		}
	}
}

func TestApplyReadBackFromKernel(t *testing.T) {
	for _, p := range []specs.LinuxIOPriority{{Class: specs.IOPRIO_CLASS_IDLE}, {Class: specs.IOPRIO_CLASS_BE, Priority: 6}} {
		var class specs.IOPriorityClass
		var level int
		var err error
		testthread.Run(func() {
			if err = Apply(&p); err == nil {
				class, level, err = Get(unix.Gettid())
			}
		})
		if err != nil || class != p.Class || level != p.Priority {
			t.Errorf("set %+v, kernel reports %s %d (%v)", p, class, level, err)
		}
	}
}
