package engine

import (
	"strings"
	"testing"

	sdcgroup "github.com/kago-run/kago/linux/cgroups/systemd"
)

func TestCgroupManagerChoice(t *testing.T) {
	e := &Engine{Root: t.TempDir()}
	want := CgroupManagerCgroupfs
	if sdcgroup.IsRunningSystemd() {
		want = CgroupManagerSystemd
	}
	if got := e.CgroupManagerName(); got != want {
		t.Errorf("default driver %q, want %q (podman's choice for this host)", got, want)
	}
	if sd, err := e.systemdCgroup(); err != nil || sd != (want == CgroupManagerSystemd) {
		t.Errorf("default: systemd=%v err=%v", sd, err)
	}
	e.Config.CgroupManager = CgroupManagerCgroupfs
	if sd, err := e.systemdCgroup(); err != nil || sd {
		t.Errorf("cgroupfs configured: systemd=%v err=%v", sd, err)
	}
	e.Config.CgroupManager = "systemd-ish"
	if _, err := e.systemdCgroup(); err == nil || !strings.Contains(err.Error(), "cgroup_manager") || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("bad cgroup_manager: error %v, want one naming the key and the file", err)
	}
	e.Config.CgroupManager = CgroupManagerSystemd
	sd, err := e.systemdCgroup()
	if sdcgroup.IsRunningSystemd() != (err == nil) || sd != (err == nil) {
		t.Errorf("systemd configured: systemd=%v err=%v", sd, err)
	}
}
