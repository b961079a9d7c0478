package runtime

import (
	"encoding/json"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/apparmor"
	"github.com/kago-run/kago/linux/selinux"
)

// A label the host cannot apply is refused at validation, naming the field
// (runc refuses these configs too, see test/lsm), never dropped.
func TestValidateRefusesLabelsTheHostCannotApply(t *testing.T) {
	cases := map[string]struct {
		edit    func(*specs.Spec)
		enabled bool
		want    string
	}{
		"apparmorProfile": {func(s *specs.Spec) { s.Process.ApparmorProfile = "ka5-p" }, apparmor.Enabled(), `process.apparmorProfile: "ka5-p" is set but AppArmor is not enabled`},
		"selinuxLabel":    {func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, selinux.Enabled(), "process.selinuxLabel"},
		"mountLabel":      {func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" }, selinux.Enabled(), "linux.mountLabel"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.enabled {
				t.Skip("the host has this LSM: test/lsm covers it")
			}
			s := DefaultSpec()
			tc.edit(s)
			data, _ := json.Marshal(s)
			_, err := LoadSpec(bundleWith(t, data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadSpec = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestExecInheritsTheContainersLabels(t *testing.T) {
	ctr := &specs.Process{ApparmorProfile: "ctr-profile", SelinuxLabel: "ctr-label"}
	got := inheritLabels(&specs.Process{Args: []string{"sh"}}, ctr)
	if got.ApparmorProfile != "ctr-profile" || got.SelinuxLabel != "ctr-label" {
		t.Errorf("an exec naming no labels got %q/%q, want the container's", got.ApparmorProfile, got.SelinuxLabel)
	}
	own := &specs.Process{ApparmorProfile: "own", SelinuxLabel: "own-label"}
	if got := inheritLabels(own, ctr); got.ApparmorProfile != "own" || got.SelinuxLabel != "own-label" {
		t.Errorf("an exec naming its own labels got %q/%q", got.ApparmorProfile, got.SelinuxLabel)
	}
	bare := &specs.Process{}
	inheritLabels(bare, ctr)
	if bare.ApparmorProfile != "" {
		t.Error("inheritLabels changed the caller's process")
	}
}
