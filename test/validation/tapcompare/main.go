// Command tapcompare compares the TAP output of the OCI runtime-tools
// validation programs run against kago-runc and against runc on the same
// machine. Goal: every assertion runc passes, kago-runc passes; every
// assertion kago-runc fails is listed, with its reason, in an
// expected-failures file.
//
// Usage: tapcompare -expected FILE KAGO_DIR RUNC_DIR
//
// Each directory holds one file per validation program, named after it, with
// the program's standard output. tapcompare prints one line per runtime,
// "kago: N passed, M failed" and "runc: N passed, M failed", then every
// assertion kago-runc failed or lacks (runc passed it, kago-runc did not
// report it), and exits 1 when one of them is not listed, or when a listed
// one now passes (the list must stay true).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	expected := flag.String("expected", "", "expected-failures file")
	flag.Parse()
	if flag.NArg() != 2 || *expected == "" {
		fmt.Fprintln(os.Stderr, "usage: tapcompare -expected FILE KAGO_DIR RUNC_DIR")
		os.Exit(2)
	}
	ok, err := run(os.Stdout, *expected, flag.Arg(0), flag.Arg(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tapcompare:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(w io.Writer, expectedPath, kagoDir, runcDir string) (bool, error) {
	list, err := readExpected(expectedPath)
	if err != nil {
		return false, err
	}
	kago, err := readResults(kagoDir)
	if err != nil {
		return false, err
	}
	runc, err := readResults(runcDir)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(w, "kago: %d passed, %d failed\n", kago.passed, kago.failed)
	fmt.Fprintf(w, "runc: %d passed, %d failed\n", runc.passed, runc.failed)

	good := true
	used := make([]int, len(list)) // how many failures each entry covers
	for _, key := range kago.failures(runc) {
		if i := list.match(key); i >= 0 {
			used[i]++
			continue
		}
		good = false
		if runc.ok[key] {
			fmt.Fprintf(w, "FAIL: runc passes, kago-runc does not: %s\n", key)
		} else {
			fmt.Fprintf(w, "FAIL: kago-runc fails (runc too), not listed: %s\n", key)
		}
	}
	for i, e := range list {
		if used[i] > 0 {
			fmt.Fprintf(w, "expected (%d): %s | %s | %s\n", used[i], e.program, e.assertion, e.reason)
		}
		if used[i] == 0 && !e.flaky {
			good = false
			fmt.Fprintf(w, "FAIL: listed in %s but no longer failing (remove it): %s | %s\n", expectedPath, e.program, e.assertion)
		}
	}
	return good, nil
}

// results are one runtime's assertions: key -> passed. A key is
// "program: description", with " #k" added for the k-th (k > 1) assertion
// of a program with the same key.
type results struct {
	ok             map[string]bool
	passed, failed int
}

// failures are the assertions r failed, and those peer passed that r did
// not report at all (its program stopped early, or never ran the container).
func (r *results) failures(peer *results) []string {
	var keys []string
	for k, ok := range r.ok {
		if !ok {
			keys = append(keys, k)
		}
	}
	for k, ok := range peer.ok {
		if _, seen := r.ok[k]; ok && !seen {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func readResults(dir string) (*results, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	r := &results{ok: map[string]bool{}}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		err = r.add(e.Name(), f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
	}
	return r, nil
}

// add records the test lines ("ok N - description", "not ok N ...") of one
// program's TAP stream; YAML blocks, comments and plans are skipped.
func (r *results) add(program string, in io.Reader) error {
	seen := map[string]bool{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		pass := true
		rest, found := strings.CutPrefix(line, "ok ")
		if !found {
			if rest, found = strings.CutPrefix(line, "not ok "); !found {
				continue
			}
			pass = false
		}
		// Drop the test number; keep the description and any directive.
		if i := strings.IndexAny(rest, " \t"); i >= 0 {
			rest = strings.TrimSpace(rest[i:])
		} else {
			rest = ""
		}
		base := program + ": " + strings.TrimPrefix(rest, "- ")
		key := base
		for n := 2; seen[key]; n++ {
			key = fmt.Sprintf("%s #%d", base, n)
		}
		seen[key] = true
		r.ok[key] = pass
		if pass {
			r.passed++
		} else {
			r.failed++
		}
	}
	return sc.Err()
}

// expectation is one line of the expected-failures file:
//
//	program | assertion | reason
//
// program and assertion are patterns where "*" matches any text; a reason
// starting with "flaky:" marks a race in the suite, which may pass or fail.
type expectation struct {
	program, assertion, reason string
	flaky                      bool
}

type expectations []expectation

func (l expectations) match(key string) int {
	program, assertion, _ := strings.Cut(key, ": ")
	for i, e := range l {
		if glob(e.program, program) && glob(e.assertion, assertion) {
			return i
		}
	}
	return -1
}

func readExpected(file string) (expectations, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var l expectations
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, " | ")
		if len(parts) != 3 || parts[2] == "" {
			return nil, fmt.Errorf("%s:%d: want \"program | assertion | reason\", got %q", file, n, line)
		}
		e := expectation{program: strings.TrimSpace(parts[0]), assertion: strings.TrimSpace(parts[1]), reason: strings.TrimSpace(parts[2])}
		e.flaky = strings.HasPrefix(e.reason, "flaky:")
		l = append(l, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, errors.New(file + ": no entries")
	}
	return l, nil
}

// glob reports whether s matches pattern, in which "*" matches any text
// (descriptions hold "/", so path.Match will not do).
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
