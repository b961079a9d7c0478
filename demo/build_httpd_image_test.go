// Package demo holds the scripts of `make demo`; its tests check what of
// them can be checked without building an image.
package demo

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mirrorOf runs build-httpd-image.sh --print-mirror against an apt
// configuration made of files (path under the apt directory: content).
func mirrorOf(t *testing.T, files map[string]string, env ...string) (string, string, error) {
	t.Helper()
	apt := t.TempDir()
	os.MkdirAll(filepath.Join(apt, "sources.list.d"), 0o755)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(apt, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "build-httpd-image.sh", "--print-mirror")
	cmd.Env = append(append(os.Environ(), "KAGO_APT_ETC="+apt, "DEBIAN_MIRROR="), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return strings.TrimSpace(out.String()), errb.String(), err
}

// TestMirrorFromHostApt: the mirror comes from the host's apt sources in
// either format, skipping third-party and security sources, disabled
// stanzas and comments; DEBIAN_MIRROR overrides; without any the script
// stops and names DEBIAN_MIRROR.
func TestMirrorFromHostApt(t *testing.T) {
	const nodesource = "deb [signed-by=/k.gpg] http://third.invalid/node_20.x nodistro main\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		env   []string
		want  string
	}{
		{"sources.list", map[string]string{"sources.list": "# deb http://old.invalid/debian bookworm main\ndeb http://sec.invalid/debian-security bookworm-security main\ndeb [arch=amd64] http://one.invalid/debian bookworm main contrib\n"}, nil, "http://one.invalid/debian"},
		{"a .list after a third-party one", map[string]string{"sources.list.d/a-node.list": nodesource, "sources.list.d/b-debian.list": "deb http://two.invalid/debian trixie main\n"}, nil, "http://two.invalid/debian"},
		{"deb822", map[string]string{
			"sources.list.d/debian.sources": "Types: deb-src\nURIs: http://src.invalid/debian\nSuites: bookworm\n\n" +
				"Types: deb\nURIs: http://off.invalid/debian\nSuites: bookworm\nEnabled: no\n\n" +
				"Types: deb\nURIs: http://sec.invalid/debian-security\nSuites: bookworm-security\n\n" +
				"Types: deb\n# a comment\nURIs: http://three.invalid/debian http://spare.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
		}, nil, "http://three.invalid/debian"},
		{"DEBIAN_MIRROR wins", map[string]string{"sources.list": "deb http://one.invalid/debian bookworm main\n"}, []string{"DEBIAN_MIRROR=http://mine.invalid/debian"}, "http://mine.invalid/debian"},
	} {
		got, errs, err := mirrorOf(t, tc.files, tc.env...)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q (%v, %s), want %q", tc.name, got, err, errs, tc.want)
		}
	}
	got, errs, err := mirrorOf(t, map[string]string{"sources.list.d/node.list": nodesource})
	if err == nil || got != "" || !strings.Contains(errs, "DEBIAN_MIRROR") {
		t.Errorf("no Debian source: %q %v %q, want a failure naming DEBIAN_MIRROR", got, err, errs)
	}
}

// TestNoMirrorHostInRepository: no Debian mirror host is written in the
// repository's files (scripts and tests included): the mirror is the
// host's or the user's choice.
func TestNoMirrorHostInRepository(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	// Built from parts so this file does not match itself.
	host := regexp.MustCompile(`[a-z0-9.-]*` + `\.debian` + `\.(org|net)\b|` + `mirrors?\.[a-z0-9.-]+\.[a-z]+/debian`)
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			continue // deleted in the work tree
		}
		if m := host.Find(data); m != nil {
			t.Errorf("%s names the mirror host %q", f, m)
		}
	}
}
