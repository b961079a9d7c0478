package image

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kago-run/kago/internal/atomicfile"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// contentStore keeps blobs addressed by their sha256 digest under
// <root>/content/blobs/sha256/<hex>. A blob is only ever visible under its
// final name after its digest and size were checked: writers fill a temp file
// in <root>/content/ingest and rename it into place, so a killed kago leaves at
// most an orphaned temp file, never a corrupt blob.
type contentStore struct {
	blobs  string
	ingest string
}

func newContentStore(root string) (*contentStore, error) {
	c := &contentStore{
		blobs:  filepath.Join(root, "content", "blobs", "sha256"),
		ingest: filepath.Join(root, "content", "ingest"),
	}
	for _, d := range []string{c.blobs, c.ingest} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create content store directory: %w", err)
		}
	}
	return c, nil
}

func (c *contentStore) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("blob digest %s: only sha256 is supported", d)
	}
	return filepath.Join(c.blobs, d.Encoded()), nil
}

// Has reports whether the blob is committed.
func (c *contentStore) Has(d digest.Digest) bool {
	p, err := c.path(d)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// Open opens a committed blob.
func (c *contentStore) Open(d digest.Digest) (*os.File, error) {
	p, err := c.path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	return f, err
}

// ReadAll reads a committed blob of at most limit bytes.
func (c *contentStore) ReadAll(d digest.Digest, limit int64) ([]byte, error) {
	f, err := c.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, limit, "blob "+d.String())
}

// Size returns the size of a committed blob.
func (c *contentStore) Size(d digest.Digest) (int64, error) {
	p, err := c.path(d)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", d, err)
	}
	return st.Size(), nil
}

// Put commits data whose digest is computed here.
func (c *contentStore) Put(data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	w, err := c.Writer(d, int64(len(data)))
	if err != nil {
		return "", err
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		return "", err
	}
	return d, w.Commit()
}

// Delete removes a blob; a missing blob is not an error.
func (c *contentStore) Delete(d digest.Digest) error {
	p, err := c.path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// List returns the digests of all committed blobs.
func (c *contentStore) List() ([]digest.Digest, error) {
	ents, err := os.ReadDir(c.blobs)
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	var out []digest.Digest
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// CleanIngest removes temp files left by writers that never finished, such
// as a kago killed mid-pull. Only call it when no writer can be running.
func (c *contentStore) CleanIngest() error {
	ents, err := os.ReadDir(c.ingest)
	if err != nil {
		return fmt.Errorf("list ingest: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(c.ingest, e.Name())); err != nil {
			return fmt.Errorf("clean ingest: %w", err)
		}
	}
	return nil
}

// blobWriter writes one blob to a temp file while hashing it. Commit checks
// digest and size and renames the file into place; Close without Commit
// deletes the temp file.
type blobWriter struct {
	c        *contentStore
	f        *os.File
	h        hash.Hash
	n        int64
	want     digest.Digest
	size     int64 // -1 if unknown
	finished bool
	// resumable writers keep their temp file when closed uncommitted.
	resumable bool
}

// Writer starts a blob that must end with digest want and, if size >= 0, that
// size.
func (c *contentStore) Writer(want digest.Digest, size int64) (*blobWriter, error) {
	if _, err := c.path(want); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(c.ingest, want.Encoded()+"-*")
	if err != nil {
		return nil, fmt.Errorf("create temp blob for %s: %w", want, err)
	}
	return &blobWriter{c: c, f: f, h: sha256.New(), want: want, size: size}, nil
}

func (w *blobWriter) Write(p []byte) (int, error) {
	if w.size >= 0 && w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("blob %s: more than the %d bytes the manifest promised", w.want, w.size)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write blob %s: %w", w.want, err)
	}
	return n, nil
}

// Verify checks what was written so far against the expected digest and size.
func (w *blobWriter) Verify() error {
	if w.size >= 0 && w.n != w.size {
		return fmt.Errorf("blob %s: got %d bytes, want %d (truncated or corrupt download): %w", w.want, w.n, w.size, ErrDigestMismatch)
	}
	if got := digest.NewDigest(digest.SHA256, w.h); got != w.want {
		return fmt.Errorf("blob %s: content has digest %s: %w", w.want, got, ErrDigestMismatch)
	}
	return nil
}

// Commit verifies the blob, syncs it and moves it to its final name.
func (w *blobWriter) Commit() error {
	if err := w.Verify(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync blob %s: %w", w.want, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close blob %s: %w", w.want, err)
	}
	w.finished = true
	final, _ := w.c.path(w.want)
	if err := os.Rename(w.f.Name(), final); err != nil {
		_ = os.Remove(w.f.Name())
		return fmt.Errorf("commit blob %s: %w", w.want, err)
	}
	return atomicfile.SyncDir(w.c.blobs)
}

// Close abandons an uncommitted blob. A resumable download keeps what it
// has for the next pull, unless Discard said it is bad.
func (w *blobWriter) Close() error {
	if w.finished {
		return nil
	}
	w.finished = true
	w.f.Close()
	if w.resumable && w.n > 0 {
		return nil
	}
	return os.Remove(w.f.Name())
}

// Discard deletes the blob's temp file, resumable or not: its content is
// wrong, so nothing of it may be reused.
func (w *blobWriter) Discard() {
	w.resumable = false
	w.Close()
}

// Reset empties the blob to start over, for a registry that sent the whole
// blob when asked for the rest.
func (w *blobWriter) Reset() error {
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("restart blob %s: %w", w.want, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restart blob %s: %w", w.want, err)
	}
	w.h.Reset()
	w.n = 0
	return nil
}

// Have is how many bytes of the blob are written.
func (w *blobWriter) Have() int64 { return w.n }

// Prefix reads the bytes written so far, from the start.
func (w *blobWriter) Prefix() io.Reader { return io.NewSectionReader(w.f, 0, w.n) }

// ResumableWriter opens the partial download of a blob, <hex>.partial in
// ingest, creating it if needed, and continues after what it holds. An flock
// on the file keeps two pulls from writing one blob at once: the second waits
// (or gives up when ctx ends), and then usually finds the blob committed.
func (c *contentStore) ResumableWriter(ctx context.Context, want digest.Digest, size int64) (*blobWriter, error) {
	if _, err := c.path(want); err != nil {
		return nil, err
	}
	name := filepath.Join(c.ingest, want.Encoded()+".partial")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open partial blob %s: %w", want, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock partial blob %s: %w", want, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	w := &blobWriter{c: c, f: f, h: sha256.New(), want: want, size: size, resumable: true}
	n, err := io.Copy(w.h, f)
	if err == nil && size >= 0 && n > size {
		err = w.Reset() // longer than the blob: not a prefix of it
		n = 0
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read partial blob %s: %w", want, err)
	}
	w.n = n
	return w, nil
}

// readLimited reads r to the end but refuses more than limit bytes, so a hostile
// registry or archive cannot make kago hold a huge manifest in memory.
func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", what, limit, ErrTooLarge)
	}
	return data, nil
}
