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
	dest         string
	from         string
	chown, chmod string
	add          bool
}

// copy runs a COPY or ADD step. Its cache key covers the content of what
// it copies from the context (names, modes, bytes; not times), or the key
// of the stage or the ID of the image it copies from.
func (bd *build) copy(ctx context.Context, st *state, i int, label string, r copyRequest) error {
	src, srcKey, release, err := bd.copySource(ctx, i, r.from)
	if err != nil {
		return err
	}
	defer release()
	var ms []match
	for _, s := range r.srcs {
		if r.add && isURL(s) {
			m, done, err := bd.b.download(ctx, s)
			if err != nil {
				return err
			}
			defer done()
			ms = append(ms, m)
			continue
		}
		found, err := src.resolve(s)
		if err != nil {
			return err
		}
		ms = append(ms, found...)
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
		if srcKey, err = contentDigest(ctx, ms, extract); err != nil {
			return err
		}
	}
	key := stepKey(st.key, r.text, srcKey)
	return bd.layerStep(ctx, st, label, key, r.text, func(s stepEnv) error {
		o, err := parseOwner(s.rootfs, r.chown, r.chmod)
		if err != nil {
			return err
		}
		items, mkdirs, err := planCopy(s.rootfs, ms, extract, dest, destDir)
		if err != nil {
			return err
		}
		return applyCopy(ctx, s.rootfs, mkdirs, items, o)
	})
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
func contentDigest(ctx context.Context, ms []match, extract []bool) (string, error) {
	h := sha256.New()
	items := make([]copyItem, len(ms))
	for j, m := range ms {
		items[j] = copyItem{src: m.src, m: m, dest: "c" + strconv.Itoa(j), extract: extract[j]}
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
func (b *Builder) download(ctx context.Context, rawURL string) (m match, done func(), err error) {
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
	done = func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			done()
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
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return match{}, nil, fmt.Errorf("ADD %s: download: %w", rawURL, err)
	}
	if err := f.Close(); err != nil {
		return match{}, nil, err
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		_ = os.Chtimes(p, t, t)
	}
	src := &source{root: dir, context: true, download: true, label: "the download of " + rawURL}
	m, err = src.lookup(name)
	return m, done, err
}
