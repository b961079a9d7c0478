package engine

import (
	"testing"

	"github.com/kago-run/kago/engine/containers"
)

func TestShouldRestart(t *testing.T) {
	rec := func(policy RestartPolicyName, max, count int, manual bool) *containers.Record {
		return &containers.Record{Restart: containers.RestartPolicy{Name: policy, MaximumRetryCount: max},
			State: containers.State{RestartCount: count, ManuallyStopped: manual}}
	}
	for _, tc := range []struct {
		r    *containers.Record
		code int
		want bool
	}{
		{rec("no", 0, 0, false), 1, false},
		{rec("always", 0, 5, false), 0, true},
		{rec("always", 0, 0, true), 1, false},
		{rec("unless-stopped", 0, 0, false), 0, true},
		{rec("on-failure", 0, 9, false), 1, true},
		{rec("on-failure", 0, 0, false), 0, false},
		{rec("on-failure", 2, 1, false), 1, true},
		{rec("on-failure", 2, 2, false), 1, false},
	} {
		if got := shouldRestart(tc.r, tc.code); got != tc.want {
			t.Errorf("%+v exit %d: restart %v, want %v", tc.r.Restart, tc.code, got, tc.want)
		}
	}
}

func TestHostAliases(t *testing.T) {
	if got := hostAliases("web-1"); len(got) != 1 {
		t.Errorf("web-1: %v", got)
	}
	for _, n := range []string{"my_app", "a.b", "-x"} {
		if got := hostAliases(n); got != nil {
			t.Errorf("%q is not a host name but became alias %v", n, got)
		}
	}
}
