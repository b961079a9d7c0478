// Package testbundle builds OCI bundles for tests: a rootfs made from the host's
// static busybox (Debian's busybox-static package) and a config.json from the
// runtime's default spec. Tests that need a real container call New and get a
// directory that is removed when the test ends.
package testbundle

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// RequireRoot skips the test unless it runs as root with busybox-static present.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("needs %s (apt-get install busybox-static)", BusyboxPath)
	}
}

// Rootfs fills dir with a busybox root filesystem: /bin/busybox, one symlink per
// applet, and the empty directories a container expects.
func Rootfs(dir string) error {
	if out, err := exec.Command(BusyboxPath, "--help").CombinedOutput(); err == nil && !strings.Contains(string(out), "static") {
		// A dynamically linked busybox would need the host's libc inside the rootfs.
		if lo, lerr := exec.Command("ldd", BusyboxPath).CombinedOutput(); lerr == nil && !strings.Contains(string(lo), "not a dynamic") {
			return fmt.Errorf("%s is not statically linked: install busybox-static", BusyboxPath)
		}
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	data, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Bundle is a bundle directory with rootfs/ and config.json.
type Bundle struct {
	Dir  string
	Spec *specs.Spec
}

// RootfsDir is the bundle's rootfs path.
func (b *Bundle) RootfsDir() string { return filepath.Join(b.Dir, "rootfs") }

// Save writes b.Spec as config.json.
func (b *Bundle) Save() error {
	data, err := json.MarshalIndent(b.Spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644)
}

// New makes a busybox bundle in a temporary directory removed after the test.
// spec is written as config.json with root.path "rootfs"; pass nil to write no
// config.json (the caller saves one later).
func New(t testing.TB, spec *specs.Spec) *Bundle {
	t.Helper()
	RequireRoot(t)
	dir := t.TempDir()
	b := &Bundle{Dir: dir, Spec: spec}
	if err := Rootfs(b.RootfsDir()); err != nil {
		t.Fatalf("build busybox rootfs: %v", err)
	}
	if spec != nil {
		if spec.Root == nil {
			spec.Root = &specs.Root{}
		}
		spec.Root.Path = "rootfs"
		if err := b.Save(); err != nil {
			t.Fatalf("write config.json: %v", err)
		}
	}
	return b
}
