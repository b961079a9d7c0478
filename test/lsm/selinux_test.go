package lsm

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/selinux"
)

// Where SELinux is off, process.selinuxLabel and linux.mountLabel are
// refused, as runc refuses them (the first at validation, the second when
// its tmpfs /dev mount fails), and nothing is left behind.
func TestSELinuxRefusedWithoutSELinux(t *testing.T) {
	if selinux.Enabled() {
		t.Skip("SELinux is enabled here")
	}
	for field, edit := range map[string]func(*specs.Spec){
		"process.selinuxLabel": func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0:c1,c2" },
		"linux.mountLabel":     func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0:c1,c2" },
	} {
		for _, p := range peers(t) {
			r := p.run(t, newBundle(t, []string{"true"}, edit))
			if r.code == 0 {
				t.Errorf("%s ran a container with %s on a host without SELinux: %s", p.name, field, r)
			}
			if p.name == "kago-runc" {
				contains(t, "kago-runc's refusal", r.stderr, field, "SELinux is not enabled on this host")
			}
			p.noContainers(t)
		}
	}
}
