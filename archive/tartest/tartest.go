// Package tartest builds layer tar streams for tests: a short literal list of
// entries instead of a pile of tar.Header boilerplate in every test.
package tartest

import (
	"archive/tar"
	"bytes"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Entry is one tar entry. Zero fields get sensible defaults: mode 0644 for
// files, 0755 for directories, a fixed mtime, PAX format.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg when zero
	Body     string
	Link     string // symlink or hard link target
	Mode     int64
	UID, GID int
	Major    int64
	Minor    int64
	ModTime  time.Time
	Xattrs   map[string]string
}

// MTime is the default modification time of entries.
var MTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// Header converts the entry to a tar header.
func (e Entry) Header() *tar.Header {
	h := &tar.Header{
		Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: e.Mode,
		Uid: e.UID, Gid: e.GID, Devmajor: e.Major, Devminor: e.Minor,
		ModTime: e.ModTime, Format: tar.FormatPAX, Size: int64(len(e.Body)),
	}
	if h.Typeflag == 0 {
		h.Typeflag = tar.TypeReg
	}
	if h.Typeflag != tar.TypeReg {
		h.Size = 0
	}
	if h.Mode == 0 {
		h.Mode = 0o644
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
	}
	if h.ModTime.IsZero() {
		h.ModTime = MTime
	}
	for k, v := range e.Xattrs {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["SCHILY.xattr."+k] = v
	}
	return h
}

// Tar returns the uncompressed tar of the entries. It panics on a writer
// error, which for an in-memory buffer means a malformed entry in the test.
func Tar(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header()
		if err := tw.WriteHeader(h); err != nil {
			panic("tartest: " + e.Name + ": " + err.Error())
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				panic(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Gzip compresses b with gzip.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Zstd compresses b with zstd.
func Zstd(b []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		panic(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}
