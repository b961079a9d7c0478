package statefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
