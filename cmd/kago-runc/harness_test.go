package main

import (
	"crypto/rand"
	"encoding/hex"
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

// kagoRunc is the binary under test, built once by TestMain.
var kagoRunc string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kago-runc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kagoRunc = filepath.Join(dir, "kago-runc")
	// kago-init beside kago-runc, as `make build` installs them: the
	// containers here run the small init (test/e2e covers the fallback to the
	// runtime's own binary).
	for pkg, out := range map[string]string{".": kagoRunc, "../kago-init": filepath.Join(dir, "kago-init")} {
		if prebuilt := os.Getenv("KAGO_RUNC_PREBUILT"); prebuilt != "" {
			// A machine without Go (a test VM) brings them built.
			kagoRunc = prebuilt
			break
		}
		if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, msg)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// harness drives the kago-runc binary the way containerd does: a private
// --root per test, and every container deleted when the test ends.
type harness struct {
	t    *testing.T
	root string
	bin  string // the runtime binary; "" is kago-runc (a peer such as runc otherwise)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	testbundle.RequireRoot(t)
	return &harness{t: t, root: t.TempDir()}
}

// id returns a container ID unique to this run, deleted (forcibly) at the end.
func (h *harness) id() string {
	b := make([]byte, 4)
	rand.Read(b)
	name := strings.NewReplacer("/", "-", "_", "-").Replace(h.t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	id := "kt-" + name + "-" + hex.EncodeToString(b)
	h.t.Cleanup(func() { h.runc("delete", "--force", id) })
	return id
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// runc runs kago-runc with the harness's --root.
func (h *harness) runc(args ...string) result {
	return h.runcWith(nil, nil, args...)
}

func (h *harness) runcWith(stdin *os.File, extra []*os.File, args ...string) result {
	h.t.Helper()
	bin := h.bin
	if bin == "" {
		bin = kagoRunc
	}
	cmd := exec.Command(bin, append([]string{"--root", h.root}, args...)...)
	if stdin == nil {
		null, err := os.Open(os.DevNull)
		if err != nil {
			h.t.Fatal(err)
		}
		defer null.Close()
		stdin = null
	}
	cmd.Stdin = stdin
	cmd.ExtraFiles = extra
	var r result
	r.stdout, r.stderr, r.code = testbundle.Output(h.t, cmd)
	return r
}

// must runs kago-runc and fails the test unless it exits 0.
func (h *harness) must(args ...string) string {
	h.t.Helper()
	r := h.runc(args...)
	if r.code != 0 {
		h.t.Fatalf("kago-runc %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// state returns the container's OCI state.
func (h *harness) state(id string) containerState {
	h.t.Helper()
	var st containerState
	out := h.must("state", id)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		h.t.Fatalf("state output %q: %v", out, err)
	}
	return st
}

// waitStatus polls until the container has the wanted status.
func (h *harness) waitStatus(id, want string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := h.state(id)
		if st.Status == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("container %s is %s, want %s", id, st.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bundle makes a busybox bundle from the default spec, made non-interactive
// (no terminal) and writable, then changed by edit.
func bundle(t *testing.T, args []string, edit func(*specs.Spec)) *testbundle.Bundle {
	t.Helper()
	spec := runtime.DefaultSpec()
	spec.Process.Terminal = false
	spec.Process.Args = args
	if edit != nil {
		edit(spec)
	}
	return testbundle.New(t, spec)
}

// runIn runs args in a fresh container and returns the result of `run`.
func (h *harness) runIn(args []string, edit func(*specs.Spec)) result {
	h.t.Helper()
	b := bundle(h.t, args, edit)
	return h.runc("run", "--bundle", b.Dir, h.id())
}

// mustRunIn is runIn that fails the test on a non-zero exit.
func (h *harness) mustRunIn(args []string, edit func(*specs.Spec)) string {
	h.t.Helper()
	r := h.runIn(args, edit)
	if r.code != 0 {
		h.t.Fatalf("run %v: %s", args, r)
	}
	return r.stdout
}

func sh(script string) []string { return []string{"sh", "-c", script} }

// detached starts a container in the background and returns its ID.
func (h *harness) detached(b *testbundle.Bundle, extraArgs ...string) string {
	h.t.Helper()
	id := h.id()
	r := h.runc(append(append([]string{"run", "--detach", "--bundle", b.Dir}, extraArgs...), id)...)
	if r.code != 0 {
		h.t.Fatalf("run --detach: %s", r)
	}
	return id
}
