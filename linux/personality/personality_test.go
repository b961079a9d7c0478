package personality

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/internal/testthread"
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
		testthread.Run(func() {
			if err = Apply(p); err == nil {
				got, err = os.ReadFile("/proc/thread-self/personality")
			}
		})
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("%+v: /proc/thread-self/personality %q, want %s (%v)", p, got, want, err)
		}
	}
}
