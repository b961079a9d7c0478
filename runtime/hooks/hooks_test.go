package hooks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunPassesStateAndStopsAtFirstFailure(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	list := []specs.Hook{
		{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + out}},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "echo broken >&2; exit 4"}},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "echo must-not-run >> " + out}},
	}
	err := Run(context.Background(), "createRuntime", list, &specs.State{ID: "c1", Pid: 42, Bundle: "/b"})
	if err == nil || !strings.Contains(err.Error(), "createRuntime hook #1") || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("error %v should name the hook and carry its stderr", err)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), `"id":"c1"`) || !strings.Contains(string(data), `"pid":42`) {
		t.Errorf("hook got state %q", data)
	}
	if strings.Contains(string(data), "must-not-run") {
		t.Error("a hook after the failing one ran")
	}
}

func TestRunTimeoutAndEnv(t *testing.T) {
	one := 1
	err := Run(context.Background(), "poststart", []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "20"}, Timeout: &one}}, &specs.State{})
	if err == nil || !strings.Contains(err.Error(), "timed out after 1s") {
		t.Fatalf("timeout error = %v", err)
	}
	out := filepath.Join(t.TempDir(), "env")
	hook := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo $HOOKVAR > " + out}, Env: []string{"HOOKVAR=set"}}
	if err := Run(context.Background(), "poststop", []specs.Hook{hook}, &specs.State{}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(out); strings.TrimSpace(string(data)) != "set" {
		t.Errorf("hook env: %q", data)
	}
}
