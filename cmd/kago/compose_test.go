package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStartLinksNoHeavyInit: kago starts three times per `kago run` (the
// client, container-start, container-exited), each paying the package init
// of all it links; compose-go's JSON schema validator, x/crypto/ssh and
// cilium/ebpf/rlimit (a bpf(2) probe) cost 30 ms of it, so kago must not
// link them: compose is the kago-compose program.
func TestStartLinksNoHeavyInit(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/kago-run/kago/cmd/kago").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, heavy := range []string{"github.com/santhosh-tekuri/jsonschema", "github.com/compose-spec/compose-go", "golang.org/x/crypto/ssh", "github.com/cilium/ebpf/rlimit"} {
			if strings.HasPrefix(pkg, heavy) {
				t.Errorf("kago links %s", pkg)
			}
		}
	}
}

// TestComposeNeedsPlugin: without kago-compose beside kago (nor on $PATH),
// `kago compose` says in one line which file is missing and how to build it.
func TestComposeNeedsPlugin(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	out, err := kago(t, t.TempDir(), "", "compose", "ps")
	if err == nil || !strings.Contains(err.Error(), "kago-compose") || !strings.Contains(err.Error(), "make build") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("kago compose without kago-compose: %v (%s)", err, out)
	}
}
