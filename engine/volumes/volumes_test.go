package volumes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, created, err := s.Create("data", map[string]string{"a": "b"})
	if err != nil || !created || v.Labels["a"] != "b" || v.Driver != "local" {
		t.Fatalf("create: %+v %v %v", v, created, err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.Create("data", nil); err != nil || created {
		t.Fatalf("create of an existing volume: created=%v %v", created, err)
	}
	if _, _, err := s.Create("../x", nil); err == nil {
		t.Fatal("a name with a slash was accepted")
	}
	if _, err := s.Get("../../etc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get of a path: %v", err)
	}
	err = s.Remove("data", func(string) []string { return []string{"abc"} })
	if err == nil || !strings.Contains(err.Error(), "remove data: volume is in use - [abc]") {
		t.Fatalf("remove in use: %v", err)
	}
	if err := s.Remove("data", func(string) []string { return nil }); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("left: %v", l)
	}
	if err := s.Remove("data", func(string) []string { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove of a missing volume: %v", err)
	}
}
