package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/moby/patternmatcher"

	"github.com/kago-run/kago/archive"
)

// copyItem is one source of a COPY or ADD and where it goes in the image.
type copyItem struct {
	src *source
	m   match
	// dest is the entry name in the image: relative to "/", clean; "." is
	// the root.
	dest string
	// contents: m is a directory whose contents go into dest (docker's
	// rule for directories), not the directory itself.
	contents bool
	// extract: m is a local tar archive ADD unpacks into dest.
	extract bool
	// exclude: COPY --exclude patterns, matched below a copied directory.
	exclude *patternmatcher.PatternMatcher
}

// owner is what --chown and --chmod set on copied files; nil keeps what
// the source has.
type owner struct {
	uid, gid *int
	mode     *int64 // permission bits with setuid, setgid, sticky
}

// entryFunc receives one tar entry of a copy; r is its content.
type entryFunc func(hdr *tar.Header, r io.Reader) error

// walkItems produces the tar entries of a copy, in order: each item's tree
// as archive.WriteTarAs writes it (or an archive's entries), renamed under
// its destination, ignored files left out, ownership and mode applied.
func walkItems(ctx context.Context, items []copyItem, o owner, fn entryFunc) error {
	for _, it := range items {
		if err := walkItem(ctx, it, o, fn); err != nil {
			return err
		}
	}
	return nil
}

func walkItem(ctx context.Context, it copyItem, o owner, fn entryFunc) error {
	var r io.Reader
	if it.extract {
		f, err := os.Open(it.m.real)
		if err != nil {
			return fmt.Errorf("open archive %s: %w", it.m.rel, err)
		}
		defer f.Close()
		dr, err := archive.Decompress(f)
		if err != nil {
			return fmt.Errorf("archive %s: %w", it.m.rel, err)
		}
		defer dr.Close()
		r = dr
	} else {
		pr, pw := io.Pipe()
		defer pr.Close()
		go func() { pw.CloseWithError(archive.WriteTarAs(ctx, pw, it.m.real, "t")) }()
		r = pr
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s from %s: %w", it.m.rel, it.src.label, err)
		}
		keep, err := it.rename(hdr)
		if err != nil {
			return err
		}
		if !keep {
			continue
		}
		o.apply(hdr, it.src.context && !it.extract)
		if err := fn(hdr, tr); err != nil {
			return err
		}
	}
}

// rename puts an entry under the item's destination; false drops it.
func (it copyItem) rename(hdr *tar.Header) (bool, error) {
	var sub string // the entry's path below the copied item, "" for the item
	if it.extract {
		rel := path.Clean(strings.TrimLeft(hdr.Name, "/"))
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return false, fmt.Errorf("archive %s: entry %q climbs out of the destination with \"..\"", it.m.rel, hdr.Name)
		}
		if rel != "." {
			sub = rel
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo, tar.TypeGNUSparse:
		case tar.TypeXGlobalHeader:
			return false, nil
		default:
			return false, fmt.Errorf("archive %s: entry %q has type %q, which ADD does not extract", it.m.rel, hdr.Name, hdr.Typeflag)
		}
		if hdr.Typeflag == tar.TypeGNUSparse {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeLink {
			target := path.Clean(strings.TrimLeft(hdr.Linkname, "/"))
			if target == ".." || strings.HasPrefix(target, "../") {
				return false, fmt.Errorf("archive %s: entry %q links to %q, outside the archive", it.m.rel, hdr.Name, hdr.Linkname)
			}
			hdr.Linkname = path.Join(it.dest, target)
		}
	} else {
		name := strings.TrimSuffix(hdr.Name, "/")
		if name != "t" {
			sub = strings.TrimPrefix(name, "t/")
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = path.Join(it.dest, strings.TrimPrefix(hdr.Linkname, "t/"))
		}
		if sub != "" && (it.src.ignored(path.Join(it.m.rel, sub)) || it.exclude != nil && excluded(it.exclude, sub)) {
			return false, nil
		}
	}
	if sub == "" && (it.contents || it.extract) {
		return false, nil // the destination directory is made (or kept) apart
	}
	if strings.HasPrefix(path.Base("/"+sub), ".wh.") || (sub == "" && strings.HasPrefix(path.Base(it.dest), ".wh.")) {
		return false, fmt.Errorf("%q in %s: a file named .wh.* cannot be stored in an image layer (it means a deletion there)", path.Join(it.m.rel, sub), it.src.label)
	}
	hdr.Name = path.Join(it.dest, sub)
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
	}
	return true, nil
}

// apply sets ownership and mode. Files from the context belong to root
// unless --chown says otherwise, as in docker; files from an image or an
// archive keep theirs.
func (o owner) apply(hdr *tar.Header, fromContext bool) {
	if fromContext {
		hdr.Uid, hdr.Gid = 0, 0
	}
	if o.uid != nil {
		hdr.Uid = *o.uid
	}
	if o.gid != nil {
		hdr.Gid = *o.gid
	}
	if o.mode != nil && hdr.Typeflag != tar.TypeSymlink {
		hdr.Mode = hdr.Mode&^0o7777 | *o.mode
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	for k := range hdr.PAXRecords {
		if !strings.HasPrefix(k, "SCHILY.xattr.") {
			delete(hdr.PAXRecords, k)
		}
	}
}

// applyCopy writes the items into the root filesystem at rootfs (a build
// step's overlay): first the destination directories that do not exist
// yet (mkdirs, owned as the copied files are), then the entries. Apply
// resolves every name inside rootfs.
func applyCopy(ctx context.Context, rootfs string, mkdirs []string, items []copyItem, o owner) error {
	pr, pw := io.Pipe()
	produced := make(chan error, 1)
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			now := time.Now()
			for _, d := range mkdirs {
				hdr := &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: now, Format: tar.FormatPAX}
				o.apply(hdr, true)
				if o.mode != nil { // --chmod is for the copied files
					hdr.Mode = 0o755
				}
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
			}
			return walkItems(ctx, items, o, func(hdr *tar.Header, r io.Reader) error {
				if hdr.Typeflag != tar.TypeReg {
					hdr.Size = 0
				}
				if err := tw.WriteHeader(hdr); err != nil {
					return fmt.Errorf("copy %s: %w", hdr.Name, err)
				}
				if hdr.Typeflag == tar.TypeReg {
					if _, err := io.CopyN(tw, r, hdr.Size); err != nil {
						return fmt.Errorf("copy %s: %w", hdr.Name, err)
					}
				}
				return nil
			})
		}()
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
		produced <- err
	}()
	_, err := archive.Apply(ctx, rootfs, pr, archive.ApplyOptions{})
	pr.Close() // stops the producer if Apply gave up first
	// The producer's error is the cause; Apply only saw a broken stream.
	if perr := <-produced; perr != nil && !errors.Is(perr, io.ErrClosedPipe) {
		return perr
	}
	return err
}
