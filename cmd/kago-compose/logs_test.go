package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/kago-run/kago/engine/containers"
)

// TestComposeLogPrefixes: lines of several containers come out whole,
// each prefixed with its container's name padded to the longest, in
// colour only when asked.
func TestComposeLogPrefixes(t *testing.T) {
	recs := []*containers.Record{{Name: "p-web-1"}, {Name: "p-database-1"}}
	plain := logPrefixes(recs, false)
	if plain[0] != "p-web-1      | " || plain[1] != "p-database-1 | " {
		t.Errorf("prefixes %q", plain)
	}
	if c := logPrefixes(recs, true); !strings.HasPrefix(c[0], "\x1b[36m") || !strings.HasSuffix(c[0], "\x1b[0m") || c[0] == c[1] {
		t.Errorf("coloured prefixes %q", c)
	}
	var out bytes.Buffer
	var mu sync.Mutex
	a := &prefixWriter{mu: &mu, out: &out, prefix: plain[0]}
	b := &prefixWriter{mu: &mu, out: &out, prefix: plain[1]}
	a.Write([]byte("hel"))
	b.Write([]byte("one\ntw"))
	a.Write([]byte("lo\n"))
	b.Write([]byte("o"))
	b.flush()
	want := "p-database-1 | one\np-web-1      | hello\np-database-1 | two\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
