package containers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCreateLookupUpdateDelete(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Record{ID: "abc123" + strings.Repeat("0", 58), Name: "web", Created: time.Now()}
	b := &Record{ID: "abd456" + strings.Repeat("0", 58), Name: "db", Created: time.Now().Add(time.Second)}
	for _, r := range []*Record{a, b} {
		done, err := s.Create(r)
		if err != nil {
			t.Fatal(err)
		}
		done()
	}
	if _, err := s.Create(&Record{ID: NewID(), Name: "web"}); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("duplicate name: %v", err)
	}
	for ref, want := range map[string]string{"web": a.ID, "abc": a.ID, b.ID: b.ID, "db": b.ID} {
		r, err := s.Lookup(ref)
		if err != nil || r.ID != want {
			t.Errorf("Lookup(%q) = %v, %v", ref, r, err)
		}
	}
	if _, err := s.Lookup("ab"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := s.Lookup("zzz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if list, _ := s.List(); len(list) != 2 || list[0].Name != "db" {
		t.Errorf("List should be newest first: %v", list)
	}
	// Concurrent updates under the lock lose nothing.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Update(a.ID, func(r *Record) error { r.State.RestartCount++; return nil })
		}()
	}
	wg.Wait()
	if r, _ := s.Get(a.ID); r.State.RestartCount != 20 {
		t.Errorf("RestartCount %d after 20 concurrent updates", r.State.RestartCount)
	}
	if _, err := s.Update(a.ID, func(r *Record) error { r.Name = "changed"; return errors.New("no") }); err == nil {
		t.Error("Update ignored fn's error")
	}
	if r, _ := s.Get(a.ID); r.Name != "web" {
		t.Errorf("a failed Update was written: %q", r.Name)
	}
	if err := s.Delete(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if _, err := s.Update(a.ID, func(*Record) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update after Delete: %v", err)
	}
}

func TestCorruptRecordIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	os.MkdirAll(filepath.Join(dir, "bad"), 0o700)
	os.WriteFile(filepath.Join(dir, "bad", recordFile), []byte("{torn"), 0o600)
	if _, err := s.Get("bad"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Get of a torn record: %v", err)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Fatalf("List with a torn record: %v, %v", list, err)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"web", "my_app.1", "A-b"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a/b", "a b", strings.Repeat("a", 129), "../x"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCreatorAlive: a record's creation lock is held until done, so other
// commands can tell a create at work from a killed one.
func TestCreatorAlive(t *testing.T) {
	s, _ := Open(t.TempDir())
	rec := &Record{ID: NewID(), Name: "c", Creating: true}
	done, err := s.Create(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !s.CreatorAlive(rec.ID) {
		t.Error("CreatorAlive false while the creator holds the lock")
	}
	done()
	if s.CreatorAlive(rec.ID) {
		t.Error("CreatorAlive true after done")
	}
	if ents, _ := os.ReadDir(s.dir); len(ents) != 2 { // .lock and the container
		t.Errorf("Create left temporary entries: %v", ents)
	}
}

// TestDeleteRacingUpdate: updates racing a delete never make the directory
// again (the old Delete left containers/<id>/.lock behind).
func TestDeleteRacingUpdate(t *testing.T) {
	s, _ := Open(t.TempDir())
	for i := 0; i < 50; i++ {
		rec := &Record{ID: NewID(), Name: fmt.Sprintf("c%d", i)}
		done, err := s.Create(rec)
		if err != nil {
			t.Fatal(err)
		}
		done()
		var wg sync.WaitGroup
		for j := 0; j < 4; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Update(rec.ID, func(r *Record) error { r.State.Pid++; return nil })
			}()
		}
		if err := s.Delete(rec.ID); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if _, err := os.Lstat(s.Dir(rec.ID)); !os.IsNotExist(err) {
			ents, _ := os.ReadDir(s.Dir(rec.ID))
			t.Fatalf("round %d: the deleted container's directory is back: %v", i, ents)
		}
	}
}

// TestSweep: what killed creates and deletes left is removed; records, and
// directories whose lock someone holds, stay.
func TestSweep(t *testing.T) {
	s, _ := Open(t.TempDir())
	keep := &Record{ID: NewID(), Name: "keep"}
	done, err := s.Create(keep)
	if err != nil {
		t.Fatal(err)
	}
	done()
	lockOnly, tmpOnly, busy := NewID(), NewID(), NewID()
	for _, d := range []string{lockOnly, tmpOnly, busy, tmpPrefix + "1", trashPrefix + "2/" + NewID()} {
		os.MkdirAll(filepath.Join(s.dir, d), 0o700)
	}
	os.WriteFile(filepath.Join(s.Dir(lockOnly), ".lock"), nil, 0o600)
	os.WriteFile(filepath.Join(s.Dir(tmpOnly), ".tmp-container.json123"), []byte("{"), 0o600)
	unlock, err := flock(filepath.Join(s.Dir(busy), ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	s.Sweep()
	unlock()
	var left []string
	ents, _ := os.ReadDir(s.dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{".lock", busy, keep.ID}
	sort.Strings(want)
	if strings.Join(left, " ") != strings.Join(want, " ") {
		t.Errorf("after Sweep: %v, want %v", left, want)
	}
}

func TestRename(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b := &Record{ID: NewID(), Name: "alpha"}, &Record{ID: NewID(), Name: "beta"}
	for _, r := range []*Record{a, b} {
		done, err := s.Create(r)
		if err != nil {
			t.Fatal(err)
		}
		done()
	}
	if _, err := s.Rename(a.ID, "beta"); !errors.Is(err, ErrNameInUse) {
		t.Errorf("rename onto a used name: %v", err)
	}
	if _, err := s.Rename(a.ID, "bad/name"); err == nil || !strings.Contains(err.Error(), "invalid container name") {
		t.Errorf("rename to an invalid name: %v", err)
	}
	if r, err := s.Rename(a.ID, "gamma"); err != nil || r.Name != "gamma" {
		t.Fatalf("rename: %v %v", r, err)
	}
	if r, err := s.Lookup("gamma"); err != nil || r.ID != a.ID {
		t.Errorf("lookup by the new name: %v %v", r, err)
	}
	if _, err := s.Lookup("alpha"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old name still finds it: %v", err)
	}
	if got, _ := s.Get(b.ID); got.Name != "beta" {
		t.Errorf("the other container's name changed to %q", got.Name)
	}
}
