// Package statefile keeps small JSON records on disk the way every kago state
// file is kept: readers and writers serialise on an flock(2) of a sibling
// ".lock" file (so separate kago processes agree, not only goroutines), and a
// new version replaces the old one by write-temp, fsync, rename, fsync-dir, so
// a process killed half-way leaves either the old record or the new one,
// never a torn file.
package statefile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kago-run/kago/internal/atomicfile"

	"golang.org/x/sys/unix"
)

// Lock is an exclusive advisory lock on path+".lock".
type Lock struct{ f *os.File }

// Acquire takes the exclusive lock for path, creating the lock file and its
// directory as needed. It polls with LOCK_NB so that ctx can cancel a wait
// behind a stuck holder.
func Acquire(ctx context.Context, path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create state dir for %s: %w", path, err)
	}
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s.lock: %w", path, err)
	}
	delay := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("flock %s.lock: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s.lock: %w", path, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// Release drops the lock. Closing the descriptor releases the flock.
func (l *Lock) Release() error { return l.f.Close() }

// Read decodes the JSON record at path into v. A missing file leaves v
// untouched and reports found=false, so callers start from their zero state.
func Read(path string, v any) (found bool, err error) {
	st, err := ReadStored(path, v)
	return st.found, err
}

// Stored is the record a reader found at a path, kept so that a writer can
// tell it did not change and skip the write: a record rewritten unchanged
// costs a temp file, two fsyncs and a rename (every detach of a container
// that has no endpoint used to pay that three times).
type Stored struct {
	data  []byte
	found bool
}

// ReadStored is Read that also returns what it read, for Save.
func ReadStored(path string, v any) (Stored, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Stored{}, nil
	}
	if err != nil {
		return Stored{}, fmt.Errorf("read state %s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return Stored{}, fmt.Errorf("decode state %s (move the file away to reset it): %w", path, err)
	}
	return Stored{data: data, found: true}, nil
}

// Save writes v to path as Write does, unless the file read as st already
// holds exactly v's encoding.
func (st Stored) Save(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state %s: %w", path, err)
	}
	if st.found && bytes.Equal(data, st.data) {
		return nil
	}
	return WriteBytes(path, data, 0o600)
}

// Write atomically replaces path with the JSON encoding of v.
func Write(path string, v any) error { return Stored{}.Save(path, v) }

// WriteBytes atomically replaces path with data, creating its directory.
func WriteBytes(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create dir for %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, data, perm)
}

// Update runs fn on the record at path under the lock and writes the result
// back if fn succeeds and changed it. v must be a pointer; it is decoded first (left as the
// caller initialised it when the file does not exist yet).
func Update(ctx context.Context, path string, v any, fn func() error) error {
	l, err := Acquire(ctx, path)
	if err != nil {
		return err
	}
	defer l.Release()
	st, err := ReadStored(path, v)
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	return st.Save(path, v)
}
