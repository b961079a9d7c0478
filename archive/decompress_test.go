package archive_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/archive/tartest"
)

func TestDecompressSniffsFormat(t *testing.T) {
	plain := tartest.Tar(E{Name: "f", Body: strings.Repeat("kago ", 1000)})
	for name, blob := range map[string][]byte{
		"uncompressed":     plain,
		"gzip":             tartest.Gzip(plain),
		"zstd":             tartest.Zstd(plain),
		"gzip-multistream": append(tartest.Gzip(plain[:1024]), tartest.Gzip(plain[1024:])...),
	} {
		t.Run(name, func(t *testing.T) {
			if name != "uncompressed" && bytes.Equal(blob, plain) {
				t.Fatal("test blob is not compressed")
			}
			r, err := archive.Decompress(bytes.NewReader(blob))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("decompressed %d bytes, want the %d of the tar", len(got), len(plain))
			}
		})
	}
}

func TestDecompressErrors(t *testing.T) {
	xz := []byte{0xfd, '7', 'z', 'X', 'Z', 0x00, 0, 0}
	if _, err := archive.Decompress(bytes.NewReader(xz)); err == nil || !strings.Contains(err.Error(), "xz") {
		t.Errorf("xz: %v", err)
	}
	// A corrupt gzip body must fail when read, not yield garbage silently.
	gz := tartest.Gzip(tartest.Tar(E{Name: "f", Body: strings.Repeat("x", 5000)}))
	gz[len(gz)-5] ^= 0xff // CRC trailer
	r, err := archive.Decompress(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err == nil {
		t.Error("corrupt gzip read without error")
	}
	// Empty input is an empty tar stream, which Apply reports.
	if r, err := archive.Decompress(bytes.NewReader(nil)); err != nil {
		t.Errorf("empty: %v", err)
	} else if b, _ := io.ReadAll(r); len(b) != 0 {
		t.Errorf("empty: read %d bytes", len(b))
	}
}

func TestDetect(t *testing.T) {
	for head, want := range map[string]archive.Compression{
		"\x1f\x8b\x08":     archive.Gzip,
		"\x28\xb5\x2f\xfd": archive.Zstd,
		"BZh9":             archive.Bzip2,
		"\xfd7zXZ\x00":     archive.Xz,
		"etc/passwd\x00":   archive.Uncompressed,
		"":                 archive.Uncompressed,
	} {
		if got := archive.Detect([]byte(head)); got != want {
			t.Errorf("Detect(%q) = %v, want %v", head, got, want)
		}
	}
}

// bzip2 (old "docker save" layers): the standard library has no writer, so
// the blob is `printf 'kago bzip2\n' | bzip2 -9`.
func TestDecompressBzip2(t *testing.T) {
	blob := []byte{0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59, 0x9d, 0x8e, 0x84, 0x18, 0x00, 0x00,
		0x03, 0xd9, 0x80, 0x00, 0x10, 0x40, 0x00, 0x10, 0x00, 0x30, 0xa8, 0xc0, 0x10, 0x20, 0x00, 0x31, 0x00, 0xd3,
		0x4d, 0x04, 0x03, 0x43, 0x24, 0xf1, 0x23, 0x16, 0x94, 0xbc, 0x5d, 0xc9, 0x14, 0xe1, 0x42, 0x42, 0x76, 0x3a,
		0x10, 0x60}
	r, err := archive.Decompress(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "kago bzip2\n" {
		t.Errorf("bzip2 = %q, %v", got, err)
	}
}
