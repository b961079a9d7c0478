package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kago-run/kago/linux/inroot"
)

// TestCheckReplaceFailsClosed: an entry whose place in the container cannot
// be inspected (a symlink loop, a file used as a directory) is refused; only
// a name that does not exist yet passes unchecked.
func TestCheckReplaceFailsClosed(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop", filepath.Join(dir, "loop")); err != nil {
		t.Fatal(err)
	}
	r, err := inroot.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := &entryChecker{root: r}
	for _, tc := range []struct {
		name    string
		dir     bool
		wantErr string // "" when the entry may be extracted
	}{
		{"new", false, ""},
		{"missing/new", true, ""},
		{"f", false, ""},
		{"d", true, ""},
		{"d", false, "cannot overwrite directory /d"},
		{"f", true, "cannot overwrite non-directory /f"},
		{"loop/x", false, "symbolic links"},
		{"f/x", false, "not a directory"},
	} {
		err := c.checkReplace(tc.name, tc.dir)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("checkReplace(%q, dir=%v) = %v, want it allowed", tc.name, tc.dir, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("checkReplace(%q, dir=%v) = %v, want an error with %q", tc.name, tc.dir, err, tc.wantErr)
		}
	}
}
