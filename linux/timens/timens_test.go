package timens

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestOffsetsText(t *testing.T) {
	got, err := Offsets(map[string]specs.LinuxTimeOffset{"monotonic": {Secs: -5, Nanosecs: 7}, "boottime": {Secs: 86400}})
	if want := "boottime 86400 0\nmonotonic -5 7\n"; err != nil || got != want {
		t.Fatalf("Offsets = %q, %v; want %q", got, err, want)
	}
	if got, err := Offsets(nil); got != "" || err != nil {
		t.Fatalf("no offsets: %q, %v", got, err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	timeNS := []specs.LinuxNamespace{{Type: specs.TimeNamespace}}
	one := map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
	for name, tc := range map[string]struct {
		offsets map[string]specs.LinuxTimeOffset
		ns      []specs.LinuxNamespace
		want    string
	}{
		"no time namespace": {one, nil, "no time namespace"},
		"joined by path":    {one, []specs.LinuxNamespace{{Type: specs.TimeNamespace, Path: "/proc/1/ns/time"}}, "joined by path"},
		"unknown clock":     {map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}}, timeNS, `clock "realtime"`},
		"nanosecs too big":  {map[string]specs.LinuxTimeOffset{"boottime": {Nanosecs: 1e9}}, timeNS, "nanosecs"},
	} {
		if err := Validate(tc.offsets, tc.ns); err == nil || !strings.Contains(err.Error(), "linux.timeOffsets") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming linux.timeOffsets and %q", name, err, tc.want)
		}
	}
	if err := Validate(one, timeNS); err != nil {
		t.Errorf("valid offsets refused: %v", err)
	}
}
