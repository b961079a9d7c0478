package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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

// FuzzAppendEntry: the hand-written encoder writes exactly what
// encoding/json writes for an Entry, so every json-file reader agrees.
func FuzzAppendEntry(f *testing.F) {
	f.Add([]byte("hello\n"), "stdout", int64(1700000000123456789))
	f.Add([]byte("<a href=\"x\">&\t\b\f\r\x00\x1f\x7f\u2028\u2029é\xff\xc3"), "stderr", int64(0))
	f.Add([]byte{}, "", int64(-1))
	f.Fuzz(func(t *testing.T, line []byte, stream string, ns int64) {
		tm := time.Unix(0, ns)
		want, err := json.Marshal(Entry{Log: string(line), Stream: stream, Time: tm.UTC()})
		if err != nil {
			t.Skip() // a time json cannot encode (year outside 0-9999)
		}
		if got := appendEntry(nil, stream, line, tm); string(got) != string(want)+"\n" {
			t.Fatalf("appendEntry:\n got %s\nwant %s", got, want)
		}
	})
}

// TestCopyTeesAtOnceAndSplitsLines: the tee sees a prompt without a
// newline before any more output comes; the log has one entry per line,
// long lines split at 16 KiB.
func TestCopyTeesAtOnceAndSplitsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	teed := make(chan []byte, 16)
	done := make(chan error, 1)
	go func() { done <- w.Copy("stdout", pr, teeFunc(func(p []byte) { teed <- append([]byte(nil), p...) })) }()
	pw.Write([]byte("/ # "))
	select {
	case got := <-teed:
		if string(got) != "/ # " {
			t.Fatalf("tee got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the prompt did not reach the tee before a newline")
	}
	long := strings.Repeat("x", maxLine+10)
	go func() { pw.Write([]byte("ls\none\n" + long + "\ntail")); pw.Close() }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.Close()
	data, _ := os.ReadFile(path)
	var got []string
	for _, e := range Parse(data) {
		got = append(got, e.Log)
	}
	want := []string{"/ # ls\n", "one\n", long[:maxLine], long[maxLine:] + "\n", "tail"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("entries %q, want %q", got, want)
	}
}

type teeFunc func([]byte)

func (f teeFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// TestWriteMakesNoGarbage: every line of output goes through Write in the
// monitor, which runs without collecting garbage.
func TestWriteMakesNoGarbage(t *testing.T) {
	w, err := NewWriter(filepath.Join(t.TempDir(), "c-json.log"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	line := []byte("a line of <output>\n")
	now := time.Now()
	w.Write("stdout", line, now)
	if n := testing.AllocsPerRun(100, func() { w.Write("stdout", line, now) }); n != 0 {
		t.Fatalf("%v allocations per entry", n)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                         now.Add(-10 * time.Minute),
		"1h30m":                       now.Add(-90 * time.Minute),
		"2026-11-27T11:00:00Z":        time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC),
		"2026-11-27T11:00:00.5+01:00": time.Date(2026, 11, 27, 10, 0, 0, 5e8, time.UTC),
		"2026-11-27T11:00:00":         time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC),
		"2026-11-27":                  time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"1700000000":                  time.Unix(1700000000, 0),
		"1700000000.25":               time.Unix(1700000000, 25e7),
		"1700000000.000000001":        time.Unix(1700000000, 1),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5", "17.", "1.1234567890", "2026-13-01", "1.x"} {
		if _, err := ParseTime(bad, now); err == nil || !strings.Contains(err.Error(), "invalid time") {
			t.Errorf("ParseTime(%q): %v, want an invalid time error", bad, err)
		}
	}
}

// TestReadSinceUntil: only entries written in the window are printed, and
// --tail counts among those.
func TestReadSinceUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, line := range []string{"zero\n", "one\n", "two\n", "three\n"} {
		w.Write("stdout", []byte(line), base.Add(time.Duration(i)*time.Minute))
	}
	w.Close()
	var out bytes.Buffer
	o := ReadOptions{Tail: -1, Since: base.Add(time.Minute), Until: base.Add(2 * time.Minute)}
	if err := Read(context.Background(), path, &out, &out, o); err != nil || out.String() != "one\ntwo\n" {
		t.Fatalf("since/until: %q %v", out.String(), err)
	}
	out.Reset()
	o = ReadOptions{Tail: 1, Since: base.Add(time.Minute)}
	if Read(context.Background(), path, &out, &out, o); out.String() != "three\n" {
		t.Fatalf("since with tail 1: %q", out.String())
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"10m", "2026-11-27T11:00:00Z", "1700000000.5", "", "1.", "-1h"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseTime(s, now); err != nil && !strings.Contains(err.Error(), "invalid time") {
			t.Fatalf("ParseTime(%q): error without the value: %v", s, err)
		}
	})
}
