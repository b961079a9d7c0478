package build

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// gitRef is an ADD source naming a git repository, split as BuildKit's
// dockerfile frontend splits it (dfgitutil.ParseGitRef). It is kago's own
// parser for the forms build supports: BuildKit's pulls golang.org/x/crypto/ssh
// (7 ms of package init) into every start of kago.
type gitRef struct {
	remote, ref, subdir, checksum string
	keepGitDir, submodules        *bool
}

// gitScheme is a URL's scheme; gitSCP the scp form user@host:path[?query][#fragment].
var (
	gitScheme = regexp.MustCompile(`^[a-zA-Z0-9]+://`)
	gitSCP    = regexp.MustCompile(`^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$`)
)

// parseGitRef tells whether src names a git repository: an ssh:// or
// git:// URL, an http(s) URL whose path ends in .git, or user@host:path;
// REF[:SUBDIR] may follow after #, and ref=, tag=, branch=, subdir=,
// checksum= (commit=), keep-git-dir=, submodules= in the query. Anything
// else (github.com/o/r, which BuildKit finds indistinguishable from a
// local path, included) is not git; an error comes with isGit only for a
// git source that is malformed, or a github.com/ path whose options are, as
// BuildKit refuses both.
func parseGitRef(src string) (_ *gitRef, isGit bool, _ error) {
	if strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
		return nil, false, nil
	}
	var fragment string
	var query url.Values
	g := &gitRef{}
	// github.com/o/r is read like a URL so that its options are checked as
	// BuildKit checks them, but it is a local path, not git.
	local := strings.HasPrefix(src, "github.com/")
	if local {
		u, err := url.Parse(src)
		if err != nil {
			return nil, false, nil
		}
		fragment, query = u.Fragment, u.Query()
	} else if scheme := gitScheme.FindString(src); scheme != "" {
		scheme = strings.ToLower(strings.TrimSuffix(scheme, "://"))
		switch scheme {
		case "http", "https", "ssh", "git":
		default:
			return nil, false, nil
		}
		u, err := url.Parse(src)
		if err != nil {
			return nil, false, nil
		}
		if (scheme == "http" || scheme == "https") && !strings.HasSuffix(u.Path, ".git") {
			return nil, false, nil
		}
		fragment, query = u.Fragment, u.Query()
		u.Fragment, u.RawFragment, u.RawQuery = "", "", ""
		g.remote = u.String()
	} else if m := gitSCP.FindStringSubmatch(src); m != nil {
		q, err := url.ParseQuery(m[4])
		if err != nil {
			return nil, false, nil
		}
		g.remote, query, fragment = m[1]+"@"+m[2]+":"+m[3], q, m[5]
	} else {
		return nil, false, nil
	}
	if fragment != "" {
		ref, subdir, _ := strings.Cut(fragment, ":")
		g.ref, g.subdir = ref, strings.TrimPrefix(path.Join("/", subdir), "/")
	}
	if err := g.loadQuery(query); err != nil {
		return nil, true, err
	}
	if local {
		return nil, false, nil
	}
	return g, true, nil
}

// loadQuery reads the ?key=value options, as BuildKit does: each once,
// never conflicting with the fragment.
func (g *gitRef) loadQuery(query url.Values) error {
	var tag, branch string
	set := func(what string, dst *string, v string) error {
		if *dst != "" && *dst != v {
			return fmt.Errorf("%s conflicts: %q vs %q", what, *dst, v)
		}
		*dst = v
		return nil
	}
	for k, v := range query {
		if len(v) > 1 {
			return fmt.Errorf("query %q has multiple values", k)
		}
		value := ""
		if len(v) == 1 {
			value = v[0]
		}
		var err error
		switch k {
		case "ref":
			err = set("ref", &g.ref, value)
		case "tag":
			tag = value
		case "branch":
			branch = value
		case "subdir":
			err = set("subdir", &g.subdir, value)
		case "checksum", "commit":
			g.checksum = value
		case "keep-git-dir":
			g.keepGitDir, err = queryBool(k, value)
		case "submodules":
			g.submodules, err = queryBool(k, value)
		case "fetch-by-commit":
			_, err = queryBool(k, value)
		case "mtime":
			if value != "checkout" && value != "commit" {
				err = fmt.Errorf("invalid mtime value: %q (must be \"checkout\" or \"commit\")", value)
			}
		default:
			return fmt.Errorf("unexpected query %q", k)
		}
		if err != nil {
			return err
		}
		if value == "" && k != "keep-git-dir" && k != "submodules" && k != "fetch-by-commit" {
			return fmt.Errorf("query %q has no value", k)
		}
	}
	if tag != "" && branch != "" {
		return fmt.Errorf("branch conflicts with tag")
	}
	if tag != "" {
		return set("ref", &g.ref, "refs/tags/"+strings.TrimPrefix(tag, "refs/tags/"))
	}
	if branch != "" {
		return set("ref", &g.ref, "refs/heads/"+strings.TrimPrefix(branch, "refs/heads/"))
	}
	return nil
}

// queryBool is a boolean option; the key alone means true.
func queryBool(key, value string) (*bool, error) {
	b := true
	if value != "" {
		var err error
		if b, err = strconv.ParseBool(value); err != nil {
			return nil, fmt.Errorf("invalid %s value: %q", key, value)
		}
	}
	return &b, nil
}
