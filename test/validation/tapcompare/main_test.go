package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	runc := "TAP version 13\nok 1 - a/b works\nok 2 - same\nok 3 - same\nnot ok 4 - broken\n  ---\n  {}\n  ...\nok 5 # SKIP not set\n1..5\n"
	write(t, filepath.Join(dir, "runc", "prog"), runc)
	write(t, filepath.Join(dir, "runc", "gone"), "ok 1 - only runc\n")
	for _, c := range []struct {
		name, kago, gone, expected string
		ok                         bool
		says                       []string
	}{
		{"equal", runc, "ok 1 - only runc\n", "prog | broken | kernel: x\n", true, []string{"kago: 5 passed, 1 failed", "runc: 5 passed, 1 failed"}},
		{"unlisted failure runc passes", strings.Replace(runc, "ok 3 - same", "not ok 3 - same", 1), "ok 1 - only runc\n", "prog | broken | kernel: x\n", false,
			[]string{"FAIL: runc passes, kago-runc does not: prog: same #2"}},
		{"missing assertions", runc, "", "prog | broken | kernel: x\n", false, []string{"FAIL: runc passes, kago-runc does not: gone: only runc"}},
		{"listed with a glob", runc, "", "prog | broken | kernel: x\ngone | * | suite: y\n", true, []string{"expected (1): gone | * | suite: y"}},
		{"unlisted failure runc shares", runc, "ok 1 - only runc\n", "prog | other | kernel: x\n", false,
			[]string{"FAIL: kago-runc fails (runc too), not listed: prog: broken", "no longer failing (remove it): prog | other"}},
		{"flaky may pass", runc, "ok 1 - only runc\n", "prog | broken | kernel: x\nprog | a/b * | flaky: z\n", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			write(t, filepath.Join(d, "kago", "prog"), c.kago)
			write(t, filepath.Join(d, "kago", "gone"), c.gone)
			write(t, filepath.Join(d, "expected.txt"), "# comment\n\n"+c.expected)
			var out strings.Builder
			ok, err := run(&out, filepath.Join(d, "expected.txt"), filepath.Join(d, "kago"), filepath.Join(dir, "runc"))
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.ok {
				t.Errorf("ok = %v, want %v:\n%s", ok, c.ok, out.String())
			}
			for _, s := range c.says {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}

func TestExpectedFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, text := range []string{"", "prog | no reason |\n", "prog only\n"} {
		p := filepath.Join(dir, "e.txt")
		write(t, p, text)
		if _, err := readExpected(p); err == nil {
			t.Errorf("readExpected(%q): no error", text)
		}
	}
}

// The list in the repository parses.
func TestRepositoryList(t *testing.T) {
	if _, err := readExpected("../expected-failures.txt"); err != nil {
		t.Fatal(err)
	}
}

// Whatever a validation program prints, the parser counts each test line
// once and never panics.
func FuzzResultsAdd(f *testing.F) {
	f.Add("TAP version 13\nok 1 - a\nnot ok 2 - b\n  ---\n  {}\n  ...\nok 3 # SKIP c\n1..3\n")
	f.Add("ok\nnot ok\nok 1\nok 1 -\n")
	f.Add("ok 1 - a\nok 2 - a\nok 3 - a #2\n")
	f.Fuzz(func(t *testing.T, text string) {
		r := &results{ok: map[string]bool{}}
		if err := r.add("prog", strings.NewReader(text)); err != nil {
			return // a line longer than the scanner's buffer
		}
		if len(r.ok) != r.passed+r.failed {
			t.Errorf("%d keys for %d passed + %d failed", len(r.ok), r.passed, r.failed)
		}
	})
}
