package cgroups

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// WaitOOM on v1 registers an eventfd for memory.oom_control through
// cgroup.event_control: the kernel signals it on every OOM in the cgroup and
// once more when the cgroup is removed.
func (m *v1Manager) WaitOOM(ctx context.Context) (<-chan struct{}, error) {
	dir, err := m.need("memory", "memory")
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("oom events for %s: eventfd: %w", dir, err)
	}
	events := os.NewFile(uintptr(efd), "oom-eventfd") // non-blocking: Read parks in the poller
	oomCtl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		events.Close()
		return nil, fmt.Errorf("oom events: %w", err)
	}
	defer oomCtl.Close() // the kernel keeps its own reference once registered
	if err := writeFile(nil, dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, oomCtl.Fd())); err != nil {
		events.Close()
		return nil, fmt.Errorf("oom events: %w", err)
	}
	return watch(ctx, events, func() (bool, bool) {
		var buf [8]byte
		if _, err := events.Read(buf[:]); err != nil {
			return false, true
		}
		if _, err := os.Stat(filepath.Join(dir, "memory.oom_control")); err != nil {
			return false, true // the wakeup was the rmdir
		}
		return binary.NativeEndian.Uint64(buf[:]) > 0, false
	}), nil
}

// WaitOOM on v2 watches memory.events with inotify (the kernel raises
// IN_MODIFY when a counter changes) and reports each rise of oom_kill. It
// ends, as runc's and containerd's watchers do, when cgroup.events says the
// cgroup, once populated, has no process left: no OOM kill can follow, and
// the rmdir that comes after raises no inotify event on cgroupfs (the "cgroup
// removed" that ends v1's watch never arrives here).
func (m *v2Manager) WaitOOM(ctx context.Context) (<-chan struct{}, error) {
	last, err := m.OOMKillCount()
	if err != nil {
		return nil, err
	}
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("oom events for %s: inotify: %w", m.dir, err)
	}
	events := os.NewFile(uintptr(ifd), "oom-inotify")
	for _, f := range []string{"memory.events", "cgroup.events"} {
		if _, err := unix.InotifyAddWatch(ifd, filepath.Join(m.dir, f), unix.IN_MODIFY); err != nil {
			events.Close()
			return nil, fmt.Errorf("oom events: watch %s/%s: %w", m.dir, f, err)
		}
	}
	wasPopulated := m.populated()
	return watch(ctx, events, func() (bool, bool) {
		buf := make([]byte, 4096)
		if _, err := events.Read(buf); err != nil {
			return false, true
		}
		n, err := m.OOMKillCount()
		if err != nil {
			return false, true // cgroup gone
		}
		fired := n > last
		last = n
		now := m.populated()
		done := wasPopulated && !now
		wasPopulated = wasPopulated || now
		return fired, done
	}), nil
}

// populated reports whether cgroup.events says the cgroup (or one below it)
// has a process.
func (m *v2Manager) populated() bool {
	s, err := readFile(m.dir, "cgroup.events")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "populated" {
			return f[1] == "1"
		}
	}
	return false
}

// watch runs next in a goroutine until it reports done or ctx ends, sending
// on the returned channel whenever next reports an event. Closing the file
// is what unblocks a pending Read when ctx ends.
func watch(ctx context.Context, f *os.File, next func() (fired, done bool)) <-chan struct{} {
	ch := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { f.Close() })
	go func() {
		defer close(ch)
		defer stop()
		defer f.Close()
		for {
			fired, done := next()
			if ctx.Err() != nil {
				return
			}
			// An OOM kill and the end of the watch can come in one wakeup
			// (the kill emptied the cgroup): report the kill first.
			if fired {
				select {
				case ch <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			if done {
				return
			}
		}
	}()
	return ch
}
