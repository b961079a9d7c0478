package build

import (
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
)

// FuzzGitRefMatchesBuildKit: kago's git source parser (which keeps
// x/crypto/ssh out of kago) reads every source as BuildKit's does: the same
// repository, ref, subdirectory and options, an error where BuildKit errs
// on a git source, and not git where BuildKit says not git (or cannot tell
// it from a local path).
func FuzzGitRefMatchesBuildKit(f *testing.F) {
	for _, s := range []string{"https://h/r.git#main:sub", "git@h:r.git#v1", "git@h:r.git?ref=v1&subdir=a#:b", "git://h/r.git?ref=a&subdir=b",
		"ssh://u@h:22/r.git?tag=v1", "https://h/r.git?branch=b&keep-git-dir", "http://h/r.git?submodules=false&checksum=ab", "https://h/r.git?tag=a&branch=b",
		"https://h/r.git#x?ref=y", "github.com/o/r", "HTTPS://h/r.git", "ftp://h/r.git", "https://h/r", "./r.git", "git@h:r.git?x=%zz", "https://h/r.git?mtime=bad", "https://h/r.git?ref=a&ref=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, wantGit, wantErr := dfgitutil.ParseGitRef(s)
		got, isGit, err := parseGitRef(s)
		switch {
		case wantErr != nil && wantGit:
			if err == nil || !isGit {
				t.Fatalf("%q: BuildKit: %v; kago: %+v %v %v", s, wantErr, got, isGit, err)
			}
		case wantErr != nil || want == nil || want.IndistinguishableFromLocal:
			if isGit || err != nil {
				t.Fatalf("%q: BuildKit: not git; kago: %+v %v %v", s, got, isGit, err)
			}
		default:
			if err != nil || !isGit || got.remote != want.Remote || got.ref != want.Ref || got.subdir != want.SubDir || got.checksum != want.Checksum ||
				!sameBool(got.keepGitDir, want.KeepGitDir) || !sameBool(got.submodules, want.Submodules) {
				t.Fatalf("%q: BuildKit: %+v; kago: %+v %v %v", s, want, got, isGit, err)
			}
		}
	})
}

func sameBool(a, b *bool) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
