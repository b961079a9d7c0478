package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// An image whose /etc/passwd is a symlink to an absolute host path, or whose
// working directory climbs with .., must stay inside its rootfs.
func TestInRootHelpersStayInRoot(t *testing.T) {
	host := t.TempDir()
	secret := filepath.Join(host, "secret")
	os.WriteFile(secret, []byte("host data"), 0o600)
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	if err := os.Symlink(secret, filepath.Join(rootfs, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	data, err := readInRoot(rootfs, "/etc/passwd")
	if err != nil || data != nil {
		t.Fatalf("a symlink out of the rootfs was followed: %q, %v", data, err)
	}
	os.Symlink("/", filepath.Join(rootfs, "up"))
	if err := mkdirInRoot(rootfs, "/up/../../made/deep"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "made", "deep")); err != nil {
		t.Fatalf("working directory not created inside the rootfs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(rootfs), "made")); err == nil {
		t.Fatal("mkdirInRoot escaped the rootfs")
	}
}
