package initproc

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MountPoint is the directory of the container the engine mounts the init
// bundle on, read-only. It is under /dev, the container's own tmpfs, so
// the mount point leaves no trace in the image's layers or upper dir.
const MountPoint = "/dev/kago-init"

// Bundle is a directory holding a copy of the kago binary and, when it is
// dynamically linked (cgo), the loader and libraries it needs, so it runs
// in images without them (busybox, scratch). The container gets copies,
// read-only, never the host's files: even a container that found a way to
// write them could not touch the kago on the host (CVE-2019-5736).
type Bundle struct {
	Dir string // on the host
	// Interp is the loader's base name inside Dir, "" for a static binary.
	Interp string
}

// Args is the argv prefix that runs kago-init from the bundle in the
// container; the command follows.
func (b *Bundle) Args() []string {
	bin := MountPoint + "/" + Name
	if b.Interp == "" {
		return []string{bin, "--"}
	}
	// Running the loader explicitly needs no /lib64 in the image.
	return []string{MountPoint + "/" + b.Interp, "--library-path", MountPoint, bin, "--"}
}

// libDirs are where the loader of this host finds libraries.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// Prepare makes (once per engine root) the bundle for the kago binary self
// under dir.
func Prepare(dir, self string) (*Bundle, error) {
	f, err := elf.Open(self)
	if err != nil {
		return nil, fmt.Errorf("--init: read %s: %w", self, err)
	}
	defer f.Close()
	b := &Bundle{Dir: dir}
	files := map[string]string{Name: self}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			return nil, fmt.Errorf("--init: read the loader name of %s: %w", self, err)
		}
		interp := string(data)
		if i := len(interp) - 1; i >= 0 && interp[i] == 0 {
			interp = interp[:i]
		}
		b.Interp = filepath.Base(interp)
		files[b.Interp] = interp
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("--init: libraries of %s: %w", self, err)
	}
	for _, lib := range libs {
		found := ""
		for _, d := range libDirs {
			if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
				found = filepath.Join(d, lib)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("--init: kago needs %s but it is in none of %v", lib, libDirs)
		}
		files[lib] = found
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--init: %w", err)
	}
	for name, src := range files {
		if err := copyIfChanged(src, filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("--init: %w", err)
		}
	}
	return b, nil
}

// copyIfChanged copies src (following symlinks) to dst unless dst is
// already a copy of the same size, not older than src; atomically.
func copyIfChanged(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if st, err := os.Stat(dst); err == nil && st.Size() == fi.Size() && !st.ModTime().Before(fi.ModTime()) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o555)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}
