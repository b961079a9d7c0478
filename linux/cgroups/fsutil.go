package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/explain"
)

// writeFile writes one value to a cgroup control file. Control files take one
// write(2) per value, so the value is written in a single call without O_CREAT:
// a missing file means the controller is absent, which must not be papered over
// by creating a regular file. The write is recorded on rec (nil: explain is
// off) once the kernel took it.
func writeFile(rec explain.Recorder, dir, name, value string) error {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	defer f.Close()
	if _, err := f.WriteString(value); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	recordWrite(rec, p, value)
	return nil
}

func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// parseUint parses a cgroup number; "max" (v2) means unlimited.
func parseUint(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// v1 reports "-1" for some unlimited values.
		if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("parse %q as a number: %w", s, err)
	}
	return v, nil
}

func readUint(dir, name string) (uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := parseUint(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}

// parseKeyValues parses flat keyed files ("key value" per line), such as
// memory.stat, cpu.stat and memory.events. Lines that do not parse are skipped:
// kernels add keys over time and one odd line must not hide the rest.
func parseKeyValues(data string) map[string]uint64 {
	out := make(map[string]uint64)
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if v, err := parseUint(f[1]); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

func readKeyValues(dir, name string) (map[string]uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	return parseKeyValues(string(b)), nil
}

// readPids reads cgroup.procs of dir and every cgroup below it.
func readPids(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p != dir {
				return nil // a child cgroup removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p != dir {
				return nil
			}
			return fmt.Errorf("read pids of %s: %w", p, err)
		}
		for _, f := range bytes.Fields(b) {
			pid, err := strconv.Atoi(string(f))
			if err != nil {
				return fmt.Errorf("%s/cgroup.procs: bad pid %q", p, f)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	return pids, err
}

// mkdirAll creates dir and its missing parents below mountpoint and returns
// the directories it made, parents first, so the caller can initialise them
// (cpuset) and later remove exactly those. It records them on rec.
func mkdirAll(rec explain.Recorder, mountpoint, dir string) (made []string, err error) {
	defer func() { recordMkdir(rec, made) }()
	rel, err := filepath.Rel(mountpoint, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("cgroup dir %s is not below %s", dir, mountpoint)
	}
	cur := mountpoint
	if rel == "." {
		return nil, nil
	}
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			made = append(made, cur)
		case errors.Is(err, os.ErrExist):
		default:
			return made, fmt.Errorf("create cgroup %s: %w", cur, err)
		}
	}
	return made, nil
}

// removeTree removes the cgroup dir and any cgroups created below it (for
// example by systemd inside the container), deepest first. rmdir of a cgroup
// whose last process just exited can fail with EBUSY for a moment, so each
// rmdir is retried for up to a second. A dir that is already gone is fine.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	delay := 10 * time.Millisecond
	deadline := time.Now().Add(time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w (processes still inside? kill them first)", dir, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// pollUntil calls check until it returns true, an error, or timeout elapses.
func pollUntil(timeout time.Duration, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: timed out after %s", what, timeout)
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}
