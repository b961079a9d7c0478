package seccomp

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSummarize(t *testing.T) {
	d := Summarize(Default())
	if d.Profile != "docker default" || d.DefaultAction != specs.ActErrno || d.Allowed < 250 {
		t.Errorf("docker's profile: %+v", d)
	}
	own := Summarize(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mount", "umount2", "no_such_call"}, Action: specs.ActErrno},
		{Names: []string{"mount", "getpid"}, Action: specs.ActAllow}, // mount: the first entry counts
	}})
	if own.Profile != "linux.seccomp from config.json" || own.Refused != 2 || own.Allowed != 1 {
		t.Errorf("own profile: %+v", own)
	}
}
