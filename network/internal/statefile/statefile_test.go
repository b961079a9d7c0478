package statefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestUpdateWritesOnlyOnSuccess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "s.json")
	v := map[string]int{}
	if err := Update(ctx, path, &v, func() error { v["a"] = 1; return nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := Update(ctx, path, &v, func() error { v["a"] = 2; return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update: %v", err)
	}
	got := map[string]int{}
	if found, err := Read(path, &got); err != nil || !found || got["a"] != 1 {
		t.Fatalf("after failed update: %v %v %v", got, found, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if e.Name() != "s.json" && e.Name() != "s.json.lock" {
			t.Errorf("leftover file %s", e.Name())
		}
	}
}

func TestReadMissingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	var v map[string]int
	if found, err := Read(filepath.Join(dir, "none.json"), &v); found || err != nil {
		t.Fatalf("missing: %v %v", found, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if _, err := Read(bad, &v); err == nil {
		t.Fatal("corrupt file decoded")
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	held, err := Acquire(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Acquire while held: %v", err)
	}
	held.Release()
	l, err := Acquire(context.Background(), path)
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	l.Release()
}

// An update that changes nothing must not rewrite the file: every detach of
// a container without an endpoint went through two such writes (and their
// fsyncs) on the path of `kago run --rm`.
func TestUpdateUnchangedDoesNotRewrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.json")
	v := map[string]int{}
	if err := Update(ctx, path, &v, func() error { v["a"] = 1; return nil }); err != nil {
		t.Fatal(err)
	}
	ino := func() uint64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	before := ino()
	if err := Update(ctx, path, &v, func() error { v["a"] = 1; return nil }); err != nil {
		t.Fatal(err)
	}
	if after := ino(); after != before {
		t.Errorf("unchanged update replaced the file (inode %d -> %d)", before, after)
	}
	if err := Update(ctx, path, &v, func() error { v["a"] = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	if _, err := Read(path, &got); err != nil || got["a"] != 2 {
		t.Fatalf("changed update not written: %v %v", got, err)
	}
	// A missing file is written even when the record is empty: readers
	// then see it exists.
	empty := filepath.Join(t.TempDir(), "e.json")
	if err := Update(ctx, empty, &map[string]int{}, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(empty); err != nil {
		t.Errorf("empty record not created: %v", err)
	}
}
