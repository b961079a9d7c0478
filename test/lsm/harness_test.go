// Package lsm checks AppArmor and SELinux from outside, on the real kernel:
// kago-runc and runc side by side on the same bundles, and the engine's
// kago-default profile through the kago binary.
//
// On a host without AppArmor (this project's CI kernel has no LSM) the tests
// that need it skip and the refusals are checked instead; `make
// test-lsm-vm` (test/lsm/vm.sh) runs the same test binary in a Debian VM
// with AppArmor enabled, where the confinement tests run.
//
// The binaries under test are built by TestMain, or taken from
// $KAGO_TEST_BINDIR (kago-runc, kago-init, kago, kago-monitor), which is how
// the VM gets them: it has no Go toolchain.
package lsm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/runtime"
)

// binDir holds the kago binaries under test.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		if binDir = os.Getenv("KAGO_TEST_BINDIR"); binDir != "" {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "ka5-lsm-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-o", dir+"/", "github.com/kago-run/kago/cmd/kago-runc",
			"github.com/kago-run/kago/cmd/kago-init", "github.com/kago-run/kago/cmd/kago",
			"github.com/kago-run/kago/cmd/kago-monitor")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build kago: %v\n%s", err, out)
			return 1
		}
		binDir = dir
		return m.Run()
	}())
}

// result is what one command did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// command runs bin with args and a one-minute limit.
func command(t *testing.T, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var r result
	r.stdout, r.stderr, r.code = testbundle.Output(t, exec.CommandContext(ctx, bin, args...))
	return r
}

// peer is an OCI runtime with a private --root: kago-runc, or runc to
// compare with.
type peer struct {
	name, bin, root string
	seq             int
}

// peers returns kago-runc and, where it is installed, runc.
func peers(t *testing.T) []*peer {
	t.Helper()
	testbundle.RequireRoot(t)
	ps := []*peer{{name: "kago-runc", bin: filepath.Join(binDir, "kago-runc"), root: t.TempDir()}}
	if bin, err := exec.LookPath("runc"); err == nil {
		ps = append(ps, &peer{name: "runc", bin: bin, root: t.TempDir()})
	} else {
		t.Log("runc is not installed: kago-runc only")
	}
	return ps
}

func (p *peer) do(t *testing.T, args ...string) result {
	t.Helper()
	return command(t, p.bin, append([]string{"--root", p.root}, args...)...)
}

// id is a fresh container ID, deleted with --force when the test ends.
func (p *peer) id(t *testing.T) string {
	p.seq++
	id := fmt.Sprintf("ka5-lsm-%d-%d", os.Getpid(), p.seq)
	t.Cleanup(func() { p.do(t, "delete", "--force", id) })
	return id
}

// run runs a fresh container of b in the foreground.
func (p *peer) run(t *testing.T, b *testbundle.Bundle) result {
	t.Helper()
	return p.do(t, "run", "--bundle", b.Dir, p.id(t))
}

// detached starts a container of b in the background and returns its ID.
func (p *peer) detached(t *testing.T, b *testbundle.Bundle) string {
	t.Helper()
	id := p.id(t)
	if r := p.do(t, "run", "--detach", "--bundle", b.Dir, id); r.code != 0 {
		t.Fatalf("%s run --detach: %s", p.name, r)
	}
	return id
}

// noContainers fails the test if the peer still lists a container: a
// refused create must leave nothing behind.
func (p *peer) noContainers(t *testing.T) {
	t.Helper()
	if r := p.do(t, "list", "-q"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("%s list after a refused create: %s", p.name, r)
	}
}

// secret is a file in every test rootfs that the test profile denies.
const secret = "/ka5-secret"

// newBundle makes a busybox bundle running args, with the secret file, from
// kago's default spec (no terminal) changed by edit.
func newBundle(t *testing.T, args []string, edit func(*specs.Spec)) *testbundle.Bundle {
	t.Helper()
	spec := runtime.DefaultSpec()
	spec.Process.Terminal = false
	spec.Process.Args = args
	if edit != nil {
		edit(spec)
	}
	b := testbundle.New(t, spec)
	if err := os.WriteFile(filepath.Join(b.RootfsDir(), secret), []byte("ka5 secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// loadProfile loads an AppArmor profile with apparmor_parser and unloads it
// when the test ends.
func loadProfile(t *testing.T, text string) {
	t.Helper()
	parser := func(flag string) error {
		cmd := exec.Command("apparmor_parser", flag)
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apparmor_parser %s: %v: %s", flag, err, out)
		}
		return nil
	}
	if err := parser("-Kr"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := parser("-R"); err != nil {
			t.Error(err)
		}
	})
}

// engine is one kago root with the busybox image imported as "bb".
type engine struct {
	t    *testing.T
	root string
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	testbundle.RequireRoot(t)
	e := &engine{t: t, root: t.TempDir()}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := testbundle.Rootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "bb.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	// Its own bridge and table names, though the tests use --network none.
	cfg := `{"Network":{"BridgeName":"ka5lsm0","Subnet":"10.215.77.0/24","TableName":"ka5lsm"}}`
	if err := os.WriteFile(filepath.Join(e.root, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ids := strings.Fields(e.ok("ps", "-aq")); len(ids) > 0 {
			e.kago(append([]string{"rm", "-f"}, ids...)...)
		}
	})
	e.ok("import", tarball, "bb:latest")
	return e
}

func (e *engine) kago(args ...string) result {
	e.t.Helper()
	return command(e.t, filepath.Join(binDir, "kago"), append([]string{"--root", e.root}, args...)...)
}

// ok runs kago, fails the test unless it succeeds, and returns its stdout.
func (e *engine) ok(args ...string) string {
	e.t.Helper()
	r := e.kago(args...)
	if r.code != 0 {
		e.t.Fatalf("kago %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// appArmorProfile is `kago inspect`'s AppArmorProfile of a container.
func (e *engine) appArmorProfile(id string) string {
	e.t.Helper()
	var list []struct{ AppArmorProfile string }
	if err := json.Unmarshal([]byte(e.ok("inspect", id)), &list); err != nil || len(list) != 1 {
		e.t.Fatalf("inspect %s: %v (%d entries)", id, err, len(list))
	}
	return list[0].AppArmorProfile
}

// contains fails the test unless s contains every one of want.
func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s: %q lacks %q", what, s, w)
		}
	}
}

// lacks fails the test if s contains any of unwanted.
func lacks(t *testing.T, what, s string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(s, u) {
			t.Errorf("%s: %q has %q", what, s, u)
		}
	}
}
