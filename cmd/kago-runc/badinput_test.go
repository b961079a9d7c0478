package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	sdcgroup "github.com/kago-run/kago/linux/cgroups/systemd"
)

// oneLine checks an error is a single line naming what is wrong.
func oneLine(t *testing.T, what string, r result, mentions ...string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("%s: succeeded, want an error", what)
		return
	}
	msg := strings.TrimSpace(r.stderr)
	if strings.Count(msg, "\n") != 0 || msg == "" {
		t.Errorf("%s: error is not one line:\n%s", what, msg)
	}
	if strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
		t.Errorf("%s: Go crash instead of an error:\n%s", what, msg)
	}
	for _, m := range mentions {
		if !strings.Contains(msg, m) {
			t.Errorf("%s: error %q does not mention %q", what, msg, m)
		}
	}
}

func TestBadBundles(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name     string
		edit     func(b string)
		mentions []string
	}{
		{"missing config", func(b string) { os.Remove(filepath.Join(b, "config.json")) }, []string{"config.json", "kago-runc spec"}},
		{"malformed config", func(b string) {
			os.WriteFile(filepath.Join(b, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": `), 0o644)
		}, []string{"config.json"}},
		{"wrong type", func(b string) {
			os.WriteFile(filepath.Join(b, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {"args": "sh"}}`), 0o644)
		}, []string{"config.json", "args"}},
		{"unknown namespace", func(b string) {
			editConfig(t, b, func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			})
		}, []string{"bogus"}},
		{"missing rootfs", func(b string) { os.RemoveAll(filepath.Join(b, "rootfs")) }, []string{"rootfs"}},
		{"namespace path", func(b string) {
			editConfig(t, b, func(s *specs.Spec) {
				s.Linux.Namespaces[1] = specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/nonexistent/ns"}
			})
		}, []string{"/nonexistent/ns"}},
		{"cgroup path with ..", func(b string) {
			editConfig(t, b, func(s *specs.Spec) { s.Linux.CgroupsPath = "/kago/../../etc" })
		}, []string{".."}},
		{"relative cwd", func(b string) { editConfig(t, b, func(s *specs.Spec) { s.Process.Cwd = "tmp" }) }, []string{"cwd"}},
		{"bad rlimit", func(b string) {
			editConfig(t, b, func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}} })
		}, []string{"RLIMIT_BOGUS"}},
		{"unknown capability", func(b string) {
			editConfig(t, b, func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_BOGUS"} })
		}, []string{"CAP_BOGUS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := bundle(t, []string{"true"}, nil)
			tc.edit(b.Dir)
			id := h.id()
			oneLine(t, tc.name, h.runc("create", "--bundle", b.Dir, id), tc.mentions...)
			assertNothingLeft(t, h, id)
		})
	}
}

func editConfig(t *testing.T, bundle string, edit func(*specs.Spec)) {
	t.Helper()
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	edit(&s)
	data, _ = json.Marshal(&s)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadIDsAndVerbs(t *testing.T) {
	h := newHarness(t)
	b := bundle(t, []string{"sleep", "100"}, nil)
	id := h.detached(b)
	oneLine(t, "duplicate id", h.runc("create", "--bundle", b.Dir, id), id, "exists")
	if st := h.state(id); st.Status != "running" {
		t.Errorf("duplicate create disturbed the existing container: %s", st.Status)
	}
	oneLine(t, "invalid id", h.runc("create", "--bundle", b.Dir, "../escape"), "../escape")
	for _, verb := range [][]string{{"state"}, {"start"}, {"kill"}, {"delete"}, {"pause"}, {"resume"}, {"ps"}, {"exec"}} {
		args := append(append([]string{}, verb...), "no-such-container")
		if verb[0] == "exec" {
			args = append(args, "true")
		}
		oneLine(t, verb[0]+" unknown id", h.runc(args...), "no-such-container", "does not exist")
	}
	oneLine(t, "unknown verb flag", h.runc("create", "--no-such-flag", "x"), "no-such-flag")
	oneLine(t, "missing id", h.runc("start"), "container ID")
	h.must("--systemd-cgroup", "list")
	sb := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:kago:x" })
	if !sdcgroup.IsRunningSystemd() {
		// Where PID 1 is not systemd, --systemd-cgroup says so in one line.
		sid := h.id()
		oneLine(t, "systemd cgroup without systemd", h.runc("--systemd-cgroup", "create", "--bundle", sb.Dir, sid), "systemd", "PID 1")
		assertNothingLeft(t, h, sid)
	}
	// A cgroupsPath that is no slice:prefix:name, given to the systemd driver.
	bb := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Linux.CgroupsPath = "/kago/x" })
	bid := h.id()
	oneLine(t, "cgroupfs path with --systemd-cgroup", h.runc("--systemd-cgroup", "create", "--bundle", bb.Dir, bid), "/kago/x", "slice:prefix:name")
	assertNothingLeft(t, h, bid)
}

// Without --systemd-cgroup a slice:prefix:name cgroupsPath is what runc's
// cgroupfs driver makes of it: one relative cgroup of that name under
// kago-runc's own, removed by delete.
func TestSlicePathWithCgroupfsDriver(t *testing.T) {
	h := newHarness(t)
	id := h.id()
	name := "ks7.slice:ktest:" + id
	b := bundle(t, []string{"sleep", "100"}, func(s *specs.Spec) { s.Linux.CgroupsPath = name })
	h.must("run", "--detach", "--bundle", b.Dir, id)
	pid := h.state(id).InitProcessPid
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "0::") {
			dir = strings.TrimPrefix(line, "0::")
		}
	}
	var self string
	for _, line := range strings.Split(string(own), "\n") {
		if strings.HasPrefix(line, "0::") {
			self = strings.TrimPrefix(line, "0::")
		}
	}
	if dir != path.Join(self, name) {
		t.Fatalf("container's cgroup is %q, want %q", dir, path.Join(self, name))
	}
	unified := "/sys/fs/cgroup/unified"
	if _, err := os.Stat(unified + "/cgroup.procs"); err != nil {
		unified = "/sys/fs/cgroup"
	}
	h.must("delete", "--force", id)
	if _, err := os.Stat(unified + dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left after delete: %v", unified+dir, err)
	}
}

func TestJSONErrorLog(t *testing.T) {
	h := newHarness(t)
	logFile := filepath.Join(t.TempDir(), "log.json")
	r := h.runc("--log", logFile, "--log-format", "json", "state", "no-such-container")
	if r.code == 0 {
		t.Fatal("state of a missing container succeeded")
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var entry map[string]string
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &entry); err != nil {
		t.Fatalf("log line is not JSON: %q", data)
	}
	if entry["level"] != "error" || !strings.Contains(entry["msg"], "no-such-container") || entry["time"] == "" {
		t.Errorf("log entry %v is not a runc-style error line", entry)
	}
	// Without --log, --log-format json puts the JSON line on stderr.
	r = h.runc("--log-format", "json", "state", "no-such-container")
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stderr)), &entry); err != nil || entry["level"] != "error" {
		t.Errorf("stderr in json format: %q", r.stderr)
	}
}
