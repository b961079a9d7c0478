package procattr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A look-alike of /proc (a container can mount anything there) must not
// swallow a label: the write is refused.
func TestWriteRefusesAFileOffProcfs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "exec")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Write(p, "exec ka5")
	if err == nil || !strings.Contains(err.Error(), "not on procfs") {
		t.Fatalf("Write to a tmp file = %v, want refused as not on procfs", err)
	}
	if b, _ := os.ReadFile(p); len(b) != 0 {
		t.Fatalf("the look-alike got %q", b)
	}
}
