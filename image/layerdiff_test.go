package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckPlainUpper: an upper directory holding an overlay redirect (a
// reference to a lower directory, not a copy) is refused, by name.
func TestCheckPlainUpper(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	if err := checkPlainUpper(dir); err != nil {
		t.Fatalf("plain upper refused: %v", err)
	}
	if err := unix.Lsetxattr(filepath.Join(dir, "a", "b"), "trusted.overlay.redirect", []byte("/x"), 0); err != nil {
		t.Skipf("cannot set a trusted xattr here: %v", err)
	}
	if err := checkPlainUpper(dir); err == nil || !strings.Contains(err.Error(), "trusted.overlay.redirect") {
		t.Errorf("upper with a redirect: %v", err)
	}
}
