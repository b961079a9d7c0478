//lint:file-ignore SA1019 the deprecated prestart hooks are tested on purpose

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestHooksRunInOrderWithState(t *testing.T) {
	h := newHarness(t)
	logDir := t.TempDir()
	hostLog := filepath.Join(logDir, "hooks.log")
	// Host-side hooks append their name and the state they got on stdin.
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo " + name + " $(cat) >> " + hostLog}}
	}
	b := bundle(t, sh("echo user-process >> /hooks.log"), func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Annotations = map[string]string{"who": "hooks-test"}
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{hook("prestart")},
			CreateRuntime:   []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")},
			// startContainer runs inside the container, after pivot_root: its
			// path resolves there and it writes into the container's root.
			StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo startContainer >> /hooks.log"}}},
			Poststart:      []specs.Hook{hook("poststart")},
			Poststop:       []specs.Hook{hook("poststop")},
		}
	})
	id := h.id()
	h.must("create", "--bundle", b.Dir, id)
	h.must("start", id)
	h.waitStatus(id, "stopped")
	h.must("delete", id)

	data, err := os.ReadFile(hostLog)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, stateJSON, _ := strings.Cut(line, " ")
		order = append(order, name)
		var st specs.State
		if err := json.Unmarshal([]byte(stateJSON), &st); err != nil {
			t.Errorf("%s hook got no state JSON on stdin: %q", name, stateJSON)
			continue
		}
		if st.ID != id || st.Bundle != b.Dir || st.Annotations["who"] != "hooks-test" {
			t.Errorf("%s hook state: %+v", name, st)
		}
		if name != "poststop" && st.Pid == 0 {
			t.Errorf("%s hook state has no pid", name)
		}
	}
	want := "prestart createRuntime createContainer poststart poststop"
	if strings.Join(order, " ") != want {
		t.Errorf("host hooks ran as %v, want %s", order, want)
	}
	inside, _ := os.ReadFile(filepath.Join(b.RootfsDir(), "hooks.log"))
	if string(inside) != "startContainer\nuser-process\n" {
		t.Errorf("in-container order: %q", inside)
	}
}

func TestFailingHookUndoesCreate(t *testing.T) {
	h := newHarness(t)
	to := 1
	for name, hooks := range map[string]*specs.Hooks{
		"exit":    {CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 3"}}}},
		"timeout": {Prestart: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &to}}},
	} {
		b := bundle(t, []string{"true"}, func(s *specs.Spec) { s.Hooks = hooks })
		id := h.id()
		r := h.runc("create", "--bundle", b.Dir, id)
		if r.code == 0 || !strings.Contains(r.stderr, "hook") {
			t.Errorf("%s: create with a failing hook: %s", name, r)
		}
		if name == "timeout" && !strings.Contains(r.stderr, "timed out") {
			t.Errorf("timeout not reported: %s", r.stderr)
		}
		assertNothingLeft(t, h, id)
	}
}

// assertNothingLeft checks a failed create left no state and no cgroup.
func assertNothingLeft(t *testing.T, h *harness, id string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(h.root, id)); !os.IsNotExist(err) {
		t.Errorf("state directory of %s left behind", id)
	}
	for _, ctrl := range []string{"pids", "memory", "unified"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctrl, "kago", id)); !os.IsNotExist(err) {
			t.Errorf("%s cgroup of %s left behind", ctrl, id)
		}
	}
}
