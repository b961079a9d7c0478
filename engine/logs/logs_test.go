package logs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteReadTailRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 300)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Copy("stdout", strings.NewReader("one\ntwo\nthree\nfour\nfive\nsix"), nil); err != nil {
		t.Fatal(err)
	}
	w.Write("stderr", []byte("err\n"), time.Now())
	w.Close()
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("expected a rotated file after passing 300 bytes: %v", err)
	}
	var out, errb bytes.Buffer
	if err := Read(context.Background(), path, &out, &errb, ReadOptions{Tail: -1}); err != nil {
		t.Fatal(err)
	}
	// Rotation keeps one old file, so the oldest lines may be gone, but
	// whatever is kept is in order and ends with the partial last line.
	if !strings.HasSuffix(out.String(), "five\nsix") || errb.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	Read(context.Background(), path, &out, &errb, ReadOptions{Tail: 2})
	if out.String() != "six" || errb.String() != "err\n" {
		t.Fatalf("tail 2: stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestFollowStopsWhenDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	done := make(chan struct{})
	var out bytes.Buffer
	finished := make(chan error, 1)
	go func() {
		finished <- Read(context.Background(), path, &out, &out, ReadOptions{Tail: -1, Follow: true, Done: done})
	}()
	time.Sleep(150 * time.Millisecond)
	w.Write("stdout", []byte("late\n"), time.Now())
	close(done)
	select {
	case err := <-finished:
		if err != nil || out.String() != "late\n" {
			t.Fatalf("follow got %q, %v", out.String(), err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after Done")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"log":"hi\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}` + "\n{bad"))
	f.Add([]byte("\n\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range Parse(data) {
			if e.Stream == "\x00never" {
				t.Fatal("impossible")
			}
		}
	})
}
