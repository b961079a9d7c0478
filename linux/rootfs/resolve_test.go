package rootfs

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// The confinement itself (symlink escapes, races, fuzzing) is tested in
// package linux/inroot, which root wraps.

func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}
