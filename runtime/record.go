package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kago-run/kago/internal/atomicfile"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	recordFile = "state.json"
	lockFile   = "lock"
	fifoFile   = "exec.fifo"
)

// record is what the runtime keeps on disk for one container.
type record struct {
	ID      string    `json:"id"`
	Bundle  string    `json:"bundle"`
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	// InitPid is 0 while create is still running.
	InitPid       int    `json:"initPid"`
	InitStartTime uint64 `json:"initStartTime"`
	// Started is set by start; the FIFO is gone from then on.
	Started     bool        `json:"started"`
	CgroupsPath string      `json:"cgroupsPath"`
	Spec        *specs.Spec `json:"spec"`
	Owner       string      `json:"owner,omitempty"`
	// NoCgroup is set when an unprivileged create could not make a cgroup
	// and went on without one (see nocgroup.go).
	NoCgroup bool `json:"noCgroup,omitempty"`
	// SystemdCgroup: the cgroup is a systemd scope (Runtime.SystemdCgroup).
	SystemdCgroup bool `json:"systemdCgroup,omitempty"`
}

func readRecord(dir string) (*record, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("container %s: %w", filepath.Base(dir), ErrNotExist)
		}
		return nil, fmt.Errorf("read state of %s: %w", filepath.Base(dir), err)
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("state of container %s is corrupt (%s): %w", filepath.Base(dir), filepath.Join(dir, recordFile), err)
	}
	return &rec, nil
}

// writeRecord replaces the record atomically, so a killed kago never leaves
// a half-written record.
func writeRecord(dir string, rec *record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, recordFile), data, 0o600)
}

// lock takes an exclusive flock on the container's lock file; the returned
// function releases it. Verbs that change a container hold it so that two
// kago-runc processes never interleave on one container.
func lockDir(dir string) (func(), error) {
	fd, err := unix.Open(filepath.Join(dir, lockFile), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("container %s: %w", filepath.Base(dir), ErrNotExist)
		}
		return nil, fmt.Errorf("lock container %s: %w", filepath.Base(dir), err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock container %s: %w", filepath.Base(dir), err)
	}
	return func() { unix.Close(fd) }, nil
}
