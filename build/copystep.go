package build

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/linux/inroot"
)

// copyRequest is a COPY or ADD, expanded.
type copyRequest struct {
	text         string
	srcs         []string
	heredocs     []instructions.SourceContent // COPY <<EOF: files written inline
	dest         string
	from         string
	chown, chmod string
	add          bool
	link         bool     // --link: a layer of its own, independent of the ones below
	parents      bool     // --parents: keep the sources' directories
	exclude      []string // --exclude patterns
	checksum     string   // ADD --checksum: of the URL's content, or the git commit
	keepGitDir   *bool    // ADD --keep-git-dir
}

// copy runs a COPY or ADD step. Its cache key covers the content of what
// it copies from the context, a download, a heredoc or a git checkout
// (names, modes, bytes; not times), or the key of the stage or the ID of
// the image it copies from. With --link the key does not cover the layers
// below, and the layer is made on an empty tree, so a changed base keeps it.
func (bd *build) copy(ctx context.Context, st *state, i int, label string, r copyRequest) error {
	src, srcKey, release, err := bd.copySource(ctx, i, r.from)
	if err != nil {
		return err
	}
	defer release()
	var exclude *patternmatcher.PatternMatcher
	if len(r.exclude) > 0 {
		if exclude, err = patternmatcher.New(r.exclude); err != nil {
			return fmt.Errorf("--exclude: %w", err)
		}
	}
	if r.checksum != "" && r.add {
		if _, err := digest.Parse(r.checksum); err != nil && !isHex(r.checksum) {
			return fmt.Errorf("--checksum=%s: give sha256:HEX for a URL, or a commit hash for a git repository", r.checksum)
		}
	}
	var ms []match
	var cleanups []func()
	defer func() {
		for _, c := range cleanups {
			c()
		}
	}()
	for _, s := range r.srcs {
		if r.add {
			g, isGit, err := parseGitSource(s)
			if err != nil {
				return err
			}
			if isGit {
				if r.keepGitDir != nil {
					g.keepGitDir = *r.keepGitDir
				}
				m, done, err := bd.b.gitMatch(ctx, g, r.checksum)
				if err != nil {
					return err
				}
				cleanups = append(cleanups, done)
				ms = append(ms, m)
				continue
			}
			if isURL(s) {
				m, done, err := bd.b.download(ctx, s, r.checksum)
				if err != nil {
					return err
				}
				cleanups = append(cleanups, done)
				ms = append(ms, m)
				continue
			}
			if r.checksum != "" {
				return fmt.Errorf("--checksum is for a URL or a git repository, and %s is neither", s)
			}
		} else if g, isGit, _ := parseGitSource(s); isGit && g != nil || isURL(s) {
			return fmt.Errorf("COPY cannot fetch %s: use ADD for a URL or a git repository", s)
		}
		found, err := src.resolve(s)
		if err != nil {
			return err
		}
		if r.parents {
			pivot := "."
			if p, _, ok := strings.Cut(s, "/./"); ok {
				if pivot, err = src.cleanSource(p); err != nil {
					return err
				}
			}
			for j := range found {
				found[j].parents = strings.TrimPrefix(found[j].rel, pivot+"/")
				if pivot == "." || found[j].rel == pivot {
					found[j].parents = found[j].rel
				}
			}
		}
		for _, m := range found {
			if exclude != nil && m.rel != "." && excluded(exclude, m.rel) {
				continue
			}
			ms = append(ms, m)
		}
	}
	if len(r.heredocs) > 0 {
		hms, done, err := bd.b.heredocFiles(r.heredocs)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, done)
		ms = append(ms, hms...)
	}
	dest := r.dest
	destDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		dest = path.Join("/", st.cfg.Config.WorkingDir, dest)
	}
	if len(ms) > 1 && !destDir {
		return fmt.Errorf("%d sources need a destination directory ending in /: write %s/", len(ms), r.dest)
	}
	extract := make([]bool, len(ms))
	if r.add && src.context {
		for j, m := range ms {
			extract[j] = !m.dir && !m.src.download && isArchive(m.real)
		}
	}
	if src.context {
		if srcKey, err = contentDigest(ctx, ms, extract, exclude); err != nil {
			return err
		}
	}
	// BuildKit links only without --chmod; a linked layer cannot look names
	// up in the image's /etc/passwd, which it does not see.
	link := r.link && r.chmod == ""
	if link && r.chown != "" && !numericOwner(r.chown) {
		return fmt.Errorf("--link with --chown=%s: give numeric ids (UID[:GID]); a linked layer does not see the image's users", r.chown)
	}
	parent := st.key
	if link {
		parent = ""
	}
	key := stepKey(parent, r.text, srcKey, fmt.Sprint(link))
	fn := func(s stepEnv) error {
		o, err := parseOwner(s.rootfs, r.chown, r.chmod)
		if err != nil {
			return err
		}
		items, mkdirs, err := planCopy(s.rootfs, ms, extract, dest, destDir)
		if err != nil {
			return err
		}
		for j := range items {
			items[j].exclude = exclude
		}
		return applyCopy(ctx, s.rootfs, mkdirs, items, o)
	}
	if link {
		below := st.key
		if err := bd.layerStepOn(ctx, st, label, key, r.text, nil, fn); err != nil {
			return err
		}
		// The steps after this one depend on the layers below it too.
		st.key = stepKey(below, "LINK", key.String())
		return nil
	}
	return bd.layerStep(ctx, st, label, key, r.text, fn)
}

// excluded reports whether a COPY --exclude pattern matches rel or a
// directory above it.
func excluded(pm *patternmatcher.PatternMatcher, rel string) bool {
	ok, err := pm.MatchesOrParentMatches(rel)
	return err == nil && ok
}

// numericOwner reports whether a --chown value is UID[:GID] in numbers.
func numericOwner(s string) bool {
	u, g, _ := strings.Cut(s, ":")
	for _, p := range []string{u, g} {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil && p != "" {
			return false
		}
	}
	return u != ""
}

// heredocFiles writes the inline files of a COPY <<EOF into a directory of
// their own (mode 0644, as BuildKit makes them); done removes it.
func (b *Builder) heredocFiles(docs []instructions.SourceContent) (ms []match, done func(), err error) {
	dir, err := os.MkdirTemp(b.tmpDir(), "heredoc-")
	if err != nil {
		return nil, nil, err
	}
	done = func() { os.RemoveAll(dir) }
	src := &source{root: dir, context: true, download: true, label: "a heredoc"}
	for _, d := range docs {
		name := d.Path
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			done()
			return nil, nil, fmt.Errorf("heredoc name %q cannot name a file", d.Path)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(d.Data), 0o644); err != nil {
			done()
			return nil, nil, err
		}
		if err := os.Chmod(p, 0o644); err != nil {
			done()
			return nil, nil, err
		}
		m, err := src.lookup(name)
		if err != nil {
			done()
			return nil, nil, err
		}
		ms = append(ms, m)
	}
	return ms, done, nil
}

// gitMatch clones an ADD's git repository and names the tree it copies.
func (b *Builder) gitMatch(ctx context.Context, g *gitSource, checksum string) (match, func(), error) {
	if checksum != "" && !isHex(checksum) {
		return match{}, nil, fmt.Errorf("--checksum=%s: a git repository's checksum is its commit hash", checksum)
	}
	repo, _, done, err := b.clone(ctx, g, checksum)
	if err != nil {
		return match{}, nil, err
	}
	src := &source{root: repo, context: true, download: true, label: "the git repository " + g.remote}
	sub := g.subdir
	if sub == "" {
		sub = "."
	}
	m, err := src.lookup(sub)
	if err != nil {
		done()
		return match{}, nil, err
	}
	return m, done, nil
}

// copySource is what COPY --from names: the context, an earlier stage's
// result or an image, mounted read-only in use for the step.
func (bd *build) copySource(ctx context.Context, i int, from string) (src *source, key string, release func(), err error) {
	if from == "" {
		return bd.ctxSrc, "", func() {}, nil
	}
	var diffIDs []digest.Digest
	label := "stage " + from
	if j, ok := bd.stageIndex(from, i); ok {
		res := bd.result(j)
		diffIDs, key = res.cfg.RootFS.DiffIDs, res.key.String()
	} else {
		img, err := bd.b.Resolve(ctx, from, false)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--from=%s: not a stage before this one, nor an image: %w", from, err)
		}
		diffIDs, key, label = img.DiffIDs, img.ID.String(), "image "+from
	}
	snapKey := "build-from-" + randomID()
	snaps := bd.b.Images.Snapshots()
	root, err := snaps.Prepare(ctx, snapKey, image.ChainIDs(diffIDs))
	if err != nil {
		return nil, "", nil, fmt.Errorf("--from=%s: %w", from, err)
	}
	release = func() { _ = snaps.Release(context.WithoutCancel(ctx), snapKey) }
	return &source{root: root, label: label}, key, release, nil
}

// planCopy applies docker's rules for where each source goes: a directory's
// contents go into the destination; a file goes into it when it ends in "/"
// or is a directory already, and becomes it otherwise; an archive ADD
// extracts goes into it. mkdirs are the directories to create first.
func planCopy(rootfs string, ms []match, extract []bool, dest string, destDir bool) (items []copyItem, mkdirs []string, err error) {
	d := strings.TrimLeft(path.Clean(dest), "/")
	if d == "" {
		d = "."
	}
	var dirs []string
	for j, m := range ms {
		it := copyItem{src: m.src, m: m, dest: d}
		switch {
		case m.parents != "" && m.dir:
			it.dest, it.contents = path.Join(d, m.parents), true
			dirs = append(dirs, it.dest)
		case m.parents != "":
			it.dest = path.Join(d, m.parents)
			dirs = append(dirs, path.Dir(it.dest))
		case extract[j]:
			it.extract = true
			dirs = append(dirs, d)
		case m.dir:
			it.contents = true
			dirs = append(dirs, d)
		case destDir || isDirInRoot(rootfs, d):
			it.dest = path.Join(d, path.Base(m.rel))
			dirs = append(dirs, d)
		default:
			dirs = append(dirs, path.Dir(d))
		}
		items = append(items, it)
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		var cur string
		for _, part := range strings.Split(dir, "/") {
			if part == "." || part == "" {
				continue
			}
			cur = path.Join(cur, part)
			if seen[cur] {
				continue
			}
			seen[cur] = true
			st, err := statInRoot(rootfs, cur)
			switch {
			case errors.Is(err, unix.ENOENT):
				mkdirs = append(mkdirs, cur)
			case err != nil:
				return nil, nil, fmt.Errorf("destination /%s: %w", cur, err)
			case st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Mode&unix.S_IFMT != unix.S_IFLNK:
				return nil, nil, fmt.Errorf("destination /%s exists and is not a directory", cur)
			}
		}
	}
	return items, mkdirs, nil
}

func isDirInRoot(rootfs, p string) bool {
	f, err := inroot.OpenFile(rootfs, p, unix.O_PATH)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	return err == nil && st.IsDir()
}

// isArchive tells a tar (plain, gzip, bzip2 or zstd) ADD extracts from a
// file it copies.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	dr, err := archive.Decompress(bufio.NewReader(f))
	if err != nil {
		return false
	}
	defer dr.Close()
	_, err = tar.NewReader(dr).Next()
	return err == nil
}

// contentDigest digests what a COPY takes from the context: every entry's
// name, type, mode, owner, link target, xattrs and bytes, not its times.
func contentDigest(ctx context.Context, ms []match, extract []bool, exclude *patternmatcher.PatternMatcher) (string, error) {
	h := sha256.New()
	items := make([]copyItem, len(ms))
	for j, m := range ms {
		items[j] = copyItem{src: m.src, m: m, dest: "c" + strconv.Itoa(j) + "/" + m.parents, extract: extract[j], exclude: exclude}
	}
	err := walkItems(ctx, items, owner{}, func(hdr *tar.Header, r io.Reader) error {
		keys := make([]string, 0, len(hdr.PAXRecords))
		for k := range hdr.PAXRecords {
			keys = append(keys, k+"="+hdr.PAXRecords[k])
		}
		sort.Strings(keys)
		fmt.Fprintf(h, "%q %c %o %d:%d %q %q %d\n", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Linkname, keys, hdr.Size)
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.CopyN(h, r, hdr.Size); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return digest.NewDigest(digest.SHA256, h).String(), nil
}

// parseOwner reads --chown (USER[:GROUP], names looked up in the image's
// /etc/passwd and /etc/group; no group means the group id equal to the user
// id, as docker documents) and --chmod (octal).
func parseOwner(rootfs, chown, chmod string) (owner, error) {
	var o owner
	if chown != "" {
		passwd, err := engine.ReadInRoot(rootfs, "/etc/passwd")
		if err != nil {
			return o, err
		}
		group, err := engine.ReadInRoot(rootfs, "/etc/group")
		if err != nil {
			return o, err
		}
		u, err := specgen.ResolveUser(chown, passwd, group)
		if err != nil {
			return o, fmt.Errorf("--chown=%s: %w", chown, err)
		}
		uid, gid := int(u.UID), int(u.GID)
		if !strings.Contains(chown, ":") {
			gid = uid
		}
		o.uid, o.gid = &uid, &gid
	}
	if chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return o, fmt.Errorf("--chmod=%s: give the mode in octal, such as 0755", chmod)
		}
		mode := int64(m)
		o.mode = &mode
	}
	return o, nil
}

// download fetches an ADD URL into a directory of its own under the
// builder's temp directory, as docker does: named as the last element of
// the URL's path, mode 0600, its time the Last-Modified the server sent,
// never extracted. done removes it.
func (b *Builder) download(ctx context.Context, rawURL, checksum string) (m match, done func(), err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return match{}, nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	dir, err := os.MkdirTemp(b.tmpDir(), "download-")
	if err != nil {
		return match{}, nil, err
	}
	remove := func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return match{}, nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return match{}, nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return match{}, nil, fmt.Errorf("ADD %s: the server answered %s", rawURL, resp.Status)
	}
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return match{}, nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		f.Close()
		return match{}, nil, fmt.Errorf("ADD %s: download: %w", rawURL, err)
	}
	if err := f.Close(); err != nil {
		return match{}, nil, err
	}
	if checksum != "" {
		want, err := digest.Parse(checksum)
		if err != nil || want.Algorithm() != digest.SHA256 {
			return match{}, nil, fmt.Errorf("ADD %s: --checksum=%s: give sha256:HEX", rawURL, checksum)
		}
		if got := digest.NewDigest(digest.SHA256, h); got != want {
			return match{}, nil, fmt.Errorf("ADD %s: checksum mismatch: the download is %s, --checksum says %s", rawURL, got, want)
		}
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		_ = os.Chtimes(p, t, t)
	}
	src := &source{root: dir, context: true, download: true, label: "the download of " + rawURL}
	m, err = src.lookup(name)
	return m, remove, err
}
