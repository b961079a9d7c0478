package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// gitSource is an ADD source naming a git repository, as BuildKit reads
// it: REMOTE[#REF[:SUBDIR]] (or ?ref=, ?subdir=, ?checksum=, ?keep-git-dir=
// in the query).
type gitSource struct {
	remote, ref, subdir, checksum string
	keepGitDir, submodules        bool
}

// parseGitSource tells whether an ADD source is a git repository (BuildKit's
// rule: git@host:path, ssh:// or git://, or an http(s) URL whose path ends in
// .git) and checks what kago hands to git: the remote is one of the network
// protocols, never an option or a local path, and ref and subdir cannot be
// taken for options or climb out of the clone.
func parseGitSource(src string) (*gitSource, bool, error) {
	ref, isGit, err := parseGitRef(src)
	if err != nil {
		return nil, true, fmt.Errorf("git source %q: %s", src, firstLine(err))
	}
	if !isGit {
		return nil, false, nil
	}
	g := &gitSource{remote: ref.remote, ref: ref.ref, checksum: ref.checksum, submodules: ref.submodules == nil || *ref.submodules}
	g.keepGitDir = ref.keepGitDir != nil && *ref.keepGitDir
	if strings.HasPrefix(g.remote, "-") || strings.ContainsAny(g.remote, "\x00\n\r") {
		return nil, true, fmt.Errorf("git source %q: not a repository address", src)
	}
	for _, s := range []string{g.ref, g.checksum} {
		if strings.HasPrefix(s, "-") || strings.ContainsAny(s, "\x00\n\r \t") || strings.Contains(s, "..") {
			return nil, true, fmt.Errorf("git source %q: %q is not a branch, tag or commit", src, s)
		}
	}
	if g.checksum != "" && !isHex(g.checksum) {
		return nil, true, fmt.Errorf("git source %q: checksum %q is not a commit hash", src, g.checksum)
	}
	if ref.subdir != "" {
		sub := path.Clean(strings.TrimLeft(ref.subdir, "/"))
		if sub == ".." || strings.HasPrefix(sub, "../") || strings.IndexByte(sub, 0) >= 0 {
			return nil, true, fmt.Errorf("git source %q: subdirectory %q is outside the repository", src, ref.subdir)
		}
		if sub != "." {
			g.subdir = sub
		}
	}
	return g, true, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// gitAllowedProtocols are the transports git may use for an ADD: the
// network ones BuildKit accepts, never file:// or ext:: (which would read
// the host's files or run commands).
const gitAllowedProtocols = "http:https:git:ssh"

// clone fetches the repository at the ref (the remote's HEAD without one)
// into a new directory under the builder's temp directory with the host's
// git, without prompting, and returns the tree to copy (the subdirectory,
// if one was asked) and the commit. done removes the clone.
func (b *Builder) clone(ctx context.Context, g *gitSource, checksum string) (root, commit string, done func(), err error) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return "", "", nil, fmt.Errorf("ADD %s: cloning a git repository needs git on this machine, and none is installed: install git (apt-get install git)", g.remote)
	}
	dir, err := os.MkdirTemp(b.tmpDir(), "git-")
	if err != nil {
		return "", "", nil, err
	}
	remove := func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	repo := filepath.Join(dir, "repo")
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, gitBin, append([]string{"-c", "core.hooksPath=/dev/null", "-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL="+gitAllowedProtocols,
			"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(errb.String())
			if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
				msg = msg[i+1:]
			}
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, msg)
		}
		return strings.TrimSpace(out.String()), nil
	}
	if err := os.Mkdir(repo, 0o700); err != nil {
		return "", "", nil, err
	}
	ref := g.ref
	if ref == "" {
		ref = "HEAD"
	}
	steps := [][]string{{"init", "-q"}, {"remote", "add", "origin", "--", g.remote}}
	for _, s := range steps {
		if _, err := git(s...); err != nil {
			return "", "", nil, fmt.Errorf("ADD %s: %w", g.remote, err)
		}
	}
	// A branch or a tag fetches shallow; a commit the server does not
	// advertise needs the whole history.
	if _, err := git("fetch", "-q", "--depth=1", "--no-tags", "origin", "--", ref); err != nil {
		if !isHex(ref) {
			return "", "", nil, fmt.Errorf("ADD %s#%s: %w", g.remote, g.ref, err)
		}
		if _, err := git("fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"); err != nil {
			return "", "", nil, fmt.Errorf("ADD %s#%s: %w", g.remote, g.ref, err)
		}
		if _, err := git("checkout", "-q", "--detach", ref, "--"); err != nil {
			return "", "", nil, fmt.Errorf("ADD %s#%s: %w", g.remote, g.ref, err)
		}
	} else if _, err := git("checkout", "-q", "--detach", "FETCH_HEAD", "--"); err != nil {
		return "", "", nil, fmt.Errorf("ADD %s#%s: %w", g.remote, g.ref, err)
	}
	if commit, err = git("rev-parse", "HEAD"); err != nil {
		return "", "", nil, fmt.Errorf("ADD %s: %w", g.remote, err)
	}
	if checksum != "" && !strings.HasPrefix(commit, checksum) {
		return "", "", nil, fmt.Errorf("ADD %s#%s: the checkout is commit %s, not the checksum %s", g.remote, g.ref, commit, checksum)
	}
	if g.submodules {
		if _, err := os.Stat(filepath.Join(repo, ".gitmodules")); err == nil {
			if _, err := git("submodule", "update", "-q", "--init", "--recursive", "--depth=1"); err != nil {
				return "", "", nil, fmt.Errorf("ADD %s: %w", g.remote, err)
			}
		}
	}
	if !g.keepGitDir {
		if err := os.RemoveAll(filepath.Join(repo, ".git")); err != nil {
			return "", "", nil, err
		}
	}
	return repo, commit, remove, nil
}
