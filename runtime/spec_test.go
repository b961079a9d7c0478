package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bundleWith writes config into a bundle directory with an empty rootfs.
func bundleWith(t testing.TB, config []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadSpecAcceptsDefaultAndNamesProblems(t *testing.T) {
	good, _ := json.Marshal(DefaultSpec())
	if _, err := LoadSpec(bundleWith(t, good)); err != nil {
		t.Fatalf("default spec rejected: %v", err)
	}
	edit := func(f func(*specs.Spec)) []byte {
		s := DefaultSpec()
		f(s)
		data, _ := json.Marshal(s)
		return data
	}
	for name, tc := range map[string]struct {
		config []byte
		want   string
	}{
		"not json":     {[]byte("{"), "not a valid OCI config"},
		"wrong type":   {[]byte(`{"ociVersion":"1.0.2","process":{"args":"sh"}}`), `"process.args"`},
		"version 2":    {edit(func(s *specs.Spec) { s.Version = "2.0.0" }), "ociVersion"},
		"no process":   {edit(func(s *specs.Spec) { s.Process = nil }), "process is missing"},
		"empty args":   {edit(func(s *specs.Spec) { s.Process.Args = nil }), "process.args"},
		"relative cwd": {edit(func(s *specs.Spec) { s.Process.Cwd = "x" }), "process.cwd"},
		"bad env":      {edit(func(s *specs.Spec) { s.Process.Env = []string{"NOEQUALS"} }), "NOEQUALS"},
		"no linux":     {edit(func(s *specs.Spec) { s.Linux = nil }), "linux section"},
		"userns no maps": {edit(func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		}), "uidMappings"},
		"maps no userns":  {edit(func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} }), "no user namespace"},
		"hostname no uts": {edit(func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:2] }), "UTS namespace"},
		"duplicate ns":    {edit(func(s *specs.Spec) { s.Linux.Namespaces = append(s.Linux.Namespaces, s.Linux.Namespaces[0]) }), "listed twice"},
		"relative hook":   {edit(func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "x"}}} }), "hooks.poststop[0].path"},
		"cgroup dotdot":   {edit(func(s *specs.Spec) { s.Linux.CgroupsPath = "/a/../b" }), `".."`},
		"oom score":       {edit(func(s *specs.Spec) { v := 5000; s.Process.OOMScoreAdj = &v }), "oomScoreAdj"},
		"rlimit soft>hard": {edit(func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 9, Hard: 1}}
		}), "soft limit"},
		"windows command line": {edit(func(s *specs.Spec) { s.Process.Args, s.Process.CommandLine = nil, "sh -c true" }), "process.commandLine"},
		"time offsets": {edit(func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}), "timeOffsets"},
	} {
		_, err := LoadSpec(bundleWith(t, tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %s", name, err, tc.want)
		}
	}
	if _, err := LoadSpec(t.TempDir()); err == nil || !strings.Contains(err.Error(), "kago-runc spec") {
		t.Errorf("missing config.json: %v", err)
	}
}

// FuzzLoadSpec feeds arbitrary bytes as config.json: LoadSpec must answer
// with a spec or an error, never a panic.
func FuzzLoadSpec(f *testing.F) {
	good, _ := json.Marshal(DefaultSpec())
	f.Add(good)
	f.Add([]byte(`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"user"}]}}`))
	f.Add([]byte(`{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"network","path":"/proc/self/ns/net"},{"type":"network"}]}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"ociVersion":"1.3.0","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/","scheduler":{"policy":"SCHED_FIFO","priority":5},"ioPriority":{"class":"IOPRIO_CLASS_BE","priority":4},"execCPUAffinity":{"initial":"0-1","final":"1"}},"mounts":[{"destination":"/x","source":"/tmp","options":["rbind","ridmap"],"uidMappings":[{"containerID":0,"hostID":1,"size":1}],"gidMappings":[{"containerID":0,"hostID":1,"size":1}]}],"linux":{"namespaces":[{"type":"time"},{"type":"network"}],"timeOffsets":{"monotonic":{"secs":5}},"personality":{"domain":"LINUX32","flags":["ADDR_NO_RANDOMIZE"]},"memoryPolicy":{"mode":"MPOL_BIND","nodes":"0-3"},"netDevices":{"eth0":{"name":"e%d"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := LoadSpec(bundleWith(t, data))
		if err == nil && (spec == nil || spec.Process == nil || spec.Linux == nil || spec.Root == nil) {
			t.Fatalf("accepted an incomplete spec: %s", data)
		}
	})
}
