package archive

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is the compression of a layer stream, as detected by Detect.
type Compression int

const (
	// Uncompressed is a plain tar stream.
	Uncompressed Compression = iota
	// Gzip is RFC 1952 gzip (media type ...tar+gzip).
	Gzip
	// Zstd is RFC 8878 Zstandard (media type ...tar+zstd).
	Zstd
	// Bzip2 is found in old "docker save" tarballs.
	Bzip2
	// Xz is recognised only to give a clear error: kago does not decode it.
	Xz
)

// String names the compression as media type suffixes do.
func (c Compression) String() string {
	switch c {
	case Uncompressed:
		return "uncompressed"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	case Bzip2:
		return "bzip2"
	case Xz:
		return "xz"
	}
	return fmt.Sprintf("compression(%d)", int(c))
}

var magics = []struct {
	c     Compression
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Bzip2, []byte{'B', 'Z', 'h'}},
	{Xz, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
}

// Detect tells the compression from the first bytes of a stream. Anything
// unknown is taken to be a tar stream; the tar reader reports it if not.
func Detect(head []byte) Compression {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.c
		}
	}
	return Uncompressed
}

// readBuf is large so that decompression reads the network or disk in big
// chunks; the layer is streamed, never held in memory.
const readBuf = 1 << 20

// Decompress sniffs gzip, zstd (and bzip2) or an uncompressed tar by magic
// bytes and returns the decompressed stream. Close releases the decoder; it
// does not close r.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, readBuf)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read layer header: %w", err)
	}
	switch c := Detect(head); c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open gzip layer: %w", err)
		}
		return zr, nil
	case Zstd:
		// One decoder goroutine: layers are usually unpacked several at a
		// time, and the decoder's own concurrency does not pay off for one
		// stream. The window limit keeps a hostile frame from asking for
		// gigabytes of memory.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<29))
		if err != nil {
			return nil, fmt.Errorf("open zstd layer: %w", err)
		}
		return zstdCloser{zr}, nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(br)), nil
	case Xz:
		return nil, fmt.Errorf("layer is xz-compressed, which kago does not support: recompress it with gzip or zstd")
	default:
		return io.NopCloser(br), nil
	}
}

// zstdCloser adapts zstd.Decoder, whose Close returns nothing.
type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Read(p []byte) (int, error) { return z.d.Read(p) }
func (z zstdCloser) Close() error               { z.d.Close(); return nil }
