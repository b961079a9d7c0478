package personality

import (
	"os"
	goruntime "runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValueNamesTheField(t *testing.T) {
	for _, p := range []specs.LinuxPersonality{{Domain: "LINUX64"}, {Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"FAST"}}} {
		if _, err := Value(&p); err == nil || !strings.Contains(err.Error(), "linux.personality") {
			t.Errorf("%+v: error %v, want one naming linux.personality", p, err)
		}
	}
}

func TestApplyReadBackFromKernel(t *testing.T) {
	for p, want := range map[*specs.LinuxPersonality]string{
		{Domain: specs.PerLinux32}: "00000008",
		{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}}: "00040000",
	} {
		var got []byte
		var err error
		done := make(chan struct{})
		go func() {
			goruntime.LockOSThread() // never unlocked: the thread exits with the goroutine
			defer close(done)
			if err = Apply(p); err == nil {
				got, err = os.ReadFile("/proc/thread-self/personality")
			}
		}()
		<-done
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("%+v: /proc/thread-self/personality %q, want %s (%v)", p, got, want, err)
		}
	}
}
