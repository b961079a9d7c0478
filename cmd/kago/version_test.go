package main

import (
	"encoding/json"
	goruntime "runtime"
	"strings"
	"testing"
)

// `kago version` prints docker's layout, and --format reads docker's field
// names (Client/Server, Components with the runtime).
func TestVersion(t *testing.T) {
	root := t.TempDir()
	out := mustKago(t, root, "version")
	for _, want := range []string{"Client:\n Version:", "Server:\n Engine:\n", " Go version:  " + goruntime.Version(),
		"OS/Arch:     linux/" + goruntime.GOARCH, " kago-runc:\n  Version:", "Git commit:"} {
		if !strings.Contains(out, want) {
			t.Errorf("version lacks %q:\n%s", want, out)
		}
	}
	if got := mustKago(t, root, "version", "--format", "{{.Server.Version}}|{{.Client.Os}}"); got != version+"|linux\n" {
		t.Errorf("version --format = %q", got)
	}
	var v struct {
		Client struct{ GoVersion string }
		Server struct {
			KernelVersion string
			Components    []struct{ Name, Version string }
		}
	}
	if err := json.Unmarshal([]byte(mustKago(t, root, "version", "-f", "{{json .}}")), &v); err != nil ||
		v.Client.GoVersion != goruntime.Version() || v.Server.KernelVersion == "" || len(v.Server.Components) != 2 || v.Server.Components[1].Name != "kago-runc" {
		t.Errorf("version -f '{{json .}}': %+v %v", v, err)
	}
	if _, err := kago(t, root, "", "version", "-f", "{{.Server"); err == nil || !strings.Contains(err.Error(), `"{{.Server"`) {
		t.Errorf("version with a bad template: %v", err)
	}
}
