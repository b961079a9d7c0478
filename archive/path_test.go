package archive

import (
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"a/b":        "a/b",
		"./a//b/":    "a/b",
		"/abs/x":     "abs/x",
		"a/../b":     "b",
		"a/b/../../": ".",
		"":           ".",
		"./":         ".",
		"/":          ".",
		"a/./.wh.b":  "a/.wh.b",
	} {
		if got, err := cleanName(in); err != nil || got != want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"..", "../x", "a/../../x", "/../x", "a\x00b", strings.Repeat("x", 4097), strings.Repeat("y", 256)} {
		if got, err := cleanName(in); err == nil {
			t.Errorf("cleanName(%.40q) = %q, want an error", in, got)
		}
	}
}

// FuzzCleanName: whatever the name, the result stays below the root.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/abs", "a/../..", "./.wh..wh..opq", "a//b/./c/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := cleanName(name)
		if err != nil {
			return
		}
		if got == "." {
			return
		}
		if strings.HasPrefix(got, "/") || len(got) > maxNameLen {
			t.Fatalf("cleanName(%q) = %q", name, got)
		}
		for _, p := range strings.Split(got, "/") {
			if p == "" || p == "." || p == ".." {
				t.Fatalf("cleanName(%q) = %q has component %q", name, got, p)
			}
		}
	})
}
