package image

import (
	"fmt"
	"regexp"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// DefaultRegistry is the registry a reference without a host name points at, as
// in docker: "httpd" means docker.io/library/httpd.
const DefaultRegistry = "docker.io"

// maxRefLen bounds a reference before any parsing, so a hostile argument cannot
// make the regular expressions below do unbounded work.
const maxRefLen = 4096

// Reference is an image reference split into its parts, normalised the way
// docker does it. The store keys tags by Reference.String(), so "httpd:2.4",
// "library/httpd:2.4" and "docker.io/library/httpd:2.4" name one tag.
type Reference struct {
	Registry   string        // host[:port], e.g. "docker.io" or "127.0.0.1:5000"
	Repository string        // path, e.g. "library/httpd"
	Tag        string        // "" when the reference is by digest only
	Digest     digest.Digest // "" when the reference is by tag only
}

var (
	// The grammar is the one of github.com/distribution/reference: lower case
	// path components separated by '.', '_', '__' or '-' runs.
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hostPattern   = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
)

// ParseReference normalises a docker-style reference. A bare name gets the
// default registry, the "library/" namespace and, when no digest is given, the
// "latest" tag.
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("empty image reference: give a name such as httpd:2.4")
	}
	if len(s) > maxRefLen {
		return Reference{}, fmt.Errorf("image reference is %d bytes long, more than %d", len(s), maxRefLen)
	}
	var r Reference
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		d, err := digest.Parse(rest[i+1:])
		if err != nil {
			return Reference{}, fmt.Errorf("image reference %q: bad digest %q (want sha256:<64 hex>): %w", s, rest[i+1:], err)
		}
		r.Digest = d
		rest = rest[:i]
	}
	// A tag follows the last ':' unless that ':' is part of the host's port,
	// which is before the first '/'.
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagPattern.MatchString(r.Tag) {
			return Reference{}, fmt.Errorf("image reference %q: bad tag %q (letters, digits, '_', '.', '-', at most 128)", s, r.Tag)
		}
	}
	name := rest
	if i := strings.Index(name, "/"); i >= 0 {
		first := name[:i]
		// As in docker, the first component is a host only if it looks like one.
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			r.Registry = first
			name = name[i+1:]
		}
	}
	if r.Registry == "" {
		r.Registry = DefaultRegistry
	} else if !hostPattern.MatchString(r.Registry) {
		return Reference{}, fmt.Errorf("image reference %q: bad registry host %q", s, r.Registry)
	}
	if r.Registry == "index.docker.io" || r.Registry == "registry-1.docker.io" {
		r.Registry = DefaultRegistry
	}
	if name == "" {
		return Reference{}, fmt.Errorf("image reference %q has no repository name", s)
	}
	for _, c := range strings.Split(name, "/") {
		if !pathComponent.MatchString(c) {
			return Reference{}, fmt.Errorf("image reference %q: bad repository component %q (lower case letters, digits and separators . _ -)", s, c)
		}
	}
	if r.Registry == DefaultRegistry && !strings.Contains(name, "/") {
		name = "library/" + name
	}
	if len(r.Registry)+1+len(name) > 255 {
		return Reference{}, fmt.Errorf("image reference %q: name longer than 255 characters", s)
	}
	r.Repository = name
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// Name is registry/repository, the canonical repository name.
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// String is the canonical, fully qualified reference.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// FamiliarName is the repository as docker shows it: "httpd" rather than
// "docker.io/library/httpd".
func (r Reference) FamiliarName() string {
	return FamiliarName(r.Name())
}

// FamiliarName shortens a canonical repository name for display.
func FamiliarName(name string) string {
	if rest, ok := strings.CutPrefix(name, DefaultRegistry+"/"); ok {
		if lib, ok := strings.CutPrefix(rest, "library/"); ok && !strings.Contains(lib, "/") {
			return lib
		}
		return rest
	}
	return name
}

// splitTag splits a canonical "name:tag" store key back into name and tag.
func splitTag(key string) (name, tag string) {
	i := strings.LastIndex(key, ":")
	if i < 0 || strings.Contains(key[i+1:], "/") {
		return key, ""
	}
	return key[:i], key[i+1:]
}
