package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"
)

// source is a tree COPY and ADD read from: the build context, or the root
// filesystem of a stage or an image (--from).
type source struct {
	root string // directory on the host
	// context: paths must stay beneath root, "../" and symlinks leading out
	// are refused. Otherwise (an image's root) symlinks resolve inside root,
	// as they would in a container.
	context bool
	ignore  *patternmatcher.PatternMatcher // .dockerignore; nil: nothing ignored
	// ignoreMu serialises matching: patternmatcher compiles patterns on
	// first use, and stages copy from the context at the same time.
	ignoreMu sync.Mutex
	// download: an ADD URL's file, which is never extracted.
	download bool
	label    string // for messages
}

// newContextSource opens the build context at dir with its .dockerignore.
func newContextSource(dir string) (*source, error) {
	s := &source{root: dir, context: true, label: "the build context " + dir}
	f, err := os.Open(dir + "/.dockerignore")
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s/.dockerignore: %w", dir, err)
	}
	if s.ignore, err = patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf("%s/.dockerignore: %w", dir, err)
	}
	return s, nil
}

// ignored reports whether .dockerignore hides rel (clean, relative).
func (s *source) ignored(rel string) bool {
	if s.ignore == nil || rel == "." {
		return false
	}
	s.ignoreMu.Lock()
	defer s.ignoreMu.Unlock()
	m, err := s.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// match is one source file or directory a COPY names.
type match struct {
	src  *source
	rel  string // relative to the source root, clean
	real string // its host path, symlinks of the top level resolved
	dir  bool
	// parents: COPY --parents keeps this path (rel below the source's
	// "/./" pivot) under the destination.
	parents string
}

// cleanSource turns a COPY source into a clean path relative to the
// source root. In the context a path climbing out is an error; in an
// image's root it is clamped at "/" as in a container.
func (s *source) cleanSource(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("source %q contains a NUL byte", p)
	}
	rel := path.Clean(strings.TrimLeft(p, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		if s.context {
			return "", fmt.Errorf("source %q is outside %s: only files in the context can be copied", p, s.label)
		}
		rel = strings.TrimLeft(path.Clean("/"+rel), "/")
	}
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

// resolve finds what a COPY source names: one path, or every path a
// wildcard matches (sorted). Ignored files do not exist for COPY.
func (s *source) resolve(p string) ([]match, error) {
	rel, err := s.cleanSource(p)
	if err != nil {
		return nil, err
	}
	if !hasMeta(rel) {
		m, err := s.lookup(rel)
		if err != nil {
			return nil, err
		}
		return []match{m}, nil
	}
	var rels []string
	if err := s.glob(".", strings.Split(rel, "/"), &rels); err != nil {
		return nil, err
	}
	if len(rels) == 0 {
		return nil, fmt.Errorf("no file in %s matches %q", s.label, p)
	}
	sort.Strings(rels)
	out := make([]match, 0, len(rels))
	for _, r := range rels {
		m, err := s.lookup(r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// glob walks dir matching one pattern component per level. Directories
// are listed by name, never entered through a symlink.
func (s *source) glob(dir string, pats []string, out *[]string) error {
	if len(*out) > 100000 {
		return fmt.Errorf("a wildcard in COPY matches more than 100000 files in %s", s.label)
	}
	if !hasMeta(pats[0]) {
		next := path.Join(dir, pats[0])
		if len(pats) == 1 {
			if _, err := os.Lstat(s.root + "/" + next); err == nil && !s.ignored(next) {
				*out = append(*out, next)
			}
			return nil
		}
		return s.glob(next, pats[1:], out)
	}
	ents, err := os.ReadDir(s.root + "/" + dir)
	if err != nil {
		return nil // not a directory, or gone: no match here
	}
	for _, e := range ents {
		ok, err := path.Match(pats[0], e.Name())
		if err != nil {
			return fmt.Errorf("wildcard %q: %w", strings.Join(pats, "/"), err)
		}
		rel := path.Join(dir, e.Name())
		if !ok || s.ignored(rel) {
			continue
		}
		if len(pats) == 1 {
			*out = append(*out, rel)
		} else if e.IsDir() {
			if err := s.glob(rel, pats[1:], out); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookup resolves rel, following symlinks (COPY follows a source that is a
// symlink, not the symlinks inside a copied directory) but never out of
// the context.
func (s *source) lookup(rel string) (match, error) {
	if s.ignored(rel) {
		return match{}, fmt.Errorf("%q is excluded by .dockerignore of %s", rel, s.label)
	}
	resolve := uint64(unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS)
	if s.context {
		resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS
	}
	rootfd, err := unix.Open(s.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return match{}, fmt.Errorf("open %s: %w", s.label, err)
	}
	defer unix.Close(rootfd)
	fd, err := unix.Openat2(rootfd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolve})
	switch {
	case errors.Is(err, unix.EXDEV):
		return match{}, fmt.Errorf("%q leads outside %s through a symlink: only files in the context can be copied", rel, s.label)
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return match{}, fmt.Errorf("%q not found in %s", rel, s.label)
	case err != nil:
		return match{}, fmt.Errorf("open %q in %s: %w", rel, s.label, err)
	}
	defer unix.Close(fd)
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return match{}, fmt.Errorf("resolve %q in %s: %w", rel, s.label, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return match{}, fmt.Errorf("stat %q in %s: %w", rel, s.label, err)
	}
	return match{src: s, rel: rel, real: real, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR}, nil
}
