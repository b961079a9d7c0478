// Package atomicfile replaces files so that a reader, or a kago killed half
// way, only ever sees the old content or the new one: write a temp file in
// the same directory, fsync it, rename it over the target, fsync the
// directory. Every record kago keeps on disk is written through it.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile atomically replaces path with data, with permissions perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	err = write(tmp, data, perm)
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

func write(f *os.File, data []byte, perm os.FileMode) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir makes renames and creations inside dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// RemoveDir removes the directory dir so that it disappears whole: it is
// first renamed into a fresh directory beside it named trashPrefix*, then
// that is removed. A reader never meets a half-removed dir, and what a killed
// process leaves is a trashPrefix* directory its store sweeps. A missing dir
// is no error.
func RemoveDir(dir, trashPrefix string) error {
	trash, err := os.MkdirTemp(filepath.Dir(dir), trashPrefix)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if err := os.Rename(dir, filepath.Join(trash, filepath.Base(dir))); err != nil && !os.IsNotExist(err) {
		os.Remove(trash)
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	// Someone who looked dir up just before the rename may still create a
	// file in it (a lock file opened with O_CREAT lands in the renamed
	// directory), after RemoveAll has emptied it: then it runs again.
	for try := 0; ; try++ {
		err := os.RemoveAll(trash)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.ENOTEMPTY) || try == 10 {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
}
