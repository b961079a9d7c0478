package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A build killed with SIGKILL leaves its step's container, snapshot and
// bundle behind. Every build holds a shared lock on <root>/build.lock while
// it runs; a build that gets the lock exclusively knows no other build
// runs, removes everything named build-*, then shares the lock like the
// others.

// lock takes the build lock, cleaning up after killed builds when it is the
// only one; the returned function releases it.
func (b *Builder) lock(ctx context.Context) (func(), error) {
	path := filepath.Join(b.Root, "build.lock")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open build lock: %w", err)
	}
	release := func() { unix.Close(fd) }
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		err := b.cleanStale(ctx)
		if lerr := unix.Flock(fd, unix.LOCK_SH); lerr != nil && err == nil {
			err = fmt.Errorf("build lock: %w", lerr)
		}
		if err != nil {
			release()
			return nil, err
		}
		return release, nil
	}
	if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
		release()
		return nil, fmt.Errorf("build lock: %w", err)
	}
	return release, nil
}

// cleanStale removes the containers, snapshots and bundles of killed
// builds. The caller holds the build lock exclusively.
func (b *Builder) cleanStale(ctx context.Context) error {
	var errs []error
	cs, err := b.Runtime.List()
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range cs {
		if b.Net != nil {
			if err := b.Net.Detach(ctx, c.ID()); err != nil {
				errs = append(errs, fmt.Errorf("detach container %s of a killed build: %w", c.ID(), err))
			}
		}
		if err := c.Delete(ctx, true); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s of a killed build: %w", c.ID(), err))
		}
	}
	snaps := b.Images.Snapshots()
	keys, err := snaps.Containers()
	if err != nil {
		errs = append(errs, err)
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "build-") {
			if err := snaps.Release(ctx, k); err != nil {
				errs = append(errs, fmt.Errorf("remove snapshot %s of a killed build: %w", k, err))
			}
		}
	}
	for _, d := range []string{b.bundleDir(), b.tmpDir()} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(d, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
